"""Read-only runs: the shipped `tutorial` carries `read_only.json` and is explored, never deleted or trained in
place (cvae/store/copies.py makes a copy that can be trained further)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .files import NotRegularFile, read_file_nofollow

# A run that ships with the project (checkpoints/tutorial) carries this marker. Untrusted like every run file.
READ_ONLY_FILE = "read_only.json"
MAX_READ_ONLY_BYTES = 4096
SHIPPED_REASON = "shipped with cvae-explorer"  # read_only_reason of a valid marker


def read_only_reason(run_dir: str | os.PathLike) -> str | None:
    """Why the run is read-only, or None. The marker is read as untrusted input: a regular file (no link) of at most
    4 KB holding a JSON object whose "read_only" is true (false: not read-only). A marker that is present but
    unreadable or malformed errs on the side of the run's data: the run is read-only, and the reason says so."""
    path = Path(run_dir) / READ_ONLY_FILE
    try:
        raw = read_file_nofollow(path) if os.lstat(path).st_size <= MAX_READ_ONLY_BYTES else None
    except FileNotFoundError:
        return None
    except (NotRegularFile, OSError):
        return f"{READ_ONLY_FILE} is not a regular file; treated as read-only"
    if raw is None:
        return f"{READ_ONLY_FILE} is larger than {MAX_READ_ONLY_BYTES} bytes; treated as read-only"
    try:
        marker = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"{READ_ONLY_FILE} is not valid JSON; treated as read-only"
    flag = marker.get("read_only") if isinstance(marker, dict) else None
    if flag is False:
        return None
    if flag is not True:
        return f"{READ_ONLY_FILE}: 'read_only' is not true or false; treated as read-only"
    return SHIPPED_REASON
