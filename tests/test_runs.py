"""Tests for cvae.store.runs: safe run paths, listing, states, the cross-process lock, deletion, broken runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cvae.store import metrics
from cvae.store.metrics import step_rows
from cvae.store import errors, runs
from cvae.store.config import TrainConfig
from cvae.store.files import append_jsonl, atomic_write_json

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_run(root: Path, name: str, state: str = "done", created: float = 1.0, epochs_done: int = 2,
             config: TrainConfig | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / runs.CONFIG_FILE).write_text((config or TrainConfig(epochs=3)).to_json())
    atomic_write_json(d / runs.STATUS_FILE, {"state": state, "created": created, "epoch": epochs_done})
    for e in range(1, epochs_done + 1):
        append_jsonl(d / runs.METRICS_FILE, {"kind": "step", "epoch": e, "step": e * 10, "loss": 100.0})
        append_jsonl(d / runs.METRICS_FILE, {"kind": "epoch", "epoch": e, "step": e * 10, "test_elbo": -200.0 + e})
    return d


# ------------------------------------------------------------------------------------------- paths


def test_run_path_inside_root(tmp_path):
    assert runs.run_path("a-b_c.1", tmp_path) == tmp_path.resolve() / "a-b_c.1"


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".", "", ".hidden", "x/../../y", "a b"])
def test_run_path_refuses_traversal_and_absolute(tmp_path, name):
    with pytest.raises(runs.RunError, match="run name"):
        runs.run_path(name, tmp_path)


def test_run_path_refuses_symlinks(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    with pytest.raises(runs.RunError, match="outside the runs root"):
        runs.run_path("evil", root)
    # Even a link to another run inside the root is refused (it could be retargeted later).
    make_run(root, "real")
    (root / "alias").symlink_to(root / "real")
    with pytest.raises(runs.RunError):
        runs.run_path("alias", root)
    # And a dangling one.
    (root / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(runs.RunError):
        runs.run_path("dangling", root)


def test_runs_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path / "env"))
    assert runs.runs_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert runs.runs_root() == (tmp_path / "env").resolve()
    monkeypatch.delenv(runs.RUNS_DIR_ENV)
    # From this checkout, the default is its checkpoints/ folder: the one that holds the shipped run.
    repo = Path(__file__).resolve().parent.parent
    assert runs.runs_root() == repo / "checkpoints"
    assert (runs.runs_root() / "tutorial" / "config.json").is_file()


# ------------------------------------------------------------------------------------------- listing


def test_list_runs_skips_junk_and_sorts_newest_first(tmp_path):
    root = tmp_path / "runs"
    make_run(root, "old", created=100.0)
    make_run(root, "new", created=200.0)
    (root / "file.txt").write_text("not a run")
    (root / ".hidden").mkdir()
    ((root / ".hidden") / runs.CONFIG_FILE).write_text(TrainConfig().to_json())
    (root / ".deleting-x-1-2").mkdir()
    (root / "empty_dir").mkdir()
    (root / "bad name").mkdir()
    ((root / "bad name") / runs.CONFIG_FILE).write_text(TrainConfig().to_json())
    (root / "link").symlink_to(root / "old")
    infos = runs.list_runs(root)
    assert [r.name for r in infos] == ["new", "old"]
    old = infos[1]
    assert old.state == "done" and old.epochs_done == 2 and old.total_epochs == 3
    assert old.best_test_elbo == -198.0 and [r["epoch"] for r in old.epoch_rows] == [1, 2]
    assert old.error is None and not old.resumable
    assert runs.list_runs(tmp_path / "missing") == []


def test_running_without_lock_holder_is_interrupted(tmp_path):
    d = make_run(tmp_path, "r", state="running")
    info = runs.run_info(d)
    assert info.status["state"] == "running" and info.state == "interrupted" and info.resumable
    with runs.RunLock(d) as lock:
        assert lock.acquire()
        assert runs.run_info(d).state == "running"
        assert [r.state for r in runs.list_runs(tmp_path)] == ["running"]
    assert runs.run_info(d).state == "interrupted"
    assert [r.state for r in runs.list_runs(tmp_path)] == ["interrupted"]


def test_garbage_status_reads_unknown_not_exception(tmp_path):
    d = make_run(tmp_path, "r")
    for garbage in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"state": "exploded"}', b""):
        (d / runs.STATUS_FILE).write_bytes(garbage)
        info = runs.run_info(d)
        assert info.state == "unknown" and info.error, garbage
        assert info.config is not None
        assert info.epochs_done == 2  # from metrics.jsonl
    (d / runs.STATUS_FILE).unlink()
    info = runs.run_info(d)
    assert info.state == "unknown" and "missing" in info.error
    assert [r.name for r in runs.list_runs(tmp_path)] == ["r"]


def test_wrong_typed_status_fields_do_not_break_listing(tmp_path):
    d = make_run(tmp_path, "r")
    make_run(tmp_path, "s", created=5.0)
    atomic_write_json(d / runs.STATUS_FILE, {"state": "done", "epoch": "three", "created": "yesterday"})
    info = runs.run_info(d)
    # Schema on read (issue #10): a valid state with a bad field is 'damaged', the message naming the field.
    assert info.state == "damaged" and info.epochs_done == 2 and info.created is None
    assert "'created'" in info.error and info.status["stored_state"] == "done"
    assert [r.name for r in runs.list_runs(tmp_path)] == ["s", "r"]


def test_missing_or_bad_config_is_broken_not_exception(tmp_path):
    d = make_run(tmp_path, "r")
    (d / runs.CONFIG_FILE).unlink()
    info = runs.run_info(d)
    assert info.state == "broken" and info.config is None and "config.json is missing" in info.error
    assert info.total_epochs is None and not info.resumable
    for text in ("{oops", '{"epochs": 0}', '{"bogus_field": 1}', "[]"):
        (d / runs.CONFIG_FILE).write_text(text)
        info = runs.run_info(d)
        assert info.state == "broken" and info.error.startswith("r/config.json:"), text
    with pytest.raises(runs.RunError, match="config.json"):
        runs.read_config(d)
    assert [r.state for r in runs.list_runs(tmp_path)] == ["broken"]


def test_write_status_merges_and_stamps(tmp_path):
    runs.write_status(tmp_path, state="running", epoch=0)
    s = runs.write_status(tmp_path, epoch=3)
    assert s["state"] == "running" and s["epoch"] == 3 and isinstance(s["updated"], float)
    assert runs.read_status(tmp_path)["epoch"] == 3
    (tmp_path / runs.STATUS_FILE).write_text("garbage")
    assert runs.write_status(tmp_path, state="failed")["state"] == "failed"  # garbage is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs.STATUS_FILE]


def test_epoch_rows_one_per_epoch_last_wins():
    rows = [{"kind": "epoch", "epoch": 2, "v": 1}, {"kind": "step", "epoch": 1, "step": 5, "loss": 1.5},
            {"kind": "step", "epoch": 1, "step": 6}, {"kind": "epoch", "epoch": 1, "v": 2},
            {"kind": "epoch", "epoch": 2, "v": 3}, {"kind": "epoch", "epoch": "x"}, {"epoch": 4}]
    assert metrics.epoch_rows(rows) == [{"kind": "epoch", "epoch": 1, "v": 2}, {"kind": "epoch", "epoch": 2, "v": 3}]
    assert metrics.step_rows(rows) == [{"kind": "step", "epoch": 1, "step": 5, "loss": 1.5}]  # no loss: skipped


def test_epoch_images_sorted(tmp_path):
    (tmp_path / runs.IMAGES_DIR).mkdir()
    for e in (3, 0, 10, 1):
        runs.image_path(tmp_path, e).write_bytes(b"")
    (tmp_path / runs.IMAGES_DIR / "epoch_x.png").write_bytes(b"")
    assert [p.name for p in runs.epoch_images(tmp_path)] == [
        "epoch_0000.png", "epoch_0001.png", "epoch_0003.png", "epoch_0010.png"]


# ------------------------------------------------------------------------------------------- lock


LOCK_HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from cvae.store.runs import RunLock
lock = RunLock({run!r})
print("acquired" if lock.acquire() else "busy", flush=True)
if sys.argv[1] == "hold":
    time.sleep(60)
"""


def _lock_script(run: Path) -> str:
    return LOCK_HOLDER.format(root=str(REPO_ROOT), run=str(run))


def test_lock_excludes_a_second_holder_across_processes(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _lock_script(run), "hold"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "acquired"
        assert runs.is_locked(run)
        assert not runs.RunLock(run).acquire()  # this process
        other = subprocess.run([sys.executable, "-c", _lock_script(run), "try"], capture_output=True, text=True,
                               timeout=60)
        assert other.stdout.strip() == "busy"  # a third process
        assert (run / runs.LOCK_FILE).read_text() == str(holder.pid)
    finally:
        holder.kill()  # SIGKILL: no clean-up runs, the kernel drops the lock
        holder.wait()
    assert not runs.is_locked(run)
    lock = runs.RunLock(run)
    assert lock.acquire()
    try:
        other = subprocess.run([sys.executable, "-c", _lock_script(run), "try"], capture_output=True, text=True,
                               timeout=60)
        assert other.stdout.strip() == "busy"
    finally:
        lock.release()
    assert not runs.is_locked(run)


def test_is_locked_without_lock_file(tmp_path):
    assert not runs.is_locked(tmp_path)
    assert not runs.is_locked(tmp_path / "missing")


# ------------------------------------------------------------------------------------------- delete / stop


def test_delete_refuses_while_locked_then_deletes(tmp_path):
    d = make_run(tmp_path, "r")
    lock = runs.RunLock(d)
    assert lock.acquire()
    try:
        with pytest.raises(runs.RunError, match="is training"):
            runs.delete_run("r", tmp_path)
        assert d.is_dir()
    finally:
        lock.release()
    runs.delete_run("r", tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(runs.RunError, match="does not exist"):
        runs.delete_run("r", tmp_path)
    with pytest.raises(runs.RunError, match="run name"):
        runs.delete_run("../r", tmp_path)


def test_delete_does_not_follow_symlinks(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "precious"
    root.mkdir()
    make_run(tmp_path, "precious")
    (root / "link").symlink_to(outside)
    with pytest.raises(runs.RunError):
        runs.delete_run("link", root)
    assert (outside / runs.CONFIG_FILE).exists()


def test_request_stop(tmp_path):
    d = make_run(tmp_path, "r")
    runs.request_stop("r", tmp_path)
    assert (d / runs.STOP_FILE).exists()
    with pytest.raises(runs.RunError, match="does not exist"):
        runs.request_stop("nope", tmp_path)


def test_lock_file_pid_and_release_is_idempotent(tmp_path):
    lock = runs.RunLock(tmp_path)
    assert lock.acquire()
    assert (tmp_path / runs.LOCK_FILE).read_text() == str(os.getpid())
    lock.release()
    lock.release()
    assert not runs.is_locked(tmp_path)
    with runs.RunLock(tmp_path) as again:
        assert again.acquire()
        t0 = time.time()
        assert not runs.RunLock(tmp_path).acquire()  # refused at once, not after waiting
        assert time.time() - t0 < 10  # a blocking acquire would wait forever, not seconds
    assert not runs.is_locked(tmp_path)


def refusal(run_dir, resume):
    """What check_can_start raises, as (class name, run, message); None when the start may go ahead."""
    try:
        runs.check_can_start(run_dir, resume)
    except errors.RunError as e:
        return type(e).__name__, e.run, str(e)
    return None


def test_check_can_start(tmp_path):
    new = tmp_path / "new"
    assert refusal(new, resume=False) is None
    assert refusal(new, resume=True) == ("RunNotFound", "new",
                                         f"run 'new' does not exist in {tmp_path}; nothing to resume")
    new.mkdir()
    assert refusal(new, resume=False) is None  # an empty directory is not a run yet
    d = make_run(tmp_path, "r")
    assert refusal(d, resume=True) is None
    assert refusal(d, resume=False)[:2] == ("RunExists", "r")
    assert "already exists; use --resume" in refusal(d, resume=False)[2]
    with runs.RunLock(d) as lock:
        assert lock.acquire()
        assert refusal(d, resume=True) == ("AlreadyTraining", "r", "run 'r' is already training")
        assert refusal(d, resume=False) == ("AlreadyTraining", "r", "run 'r' is already training")


def test_a_failed_run_with_nothing_trained_may_be_started_again(tmp_path):
    """Only a failed (or dead) run without weights or checkpoints; and clearing it keeps its train.log."""
    failed = make_run(tmp_path, "f", state="failed", epochs_done=0)
    (failed / runs.LOG_FILE).write_text("error: no mnist data\n")
    (failed / runs.IMAGES_DIR).mkdir()
    (failed / runs.IMAGES_DIR / "epoch_0000.png").write_bytes(b"png")
    assert runs.nothing_trained(failed) and refusal(failed, resume=False) is None
    with runs.RunLock(failed) as lock:  # while someone starts it, it is theirs
        assert lock.acquire()
        assert not runs.nothing_trained(failed) and runs.nothing_trained(failed, we_hold_the_lock=True)
        assert refusal(failed, resume=False)[2] == "run 'f' is already training"
        runs.clear_untrained(failed)
    assert sorted(p.name for p in failed.iterdir()) == [runs.LOCK_FILE, runs.LOG_FILE]

    for name, state, extra in [("d", "done", None), ("s", "stopped", None), ("w", "failed", runs.WEIGHTS_FILE),
                               ("c", "failed", f"{runs.CKPT_DIR}/ckpt-00000008.npz")]:
        d = make_run(tmp_path, name, state=state, epochs_done=0)
        if extra:
            (d / extra).parent.mkdir(exist_ok=True)
            (d / extra).write_bytes(b"x")
        assert not runs.nothing_trained(d), name
        assert "already exists; use --resume" in refusal(d, resume=False)[2], name
