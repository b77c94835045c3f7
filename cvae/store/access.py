"""What the app may read from a run directory: its own regular files only (no symbolic link, no path escape)."""

from __future__ import annotations

from pathlib import Path

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
