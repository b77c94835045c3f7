"""Failpoints: one API to inject a crash, a torn write or a pause at named places (fault tests, browser tests).

The product calls `failpoint("name")` where a fault matters most; it is a no-op unless $CVAE_FAILPOINTS, read
once at import, selects that point. The variable holds `point=action` entries separated by ';':

    step=kill                        SIGKILL the first time the train loop finishes a chunk of steps
    step=kill:3                      ... the third time
    atomic_write:weights.npz=kill    weights.npz's temp file is written and fsynced, not yet renamed
    atomic_write:ckpt-*.npz=kill     the same for a checkpoint (shell-style wildcards match names)
    append:metrics.jsonl=tear:2      the second metrics line appended is torn in the middle, then SIGKILL
    step=sleep:0.5                   sleep 0.5 s (0 to 5) every time: a browser test can watch a tiny run live

A kill is SIGKILL: no `finally`, no `atexit`, no flush, what a power cut or the OOM killer leaves behind.
Points: "train:locked" (`cvae train` holds the run lock, TensorFlow not yet imported), "step", "epoch_end:after_image" / "after_weights" / "after_checkpoint" / "after_metrics" (the run
writer), "atomic_write:<file name>" (before the rename) and "append:<file name>" (half the line written).
The app's launcher passes failpoints to a trainer only when asked ($CVAE_TRAINER_FAILPOINTS on the server, for
tests), never its own.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

FAILPOINTS_ENV = "CVAE_FAILPOINTS"
TRAINER_FAILPOINTS_ENV = "CVAE_TRAINER_FAILPOINTS"
ACTIONS = ("kill", "tear", "sleep")
MAX_SLEEP = 5.0


@dataclass
class Failpoint:
    """One entry: a point pattern, what to do there, on which call (kill/tear) or for how long (sleep)."""

    pattern: str
    action: str
    nth: int = 1
    seconds: float = 0.0
    count: int = 0


def parse(spec: str | None) -> list[Failpoint]:
    """'point=action[:arg];...' -> entries; malformed entries are ignored (a test aid never breaks a real run)."""
    out = []
    for entry in (spec or "").split(";"):
        pattern, sep, action = entry.strip().rpartition("=")
        if not sep or not pattern:
            continue
        name, _, arg = action.partition(":")
        if name in ("kill", "tear"):
            if arg and not (arg.isdigit() and int(arg) >= 1):
                continue
            out.append(Failpoint(pattern, name, nth=int(arg or 1)))
        elif name == "sleep":
            try:
                seconds = float(arg)
            except ValueError:
                continue
            if seconds == seconds and seconds > 0:
                out.append(Failpoint(pattern, name, seconds=min(seconds, MAX_SLEEP)))
    return out


_POINTS = parse(os.environ.get(FAILPOINTS_ENV))
_LOCK = threading.Lock()


def armed(name: str) -> str | None:
    """The action due at point `name` now ('kill', 'tear', 'sleep') or None; counts matching calls."""
    if not _POINTS:
        return None
    for fp in _POINTS:
        if fnmatch.fnmatchcase(name, fp.pattern):
            if fp.action == "sleep":
                return "sleep"
            with _LOCK:
                fp.count += 1
                if fp.count == fp.nth:
                    return fp.action
    return None


def kill(name: str) -> None:
    """SIGKILL this process now (after one line on stderr saying where)."""
    try:
        os.write(2, f"cvae failpoint: SIGKILL at {name}\n".encode())
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)
    while True:  # pragma: no cover - SIGKILL cannot be caught; run not one more line of the engine
        signal.pause() if hasattr(signal, "pause") else sys.exit(137)


def failpoint(name: str) -> str | None:
    """Act at point `name` if selected: kill, or sleep; returns 'tear' for the caller to tear its write."""
    if not _POINTS:
        return None
    action = armed(name)
    if action == "kill":
        kill(name)
    elif action == "sleep":
        time.sleep(max(fp.seconds for fp in _POINTS if fp.action == "sleep"
                       and fnmatch.fnmatchcase(name, fp.pattern)))
    return action
