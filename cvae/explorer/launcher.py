"""App logic that is not Streamlit: launching, tracking and capping training subprocesses.

Training never runs in the app process. `launch_training` starts `python -m cvae train ...` in its
own session with stdout/stderr going to a log file, and refuses a second start of the same run and
starts beyond the concurrency cap ($CVAE_MAX_TRAINING).

The trainer takes its run lock only after TensorFlow has loaded (seconds). To close that window,
every launch leaves a record in <runs root>/.launches/<name>.json; a run counts as active while
its trainer holds the lock *or* the launched process of its record is alive. Check-and-launch is
serialised by a thread lock (Streamlit sessions are threads) and an flock (several app processes).

A new run's directory must not exist when the trainer starts (it refuses a non-empty one), so its
log is first written to .launches/<name>.log and moved to <run>/train.log once the trainer has
created the run (the open file follows the rename). A resumed run logs to <run>/train.log directly.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..store import runs
from ..store.config import TrainConfig, flag_of, format_value, settable_fields, validate_run_name
from ..store.errors import AlreadyTraining, ConfigError, LaunchError, NotTraining, RunExists, RunNotFound, ServerBusy
from ..store.faults import FAILPOINTS_ENV, TRAINER_FAILPOINTS_ENV
from ..store.files import atomic_write_json, open_append_nofollow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_TRAINING_ENV = "CVAE_MAX_TRAINING"
TRAIN_NICE_ENV = "CVAE_TRAIN_NICE"  # CPU niceness of launched trainers (default 10; 0 = same as the app)
LAUNCH_DIR = ".launches"

_THREAD_LOCK = threading.Lock()
_CHILDREN: dict[int, subprocess.Popen] = {}  # keeps Popen objects alive so they can be reaped


def max_training() -> int:
    """How many trainings may run at once: $CVAE_MAX_TRAINING, else 1 on <= 4 cores, else 2."""
    raw = os.environ.get(MAX_TRAINING_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(MAX_TRAINING_ENV, raw, "an integer >= 1") from None
        if value < 1:
            raise ConfigError(MAX_TRAINING_ENV, value, "an integer >= 1")
        return value
    return 1 if (os.cpu_count() or 1) <= 4 else 2


def train_argv(name: str, config: TrainConfig | None, runs_dir: str | os.PathLike | None = None,
               resume: bool = False, epochs: int | None = None) -> list[str]:
    """The command line of a training subprocess, generated from the config's field specs."""
    validate_run_name(name)
    argv = [sys.executable, "-m", "cvae", "train", f"--name={name}", f"--runs-dir={runs.runs_root(runs_dir)}"]
    if resume:
        argv.append("--resume")
        if epochs is not None:
            argv.append(f"--epochs={int(epochs)}")
        return argv
    if config is None:
        raise LaunchError("a new run needs a config", run=name)
    argv += [f"--preset={config.preset}"] if config.preset != "custom" else []
    for field in settable_fields():
        value = getattr(config, field)
        if value is not None:
            argv.append(f"{flag_of(field)}={format_value(value)}")
    return argv


# ---------------------------------------------------------------------------------------------- records


@dataclass
class Launch:
    """A training process started by the app (possibly by another session or app process)."""

    name: str
    pid: int
    started: float
    log: Path
    argv: list[str]
    resume: bool

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


def _launch_dir(runs_dir: str | os.PathLike | None) -> Path:
    return runs.runs_root(runs_dir) / LAUNCH_DIR


def pid_alive(pid: int) -> bool:
    """True while process pid runs (a zombie counts as dead; our own dead children are reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap if it is our child (e.g. started before a module reload)
    except (ChildProcessError, OSError):
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def read_launches(runs_dir: str | os.PathLike | None = None) -> list[Launch]:
    """Every launch record; unreadable ones are skipped."""
    out = []
    d = _launch_dir(runs_dir)
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            rec = json.loads(p.read_text())
            out.append(Launch(name=rec["name"], pid=int(rec["pid"]), started=float(rec["started"]),
                              log=Path(rec["log"]), argv=list(rec.get("argv", [])), resume=bool(rec.get("resume"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _record_path(name: str, runs_dir) -> Path:
    return _launch_dir(runs_dir) / f"{name}.json"


def sweep(runs_dir: str | os.PathLike | None = None) -> list[Launch]:
    """Move staged logs into run directories that now exist and drop records of finished launches.

    Returns the launches whose process died before creating its run (their log explains why). Every Train page
    render calls it, so it takes the launch lock: unlocked, it could delete the record a concurrent launch of
    the same name had just written (and a second Start would then launch a second trainer).
    """
    root = runs.runs_root(runs_dir)
    if not (root / LAUNCH_DIR).is_dir():
        return []
    try:
        with _launch_lock(root):
            return _sweep(root)
    except OSError:  # e.g. a read-only runs root: nothing can be swept there anyway
        return []


def _sweep(root: Path) -> list[Launch]:
    failed = []
    for rec in read_launches(root):
        run_dir = root / rec.name
        has_run = (run_dir / runs.CONFIG_FILE).is_file()
        staged = rec.log.parent == _launch_dir(root)
        if has_run and staged and rec.log.exists():
            target = run_dir / runs.LOG_FILE
            try:
                if target.exists() or target.is_symlink():  # keep an older log's text ahead of the new one
                    with open_append_nofollow(target) as out:
                        out.write(rec.log.read_bytes())
                    rec.log.unlink()
                else:
                    os.rename(rec.log, target)
                rec.log = target
                _write_record(rec, root)
            except OSError:
                pass
        if rec.alive:
            continue
        if has_run or not rec.log.exists():
            _record_path(rec.name, root).unlink(missing_ok=True)
        else:
            failed.append(rec)
    return failed


def dismiss(name: str, runs_dir: str | os.PathLike | None = None) -> None:
    """Forget a failed launch (its record and staged log)."""
    root = runs.runs_root(runs_dir)
    if not (root / LAUNCH_DIR).is_dir():
        return
    with _launch_lock(root):
        _dismiss(name, root)


def _dismiss(name: str, root: Path) -> None:
    for rec in read_launches(root):
        if rec.name == name and not rec.alive:
            _record_path(name, root).unlink(missing_ok=True)
            if rec.log.parent == _launch_dir(root):
                rec.log.unlink(missing_ok=True)


def _write_record(rec: Launch, root: Path) -> None:
    atomic_write_json(_record_path(rec.name, root), {
        "name": rec.name, "pid": rec.pid, "started": rec.started, "log": str(rec.log),
        "argv": rec.argv, "resume": rec.resume})


def pending(runs_dir: str | os.PathLike | None = None) -> dict[str, Launch]:
    """Launches whose process is alive, by run name."""
    return {rec.name: rec for rec in read_launches(runs_dir) if rec.alive}


def active_names(runs_dir: str | os.PathLike | None = None) -> list[str]:
    """Runs training now or about to: locked by a trainer, or launched and still starting."""
    root = runs.runs_root(runs_dir)
    names = set(pending(root))
    if root.is_dir():
        for child in root.iterdir():
            if not child.name.startswith(".") and child.is_dir() and not child.is_symlink() \
                    and runs.is_locked(child):
                names.add(child.name)
    return sorted(names)


def log_path(name: str, runs_dir: str | os.PathLike | None = None) -> Path | None:
    """Where run `name`'s training log is (its run directory, or still staged), or None."""
    root = runs.runs_root(runs_dir)
    for p in (root / name / runs.LOG_FILE, _launch_dir(root) / f"{name}.log"):
        if p.is_file() and not p.is_symlink():  # a planted link (to /etc/passwd...) is never shown
            return p
    return None


def log_tail(path: Path | None, lines: int = 60, max_bytes: int = 64_000) -> str:
    """The last lines of a log file (progress-bar carriage returns folded)."""
    if path is None or not path.is_file() or path.is_symlink():
        return ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", "replace")
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines())
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------- launch


@contextmanager
def _launch_lock(root: Path) -> Iterator[None]:
    d = root / LAUNCH_DIR
    d.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK:
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def launch_training(name: str, config: TrainConfig | None = None, runs_dir: str | os.PathLike | None = None,
                    resume: bool = False, epochs: int | None = None,
                    failpoints: str | None = None) -> Launch:
    """Start (or resume) run `name` in a training subprocess; LaunchError (or a subclass) says why not.

    failpoints: $CVAE_FAILPOINTS for the trainer (fault tests); else $CVAE_TRAINER_FAILPOINTS of this server.
    The server's own failpoints are never passed on."""
    try:
        validate_run_name(name)
    except ConfigError as e:
        raise LaunchError(str(e), run=None) from None
    root = runs.runs_root(runs_dir)
    try:
        return _launch(name, config, root, resume, epochs, failpoints)
    except OSError as e:  # a read-only or full runs root, a vanished directory...: one line, not a traceback
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else (e.strerror or str(e))
        raise LaunchError(f"cannot start {name!r}: {what}", run=name) from None


def _launch(name: str, config: TrainConfig | None, root: Path, resume: bool, epochs: int | None,
            failpoints: str | None) -> Launch:
    root.mkdir(parents=True, exist_ok=True)
    run_dir = runs.run_path(name, root)
    with _launch_lock(root):
        _sweep(root)
        active = active_names(root)
        if name in active:
            raise AlreadyTraining(f"run {name!r} is already training", run=name)
        if resume:
            info = runs.run_info(run_dir) if run_dir.is_dir() else None
            if info is None or info.config is None:
                raise RunNotFound(f"run {name!r} has no readable config.json; nothing to resume", run=name)
            extending = epochs is not None and epochs > info.config.epochs
            runs.check_resume_epochs(run_dir, epochs)  # fewer epochs than done: refused here, in one line
            if not (info.resumable or extending):
                raise LaunchError(f"run {name!r} is {info.state}; only an interrupted, stopped or failed run "
                                  "can be resumed (or give more epochs to train a finished run further)", run=name)
        elif run_dir.exists() and any(run_dir.iterdir()) and not runs.nothing_trained(run_dir):
            raise RunExists(f"run {name!r} already exists: pick another name, or select it and Resume", run=name)
        cap = max_training()
        if len(active) >= cap:
            raise ServerBusy(f"the server is busy: {len(active)} training(s) running ({', '.join(active)}); "
                             f"at most {cap} at once (${MAX_TRAINING_ENV}). Stop one or wait.", active=active, cap=cap)
        argv = train_argv(name, config, root, resume=resume, epochs=epochs)
        log = run_dir / runs.LOG_FILE if resume else root / LAUNCH_DIR / f"{name}.log"
        child_env = {k: v for k, v in os.environ.items() if k not in (FAILPOINTS_ENV, TRAINER_FAILPOINTS_ENV)}
        failpoints = failpoints if failpoints is not None else os.environ.get(TRAINER_FAILPOINTS_ENV)
        if failpoints:
            child_env[FAILPOINTS_ENV] = failpoints
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The child must import this very package, wherever the app was started from.
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT), *filter(None, [child_env.get("PYTHONPATH")])])
        with open_append_nofollow(log) as out:
            out.write(f"$ {' '.join(argv[1:])}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=child_env,
                                    close_fds=True)
        _CHILDREN[proc.pid] = proc
        _lower_priority(proc.pid)
        rec = Launch(name=name, pid=proc.pid, started=time.time(), log=log, argv=argv, resume=resume)
        try:
            _write_record(rec, root)
        except OSError:
            # Without its record the launch would be invisible until the trainer takes its lock (seconds):
            # a second Start could launch again. Undo it instead.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            raise
        return rec


def _lower_priority(pid: int) -> None:
    """Renice a just-started trainer (before TensorFlow starts its threads, which inherit it): it still gets every
    idle cycle, but the app's sessions come first (bench/load_test.py measures it; docs/reliability.md)."""
    try:
        nice = int(os.environ.get(TRAIN_NICE_ENV, "10"))
    except ValueError:
        nice = 10
    if nice > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
        except OSError:
            pass
        # With Linux autogroup scheduling (on by default), the trainer's own session is its own scheduling group,
        # and a thread's nice only counts inside its group: the group's nice is what weighs against the app.
        try:
            Path(f"/proc/{pid}/autogroup").write_text(f"{min(19, nice)}\n")
        except OSError:
            pass


def stop_training(name: str, runs_dir: str | os.PathLike | None = None) -> str:
    """Stop run `name`: a STOP file once its trainer holds the lock (it checkpoints, then stops); a process
    still starting (no lock yet, so no checkpoint to lose) gets SIGTERM. Returns what was done."""
    root = runs.runs_root(runs_dir)
    run_dir = runs.run_path(name, root)
    if runs.is_locked(run_dir):
        runs.request_stop(name, root)
        return "stop requested"
    rec = pending(root).get(name)
    if rec is not None:
        try:
            os.killpg(rec.pid, signal.SIGTERM)  # its own session: the group is the launched process
        except ProcessLookupError:
            pass
        return "terminated while starting"
    raise NotTraining(f"run {name!r} is not training", run=name)


def wait(launch: Launch, timeout: float | None = None) -> int | None:
    """Wait for a launch started by this process; its exit code (None on timeout)."""
    proc = _CHILDREN.get(launch.pid)
    if proc is None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid_alive(launch.pid):
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return 0
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if proc.returncode is not None:
            _CHILDREN.pop(launch.pid, None)
