"""What the app may read from a run directory: its own regular files only (no symbolic link, no path escape)."""

from __future__ import annotations

from pathlib import Path

import os

from . import runs
from .files import read_file_nofollow


def file_bytes_in_run(run_dir: Path, name: str) -> bytes | None:
    """Bytes of <run>/<name> if it is a regular file really inside the run directory (no symlink escape)."""
    run_dir = Path(run_dir).resolve()
    path = run_dir / name
    try:
        if path.is_symlink() or not path.is_file() or path.resolve().parent != run_dir:
            return None
        return read_file_nofollow(path)  # and no link swapped in since the check
    except OSError:
        return None


def log_path(name: str, runs_dir: str | os.PathLike | None = None) -> Path | None:
    """Where run `name`'s training log is (its run directory, or still staged), or None."""
    root = runs.runs_root(runs_dir)
    for p in (root / name / runs.LOG_FILE, root / runs.LAUNCH_DIR / f"{name}.log"):
        if p.is_file() and not p.is_symlink():  # a planted link (to /etc/passwd...) is never shown
            return p
    return None


def log_tail(path: Path | None, lines: int = 60, max_bytes: int = 64_000) -> str:
    """The last lines of a log file (progress-bar carriage returns folded)."""
    if path is None or not path.is_file() or path.is_symlink():
        return ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", "replace")
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines())
    return "\n".join(text.splitlines()[-lines:])
