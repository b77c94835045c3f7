"""Bounded .npz reading: the file's size (fstat) before any byte is read, and every member's .npy header (dtype,
shape, so its uncompressed size) before it is decompressed. A 4 MB archive can hold gigabytes of zeros: a reader
that decompresses first and checks shapes after is a memory bomb. No pickle, ever.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import zipfile
import zlib
from typing import Callable, Mapping

import numpy as np

from .errors import DataError
from .files import NotRegularFile, open_regular

# A member check: (name without .npy, dtype, shape) -> None, or raise ValueError saying what is wrong.
MemberCheck = Callable[[str, np.dtype, tuple[int, ...]], None]

_HEADER_SLACK = 64 * 1024
MAX_MEMBERS = 4096  # a run's checkpoint has ~50 arrays  # a .npy header is at most a few hundred bytes (numpy caps it at 10 kB by default)


class NpzTooLarge(ValueError):
    """The archive, or a member once decompressed, exceeds its limit (`what`, `size`, `limit` in bytes)."""

    def __init__(self, what: str, size: int, limit: int):
        self.what, self.size, self.limit = what, size, limit
        super().__init__(f"{what}: {size:,} bytes, more than the {limit:,} allowed")


class NpzPickled(ValueError):
    """Member `member` holds pickled Python objects (dtype object): refused, never unpickled."""

    def __init__(self, member: str):
        self.member = member
        super().__init__(f"{member!r} holds pickled Python objects; refused")


class NpzMemberError(ValueError):
    """Member `member` is not what its .npy header says (`reason`), e.g. it holds fewer bytes than it claims."""

    def __init__(self, member: str, reason: str):
        self.member, self.reason = member, reason
        super().__init__(f"{member!r}: {reason}")


def read_npz(path: str | os.PathLike, *, max_file_bytes: int, max_total_bytes: int, check: MemberCheck,
             follow_symlinks: bool = False, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a .npz file, bounded: OSError/NotRegularFile to open it; NpzTooLarge when the file or the
    arrays' uncompressed total is over its limit; ValueError for anything else (not a zip, a member that is not
    a plain numeric .npy, `check` refusing a member's dtype or shape). `names`: read only these members."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "is a symbolic link; refused", str(path)) from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "is not a regular file; refused", str(path))
        if st.st_size > max_file_bytes:
            raise NpzTooLarge("the file", st.st_size, max_file_bytes)
        try:
            with zipfile.ZipFile(f) as zf:
                if len(zf.infolist()) > MAX_MEMBERS:
                    raise ValueError(f"{len(zf.infolist()):,} members; at most {MAX_MEMBERS:,}")
                return _read_members(zf, max_total_bytes, check, names)
        except zipfile.BadZipFile:
            raise ValueError("not a .npz archive (not a zip file)") from None
        except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error) as e:
            # an unsupported compression method, an encrypted member, a corrupt stream...
            raise ValueError(f"unreadable .npz archive ({type(e).__name__}: {e})") from None


def _read_members(zf: zipfile.ZipFile, max_total: int, check: MemberCheck,
                  names: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    infos = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"member {info.filename[:60]!r} is not a .npy array")
        infos[info.filename[:-4]] = info
    wanted = list(infos) if names is None else [n for n in names if n in infos]
    headers = {}
    total = 0
    for name in wanted:  # every header first: nothing is decompressed until all sizes are known and allowed
        info = infos[name]
        with zf.open(info) as m:
            try:
                version = np.lib.format.read_magic(m)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(m, max_header_size=10_000)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(m, max_header_size=10_000)
                else:
                    raise ValueError(f".npy format version {version}")
            except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
                raise ValueError(f"{name!r}: not a .npy array ({e})") from None
            header_len = m.tell()
        if dtype.hasobject:
            raise NpzPickled(name)
        if dtype.kind not in "biufU" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"{name!r}: dtype {dtype} is not a plain array of numbers or text")
        if any(d < 0 for d in shape):
            raise ValueError(f"{name!r}: negative dimension in shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size > nbytes + _HEADER_SLACK:  # the zip says it inflates to more than the header admits
            raise NpzTooLarge(f"{name!r} (uncompressed)", info.file_size, nbytes + _HEADER_SLACK)
        if info.file_size < header_len + nbytes:  # a header claiming more than the member holds: never allocated
            raise NpzMemberError(name, f"header says {'x'.join(map(str, shape)) or 'scalar'} {dtype} ({nbytes:,} "
                                       f"bytes) but the member holds {info.file_size - header_len:,}")
        check(name, dtype, tuple(shape))
        total += nbytes
        if total > max_total:
            raise NpzTooLarge("the arrays together (uncompressed)", total, max_total)
        headers[name] = info
    out = {}
    for name, info in headers.items():
        with zf.open(info) as m:
            try:
                out[name] = np.lib.format.read_array(m, allow_pickle=False)
            except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
                raise ValueError(f"{name!r}: unreadable ({type(e).__name__}: {e})") from None
    return out


def shape_check(allowed: dict[str, tuple[str, tuple[int, ...]]], strict: bool = True) -> MemberCheck:
    """A MemberCheck from name -> (dtype kinds, exact shape); strict: a name not listed is refused."""

    def check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if name not in allowed:
            if strict:
                raise ValueError(f"unexpected array {name[:60]!r}")
            return
        kinds, want = allowed[name]
        if dtype.kind not in kinds:
            raise ValueError(f"{name!r}: dtype {dtype}, expected {'float' if kinds == 'f' else 'integer'}")
        if shape != want:
            raise ValueError(f"{name!r}: shape {shape}, expected {want}")

    return check


def max_elements_check(max_elements: int, kinds: str = "fiu", text: tuple[str, ...] = ()) -> MemberCheck:
    """A MemberCheck allowing any name whose array has at most max_elements numbers of the given dtype kinds
    (the members named in `text` may also be a string)."""

    def check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if dtype.kind not in kinds and not (dtype.kind == "U" and name in text):
            raise ValueError(f"{name!r}: dtype {dtype} not allowed")
        n = math.prod(shape)
        if n > max_elements:
            raise NpzTooLarge(f"{name!r} (shape {shape})", n * dtype.itemsize, max_elements * dtype.itemsize)

    return check


# Your own data (#22): a user's .npz of arrays and the decoded-image caches.
MAX_ARRAYS_BYTES = 4 << 30  # 100,000 64x64 colour images are 1.2 GB as uint8 (5 GB as float32: refused)


def read_arrays(path: str | os.PathLike, kinds: Mapping[str, str], required: tuple[str, ...] = (),
                max_bytes: int = MAX_ARRAYS_BYTES) -> dict[str, np.ndarray]:
    """read_npz for your own data: the members named in `kinds` (name -> allowed dtype kinds, e.g. "uf"), others
    unread; links followed (a user's path); every refusal a DataError naming the file (and the member)."""
    where = str(path)

    def check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if dtype.kind not in kinds[name]:
            raise NpzMemberError(name, f"dtype {dtype} is not allowed here")

    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:  # the members' names first: what is missing
            found = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        missing = [k for k in required if k not in found]
        if missing:
            raise DataError(f"{where}: missing {', '.join(missing)} (found {', '.join(found) or 'none'})", where)
        out = read_npz(path, max_file_bytes=max_bytes + (64 << 20), max_total_bytes=max_bytes, check=check,
                       follow_symlinks=True, names=tuple(kinds))
    except NpzPickled as e:
        raise DataError(f"{where}[{e.member}]: holds Python objects (pickle): refused; save plain arrays",
                        where) from None
    except NpzMemberError as e:
        raise DataError(f"{where}[{e.member}]: {e.reason}", where) from None
    except NpzTooLarge as e:
        raise DataError(f"{where}: {e.what}: {e.size:,} bytes, over the {e.limit:,} limit", where) from None
    except FileNotFoundError:
        raise DataError(f"{where}: file not found", where) from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected an .npz file", where) from None
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{where}: not a valid .npz archive ({e})", where) from None
    return out
