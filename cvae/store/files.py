"""Crash-safe file writes: temp file + fsync + rename, and an append-only JSON-lines log."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .faults import failpoint, kill

TEMP_SUFFIX = ".tmp"  # atomic writes go to .NAME.XXXXXXXX.tmp beside NAME, then rename over it


class NotRegularFile(OSError):
    """A run file is a symbolic link (or a FIFO, a device...): refused, never followed."""


def read_file_nofollow(path: str | os.PathLike) -> bytes:
    """Bytes of the regular file at path; a symbolic link there (or a FIFO/device) raises NotRegularFile.

    Run files never legitimately point elsewhere, and following one could show /etc/passwd in the app or
    read a file planted outside the runs root; O_NONBLOCK keeps a FIFO from hanging the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "is a symbolic link; refused", str(path)) from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotRegularFile(errno.EINVAL, "is not a regular file; refused", str(path))
        return f.read()


def open_regular(path: str | os.PathLike):
    """open(path, "rb") for a regular file only (links followed): a FIFO, socket or device is refused at once
    with NotRegularFile instead of blocking the reader (O_NONBLOCK makes opening a FIFO return immediately)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, "is not a regular file (a FIFO, socket or device?); refused", str(path))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def open_append_nofollow(path: str | os.PathLike):
    """open(path, "ab") that refuses to write through a symbolic link (ELOOP) instead of following it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "ab")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace path with data so that readers see the old or the new file, never a torn one."""
    with atomic_writer(path) as f:
        f.write(data)


def _named(e: OSError, path: Path) -> OSError:
    """The same error with the file it concerns: a failed write() (disk full, EFBIG, EROFS) has no filename,
    and 'No space left on device: None' helps nobody."""
    if e.filename is not None or not e.errno:
        return e
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(path))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """atomic_write_bytes for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """atomic_write_text of pretty JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append one JSON object as one line and fsync; a crash can only tear this last line."""
    line = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
    try:
        with open_append_nofollow(path) as f:
            if failpoint(f"append:{Path(path).name}") == "tear":  # leave a torn line, as a crash would
                f.write(line[: len(line) // 2])
                f.flush()
                os.fsync(f.fileno())
                kill(f"append:{Path(path).name}")
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise _named(e, Path(path)) from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All complete JSON-object lines; a torn or garbage line is skipped, never fatal."""
    return list(_iter_jsonl(path))


BAD_LINE = object()  # what jsonl_values yields for a line that is not JSON


def jsonl_values(data: bytes) -> Iterator[Any]:
    """The JSON value of each non-blank line of `data`; BAD_LINE for a torn or garbage line (callers count them)."""
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            yield json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            yield BAD_LINE


def _iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    try:
        data = read_file_nofollow(path)
    except (FileNotFoundError, NotRegularFile):
        return
    yield from (row for row in jsonl_values(data) if isinstance(row, dict))


def repair_jsonl(path: str | os.PathLike) -> int:
    """Drop a torn last line left by a crash (so appends start on a fresh line); returns bytes dropped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if not data or data.endswith(b"\n"):
        return 0
    keep = data[: data.rfind(b"\n") + 1]
    atomic_write_bytes(path, keep)
    return len(data) - len(keep)


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; ValueError names the file when it is not JSON."""
    path = Path(path)
    try:
        return json.loads(read_file_nofollow(path).decode("utf-8"))
    except NotRegularFile as e:
        raise ValueError(f"{path.name}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: not valid UTF-8 text") from None


def remove_temp_files(directory: str | os.PathLike, owned=lambda name: True) -> list[str]:
    """Delete the temp files (.NAME.XXXXXXXX.tmp) a killed writer left in directory for the NAMEs `owned` accepts;
    returns their names.

    Only for files nobody else writes right now (a run's own files, under its lock). They are never read as
    data (every reader looks for its exact file name): this only gives their disk space back.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        target = entry.name[1:].rsplit(".", 2)[0]  # .weights.npz.ab12cd34.tmp -> weights.npz
        if (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and owned(target)
                and not entry.is_dir(follow_symlinks=False)):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except OSError:
                pass
    return removed


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to stream into; on a clean exit it replaces path atomically (large arrays: no bytes copy).
    The temp file is 0644 (mkstemp makes 0600; run files are as readable as any other file the user writes)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _named(e, path) from None
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        failpoint(f"atomic_write:{path.name}")
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _named(e, path) from None
        raise
    _fsync_dir(path.parent)
