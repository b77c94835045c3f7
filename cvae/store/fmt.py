"""Formatting of durations and times, shared by the CLI's progress lines and the app."""

from __future__ import annotations

import math
import sys
import time


def fmt_seconds(s: float | None) -> str:
    """m:ss or h:mm:ss; '?' when unknown."""
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0 or s > 1e9:
        return "?"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def fmt_time(ts: float | None) -> str:
    """'2026-12-02 14:05' in local time; '–' when unknown or out of range."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "–"
    except (OverflowError, OSError, ValueError):
        return "–"


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    """-log p(x) in bits per sub-pixel: -nats / (dims * ln 2)."""
    return -nats_per_image / (dims * math.log(2.0))


class EvalProgress:
    """'iwae k=1000 [######--------------] 3,000/10,000 images, ETA 4:10' on stderr, at most every `every` seconds,
    only for evaluations that take longer than that."""

    def __init__(self, k: int | str, stream=None, every: float = 10.0):
        self.label = f"iwae k={k}" if isinstance(k, int) else f"{k} log p(x)"
        self.stream, self.every = stream or sys.stderr, every
        self.t0 = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done < total:
            return
        if now - self.t0 < self.every:
            return  # short evaluations print nothing
        self.last = now
        eta = (now - self.t0) / done * (total - done)
        filled = int(20 * done / max(total, 1))
        print(f"{self.label} [{'#' * filled}{'-' * (20 - filled)}] {done:,}/{total:,} images, ETA {fmt_seconds(eta)}",
              file=self.stream, flush=True)
