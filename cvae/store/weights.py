"""weights.npz: the run's weights as plain named float32 arrays (no pickle), and the shapes they must have."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .arch import Architecture
from .files import NotRegularFile, atomic_write_bytes, read_file_nofollow


def expected_shapes(latent_dim: int, arch: Architecture | None = None) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight array of the CVAE, read from its description (default: the tutorial's)."""
    return (arch or Architecture()).weight_shapes(latent_dim)


# Reserved names for what the weights are (int64 scalars in the same file, so they are read from the same file
# generation as the arrays): the epoch and global step after which they were saved.
META_KEYS = {"epoch": "__epoch__", "step": "__step__"}
_META_RANGE = {"epoch": (0, 10_000), "step": (0, 10**12)}


def save_weights_npz(arrays: dict[str, np.ndarray], path: str | os.PathLike, epoch: int | None = None,
                     step: int | None = None) -> None:
    """Write named arrays atomically (temp file + fsync + rename); plain arrays only, no pickle; epoch and step,
    when given, go into the same file under reserved names."""
    buf = io.BytesIO()
    out = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    for field, value in (("epoch", epoch), ("step", step)):
        if value is not None:
            out[META_KEYS[field]] = np.asarray(int(value), np.int64)
    np.savez(buf, **out)
    atomic_write_bytes(path, buf.getvalue())


def read_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, int | None]]:
    """(weight arrays, {'epoch', 'step'}) from one read of the file; meta None where the file does not say (older
    weights) or says something out of range. ValueError naming the file on any failure."""
    everything = _load_all(Path(path))
    meta: dict[str, int | None] = {}
    for field, key in META_KEYS.items():
        v = everything.pop(key, None)
        low, high = _META_RANGE[field]
        ok = v is not None and v.shape == () and v.dtype.kind in "iu" and low <= int(v) <= high
        meta[field] = int(v) if ok else None
    return everything, meta


def load_weights_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the named weight arrays (not the epoch/step meta); never unpickles; ValueError naming the file."""
    return read_weights(path)[0]


def _load_all(path: Path) -> dict[str, np.ndarray]:
    try:
        # Read without following a symbolic link: a run's weights never live outside its directory.
        with np.load(io.BytesIO(read_file_nofollow(path)), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        # np.load returns a zip member that is not .npy as raw bytes: refuse anything but numbers.
        for k, v in arrays.items():
            if not isinstance(v, np.ndarray) or v.dtype.kind not in "fiu":
                raise ValueError(f"{k!r} is not a numeric array")
        return arrays
    except FileNotFoundError:
        raise ValueError(f"{path}: weights file not found") from None
    except NotRegularFile as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except Exception as e:  # zipfile.BadZipFile, EOFError, ValueError(pickled object), OSError...
        raise ValueError(f"{path}: not a readable weights file ({type(e).__name__}: {e})") from None
