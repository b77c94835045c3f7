"""Safe extraction of an uploaded .zip of images: every entry checked and the totals capped before anything is
written; extracted into a temporary folder beside the target, then renamed (atomic); nothing outside `within`."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

from ..store.errors import ZipRefused

MAX_ZIP_BYTES = 1 << 30  # total uncompressed size
MAX_ZIP_FILES = 150_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_BLOCK = 1 << 20


def _refuse(where: str, reason: str, entry: str | None = None) -> ZipRefused:
    at = f" (entry {entry!r})" if entry is not None else ""
    return ZipRefused(f"{where}: refused{at}: {reason}", where, entry, reason)


def _entry_parts(info: zipfile.ZipInfo, where: str) -> list[str] | None:
    """The entry's path as parts, None for entries that are skipped (macOS metadata); ZipRefused if unsafe."""
    name = info.filename
    if "\x00" in name or "\\" in name:
        raise _refuse(where, "a backslash or NUL in its name", name)
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _refuse(where, "an absolute path", name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(where, "a '..' path (it would write outside the folder)", name)
    if not parts or parts[0] == "__MACOSX":
        return None
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise _refuse(where, "a symbolic link", name)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(where, "a special file (device, FIFO or socket)", name)
    if info.flag_bits & 0x1:
        raise _refuse(where, "encrypted", name)
    return parts


def extract_zip(source: str | os.PathLike | BinaryIO, parent: str | os.PathLike, name: str, *,
                within: str | os.PathLike, max_bytes: int = MAX_ZIP_BYTES, max_files: int = MAX_ZIP_FILES) -> Path:
    """Extract `source` into parent/name (which must not exist; parent inside `within`); return that folder.

    Refused with ZipRefused (one line, nothing written): absolute or '..' entries, links, special or encrypted
    entries, duplicates, more than `max_files` entries or more than `max_bytes` uncompressed (declared sizes,
    checked before extraction, and the bytes actually written, checked while extracting).
    """
    where = getattr(source, "name", None) or str(source) if not hasattr(source, "read") else "the uploaded zip"
    if not _NAME.fullmatch(name):
        raise _refuse(where, f"folder name {name!r}: use letters, digits, '_', '-', '.'")
    parent_p = Path(parent)
    root = os.path.realpath(within)
    if os.path.islink(parent_p) or not parent_p.is_dir():
        raise _refuse(where, f"{parent_p} is not a folder")
    real_parent = os.path.realpath(parent_p)
    if not (real_parent == root or real_parent.startswith(root.rstrip(os.sep) + os.sep)):
        raise _refuse(where, f"{parent_p} is outside {within}")
    target = Path(real_parent) / name
    if os.path.lexists(target):
        raise _refuse(where, f"{target} already exists")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _refuse(where, f"not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise _refuse(where, f"{len(infos):,} entries, over the cap of {max_files:,}")
        plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
        seen: set[str] = set()
        total = 0
        for info in infos:
            parts = _entry_parts(info, where)
            if parts is None:
                continue
            key = "/".join(parts)
            if key in seen:
                raise _refuse(where, "a duplicate name", info.filename)
            seen.add(key)
            total += info.file_size
            plan.append((info, parts))
        if total > max_bytes:
            raise _refuse(where, f"{total:,} bytes uncompressed, over the cap of {max_bytes:,} (zip bomb?)")
        tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=real_parent)
        try:
            written = 0
            for info, parts in plan:
                dest = os.path.join(tmp, *parts)
                if info.is_dir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                    own = 0
                    while block := src.read(_BLOCK):
                        own += len(block)
                        written += len(block)
                        if own > info.file_size or written > max_bytes:
                            raise _refuse(where, "holds more data than it declares (zip bomb?)", info.filename)
                        out.write(block)
            os.rename(tmp, target)
        except ZipRefused:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _refuse(where, f"cannot extract ({exc})") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def data_root(folder: str | os.PathLike) -> Path:
    """The folder to load: `folder`, or its only subfolder when it holds nothing else (a zip of one folder)."""
    p = Path(folder)
    entries = [e for e in p.iterdir() if not e.name.startswith(".") and e.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return p
