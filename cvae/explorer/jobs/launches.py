"""Launch records: what the app started, verified before it is believed, swept when it is over.

The trainer takes its run lock only after TensorFlow has loaded (seconds). To close that window, every launch
leaves a record in <runs root>/.launches/<name>.json; a run counts as active while its trainer holds the lock *or*
the launched process of its record is alive. Check-and-launch is serialised by a thread lock (Streamlit sessions
are threads) and an flock (several app processes).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...store import checks, procs, runs
from ...store.launch_lock import launch_lock
from ...store.config import validate_run_name
from ...store.errors import ConfigError
from ...store.files import atomic_write_json, open_append_nofollow, read_file_nofollow

LAUNCH_DIR = runs.LAUNCH_DIR

CHILDREN: dict[int, subprocess.Popen] = {}  # keeps Popen objects alive so they can be reaped


@dataclass
class Launch:
    """A training process started by the app (possibly by another session or app process).

    A record on disk is data, not authority: the process counts as this launch only while its pid *and* start
    time match and it runs `python -m cvae train` for this run; the log path is derived from the run name.
    """

    name: str
    pid: int
    started: float
    start_ticks: int
    argv: list[str]
    resume: bool
    root: Path
    stopped: bool = False  # Stop was pressed before the trainer took its lock

    @property
    def log(self) -> Path:
        """The staged log while the run does not exist yet, else the run's train.log."""
        staged = launch_dir(self.root) / f"{self.name}.log"
        return staged if staged.exists() or not (self.root / self.name).is_dir() else self.root / self.name / runs.LOG_FILE

    @property
    def alive(self) -> bool:
        """True while the launched process runs (verified: our child, or pid + start time + command line)."""
        child = CHILDREN.get(self.pid)
        if child is not None:
            if child.poll() is None:
                return True
            CHILDREN.pop(self.pid, None)
            return False
        return (procs.alive(self.pid) and procs.start_ticks(self.pid) == self.start_ticks
                and procs.is_trainer_of(self.pid, self.name))


def launch_dir(runs_dir: str | os.PathLike | None) -> Path:
    return runs.runs_root(runs_dir) / LAUNCH_DIR


def pid_alive(pid: int) -> bool:
    """True while process pid runs (a zombie counts as dead; our own dead children are reaped)."""
    child = CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        CHILDREN.pop(pid, None)
        return False
    return procs.alive(pid)


def _parse_record(path: Path, root: Path) -> Launch | None:
    """A launch record validated field by field; None for anything malformed (it is then swept)."""
    try:
        rec = json.loads(read_file_nofollow(path).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict):
        return None
    name, pid, started, ticks = rec.get("name"), rec.get("pid"), rec.get("started"), rec.get("start_ticks")
    argv, resume, stopped = rec.get("argv", []), rec.get("resume", False), rec.get("stopped", False)
    try:
        validate_run_name(name)
    except ConfigError:
        return None
    ok = (name == path.stem and checks.is_int(pid) and 1 < pid < procs.MAX_PID and checks.is_timestamp(started)
          and checks.is_int(ticks) and ticks >= 0 and isinstance(argv, list) and len(argv) <= 100
          and all(isinstance(a, str) for a in argv) and isinstance(resume, bool) and isinstance(stopped, bool))
    if not ok:
        return None
    return Launch(name=name, pid=pid, started=float(started), start_ticks=ticks, argv=argv, resume=resume, root=root,
                  stopped=stopped)


def read_launches(runs_dir: str | os.PathLike | None = None) -> list[Launch]:
    """Every well-formed launch record (verified or not: see Launch.alive)."""
    root = runs.runs_root(runs_dir)
    d = root / LAUNCH_DIR
    if not d.is_dir():
        return []
    return [rec for p in sorted(d.glob("*.json")) if (rec := _parse_record(p, root)) is not None]


def _record_path(name: str, runs_dir) -> Path:
    return launch_dir(runs_dir) / f"{name}.json"


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
        with launch_lock(root):
            return sweep_locked(root)
    except OSError:  # e.g. a read-only runs root: nothing can be swept there anyway
        return []


def sweep_locked(root: Path) -> list[Launch]:
    failed = []
    valid = {rec.name for rec in read_launches(root)}
    for p in (root / LAUNCH_DIR).glob("*.json"):
        if p.stem not in valid:  # malformed or planted: a record that does not parse is not kept
            p.unlink(missing_ok=True)
    for rec in read_launches(root):
        run_dir = root / rec.name
        has_run = (run_dir / runs.CONFIG_FILE).is_file()
        staged = launch_dir(root) / f"{rec.name}.log"
        if has_run and staged.is_file() and not staged.is_symlink():
            target = run_dir / runs.LOG_FILE
            try:
                if target.exists() or target.is_symlink():  # keep an older log's text ahead of the new one
                    with open_append_nofollow(target) as out:
                        out.write(read_file_nofollow(staged))
                    staged.unlink()
                else:
                    os.rename(staged, target)
            except OSError:
                pass
        if rec.alive:
            continue
        if has_run or not staged.exists():
            _record_path(rec.name, root).unlink(missing_ok=True)
        else:
            failed.append(rec)
    return failed


def dismiss(name: str, runs_dir: str | os.PathLike | None = None) -> None:
    """Forget a failed launch (its record and staged log)."""
    root = runs.runs_root(runs_dir)
    if not (root / LAUNCH_DIR).is_dir():
        return
    with launch_lock(root):
        _dismiss(name, root)


def _dismiss(name: str, root: Path) -> None:
    for rec in read_launches(root):
        if rec.name == name and not rec.alive:
            _record_path(name, root).unlink(missing_ok=True)
            (launch_dir(root) / f"{name}.log").unlink(missing_ok=True)


def write_record(rec: Launch, root: Path) -> None:
    atomic_write_json(_record_path(rec.name, root), {
        "name": rec.name, "pid": rec.pid, "started": rec.started, "start_ticks": rec.start_ticks,
        "argv": rec.argv, "resume": rec.resume, "stopped": rec.stopped})


def pending(runs_dir: str | os.PathLike | None = None) -> dict[str, Launch]:
    """Launches whose process is verifiably alive, by run name."""
    return {rec.name: rec for rec in read_launches(runs_dir) if rec.alive}


