"""weights.npz: the run's weights as plain named float32 arrays (no pickle), and the shapes they must have."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from ..data.datasets import DATASETS
from ..data.likelihoods import LIKELIHOODS
from .arch import Architecture
from .files import NotRegularFile, atomic_write_bytes
from .npz import MemberCheck, read_npz


def expected_shapes(latent_dim: int, arch: Architecture | None = None) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight array of the CVAE, read from its description (default: the tutorial's)."""
    return (arch or Architecture()).weight_shapes(latent_dim)


def _largest() -> dict[str, tuple[int, ...]]:
    """The shapes of the largest network a config allows (64-D code, 512/512 filters, colour, two parameters per
    sub-pixel): no weights file of any run holds more."""
    from .config import MAX_FILTERS, MAX_LATENT_DIM, OWN_MAX_SIZE
    size = max(OWN_MAX_SIZE, *(spec.size for spec in DATASETS.values()))  # your own data: up to 64x64
    channels = max(spec.channels for spec in DATASETS.values())
    widest = max(LIKELIHOODS.values(), key=lambda lk: lk.params_per_subpixel).name  # most parameters per sub-pixel
    return expected_shapes(MAX_LATENT_DIM, Architecture(size, channels, MAX_FILTERS, MAX_FILTERS, widest))


_LARGEST = _largest()
MAX_ARRAY_ELEMENTS = max(math.prod(s) for s in _LARGEST.values())  # 3.2 M numbers: enc_dense of that network
MAX_WEIGHTS_BYTES = sum(math.prod(s) for s in _LARGEST.values()) * 8 + 2**20  # 96 MB: float64 at most, + slack


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


def read_weights(path: str | os.PathLike, shapes: dict[str, tuple[int, ...]] | None = None, for_what: str = ""
                 ) -> tuple[dict[str, np.ndarray], dict[str, int | None]]:
    """(weight arrays, {'epoch', 'step'}) from one read of the file; meta None where the file does not say (older
    weights) or says something out of range. ValueError naming the file on any failure.

    shapes: the run's expected_shapes; every array's header must match them before anything is decompressed
    (without: the largest network a config allows bounds each array); for_what: ' for latent_dim 2, …'."""
    everything = _load_all(Path(path), _member_check(shapes, for_what))
    meta: dict[str, int | None] = {}
    for field, key in META_KEYS.items():
        v = everything.pop(key, None)
        low, high = _META_RANGE[field]
        ok = v is not None and v.shape == () and v.dtype.kind in "iu" and low <= int(v) <= high
        meta[field] = int(v) if ok else None
    return everything, meta


def load_weights_npz(path: str | os.PathLike, shapes: dict[str, tuple[int, ...]] | None = None,
                     for_what: str = "") -> dict[str, np.ndarray]:
    """Read the named weight arrays (not the epoch/step meta); never unpickles; ValueError naming the file."""
    return read_weights(path, shapes, for_what)[0]


def model_words(latent_dim: int, arch: Architecture) -> str:
    """' for latent_dim 2, filters 32/64': what a mismatching shape was expected for."""
    return f" for latent_dim {latent_dim}, filters {arch.filters1}/{arch.filters2}"


def _member_check(shapes: dict[str, tuple[int, ...]] | None, for_what: str = "") -> MemberCheck:
    """Each array's header against the run's shapes (or the largest network's size); meta keys int64 scalars."""
    meta = set(META_KEYS.values())

    def check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if name in meta:  # read_weights believes only an integer scalar in range; anything small is read, ignored
            if math.prod(shape) > 16:
                raise ValueError(f"{name!r}: expected an integer scalar, got shape {shape}")
            return
        if dtype.kind not in "fiu":
            raise ValueError(f"{name!r} is not a numeric array")
        if shapes is not None:
            if name not in shapes:
                raise ValueError(f"unexpected arrays [{name[:60]!r}] (another architecture?)")
            if shape != tuple(shapes[name]):
                raise ValueError(f"{name} has shape {shape}, expected {tuple(shapes[name])}{for_what} (weights "
                                 "from another model?)")
        elif math.prod(shape) > MAX_ARRAY_ELEMENTS:
            raise ValueError(f"{name!r} has shape {shape}: more than the largest network's {MAX_ARRAY_ELEMENTS:,} "
                             "numbers per array")

    return check


def _load_all(path: Path, check: MemberCheck) -> dict[str, np.ndarray]:
    try:
        # Bounded: size by fstat, then every header, before anything is decompressed; never follows a link.
        return read_npz(path, max_file_bytes=MAX_WEIGHTS_BYTES, max_total_bytes=MAX_WEIGHTS_BYTES, check=check)
    except FileNotFoundError:
        raise ValueError(f"{path}: weights file not found") from None
    except NotRegularFile as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except Exception as e:  # zipfile.BadZipFile, EOFError, ValueError(pickled object), OSError...
        raise ValueError(f"{path}: not a readable weights file ({type(e).__name__}: {e})") from None
