"""Faults that really happen: SIGKILL at deterministic crash points, a server restart while a run trains, a full
disk, a read-only runs directory. See docs/reliability.md for the table of what each test does and checks.

Every crash here is the real thing: the trainer is a `python -m cvae train` subprocess that kills itself with
SIGKILL at a failpoint selected by $CVAE_FAILPOINTS (cvae/store/faults.py), so no cleanup code runs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvae.store import faults, files
from cvae.explorer.jobs import launcher, launches
from cvae.store import errors
from cvae.store import lock, runs
from cvae.store.config import TrainConfig
from cvae.data.sources import binarize, load_dataset
from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.store.weights import load_weights_npz
from cvae.store.files import read_jsonl
from cvae.engine.callbacks import Callback
from cvae.engine.trainer import TrainData
from cvae.engine.train import train_run
from cvae.engine.checkpoints import checkpoint_paths, read_checkpoint

REPO = Path(__file__).resolve().parent.parent
TINY = ["--max-train-examples", "128", "--max-test-examples", "32", "--batch-size", "32", "--epochs", "3",
        "--learning-rate", "1e-3", "--log-every-steps", "2"]  # 4 steps per epoch, 2 chunks: step rows 2, 4, 6...
TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (faults.FAILPOINTS_ENV, runs.RUNS_DIR_ENV)}
    env.update({"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **extra})
    return env


def cli(*args: str, env: dict | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvae", *args], cwd=REPO, env=env or cli_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def epoch_numbers(run: Path) -> list[int]:
    return [r["epoch"] for r in read_jsonl(run / runs.METRICS_FILE) if r.get("kind") == "epoch"]


def step_numbers(run: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(run / runs.METRICS_FILE) if r.get("kind") == "step"]


def temp_files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*.tmp"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def check_readable(run: Path, *, torn_ok: bool = False) -> dict:
    """Everything a reader (the app, the CLI, a resume) needs is readable after a crash; returns facts."""
    assert runs.read_config(run).epochs == 3
    status = runs.read_status(run)
    assert status["state"] == "running"  # what the dead process left...
    info = runs.run_info(run)
    assert info.state == "interrupted" and info.resumable  # ...is shown as interrupted, with Resume
    assert not runs.is_locked(run)
    epochs = epoch_numbers(run)
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # each epoch once, in order, no gap
    lines = (run / runs.METRICS_FILE).read_bytes().split(b"\n") if (run / runs.METRICS_FILE).exists() else [b""]
    for line in lines[:-1]:
        assert isinstance(json.loads(line), dict), line  # only the last line may be torn...
    assert lines[-1] == b"" or torn_ok, lines[-1]  # ...and only by the append crash
    weights = None
    if (run / runs.WEIGHTS_FILE).exists():
        weights = load_weights_npz(run / runs.WEIGHTS_FILE)
        NumpyCVAE(weights, 2)
    ckpts = checkpoint_paths(run)
    assert all(not p.name.startswith(".") for p in ckpts)  # a temp file is never a checkpoint
    ckpt_epoch = 0
    for p in ckpts:
        meta = json.loads(str(read_checkpoint(p)["meta"]))
        ckpt_epoch = meta["epoch"]
    # The newest checkpoint is the last metrics epoch, or one ahead (killed between checkpoint and metrics row).
    assert ckpt_epoch in (len(epochs), len(epochs) + 1), (ckpt_epoch, epochs)
    for p in runs.epoch_images(run):
        assert not p.name.startswith(".")
        with Image.open(p) as im:
            im.load()
    for t in temp_files(run):
        assert TEMP_RE.match(Path(t).name), t  # leftovers are hidden temp files only
    return {"epochs": epochs, "ckpt_epoch": ckpt_epoch, "weights": weights, "temps": temp_files(run)}


# (failpoint, what the run directory must show afterwards). Chained: each resume recovers from the previous
# crash and is itself killed at the next point (one TensorFlow start per crash instead of two).
def failpoint_spec(point: str) -> str:
    """'step:1' -> 'step=kill:1'; an append point tears its line ('append:metrics.jsonl:3' -> '...=tear:3')."""
    head, _, n = point.rpartition(":")
    name, nth = (head, n) if n.isdigit() else (point, "1")
    return f"{name}={'tear' if name.startswith('append:') else 'kill'}:{nth}"


CHAIN = [
    ("step:1", "mid epoch 1, nothing saved yet", dict(epochs=[], ckpt_epoch=0)),
    ("epoch_end:after_checkpoint", "epoch 1 checkpointed, its metrics row not written",
     dict(epochs=[], ckpt_epoch=1)),
    ("atomic_write:metrics.jsonl", "resume's metrics repair dies before its rename",
     dict(epochs=[], ckpt_epoch=1, temp=".metrics.jsonl.")),
    ("append:metrics.jsonl:3", "epoch 2's metrics row torn in the middle", dict(epochs=[1], ckpt_epoch=2, torn=True)),
    ("atomic_write:ckpt-*.npz", "epoch 3's checkpoint written to its temp file, not renamed",
     dict(epochs=[1, 2], ckpt_epoch=2, temp="ckpt/.ckpt-00000012.npz.")),
    ("atomic_write:epoch_*.png", "replayed epoch 3's image temp written, not renamed",
     dict(epochs=[1, 2], ckpt_epoch=2, temp="images/.epoch_0003.png.")),
    ("atomic_write:weights.npz", "replayed epoch 3's weights temp written, not renamed",
     dict(epochs=[1, 2], ckpt_epoch=2, temp=".weights.npz.")),
]


@pytest.mark.slow
def test_sigkill_at_every_crash_point_then_resume_finishes(tmp_path, mnist_dir):
    run = tmp_path / "crashy"
    weights_before: bytes | None = None
    epoch3_weights: bytes | None = None
    for i, (point, what, expect) in enumerate(CHAIN):
        args = ["train", "--name", "crashy", "--runs-dir", str(tmp_path)]
        args += ["--data-dir", str(mnist_dir), *TINY] if i == 0 else ["--resume"]
        if point == "atomic_write:weights.npz":
            weights_before = (run / runs.WEIGHTS_FILE).read_bytes()
        temps_before = set(temp_files(run)) if run.exists() else set()
        r = cli(*args, env=cli_env(**{faults.FAILPOINTS_ENV: failpoint_spec(point)}))
        assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stderr[-2000:])
        assert f"cvae failpoint: SIGKILL at {point.split(':')[0]}" in r.stderr, r.stderr[-500:]
        facts = check_readable(run, torn_ok=expect.get("torn", False))
        assert facts["epochs"] == expect["epochs"], (point, what, facts["epochs"])
        assert facts["ckpt_epoch"] == expect["ckpt_epoch"], (point, what, facts["ckpt_epoch"])
        if "temp" in expect:  # the crash really was between the temp write and the rename...
            assert any(t.startswith(expect["temp"]) for t in facts["temps"]), (point, facts["temps"])
        # The resume cleared the previous crash's temp files (names are random, so a survivor is the same file)...
        assert not temps_before & set(facts["temps"]), (point, temps_before, facts["temps"])
        if "temp" not in expect:  # ...and the only temp this crash may leave is status.json's: the writer thread
            # can be mid-write when SIGKILL lands (seen in CI); the run still reads as above.
            assert all(Path(t).name.startswith(".status.json.") for t in facts["temps"]), (point, facts["temps"])
        if expect.get("torn"):
            assert not (run / runs.METRICS_FILE).read_bytes().endswith(b"\n")
        if point == "atomic_write:ckpt-*.npz":
            epoch3_weights = (run / runs.WEIGHTS_FILE).read_bytes()  # written just before the checkpoint
        if point == "atomic_write:weights.npz":
            assert (run / runs.WEIGHTS_FILE).read_bytes() == weights_before  # the last good weights, untouched

    r = cli("train", "--name", "crashy", "--runs-dir", str(tmp_path), "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "done: finished 3 epochs" in r.stderr
    info = runs.run_info(run)
    assert info.state == "done" and info.epochs_done == 3
    assert epoch_numbers(run) == [1, 2, 3]  # every epoch exactly once
    assert step_numbers(run) == list(range(2, 13, 2))  # every logged chunk once: nothing replayed twice or lost
    assert (run / runs.METRICS_FILE).read_bytes().endswith(b"\n")
    for line in (run / runs.METRICS_FILE).read_text().splitlines():
        json.loads(line)
    assert temp_files(run) == []
    ckpts = checkpoint_paths(run)
    assert [p.name for p in ckpts] == ["ckpt-00000004.npz", "ckpt-00000008.npz", "ckpt-00000012.npz"]
    state = read_checkpoint(ckpts[-1])
    assert json.loads(str(state["meta"]))["epoch"] == 3
    final = load_weights_npz(run / runs.WEIGHTS_FILE)
    for k, v in final.items():
        np.testing.assert_array_equal(state[f"model/{k}"], v)
    # Epoch 3 was trained three times from the epoch-2 checkpoint (crashes 5, 6, 7, then the final resume):
    # the weights are bit-for-bit those of the first time, so the crashes changed nothing.
    assert (run / runs.WEIGHTS_FILE).read_bytes() == epoch3_weights
    assert [p.name for p in runs.epoch_images(run)] == [f"epoch_{e:04d}.png" for e in range(4)]
    assert (run / runs.GIF_FILE).is_file()


def test_failpoints_parse_and_are_inert_unless_selected(tmp_path):
    """The variable is read once at import; 'kill:N' is the N-th time; names may contain ':'; '*' matches;
    malformed entries are ignored."""
    fp = faults.parse("step=kill:3; atomic_write:ckpt-*.npz=kill ;append:m.jsonl=tear:2;x=sleep:600;bad;y=kill:0;z=boom")
    assert [(f.pattern, f.action, f.nth, f.seconds) for f in fp] == [
        ("step", "kill", 3, 0.0), ("atomic_write:ckpt-*.npz", "kill", 1, 0.0), ("append:m.jsonl", "tear", 2, 0.0),
        ("x", "sleep", 1, faults.MAX_SLEEP)]
    assert faults.parse(None) == [] and faults.parse("a=sleep:nan") == [] and faults.parse("a=sleep:-1") == []
    if not os.environ.get(faults.FAILPOINTS_ENV):
        assert faults.failpoint("step") is None  # unset: nothing happens
    script = ("from cvae.store.faults import failpoint\n"
              "for i in range(5):\n"
              "    failpoint('other'); print(i, flush=True); failpoint('atomic_write:ckpt-00000004.npz')\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env=cli_env(**{faults.FAILPOINTS_ENV: "atomic_write:ckpt-*.npz=kill:3"}))
    assert r.returncode == -signal.SIGKILL and r.stdout.split() == ["0", "1", "2"], (r.returncode, r.stdout)
    assert "SIGKILL at atomic_write:ckpt-00000004.npz" in r.stderr


def test_sleep_failpoint_paces_and_is_bounded():
    """step=sleep:S paces browser-test runs: seconds in (0, 5]; junk, NaN or negative values mean no delay."""
    script = ("import time\nfrom cvae.store.faults import failpoint\n"
              "t = time.perf_counter(); a = failpoint('step'); b = failpoint('other')\n"
              "print(a, b, time.perf_counter() - t >= 0.25)\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env=cli_env(**{faults.FAILPOINTS_ENV: "step=sleep:0.25"}))
    assert r.returncode == 0 and r.stdout.split() == ["sleep", "None", "True"], (r.returncode, r.stdout, r.stderr)


def test_launcher_passes_failpoints_only_when_asked(tmp_path, monkeypatch):
    """The server's own $CVAE_FAILPOINTS never reaches a trainer; $CVAE_TRAINER_FAILPOINTS or an explicit argument
    does (the child here is a stand-in that prints its environment)."""
    seen = []

    class FakePopen:
        def __init__(self, argv, env, **kw):
            seen.append(dict(env))
            self.pid = os.getpid()

        def poll(self):
            return 0

    monkeypatch.setattr(launcher.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(launcher, "_lower_priority", lambda pid: None)
    monkeypatch.setattr(launcher, "write_record", lambda rec, root: None)
    monkeypatch.setenv(faults.FAILPOINTS_ENV, "step=kill")
    monkeypatch.delenv(faults.TRAINER_FAILPOINTS_ENV, raising=False)
    cfg = TrainConfig()
    launcher.launch_training("a", cfg, tmp_path)
    monkeypatch.setenv(faults.TRAINER_FAILPOINTS_ENV, "step=sleep:0.5")
    launcher.launch_training("b", cfg, tmp_path)
    launcher.launch_training("c", cfg, tmp_path, failpoints="step=kill:2")
    assert [env.get(faults.FAILPOINTS_ENV) for env in seen] == [None, "step=sleep:0.5", "step=kill:2"]
    assert all(faults.TRAINER_FAILPOINTS_ENV not in env for env in seen)


# ---------------------------------------------------------------------------------------------- the app


def test_train_page_shows_a_dead_trainer_as_interrupted_with_resume(tmp_path, monkeypatch):
    from test_app import app_test, make_run, no_exceptions

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    run = make_run(root, "orphan", state="running", epochs=5)
    runs.write_status(run, epoch=2, pid=2 ** 22 + 12345)  # a pid that is not alive; nobody holds the lock
    calls = []
    monkeypatch.setattr(launcher, "launch_training", lambda name, **kw: calls.append((name, kw)))
    at = app_test()
    at.session_state["cvae_selected_run"] = "orphan"
    at.run().switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    page = "\n".join(str(e.value) for e in (*at.markdown, *at.warning))
    assert "interrupted" in page and "Resume" in page
    assert not at.get("progress") or "of 5 epochs done" in at.get("progress")[0].proto.text  # not live
    at.button(key="tr_resume").click().run()
    no_exceptions(at)
    assert calls == [("orphan", {"resume": True})]


# ---------------------------------------------------------------------------------------------- server restart


@pytest.mark.slow
@pytest.mark.browser
def test_server_restart_reattaches_to_a_training_run(tmp_path, mnist_dir, monkeypatch):
    """Kill the Streamlit server (its whole process group) while a run trains: the trainer lives on in its own
    session, and a new server shows the run as running, with progress that keeps advancing."""
    from playwright.sync_api import sync_playwright

    import browser_support as bs

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "1")
    # The trainer is frozen (SIGSTOP) while the two servers start; on a loaded CI machine that takes longer than the
    # default 20 s heartbeat bound, after which the run is rightly shown as "not responding" (CI failed so). The
    # bound is tested in tests/test_launch_records_and_frozen_trainers.py; here it must not elapse.
    monkeypatch.setenv(lock.HEARTBEAT_TIMEOUT_ENV, "900")
    cfg = TrainConfig(max_train_examples=512, max_test_examples=32, epochs=5000, batch_size=32,
                      log_every_steps=2, data_dir=str(mnist_dir))
    server = bs.start_server(root, mnist_dir, tmp_path / "server1.log")
    launch = None
    try:
        launch = launcher.launch_training("live", cfg, root)
        bs.poll(lambda: runs.is_locked(root / "live") and runs.read_status(root / "live").get("step", 0) > 0,
                120, 0.2, "the trainer to log its first steps")
        with sync_playwright() as p:
            browser = bs.launch_browser(p)
            page = browser.new_page(viewport=bs.VIEWPORT)

            def shown_step() -> int | None:
                text = bs.progress_text(page) or ""
                m = re.search(r"step ([\d,]+)", text)
                return int(m.group(1).replace(",", "")) if m and bs.status_badge(page) == "🟢 running" else None

            # Freeze the trainer while the servers start (saves CPU; it still holds its lock and stays alive).
            os.kill(launch.pid, signal.SIGSTOP)
            bs.open_page(page, server.page_url("train"))
            first = bs.poll(shown_step, 60, 0.3, "server 1 to show the run running")

            os.killpg(server.proc.pid, signal.SIGKILL)  # the server and everything in its process group
            server.proc.wait(timeout=30)
            assert launches.pid_alive(launch.pid) and runs.is_locked(root / "live")  # the trainer lives on

            server = bs.start_server(root, mnist_dir, tmp_path / "server2.log")
            bs.open_page(page, server.page_url("train"))
            second = bs.poll(shown_step, 60, 0.3, "server 2 to show the run running")
            assert second >= first
            os.kill(launch.pid, signal.SIGCONT)
            # The monitor refreshes every second: progress keeps advancing on the new server.
            bs.poll(lambda: (shown_step() or 0) > second, 60, 0.3, "progress to advance on server 2")
            assert not bs.exceptions(page)
            browser.close()
        assert launcher.stop_training("live", root) == "stop requested"
        assert launcher.wait(launch, timeout=120) is not None
        status = runs.read_status(root / "live")
        assert status["state"] == "stopped", status
    finally:
        bs.stop_server(server)
        if launch is not None and launches.pid_alive(launch.pid):
            os.killpg(launch.pid, signal.SIGCONT)
            os.killpg(launch.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- disk full


@pytest.fixture(scope="module")
def tiny_data(mnist_dir) -> TrainData:
    ds = load_dataset("mnist", mnist_dir)
    return TrainData(train=binarize(ds.train_images[:128]), test=binarize(ds.test_images[:32]), source="subset")


def tiny_config(mnist_dir, **kw) -> TrainConfig:
    base = dict(max_train_examples=128, max_test_examples=32, batch_size=32, epochs=1, learning_rate=1e-3,
                log_every_steps=2, num_examples_to_generate=4, data_dir=str(mnist_dir))
    return TrainConfig(**{**base, **kw})


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name in (runs.WEIGHTS_FILE, runs.CONFIG_FILE) or p.parent.name == runs.CKPT_DIR}


def _limit_file_size(limit: int):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.slow
def test_disk_full_efbig_keeps_the_last_good_files(tmp_path, mnist_dir, tiny_data):
    """A real kernel write failure: the resumed trainer may write no file over 100 kB (RLIMIT_FSIZE), so epoch 2's
    weights.npz (283 kB) fails half-written. One error line, the run marked failed, the epoch-1 weights and
    checkpoint untouched, no temp file left; resuming with room again finishes the run."""
    assert train_run("full", tiny_config(mnist_dir), runs_dir=tmp_path, data=tiny_data) == "done"
    run = tmp_path / "full"
    before = snapshot(run)
    r = cli("train", "--name", "full", "--runs-dir", str(tmp_path), "--resume", "--epochs", "2",
            preexec_fn=_limit_file_size(100_000))
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    errs = error_lines(r.stderr)
    assert errs == [r.stderr.splitlines()[-1]], r.stderr  # one error line, the last one
    assert errs[0] == f"error: File too large: {run / runs.WEIGHTS_FILE}", errs
    status = runs.read_status(run)
    assert status["state"] == "failed" and "File too large" in status["message"], status
    after = snapshot(run)
    assert after.keys() == before.keys() and all(after[k] == before[k] for k in before if k != runs.CONFIG_FILE)
    assert temp_files(run) == []
    assert epoch_numbers(run) == [1] and runs.run_info(run).resumable
    assert train_run("full", None, runs_dir=tmp_path, resume=True, data=tiny_data) == "done"
    assert epoch_numbers(run) == [1, 2]


class FullDisk:
    """os.fsync that fails with ENOSPC (as on a full disk with delayed allocation) for matching files, once armed."""

    def __init__(self, real, match):
        self.real, self.match, self.armed = real, match, False

    def __call__(self, fd):
        if self.armed:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if self.match(target):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real(fd)


@pytest.mark.parametrize("what", ["checkpoint", "everything"])
def test_disk_full_enospc_during_training(tmp_path, mnist_dir, tiny_data, monkeypatch, what):
    """The disk fills after epoch 1. 'checkpoint': only epoch 2's checkpoint can't be written, so status.json
    still can: the run is marked failed with the reason. 'everything': not even status.json can be written: the run
    is left 'running' with no lock holder, i.e. shown as interrupted. Either way nothing half-written is 'latest'
    and resuming once there is room again finishes the run with every epoch once."""
    from cvae.store import files
    from cvae.explorer.jobs import launcher, launches
    from cvae.store import runs

    match = (lambda p: ".ckpt-" in p) if what == "checkpoint" else (lambda p: True)
    disk = FullDisk(os.fsync, match)
    monkeypatch.setattr(files.os, "fsync", disk)
    saved: dict = {}

    class FillDiskAfterEpoch1(Callback):
        def on_epoch_end(self, trainer, row):
            if row["epoch"] == 1:
                saved.update(snapshot(tmp_path / "disk"))
                disk.armed = True

    with pytest.raises(OSError) as e:
        train_run("disk", tiny_config(mnist_dir, epochs=2), runs_dir=tmp_path, data=tiny_data,
                  callbacks=[FillDiskAfterEpoch1()])
    run = tmp_path / "disk"
    assert e.value.errno == errno.ENOSPC and e.value.filename, e.value  # names the file it could not write
    disk.armed = False
    after = snapshot(run)
    if what == "checkpoint":  # epoch 2's weights.npz was complete before the checkpoint failed: a good version
        NumpyCVAE(load_weights_npz(run / runs.WEIGHTS_FILE), 2)
        after.pop(runs.WEIGHTS_FILE)
        saved.pop(runs.WEIGHTS_FILE)
    assert after == saved  # the checkpoints (and, when nothing could be written, weights.npz): epoch 1's
    assert temp_files(run) == []
    info = runs.run_info(run)
    if what == "checkpoint":
        assert Path(e.value.filename).name == "ckpt-00000008.npz"
        assert info.state == "failed" and "No space left on device" in info.status["message"]
    else:
        assert info.state == "interrupted"  # status.json could not be written: still 'running', no lock
    assert info.resumable and epoch_numbers(run) == [1]
    assert train_run("disk", None, runs_dir=tmp_path, resume=True, data=tiny_data) == "done"
    assert epoch_numbers(run) == [1, 2] and temp_files(run) == []
    for line in (run / runs.METRICS_FILE).read_text().splitlines():
        json.loads(line)


# ---------------------------------------------------------------------------------------------- read-only


@contextlib.contextmanager
def read_only(path: Path, monkeypatch):
    """Make `path` read-only: a real read-only bind mount when we may mount (root), else every write call under it
    raises EROFS (monkeypatched). Yields which one was used; never skips."""
    path = path.resolve()

    def run(*argv: str) -> bool:
        try:
            return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    # CVAE_TEST_NO_MOUNT=1 exercises the fallback where mounting is allowed.
    mounted = not os.environ.get("CVAE_TEST_NO_MOUNT") and run("mount", "--bind", str(path), str(path))
    if mounted and not run("mount", "-o", "remount,bind,ro", str(path)):
        run("umount", str(path))
        mounted = False
    if mounted:
        try:
            yield "bind mount"
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return

    def inside(p) -> bool:
        try:
            return Path(os.fsdecode(p)).resolve().is_relative_to(path)
        except (TypeError, ValueError):
            return False

    def refuse(p):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(p))

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    real_open, real_builtin_open, real_mkdir = os.open, open, os.mkdir

    def fake_os_open(p, flags, *a, **kw):
        if flags & write_flags and inside(p):
            refuse(p)
        return real_open(p, flags, *a, **kw)

    def fake_open(file, mode="r", *a, **kw):
        if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+") and inside(file):
            refuse(file)
        return real_builtin_open(file, mode, *a, **kw)

    def guard(real):
        def fake(p, *a, **kw):
            if inside(p):
                if real is real_mkdir and os.path.exists(p):
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(p))
                refuse(p)
            return real(p, *a, **kw)
        return fake

    with monkeypatch.context() as m:
        m.setattr(os, "open", fake_os_open)
        m.setattr("builtins.open", fake_open)
        for fn in ("mkdir", "rename", "replace", "unlink", "rmdir"):
            m.setattr(os, fn, guard(getattr(os, fn)))
        yield "monkeypatched EROFS"


from test_security import run_cli as run_cli_in_process  # noqa: E402  (one copy of the helper)


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def test_read_only_runs_root(tmp_path, mnist_dir, monkeypatch, capsys):
    """Starting, resuming, launching from the app and deleting on a read-only runs root: a one-line error each,
    nothing changed; reading (the CLI's sample, every app page) still works."""
    from test_app import app_test, make_run, no_exceptions

    root = tmp_path / "runs"
    root.mkdir()
    make_run(root, "done")
    make_run(root, "paused", state="stopped", created=1.0)
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "2")
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))  # the form finds data: the read-only root is under test
    before = tree(root)
    out_png = tmp_path / "sample.png"
    with read_only(root, monkeypatch) as how:
        print(f"read-only by {how}", file=sys.__stderr__)
        code, err = run_cli_in_process(["train", "--name", "new", "--runs-dir", str(root), "--data-dir",
                                        str(mnist_dir), *TINY], capsys)
        assert code == 1 and err == f"error: Read-only file system: {root / 'new'}\n", (code, err)
        code, err = run_cli_in_process(["train", "--name", "paused", "--runs-dir", str(root), "--resume"], capsys)
        assert code == 1 and err == f"error: Read-only file system: {root / 'paused' / runs.LOCK_FILE}\n", err
        code, err = run_cli_in_process(["sample", "done", "--runs-dir", str(root), "--out", str(out_png)], capsys)
        assert code == 0 and out_png.is_file(), err
        with pytest.raises(errors.RunError, match="cannot start 'new2': Read-only file system"):
            launcher.launch_training("new2", TrainConfig(), root)

        at = app_test().run()
        at.switch_page("app_pages/1_Train.py").run()
        no_exceptions(at)
        at.text_input(key="tr_name").input("fresh")
        at.button(key="tr_start").click().run()
        no_exceptions(at)
        assert any("Read-only file system" in e.value for e in at.error), [e.value for e in at.error]
        at.switch_page("app_pages/5_Runs.py").run()
        at.selectbox(key="rn_target").set_value("done").run()
        at.checkbox(key="rn_confirm_done").check().run()
        at.button(key="rn_delete").click().run()
        no_exceptions(at)
        assert any("Read-only file system" in e.value for e in at.error), [e.value for e in at.error]
        at.switch_page("app_pages/2_Latent_plane.py").run()
        no_exceptions(at)
        assert not at.error
    assert tree(root) == before
