"""The launch lock and launch records at the store level: who may start a trainer, and whether one is starting.

The app's launcher (cvae/explorer/jobs/launches.py) writes <runs root>/.launches/<name>.json under this lock before a
trainer has taken its run lock; deleting a run takes the same lock and refuses while such a record names a live,
verified trainer. A record is data, not authority: only a process whose pid *and* start time match and whose
command line is `python -m cvae train --name=NAME` counts.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import checks, procs
from .files import read_file_nofollow

LAUNCH_DIR = ".launches"
_THREAD_LOCK = threading.Lock()  # Streamlit sessions are threads; the flock serialises app processes
MAX_RECORD_BYTES = 64 * 1024


@contextmanager
def launch_lock(root: Path, create: bool = True) -> Iterator[None]:
    """Hold the runs root's launch lock (thread lock + flock on .launches/.lock). create=False: where no
    .launches/ exists, no app has ever launched a trainer here (the launcher creates it, then locks, then checks
    and launches), so there is nothing to wait for and nothing is created."""
    d = root / LAUNCH_DIR
    if not create and not d.is_dir():
        yield
        return
    d.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK:
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def record_path(root: Path, name: str) -> Path:
    """The launch record of run `name` (name already validated)."""
    return root / LAUNCH_DIR / f"{name}.json"


def starting_trainer(root: Path, name: str) -> int | None:
    """The pid of a verified, live trainer the app launched for `name` (it may not hold the run lock yet), or None.
    The record is checked field by field; a record that does not parse, or names another process, is no trainer."""
    try:
        raw = read_file_nofollow(record_path(root, name))
        if len(raw) > MAX_RECORD_BYTES:
            return None
        rec = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("name") != name:
        return None
    pid, ticks = rec.get("pid"), rec.get("start_ticks")
    if not (checks.is_int(pid) and 1 < pid < procs.MAX_PID and checks.is_int(ticks) and ticks >= 0):
        return None
    if procs.alive(pid) and procs.start_ticks(pid) == ticks and procs.is_trainer_of(pid, name):
        return pid
    return None
