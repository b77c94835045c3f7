"""Type and range checks for values read from disk: ints that are not bools, finite numbers, sane timestamps."""

from __future__ import annotations

import math
from typing import Any

EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0  # 2000-01-01 and 2100-01-01, UTC


def is_int(value: Any) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """An int or float (not a bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_timestamp(value: Any) -> bool:
    """Seconds since the epoch between 2000 and 2100."""
    return is_finite(value) and EARLIEST <= value <= LATEST
