"""Run directories: layout, status, lock, listing and deletion. No TensorFlow here (the app imports it)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import TrainConfig, validate_run_name
from .lock import LOCK_FILE, RunLock, is_locked, responsive, trainer_pids
from .errors import AlreadyTraining, ConfigError, NotTraining, RunError, RunExists, RunNotFound, RunReadOnly
from .evaluations import EVALUATIONS_FILE, read_evaluations
from .files import atomic_write_json, read_json
from .locations import default_runs_root
from .launch_lock import launch_lock, starting_trainer
from .readonly import READ_ONLY_FILE, read_only_reason
from .metrics import epoch_rows, read_metrics
from .schema import status_problem, valid_status_fields
from .status_codes import coded

RUNS_DIR_ENV = "CVAE_RUNS_DIR"

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
WEIGHTS_FILE = "weights.npz"
STOP_FILE = "STOP"
LOG_FILE = "train.log"
IMAGES_DIR = "images"
CKPT_DIR = "ckpt"
GIF_FILE = "samples.gif"
LAUNCH_DIR = ".launches"  # the app's launch records and staged logs, in the runs root

STATES = ("running", "stopped", "failed", "done")


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    """The runs root: the argument, else $CVAE_RUNS_DIR, else the default (cvae.store.locations: the checkout's
    checkpoints/, or for an installed package the user's data folder)."""
    return Path(runs_dir or os.environ.get(RUNS_DIR_ENV) or default_runs_root()).expanduser().resolve()


def run_path(name: str, runs_dir: str | os.PathLike | None = None) -> Path:
    """The directory of run `name`, guaranteed to lie directly inside the runs root."""
    try:
        validate_run_name(name)
    except ConfigError as e:
        raise RunError(str(e), run=None) from None
    root = runs_root(runs_dir)
    path = root / name
    # A symlinked run directory could point anywhere: refuse it rather than follow it.
    if path.is_symlink() or (path.exists() and path.resolve().parent != root):
        raise RunError(f"run {name!r}: resolves outside the runs root {root}; refused")
    return path


def image_path(run_dir: Path, epoch: int) -> Path:
    """PNG of the fixed test sample decoded after `epoch` (0 = before training)."""
    return run_dir / IMAGES_DIR / f"epoch_{epoch:04d}.png"


def epoch_images(run_dir: Path) -> list[Path]:
    """The per-epoch PNGs in epoch order (symbolic links, or a symlinked images/, are not run files: skipped)."""
    images = run_dir / IMAGES_DIR
    if images.is_symlink():
        return []
    return sorted(p for p in images.glob("epoch_[0-9][0-9][0-9][0-9].png") if not p.is_symlink())


# Everything the trainer writes in a run directory: none of it may be a symbolic link (writes would follow it).
# ("tensorboard": cvae.engine.tensorboard's event files, written by TensorFlow, which follows links.)
RUN_ENTRIES = (CONFIG_FILE, STATUS_FILE, METRICS_FILE, WEIGHTS_FILE, LOCK_FILE, STOP_FILE, LOG_FILE, IMAGES_DIR,
               CKPT_DIR, GIF_FILE, "tensorboard")


def symlinked_entries(run_dir: str | os.PathLike) -> list[str]:
    """The run files/dirs (and files in images/ and ckpt/) that are symbolic links; [] for a clean run."""
    run_dir = Path(run_dir)
    out = [n for n in RUN_ENTRIES if (run_dir / n).is_symlink()]
    for sub in (IMAGES_DIR, CKPT_DIR):
        d = run_dir / sub
        if d.is_dir() and not d.is_symlink():
            out += [f"{sub}/{p.name}" for p in sorted(d.iterdir()) if p.is_symlink()]
    return out


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The run's validated config; RunError says which file and what is wrong."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{Path(run_dir).name}: {CONFIG_FILE} is missing")
    try:
        return TrainConfig.from_dict(read_json(path))
    except (ValueError, TypeError) as e:
        raise RunError(f"{Path(run_dir).name}/{CONFIG_FILE}: {e}") from None


def read_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """status.json as a dict, every field checked (cvae.store.schema): a missing or garbage file, or no valid
    'state', reads as state 'unknown'; a valid state with a bad field reads as 'damaged' (without that field),
    the message naming the field, 'stored_state' the state it claimed."""
    path = Path(run_dir) / STATUS_FILE
    try:
        status = read_json(path)
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise ValueError(f"{STATUS_FILE}: no valid 'state'")
    except FileNotFoundError:
        return {"state": "unknown", "message": f"{STATUS_FILE} is missing"}
    except (ValueError, OSError) as e:
        return {"state": "unknown", "message": str(e)}
    why = status_problem(status)
    if why is None:
        return status
    kept = {k: v for k, v in valid_status_fields(status).items() if k not in ("code", "params")}  # says `why`
    return {**kept, "state": "damaged", "stored_state": status["state"], "message": why}


def write_status(run_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json (atomically) and stamp 'updated'."""
    status = read_status(run_dir)
    if status.get("state") == "unknown":
        status = {}
    elif status.get("state") == "damaged":  # keep the valid fields (and the state it claimed); drop the bad one
        status.pop("message", None)
        status["state"] = status.pop("stored_state")
    if "message" in fields and "code" not in fields:  # a plain message replaces the coded line before it
        status.pop("code", None)
        status.pop("params", None)
    status.update(fields)
    status["updated"] = time.time()
    atomic_write_json(Path(run_dir) / STATUS_FILE, status)
    return status


@dataclass
class RunInfo:
    """What the app lists about a run."""

    name: str
    path: Path
    state: str  # running / stopped / failed / done / interrupted / unknown / broken
    config: TrainConfig | None
    status: dict[str, Any]
    epochs_done: int
    best_test_elbo: float | None
    created: float | None
    error: str | None = None
    has_weights: bool = False
    epoch_rows: list[dict] = field(default_factory=list)
    bad_rows: int = 0  # metrics.jsonl rows skipped as malformed
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)  # file -> (mtime_ns, size) when read
    evaluations: list[dict] = field(default_factory=list)  # the valid rows of evaluations.jsonl
    read_only: str | None = None  # why the run may not be deleted or trained in place (read_only_reason)

    @property
    def total_epochs(self) -> int | None:
        return self.config.epochs if self.config else None

    @property
    def resumable(self) -> bool:
        return self.state in ("interrupted", "stopped", "failed") and self.config is not None and not self.read_only


def effective_state(run_dir: Path, status: dict[str, Any]) -> str:
    """The stored state, except a 'running' run whose process is gone is 'interrupted', and one whose process holds
    the lock but has stopped beating is 'unresponsive'."""
    state = status.get("state", "unknown")
    if state == "running":
        if not is_locked(run_dir):
            return "interrupted"
        if not responsive(run_dir):
            return "unresponsive"
    return state


def _read_run(run_dir: Path) -> RunInfo:
    """run_info without the lock check: everything that only changes when the run's files change."""
    status = read_status(run_dir)
    error = None
    try:
        config = read_config(run_dir)
    except RunError as e:
        config, error = None, str(e)
    view = read_metrics(run_dir / METRICS_FILE)
    rows = view.epochs
    elbos = [r["test_elbo"] for r in rows if r.get("test_elbo") is not None]
    epoch = status.get("epoch")  # checked by the schema: an int in range, or absent
    logged = max((r["epoch"] for r in rows), default=0)  # epochs metrics.jsonl holds
    if epoch is not None and epoch > logged and status.get("state") in STATES:
        # The status claims epochs the metrics do not hold (e.g. "epoch 12" of a 10-epoch run): the metrics count,
        # and the status is damaged, naming the field. (Fewer is normal for a moment: the trainer appends the
        # epoch's metrics row before it rewrites status.json.)
        status = {**status, "state": "damaged", "stored_state": status["state"],
                  "message": f"{STATUS_FILE}: 'epoch' says {epoch}, but {METRICS_FILE} holds {logged} epochs"}
        epoch = logged
    state = status.get("state", "unknown") if config else "broken"
    if epoch is None:
        epoch = logged
    return RunInfo(
        name=run_dir.name, path=run_dir, state=state, config=config, status=status,
        epochs_done=int(epoch), best_test_elbo=max(elbos) if elbos else None, created=status.get("created"),
        error=error or (status.get("message") if state in ("unknown", "damaged") else None),
        has_weights=(run_dir / WEIGHTS_FILE).is_file(), epoch_rows=rows, bad_rows=view.bad_rows,
        evaluations=read_evaluations(run_dir), read_only=read_only_reason(run_dir),
    )


# Per-run summaries, keyed by (mtime_ns, size) of the files they are read from: a rerun of a page with 1,000
# runs stats their files instead of parsing them. Process-wide (every session shares it); bounded.
SUMMARY_FILES = (CONFIG_FILE, STATUS_FILE, METRICS_FILE, WEIGHTS_FILE, EVALUATIONS_FILE, READ_ONLY_FILE)
_SUMMARIES: dict[str, tuple[tuple, RunInfo]] = {}
_MAX_SUMMARIES = 8192


def _files_key(run_dir: str) -> tuple:
    key = []
    prefix = run_dir + os.sep  # not os.path.join: this runs 5 times per run on every rerun of every page
    for name in SUMMARY_FILES:
        try:
            st = os.stat(prefix + name, follow_symlinks=False)
            key.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode))
        except OSError:
            key.append(None)
    return tuple(key)


def run_info(run_dir: str | os.PathLike, _key: tuple | None = None) -> RunInfo:
    """Everything about one run directory; never raises for a broken run (state 'broken' + error).

    Read-only: the same object is returned while the run's files are unchanged (treat it as a value).
    """
    path = os.fspath(run_dir)
    key = _key if _key is not None else _files_key(path)
    cached = _SUMMARIES.get(path)
    if cached is None or cached[0] != key:
        info = _read_run(Path(path))
        info.stamps = {n: k[:2] for n, k in zip(SUMMARY_FILES, key) if k is not None}
        cached = (key, info)
        _SUMMARIES[path] = cached
        if len(_SUMMARIES) > _MAX_SUMMARIES:
            _SUMMARIES.pop(next(iter(_SUMMARIES)), None)
    info = cached[1]
    if info.state == "running":  # the lock and its heartbeat are live state: checked on every call
        live = effective_state(info.path, info.status)
        if live != "running":
            info = replace(info, state=live)
    return info


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run directory in the root, newest first; hidden and invalid names are skipped. Costs a few stat
    calls per run while its files are unchanged (per-run summaries are cached, see run_info)."""
    root = runs_root(runs_dir)
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    infos = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):  # d_type: no system call; a symlink is not a run
            continue
        try:
            validate_run_name(entry.name)
        except ConfigError:
            continue
        key = _files_key(entry.path)
        if key[0] is None and key[1] is None:  # neither config.json nor status.json
            continue
        infos.append(run_info(entry.path, key))  # a str: no Path parsing per run while nothing changed
    infos.sort(key=lambda r: (r.created or 0.0, r.name), reverse=True)
    return infos


def nothing_trained(run_dir: Path, we_hold_the_lock: bool = False) -> bool:
    """True for a run that failed (or died) before it saved any weights: nothing in it is worth keeping."""
    if not run_dir.is_dir() or (run_dir / WEIGHTS_FILE).exists():
        return False
    if not we_hold_the_lock and is_locked(run_dir):
        return False
    if any((run_dir / CKPT_DIR).glob("ckpt-*.npz")):
        return False
    return read_status(run_dir).get("state") in ("failed", "running")  # 'running' without its lock: it died


def clear_untrained(run_dir: Path) -> None:
    """Remove what a run that never trained left (not its train.log, which keeps the failed attempt's story)."""
    for entry in (CONFIG_FILE, STATUS_FILE, METRICS_FILE, STOP_FILE, GIF_FILE, IMAGES_DIR, CKPT_DIR, "tensorboard"):
        path = run_dir / entry
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def check_can_start(run_dir: Path, resume: bool) -> None:
    """Raise RunNotFound, AlreadyTraining or RunExists if run_dir cannot be started (or resumed) now.

    A cheap pre-check (no TensorFlow): train_run asks it first, and takes the lock to be sure.
    """
    name = run_dir.name
    check_writable(run_dir)
    if resume:
        if is_locked(run_dir):  # first: a new run's trainer holds its lock before it writes config.json
            raise AlreadyTraining(f"run {name!r} is already training", run=name)
        if not (run_dir / CONFIG_FILE).exists():
            raise RunNotFound(f"run {name!r} does not exist in {run_dir.parent}; nothing to resume", run=name)
    elif run_dir.exists() and is_locked(run_dir):  # (a trainer holds it from before it loads TensorFlow)
        raise AlreadyTraining(f"run {name!r} is already training", run=name)
    elif run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):  # a lone .lock: a start
        # that failed before it wrote anything
        if nothing_trained(run_dir):
            return  # e.g. its data was missing: starting it again, with corrected settings, replaces it
        raise RunExists(f"run {name!r} already exists; use --resume to continue it or choose another name", run=name)


def acquire_run_lock(run_dir: Path) -> RunLock:
    """The run's lock, taken now (the run directory created if needed); AlreadyTraining if another process holds
    it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    if not lock.acquire():
        raise AlreadyTraining(f"run {run_dir.name!r} is already training", run=run_dir.name)
    return lock


def check_writable(run_dir: Path) -> None:
    """RunReadOnly for a read-only run (the shipped tutorial): it is explored, never trained in place."""
    why = read_only_reason(run_dir) if run_dir.is_dir() else None
    if why is not None:
        raise RunReadOnly(f"run {run_dir.name!r} is read-only ({why}); copy it to train further", run=run_dir.name,
                          reason=why)


def check_resume_epochs(run_dir: str | os.PathLike, epochs: int | None) -> None:
    """Refuse resuming a run to fewer epochs than it has done (its config would say 1 epoch of a 2-epoch run)."""
    if epochs is None:
        return
    done = run_info(run_dir).epochs_done
    if epochs < done:
        name = Path(run_dir).name
        raise RunError(f"--epochs {epochs}: run {name!r} has already trained {done} epochs; resume it with "
                       f"--epochs {done} or more", run=name)


def request_stop(name: str, runs_dir: str | os.PathLike | None = None) -> None:
    """Ask a run's trainer to stop after its current steps (a stop file, so it works across processes)."""
    path = run_path(name, runs_dir)
    if not path.is_dir():
        raise RunNotFound(f"run {name!r} does not exist", run=name)
    try:  # not Path.touch(): it would follow a planted symbolic link and create or touch its target
        os.close(os.open(path / STOP_FILE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
    except OSError as e:
        raise RunError(f"run {name!r}: cannot ask it to stop ({e.strerror}: {STOP_FILE})") from None


def delete_run(name: str, runs_dir: str | os.PathLike | None = None) -> None:
    """Delete a run directory; refused for a read-only run and while a trainer for it is starting or running.

    Checked under the launch lock the app's launcher holds while it starts a trainer and writes its record: a
    trainer still importing TensorFlow holds no run lock yet, but its verified launch record is there."""
    path = run_path(name, runs_dir)
    if not path.is_dir():
        raise RunNotFound(f"run {name!r} does not exist", run=name)
    why = read_only_reason(path)
    if why is not None:
        raise RunReadOnly(f"run {name!r} is read-only ({why}); it cannot be deleted", run=name, reason=why)
    root = path.parent
    with launch_lock(root, create=False):
        if is_locked(path):
            raise AlreadyTraining(f"run {name!r} is training; stop it before deleting", run=name)
        pid = starting_trainer(root, name)
        if pid is not None:
            raise AlreadyTraining(f"run {name!r} has a trainer starting (pid {pid}); stop it before deleting",
                                  run=name)
        # Rename first so a half-finished delete never looks like a run.
        trash = path.with_name(f".deleting-{name}-{os.getpid()}-{time.time_ns()}")
        os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def force_stop(name: str, runs_dir: str | os.PathLike | None = None, wait: float = 10.0) -> list[int]:
    """SIGKILL run `name`'s verified trainer (a frozen or stuck one); its last checkpoint stays and the run becomes
    resumable. Returns the pids killed; NotTraining if no verified trainer holds the lock."""
    path = run_path(name, runs_dir)
    pids = trainer_pids(path)
    if not pids:
        raise NotTraining(f"run {name!r} has no trainer to stop", run=name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)  # delivered even to a stopped (SIGSTOP, Ctrl-Z) process
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait
    while is_locked(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    if read_status(path).get("state") == "running":
        write_status(path, state="stopped", **coded("force_stopped", pids=", ".join(map(str, pids))))
    return pids
