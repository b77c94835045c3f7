"""Bounded .npz reads: every member's .npy header checked (dtype, shape, size) before any array is read; no pickle."""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import Mapping

import numpy as np

from ..store.errors import DataError
from ..store.files import open_regular

MAX_MEMBERS = 64  # our own caches hold 11 arrays; a user's .npz a handful
DEFAULT_MAX_BYTES = 4 << 30  # 100,000 64x64 colour images are 1.2 GB as uint8 (5 GB as float32: refused)


def _header(member, where: str, key: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of one .npy member, read from its first bytes only."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=10_000)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=10_000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, SyntaxError) as exc:
        raise DataError(f"{where}[{key}]: not a valid .npy header ({exc})", where) from None
    return tuple(int(d) for d in shape), dtype, member.tell()


def read_npz(path: str | os.PathLike, kinds: Mapping[str, str], required: tuple[str, ...] = (),
             max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """The arrays named in `kinds` (key -> allowed dtype kinds, e.g. "uf") that `path` holds; others unread.

    Every header is checked first: dtype kind, no objects (pickle), the member's size equal to what its header
    claims (no truncation, no trailing bytes) and the total under `max_bytes`; only then are arrays read, each into
    one preallocated array (numpy reads zip members in chunks).
    """
    where = str(path)
    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise DataError(f"{where}: {len(infos)} members, more than the {MAX_MEMBERS} an .npz may hold", where)
            members = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy") and i.filename[:-4] in kinds}
            missing = [k for k in required if k not in members]
            if missing:
                found = ", ".join(i.filename.removesuffix(".npy") for i in infos) or "none"
                raise DataError(f"{where}: missing {', '.join(missing)} (found {found})", where)
            total = 0
            for key, info in members.items():
                if info.file_size > max_bytes:
                    raise DataError(f"{where}[{key}]: {info.file_size:,} bytes, over the {max_bytes:,} limit", where)
                with zf.open(info) as member:
                    shape, dtype, header_len = _header(member, where, key)
                if dtype.hasobject or dtype.fields is not None:
                    raise DataError(f"{where}[{key}]: holds Python objects (pickle): refused; save plain arrays", where)
                if dtype.kind not in kinds[key]:
                    raise DataError(f"{where}[{key}]: dtype {dtype} is not allowed here", where)
                expected = math.prod(shape) * dtype.itemsize
                if info.file_size != header_len + expected:
                    raise DataError(f"{where}[{key}]: header says {'x'.join(map(str, shape)) or 'scalar'} {dtype} "
                                    f"({expected:,} bytes) but the member holds {info.file_size - header_len:,}", where)
                total += expected
                if total > max_bytes:
                    raise DataError(f"{where}: arrays total over {max_bytes:,} bytes: refused", where)
            out = {}
            for key, info in members.items():
                with zf.open(info) as member:
                    out[key] = np.lib.format.read_array(member, allow_pickle=False)
            return out
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: file not found", where) from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected an .npz file", where) from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{where}: not a valid .npz archive ({exc})", where) from None
