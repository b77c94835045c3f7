"""Processes as Linux shows them (/proc): start time, state, command line, and who holds a run's lock.

A pid alone identifies nothing: after a reboot or a long uptime it belongs to someone else. The app signals a process
only when it is verifiably a run's trainer: the holder of the run's lock (from /proc/locks), or the launched process
whose pid *and* start time match its launch record, with a trainer's command line for that run.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_PID = 1 << 22  # Linux's pid_max ceiling


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the parenthesised command name), or None if there is no such process."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rsplit(")", 1)[-1].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None if it is gone."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 overall = index 19 after the name
    except (IndexError, ValueError):
        return None


def state(pid: int) -> str | None:
    """The one-letter state (R, S, D, T stopped, Z zombie, ...); None if there is no such process."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def alive(pid: int) -> bool:
    """True while process pid exists and is not a zombie."""
    return state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> list[str]:
    """The process's argv ([] if it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def is_trainer_of(pid: int, name: str) -> bool:
    """True if pid runs `python -m cvae train` for run `name` (either `--name=NAME` or `--name NAME`)."""
    argv = cmdline(pid)
    if "train" not in argv or "cvae" not in argv:
        return False
    return f"--name={name}" in argv or any(a == "--name" and b == name for a, b in zip(argv, argv[1:]))


def lock_holders(path: str | os.PathLike) -> set[int]:
    """Pids holding an flock on the file at path, from /proc/locks (matched by device and inode)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        text = Path("/proc/locks").read_text()
    except OSError:
        return set()
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders = set()
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:2f:5678 0 EOF"; blocked waiters are marked "->" and skipped
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        try:
            major, minor, inode = parts[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == want:
                holders.add(int(parts[4]))
        except ValueError:
            continue
    return holders
