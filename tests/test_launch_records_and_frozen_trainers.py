"""Nothing on disk is authority: launch records are verified (pid + start time + command line), logs are derived
from run names, frozen trainers are seen as "not responding" and can be force-stopped, FIFOs never block a reader,
and Stop/Resume around a start behave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cvae.data import sources
from cvae.explorer.jobs import launcher, launches
from cvae.store import access
from cvae.store import errors, procs, runs, lock
from cvae.store.config import TrainConfig
from cvae.store.errors import DataError
from cvae.store.files import atomic_write_json, read_jsonl

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sleeper():
    """A foreign process (not a trainer), killed afterwards."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p
    p.kill()
    p.wait()


def plant_record(root: Path, name: str, pid: int, **extra) -> Path:
    path = root / launches.LAUNCH_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": name, "pid": pid, "started": time.time(), "log": "/etc/passwd",
                                "argv": ["python", "-m", "cvae", "train", f"--name={name}"], "resume": False,
                                **extra}))
    return path


def test_a_planted_record_with_a_foreign_pid_is_not_authority(tmp_path, sleeper, monkeypatch):
    """A record naming a live foreign process (pid reused after a reboot, or planted) and an absolute log path:
    it does not make the run busy, it is never signalled, its 'log' is never read, and it is swept."""
    from test_app import make_run

    root = tmp_path / "runs"
    run = make_run(root, "victim", 2, state="running")  # the machine died mid-training: no lock holder
    for extra in ({}, {"start_ticks": procs.start_ticks(sleeper.pid)}, {"start_ticks": 1}):
        # with no start time, with the sleeper's real one (but not a trainer's command line), or a wrong one
        plant_record(root, "victim", sleeper.pid, **extra)
        assert launches.pending(root) == {} and launcher.active_names(root) == []
        with pytest.raises(errors.NotTraining):
            launcher.stop_training("victim", root)
        assert sleeper.poll() is None  # never signalled
        assert launches.sweep(root) == [] and not (root / launches.LAUNCH_DIR / "victim.json").exists()
    assert runs.run_info(run).state == "interrupted" and runs.run_info(run).resumable
    assert access.log_path("victim", root) is None  # derived from the name, never from the record

    # The Train page: Resume offered, not "busy", and the foreign file's contents never shown.
    from test_app import app_test, texts

    plant_record(root, "victim", sleeper.pid, start_ticks=procs.start_ticks(sleeper.pid))
    (root / launches.LAUNCH_DIR / "victim.log").symlink_to("/etc/passwd")
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    at = app_test()
    at.session_state["cvae_selected_run"] = "victim"
    at.run().switch_page("app_pages/1_Train.py").run()
    assert not at.exception
    shown = texts(at) + "\n".join(str(c.value) for c in at.code)
    assert "root:x:0:0" not in shown and "server is busy" not in shown
    assert any(b.key == "tr_resume" for b in at.button)
    assert sleeper.poll() is None


def test_malformed_records_are_swept(tmp_path):
    root = tmp_path / "runs"
    bad = [{"name": "a", "pid": "12"}, {"name": "b", "pid": 1, "started": 1e20, "start_ticks": 0},
           {"name": "../x", "pid": 100, "started": time.time(), "start_ticks": 0}, ["not", "a", "dict"],
           {"name": "other-name", "pid": 100, "started": time.time(), "start_ticks": 0}]
    d = root / launches.LAUNCH_DIR
    d.mkdir(parents=True)
    for i, rec in enumerate(bad):
        (d / f"{rec['name'] if isinstance(rec, dict) and rec['name'] != 'other-name' else f'r{i}'}.json").write_text(
            json.dumps(rec))
    (d / "garbage.json").write_bytes(b"\xff{")
    assert launches.read_launches(root) == []
    launches.sweep(root)
    assert sorted(p.name for p in d.glob("*.json")) == []


def test_stop_during_start_is_stopped_before_it_started(tmp_path, monkeypatch):
    """Stop pressed while the trainer is still loading: it is terminated, and the page says so (not a red failure
    whose 'reason' is the log's command line)."""
    from test_app import app_test, texts

    root = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    monkeypatch.setattr(launcher, "train_argv", lambda name, *a, **kw: [
        sys.executable, "-c", "import time; time.sleep(60)", "cvae", "train", f"--name={name}"])
    rec = launcher.launch_training("early", TrainConfig(), root)
    assert launcher.stop_training("early", root) == "terminated while starting"
    assert launcher.wait(rec, timeout=30) is not None
    failed = launches.sweep(root)
    assert [r.name for r in failed] == ["early"] and failed[0].stopped
    at = app_test().run().switch_page("app_pages/1_Train.py").run()
    assert not at.exception and not at.error
    assert "stopped before it started" in texts(at)


def test_resume_right_after_stop_waits_for_the_old_trainer_to_exit(tmp_path, monkeypatch):
    """The old trainer has written 'stopped' and released its lock but is still exiting: Resume waits for it
    (bounded) instead of refusing with 'already training'."""
    from test_app import make_run

    root = tmp_path / "runs"
    make_run(root, "again", 2, state="stopped")
    exiting = [sys.executable, "-c", "import time; time.sleep(1.5)", "cvae", "train", "--name=again"]
    monkeypatch.setattr(launcher, "train_argv", lambda *a, **kw: list(exiting))
    old = launcher.launch_training("again", runs_dir=root, resume=True)  # stands in for the exiting trainer
    runs.write_status(root / "again", state="stopped", pid=old.pid)  # it has written its final state
    new = launcher.launch_training("again", runs_dir=root, resume=True)
    assert new.pid != old.pid and not launches.pid_alive(old.pid)
    launcher.wait(new, timeout=30)


def test_a_fifo_data_file_is_refused_without_blocking(tmp_path, monkeypatch):
    """A FIFO named like a dataset file (in --data-dir or the Keras cache) is refused at once with one line."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.mkfifo(data_dir / "mnist.npz")
    home = tmp_path / "home"
    (home / ".keras" / "datasets").mkdir(parents=True)
    os.mkfifo(home / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {n: () for n in sources.DATASETS})
    sources.clear_cache()
    result: list = []

    def load(where):
        try:
            sources.load_dataset("mnist", where, allow_download=False)
        except DataError as e:
            result.append(str(e))

    for where in (data_dir, None):
        t = threading.Thread(target=load, args=(where,), daemon=True)
        t.start()
        t.join(20)
        assert not t.is_alive(), f"reading a FIFO blocked ({where})"
    assert len(result) == 2 and all("not a regular file" in r for r in result), result
    sources.clear_cache()


def test_cli_stop_without_a_trainer_is_one_line(tmp_path):
    from test_app import make_run

    make_run(tmp_path, "idle", 2, state="done")
    for args in (["stop", "idle"], ["stop", "idle", "--force"]):
        r = subprocess.run([sys.executable, "-m", "cvae", *args, "--runs-dir", str(tmp_path)], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert r.stderr.strip() in ("error: run 'idle' is not training",
                                    "error: run 'idle' has no trainer to stop"), (args, r.stderr)


@pytest.mark.slow
def test_a_frozen_trainer_is_not_responding_then_force_stopped_and_resumed(tmp_path, mnist_dir, monkeypatch):
    """SIGSTOP a real trainer: within the heartbeat bound it shows 'not responding' and does not keep the server
    busy; `cvae stop --force` kills it (verified by its lock), and a resume finishes with each epoch once."""
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", lock.HEARTBEAT_TIMEOUT_ENV: "4",
           "CVAE_FAILPOINTS": "step=sleep:0.4"}
    args = ["--runs-dir", str(root), "--data-dir", str(mnist_dir), "--max-train-examples", "256",
            "--max-test-examples", "64", "--epochs", "3", "--log-every-steps", "2"]
    trainer = subprocess.Popen([sys.executable, "-m", "cvae", "train", "--name", "frozen", *args], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = root / "frozen"
    monkeypatch.setenv(lock.HEARTBEAT_TIMEOUT_ENV, "4")
    try:
        deadline = time.monotonic() + 180
        while runs.read_status(run).get("epoch", 0) < 1 and time.monotonic() < deadline:
            assert trainer.poll() is None, trainer.stderr.read()[-2000:]
            time.sleep(0.2)
        assert runs.run_info(run).state == "running"
        os.kill(trainer.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        while runs.run_info(run).state != "unresponsive" and time.monotonic() - t0 < 30:
            time.sleep(0.2)
        assert runs.run_info(run).state == "unresponsive"
        assert launcher.active_names(root) == []  # a frozen trainer does not keep the server busy
        assert runs.trainer_pids(run) == [trainer.pid]
        r = subprocess.run([sys.executable, "-m", "cvae", "stop", "frozen", "--force", "--runs-dir", str(root)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and f"killed trainer pid {trainer.pid}" in r.stdout, r.stderr
        assert trainer.wait(30) == -signal.SIGKILL
        info = runs.run_info(run)
        assert info.state == "stopped" and info.resumable and not runs.is_locked(run)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    env.pop("CVAE_FAILPOINTS")
    r = subprocess.run([sys.executable, "-m", "cvae", "train", "--name", "frozen", "--resume", "--runs-dir",
                        str(root)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    epochs = [row["epoch"] for row in read_jsonl(run / runs.METRICS_FILE) if row.get("kind") == "epoch"]
    assert epochs == [1, 2, 3] and runs.read_status(run)["state"] == "done"


def test_heartbeat_marks_a_silent_lock_holder_unresponsive(tmp_path, monkeypatch):
    """Unit level: a held lock whose file has not been touched for longer than the bound reads 'unresponsive'."""
    from test_app import make_run

    run = make_run(tmp_path, "h", 2, state="running")
    monkeypatch.setenv(lock.HEARTBEAT_TIMEOUT_ENV, "5")
    with runs.RunLock(run) as held:
        assert held.acquire()
        assert runs.run_info(run).state == "running"
        held._beating.set()  # the holder freezes: no more beats
        old = time.time() - 60
        os.utime(run / runs.LOCK_FILE, (old, old))
        assert runs.run_info(run).state == "unresponsive"
    assert runs.run_info(run).state == "interrupted"
    atomic_write_json(run / runs.STATUS_FILE, {**runs.read_status(run), "state": "done"})
    assert runs.run_info(run).state == "done"
