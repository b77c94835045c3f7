"""Deterministic crash points for fault-injection tests (tests/test_faults.py).

The engine calls `crash_point("name")` at the moments where a crash matters most (a temp file written but not
yet renamed, half a metrics line written, a checkpoint on disk but its metrics row not yet...). Normally that is
a no-op: $CVAE_CRASH_AT is read once, at import, and when it is unset each call costs one comparison.

When $CVAE_CRASH_AT matches a point, the process kills itself with SIGKILL there: no `finally`, no `atexit`,
no flush, exactly what a power cut or the OOM killer leaves behind.

    CVAE_CRASH_AT=step                          the first time the train loop finishes a chunk of steps
    CVAE_CRASH_AT=step:3                        the third time
    CVAE_CRASH_AT=atomic_write:weights.npz      weights.npz's temp file is written and fsynced, not yet renamed
    CVAE_CRASH_AT=atomic_write:ckpt-*.npz       the same for a checkpoint (shell-style wildcards match names)
    CVAE_CRASH_AT=append:metrics.jsonl:2        the second metrics line appended, torn in the middle

Points in the engine: "step" (cvae.train, after each compiled chunk and its callbacks),
"epoch_end:after_image" / "epoch_end:after_weights" / "epoch_end:after_checkpoint" /
"epoch_end:after_metrics" (cvae.train.RunWriter.on_epoch_end, after each of its writes),
"atomic_write:<file name>" (cvae.io.atomic_write_bytes, before the rename) and "append:<file name>"
(cvae.io.append_jsonl, after writing and fsyncing only the first half of the line).

$CVAE_STEP_DELAY (seconds, 0 to 5) paces the trainer instead: it sleeps that long after each compiled chunk of
steps, so a browser test can watch a tiny run grow live however fast the machine is (a 3-epoch run on 256 images
finishes in about 2 s of training on a quiet machine, faster than the monitor's 1 s refresh can show).
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
import threading
import time

CRASH_ENV = "CVAE_CRASH_AT"
DELAY_ENV = "CVAE_STEP_DELAY"


def _parse(spec: str | None) -> tuple[str | None, int]:
    """'name' -> (name, 1); 'name:N' -> (name, N). Names may contain ':' themselves (atomic_write:x)."""
    if not spec:
        return None, 1
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.isdigit() and int(tail) >= 1:
        return head, int(tail)
    return spec, 1


_PATTERN, _NTH = _parse(os.environ.get(CRASH_ENV))
_COUNT = 0
_LOCK = threading.Lock()


def _parse_delay(spec: str | None) -> float:
    """'0.3' -> 0.3 seconds; unset, empty or malformed -> 0 (a test aid must never break a real run)."""
    try:
        delay = float(spec or 0)
    except ValueError:
        return 0.0
    return min(max(delay, 0.0), 5.0) if delay == delay else 0.0


_DELAY = _parse_delay(os.environ.get(DELAY_ENV))


def armed(name: str) -> bool:
    """True if reaching point `name` now is the crash $CVAE_CRASH_AT asks for (counts matching calls)."""
    global _COUNT
    if _PATTERN is None:
        return False
    if not fnmatch.fnmatchcase(name, _PATTERN):
        return False
    with _LOCK:
        _COUNT += 1
        return _COUNT == _NTH


def crash(name: str) -> None:
    """SIGKILL this process now (after one line on stderr saying where)."""
    try:
        os.write(2, f"cvae.faults: SIGKILL at {name}\n".encode())
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)
    # SIGKILL cannot be caught; if the kernel has not delivered it yet, do not run one more line of the engine.
    while True:  # pragma: no cover
        signal.pause() if hasattr(signal, "pause") else sys.exit(137)


def crash_point(name: str) -> None:
    """Crash here if $CVAE_CRASH_AT selects this point (and this is its N-th time); otherwise nothing."""
    if _PATTERN is not None and armed(name):
        crash(name)


def pace() -> None:
    """Sleep $CVAE_STEP_DELAY seconds (tests watching a run live); otherwise nothing."""
    if _DELAY:
        time.sleep(_DELAY)
