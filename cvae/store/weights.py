"""weights.npz: the run's weights as plain named float32 arrays (no pickle), and the shapes they must have."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .arch import Architecture
from .files import NotRegularFile, atomic_write_bytes, read_file_nofollow


def expected_shapes(latent_dim: int, arch: Architecture | None = None) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight array of the CVAE (default: the tutorial's MNIST network)."""
    a = arch or Architecture()
    d, f1, f2, c, e, s = latent_dim, a.filters1, a.filters2, a.channels, a.enc_size, a.dec_size
    return {
        "enc_conv1/kernel": (3, 3, c, f1), "enc_conv1/bias": (f1,),
        "enc_conv2/kernel": (3, 3, f1, f2), "enc_conv2/bias": (f2,),
        "enc_dense/kernel": (e * e * f2, 2 * d), "enc_dense/bias": (2 * d,),
        "dec_dense/kernel": (d, s * s * f1), "dec_dense/bias": (s * s * f1,),
        "dec_deconv1/kernel": (3, 3, f2, f1), "dec_deconv1/bias": (f2,),
        "dec_deconv2/kernel": (3, 3, f1, f2), "dec_deconv2/bias": (f1,),
        "dec_logits/kernel": (3, 3, a.out_channels, f1), "dec_logits/bias": (a.out_channels,),
    }


def save_weights_npz(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write named arrays atomically (temp file + fsync + rename); plain arrays only, no pickle."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def load_weights_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read named arrays; never unpickles; every failure is a ValueError naming the file."""
    path = Path(path)
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
