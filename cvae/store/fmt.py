"""Formatting of durations and times, shared by the CLI's progress lines and the app."""

from __future__ import annotations

import math
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
