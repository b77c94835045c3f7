"""A classroom of users: simultaneous Starts of one run from many sessions, app processes and terminals give
exactly one trainer; the concurrency cap holds under a burst; the Train page says who is training when busy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cvae.explorer.jobs import launcher, launches
from cvae.store import launch_lock
from cvae.store import errors
from cvae.store import runs
from cvae.store.config import TrainConfig
from cvae.store.files import read_jsonl

REPO = Path(__file__).resolve().parent.parent
# Stands in for `python -m cvae train` where only the launch logic is under test: alive for a while, no lock,
# like a trainer still importing TensorFlow (the window in which only the launch record says it is active).
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def fake_trainer(monkeypatch):
    started: list[int] = []
    # Its command line names the run like a trainer's, so other app processes can verify it (launcher.Launch.alive).
    monkeypatch.setattr(launcher, "train_argv", lambda name, *a, **kw: [*SLEEPER, "cvae", "train", f"--name={name}"])
    yield started
    for rec in launches.read_launches(os.environ.get(runs.RUNS_DIR_ENV)):
        _kill(rec.pid)


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def burst(n: int, fn) -> list:
    """Call fn(i) from n threads released at the same instant; each result or the exception it raised."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def worker(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - returned for the assertions
            out[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_many_sessions_press_start_on_one_name_at_once(tmp_path, monkeypatch, fake_trainer):
    root = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "8")  # the name decides here, not the cap
    results = burst(12, lambda i: launcher.launch_training("same", TrainConfig(), root))
    launched = [r for r in results if isinstance(r, launches.Launch)]
    refused = [r for r in results if isinstance(r, errors.RunError)]
    try:
        assert len(launched) == 1 and len(refused) == 11, results
        assert all("already training" in str(e) for e in refused)
        assert [r.pid for r in launches.read_launches(root)] == [launched[0].pid]
        assert launcher.active_names(root) == ["same"]
    finally:
        _kill(launched[0].pid)


def test_a_burst_of_different_runs_respects_the_cap(tmp_path, monkeypatch, fake_trainer):
    root = tmp_path / "runs"
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "2")
    results = burst(10, lambda i: launcher.launch_training(f"student-{i}", TrainConfig(), root))
    launched = [r for r in results if isinstance(r, launches.Launch)]
    busy = [r for r in results if isinstance(r, errors.ServerBusy)]
    assert len(launched) == 2 and len(busy) == 8, results
    names = sorted(r.name for r in launched)
    for e in busy:
        assert "the server is busy" in str(e) and all(n in str(e) for n in names) and "at most 2" in str(e)
    assert launcher.active_names(root) == names


APP_PROCESS = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from cvae.explorer.jobs import launcher
    from cvae.store import errors, runs
    from cvae.store.config import TrainConfig
    launcher.train_argv = lambda name, *a, **kw: [sys.executable, "-c", "import time; time.sleep(60)", "cvae", "train",
                                                  f"--name={name}"]
    root, go = sys.argv[1], Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    try:
        rec = launcher.launch_training("same", TrainConfig(), root)
        print(json.dumps({"launched": rec.pid}))
    except errors.RunError as e:
        print(json.dumps({"refused": str(e)}))
""")


def test_several_app_processes_press_start_at_once(tmp_path):
    """Several Streamlit servers sharing one runs root (e.g. two ports): the flock on .launches/.lock serialises
    them, so one launches and the others see its record."""
    root, go = tmp_path / "runs", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO), launcher.MAX_TRAINING_ENV: "8"}
    procs = [subprocess.Popen([sys.executable, "-c", APP_PROCESS, str(root), str(go)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(1.5)  # let them all import and wait at the start line
    go.touch()
    outs = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
    launched = [o["launched"] for o in outs if "launched" in o]
    try:
        assert len(launched) == 1, outs
        assert all("already training" in o["refused"] for o in outs if "refused" in o)
    finally:
        for pid in launched:
            _kill(pid)


def test_sweep_waits_for_a_launch_in_progress(tmp_path):
    """Every Train page render sweeps the launch records: it takes the launch lock, so it can't delete the record
    a concurrent launch is writing (which would let a second Start launch a second trainer)."""
    root = tmp_path / "runs"
    (root / launches.LAUNCH_DIR).mkdir(parents=True)
    done = threading.Event()
    with launch_lock.launch_lock(root):
        t = threading.Thread(target=lambda: (launches.sweep(root), done.set()))
        t.start()
        assert not done.wait(0.5)  # blocked while the launch holds the lock
    assert done.wait(10)
    t.join()


@pytest.mark.slow
def test_two_terminals_start_the_same_run_at_once(tmp_path, mnist_dir):
    """Two `python -m cvae train --name same` started together: both pass the quick pre-check (no run yet), and
    the run lock decides: one trains, the other exits 1 with one line, and the run has each epoch once."""
    args = [sys.executable, "-m", "cvae", "train", "--name", "same", "--runs-dir", str(tmp_path), "--data-dir",
            str(mnist_dir), "--max-train-examples", "64", "--max-test-examples", "16", "--epochs", "1",
            "--log-every-steps", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert loser.count("error:") == 1 and ("already training" in loser or "already exists" in loser), loser
    assert "Traceback" not in loser
    rows = read_jsonl(tmp_path / "same" / runs.METRICS_FILE)
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == [1]
    assert runs.read_status(tmp_path / "same")["state"] == "done"


def test_busy_train_page_names_what_is_running(tmp_path, monkeypatch):
    from test_app import app_test, make_run, no_exceptions, texts

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "2")
    a, b = make_run(root, "alice", state="running"), make_run(root, "bob", state="running")
    calls = []
    monkeypatch.setattr(launcher, "launch_training", lambda *x, **k: calls.append(x))
    with runs.RunLock(a) as la:
        assert la.acquire()
        at = app_test().run()
        at.switch_page("app_pages/1_Train.py").run()
        no_exceptions(at)
        assert "Training now: alice (at most 2 at once)" in texts(at)  # below the cap: a note, no warning
        with runs.RunLock(b) as lb:
            assert lb.acquire()
            at.run()
            no_exceptions(at)
            assert any("server is busy" in w.value and "alice, bob are training" in w.value
                       and "at most 2" in w.value for w in at.warning), [w.value for w in at.warning]
    assert calls == []
