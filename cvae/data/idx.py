"""The IDX file format (MNIST's), Keras-style .npz archives, and the checks every image and label array passes."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

from ..store.errors import DataError
from ..store.files import open_regular
from ..store.npz import NpzPickled, NpzTooLarge, read_npz

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"
# A garbage header could claim terabytes; refuse before allocating (MNIST train is 47 MB).
_MAX_IDX_BYTES = 1 << 30




def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an unsigned-byte IDX file (plain or gzip) into an array shaped as its header says."""
    where = str(path)
    try:
        size = os.stat(path).st_size
        if size == 0:
            raise DataError(f"{where}: empty file (0 bytes)")
        with open_regular(path) as raw:
            compressed = where.endswith(".gz") or raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    return _parse_idx(gz, where, compressed=True)
            return _parse_idx(raw, where, compressed=False)
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected an IDX file") from None
    except PermissionError:
        raise DataError(f"{where}: permission denied") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{where}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read ({exc.strerror or exc})") from None


def _read_full(stream: BinaryIO, out: memoryview) -> int:
    """Fill `out` from `stream` until it is full or the stream ends; return bytes read."""
    total = 0
    while total < len(out):
        n = stream.readinto(out[total:])
        if not n:
            break
        total += n
    return total


def _parse_idx(stream: BinaryIO, where: str, compressed: bool) -> np.ndarray:
    """Parse header and body of an already-opened IDX stream."""
    after = " after decompression" if compressed else ""
    header = stream.read(4)
    if len(header) < 4:
        raise DataError(f"{where}: too short for an IDX header ({len(header)} bytes{after})")
    zero0, zero1, dtype_code, ndim = header
    if zero0 or zero1 or dtype_code not in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E):
        raise DataError(
            f"{where}: not an IDX file (magic bytes {header.hex()}, expected 00000801 or 00000803)"
        )
    if dtype_code != 0x08:
        raise DataError(
            f"{where}: unsupported IDX element type 0x{dtype_code:02x} (only 0x08 unsigned bytes)"
        )
    if ndim not in (1, 3):
        raise DataError(f"{where}: unsupported IDX rank {ndim} (expected 1 for labels, 3 for images)")
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{where}: truncated header: {ndim} dimensions need {4 * ndim} bytes")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    expected = math.prod(dims)
    shape_txt = "x".join(str(d) for d in dims)
    if expected > _MAX_IDX_BYTES:
        raise DataError(
            f"{where}: header claims {shape_txt} = {expected} bytes, over the {_MAX_IDX_BYTES} limit"
        )
    data = np.empty(expected, dtype=np.uint8)
    found = _read_full(stream, memoryview(data))
    if found < expected:
        raise DataError(
            f"{where}: truncated: header says {shape_txt} = {expected} bytes, found {found}"
        )
    # Reading past the end also makes gzip verify its CRC, so corruption surfaces here.
    extra = 0
    while chunk := stream.read(1 << 20):
        extra += len(chunk)
    if extra:
        raise DataError(
            f"{where}: {extra} trailing bytes: header says {shape_txt} = {expected} bytes{after}"
        )
    return data.reshape(dims)


def check_images(images: np.ndarray, where: str, shape: tuple[int, ...] = IMAGE_SHAPE) -> None:
    """Require a non-empty uint8 (N, *shape) array: (N, 28, 28) for MNIST, (N, 32, 32, 3) for CIFAR-10."""
    if not isinstance(images, np.ndarray) or images.ndim != 1 + len(shape):
        got = getattr(images, "shape", type(images).__name__)
        raise DataError(f"{where}: expected images shaped (N, {', '.join(map(str, shape))}), got {got}")
    if images.shape[1:] != tuple(shape):
        raise DataError(f"{where}: images are {'x'.join(map(str, images.shape[1:]))}, "
                        f"expected {'x'.join(map(str, shape))}")
    if images.dtype != np.uint8:
        raise DataError(f"{where}: images have dtype {images.dtype}, expected uint8 (0..255)")
    if len(images) == 0:
        raise DataError(f"{where}: no images")


def check_labels(labels: np.ndarray, where: str) -> None:
    """Require a uint8 (N,) array of class ids 0..9."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 1:
        shape = getattr(labels, "shape", type(labels).__name__)
        raise DataError(f"{where}: expected labels shaped (N,), got {shape}")
    if labels.dtype != np.uint8:
        raise DataError(f"{where}: labels have dtype {labels.dtype}, expected uint8")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: label {int(labels[i])} at index {i} is out of range 0..9 "
            f"({bad.size} bad labels)"
        )


def check_counts(n_images: int, n_labels: int, images_where: str, labels_where: str) -> None:
    """Require one label per image."""
    if n_images != n_labels:
        raise DataError(
            f"{labels_where}: {n_labels} labels but {images_where} has {n_images} images"
        )


def as_uint8_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Convert integer labels of any width to uint8 after range-checking them."""
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        dtype = getattr(labels, "dtype", type(labels).__name__)
        raise DataError(f"{where}: labels have dtype {dtype}, expected integers 0..9")
    if labels.dtype == np.uint8:
        return labels
    if labels.ndim == 1 and labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        i = int(np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))[0])
        raise DataError(f"{where}: label {int(labels[i])} at index {i} is out of range 0..9")
    return labels.astype(np.uint8)


# Bounds of any .npz of digits (Keras' mnist.npz, the bundled sample), checked from the headers before anything is
# decompressed: MNIST's 70,000 28x28 uint8 images and their labels (any integer width).
MAX_NPZ_IMAGES = 70_000
MAX_NPZ_BYTES = MAX_NPZ_IMAGES * (28 * 28 + 8) + 2**20


def _npz_member_check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """No array bigger than all of MNIST's images (or one label per image)."""
    if dtype.kind not in "iu":
        return  # the checks after reading name the wrong dtype
    if math.prod(shape) > MAX_NPZ_IMAGES * 28 * 28 or (len(shape) == 1 and shape[0] > MAX_NPZ_IMAGES):
        raise NpzTooLarge(f"{name!r} (shape {shape})", math.prod(shape) * dtype.itemsize,
                          MAX_NPZ_IMAGES * 28 * 28)


def read_npz_arrays(path: str | os.PathLike, keys: tuple[str, ...], layout: str) -> dict[str, np.ndarray]:
    """Read `keys` from a .npz archive without unpickling, bounded (file size, then each header before it is
    decompressed); `layout` describes the expected keys."""
    where = str(path)
    try:
        with open_regular(path) as fh:
            magic = fh.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise DataError(f"{where}: is a single .npy array, expected a .npz archive")
        if not magic.startswith(b"PK"):
            raise DataError(f"{where}: not a valid .npz archive (neither zip nor .npy; unpickling it is refused)")
        arrays = read_npz(path, max_file_bytes=MAX_NPZ_BYTES, max_total_bytes=MAX_NPZ_BYTES,
                          check=_npz_member_check, follow_symlinks=True, names=keys)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected a .npz file") from None
    except NpzPickled as e:
        raise DataError(f"{where}: refused {e.member}: it holds pickled Python objects (allow_pickle=False); "
                        "re-save it as plain uint8 arrays") from None
    except NpzTooLarge as e:
        raise DataError(f"{where}: too large: {e}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{where}: not a valid .npz archive ({exc})") from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        with zipfile.ZipFile(path) as zf:  # names only (the central directory): nothing is decompressed
            found = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        raise DataError(f"{where}: missing arrays {', '.join(missing)} ({layout}; found {', '.join(found) or 'none'})")
    return arrays
