"""App logic that is not Streamlit: launching, capping and stopping training subprocesses (records: launches.py).

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

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ...store import procs, runs
from ...store.config import TrainConfig, flag_of, format_value, settable_fields, validate_run_name
from ...store.errors import AlreadyTraining, ConfigError, LaunchError, NotTraining, RunExists, RunNotFound, ServerBusy
from ...store.faults import FAILPOINTS_ENV, TRAINER_FAILPOINTS_ENV
from ...store.files import open_append_nofollow
from ...store.locations import code_root
from .launches import CHILDREN, Launch, launch_dir, pending, pid_alive, sweep_locked, write_record
from ...store.launch_lock import launch_lock

PROJECT_ROOT = code_root()  # the folder whose cvae/ is this package: the trainer imports this same code
MAX_TRAINING_ENV = "CVAE_MAX_TRAINING"
TRAIN_NICE_ENV = "CVAE_TRAIN_NICE"  # CPU niceness of launched trainers (default 10; 0 = same as the app)


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


def active_names(runs_dir: str | os.PathLike | None = None) -> list[str]:
    """Runs training now or about to: locked by a responsive trainer, or launched and still starting (a frozen
    trainer does not keep the server busy)."""
    root = runs.runs_root(runs_dir)
    names = {name for name in pending(root) if not runs.is_locked(root / name) or runs.responsive(root / name)}
    if root.is_dir():
        for child in root.iterdir():
            if not child.name.startswith(".") and child.is_dir() and not child.is_symlink() \
                    and runs.is_locked(child) and runs.responsive(child):
                names.add(child.name)
    return sorted(names)


# ---------------------------------------------------------------------------------------------- launch


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
    with launch_lock(root):
        sweep_locked(root)
        rec = pending(root).get(name)
        if resume and rec is not None and not runs.is_locked(run_dir) and \
                runs.read_status(run_dir).get("pid") == rec.pid and runs.read_status(run_dir).get("state") != "running":
            _await_exit(rec)  # Resume right after Stop: that trainer has finished its run and is only exiting
        active = active_names(root)
        if name in active:
            raise AlreadyTraining(f"run {name!r} is already training", run=name)
        if runs.is_locked(run_dir):
            raise AlreadyTraining(f"run {name!r} has a trainer that is not responding: force-stop it first",
                                  run=name)
        if resume:
            info = runs.run_info(run_dir) if run_dir.is_dir() else None
            if info is None or info.config is None:
                raise RunNotFound(f"run {name!r} has no readable config.json; nothing to resume", run=name)
            if info.read_only:
                raise LaunchError(f"run {name!r} is read-only ({info.read_only}): copy it to train further",
                                  run=name)
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
        log = run_dir / runs.LOG_FILE if resume else launch_dir(root) / f"{name}.log"
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
            # The command as one would type it: 'python -m cvae train …' (the interpreter's name, not its path).
            out.write(f"$ python {' '.join(argv[1:])}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=child_env,
                                    close_fds=True)
        CHILDREN[proc.pid] = proc
        _lower_priority(proc.pid)
        rec = Launch(name=name, pid=proc.pid, started=time.time(), start_ticks=procs.start_ticks(proc.pid) or 0,
                     argv=argv, resume=resume, root=root)
        try:
            write_record(rec, root)
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


def _await_exit(rec: Launch | None, timeout: float = 15.0) -> None:
    """Wait (bounded) for a launched trainer that has released its run to exit."""
    deadline = time.monotonic() + timeout
    while rec is not None and rec.alive and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_training(name: str, runs_dir: str | os.PathLike | None = None) -> str:
    """Stop run `name`: a STOP file once its trainer holds the lock (it checkpoints, then stops); a process
    still starting (no lock yet, so no checkpoint to lose) gets SIGTERM, but only once verified as this run's
    launched trainer, and its process group only if this server created it. Returns what was done."""
    root = runs.runs_root(runs_dir)
    run_dir = runs.run_path(name, root)
    if runs.is_locked(run_dir):
        runs.request_stop(name, root)
        return "stop requested"
    with launch_lock(root):
        rec = pending(root).get(name)  # verified: our child, or pid + start time + command line
        if rec is None:
            raise NotTraining(f"run {name!r} is not training", run=name)
        try:
            if rec.pid in CHILDREN:
                os.killpg(rec.pid, signal.SIGTERM)  # the session this server created for it
            else:
                os.kill(rec.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        rec.stopped = True
        write_record(rec, root)
    return "terminated while starting"


def force_stop(name: str, runs_dir: str | os.PathLike | None = None) -> str:
    """SIGKILL a run's verified, not-responding trainer (runs.force_stop); its last checkpoint stays."""
    pids = runs.force_stop(name, runs_dir)
    return f"force-stopped trainer pid {', '.join(map(str, pids))}"


def wait(launch: Launch, timeout: float | None = None) -> int | None:
    """Wait for a launch started by this process; its exit code (None on timeout)."""
    proc = CHILDREN.get(launch.pid)
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
            CHILDREN.pop(launch.pid, None)
