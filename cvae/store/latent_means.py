"""latent_means.npz: the encoder means of a fixed set of test digits after every epoch (the latent map forming).

One small file, rewritten atomically at each epoch's end with that epoch's row added (or replaced: a replayed
epoch after a crash appears once), so a reader sees the old file or the new one, never a torn one. Plain arrays,
no pickle: `epochs` (E,) int32 ascending, `means` (E, N, d) float32, `labels` (N,) uint8 (the digits' classes,
so the map colours them without the test set). The digits are the first N of the run's test set.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import NotRegularFile, atomic_write_bytes
from .npz import read_npz

FILE = "latent_means.npz"
MAP_DIGITS = 2000  # the map everywhere: the first 2,000 test digits
MAX_BYTES = 256 * 1024 * 1024  # whatever the run's config says, never more than this (file, or arrays inflated)


@dataclass(frozen=True)
class LatentMeans:
    """The per-epoch means of one run."""

    epochs: np.ndarray  # (E,) int32
    means: np.ndarray  # (E, N, d) float32
    labels: np.ndarray  # (N,) uint8

    def latest(self) -> tuple[int, np.ndarray]:
        """(epoch, means (N, d)) of the newest epoch."""
        return int(self.epochs[-1]), self.means[-1]


def _limits(run_dir: Path) -> tuple[int, int | None]:
    """(most epochs, latent_dim) the run's config allows (10,000 and any size up to 64 when it is unreadable)."""
    from .config import MAX_LATENT_DIM
    from .runs import read_config
    try:
        config = read_config(run_dir)
    except (ValueError, OSError):
        return 10_000, None
    return config.epochs, min(config.latent_dim, MAX_LATENT_DIM)


def read_latent_means(run_dir: str | os.PathLike) -> LatentMeans | None:
    """The run's per-epoch means; None if there are none yet; ValueError naming the file if it is unusable.

    Bounded before anything is decompressed: the file's size, then each array's header against the run's config
    (at most config.epochs rows of MAP_DIGITS codes of config.latent_dim numbers), never over MAX_BYTES."""
    path = Path(run_dir) / FILE
    max_epochs, dim = _limits(Path(run_dir))
    from .config import MAX_LATENT_DIM

    def check(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if name == "epochs" and not (dtype.kind in "iu" and len(shape) == 1 and shape[0] <= max_epochs):
            raise ValueError(f"epochs: {dtype} {shape}, expected at most {max_epochs} integers (config.epochs)")
        if name == "labels" and not (dtype.kind in "iu" and len(shape) == 1 and shape[0] <= MAP_DIGITS):
            raise ValueError(f"labels: {dtype} {shape}, expected at most {MAP_DIGITS} integers")
        if name == "means" and not (dtype == np.float32 and len(shape) == 3 and shape[0] <= max_epochs
                                    and shape[1] <= MAP_DIGITS
                                    and (shape[2] == dim if dim is not None else 1 <= shape[2] <= MAX_LATENT_DIM)):
            raise ValueError(f"means: {dtype} {shape}, expected float32 (at most {max_epochs} epochs, "
                             f"{MAP_DIGITS} digits, latent_dim {dim if dim is not None else '<= 64'})")

    try:
        arrays = read_npz(path, max_file_bytes=MAX_BYTES, max_total_bytes=MAX_BYTES, check=check,
                          names=("epochs", "means", "labels"))
    except FileNotFoundError:
        return None
    except NotRegularFile as e:
        raise ValueError(f"{path.name}: {e.strerror}") from None
    except (ValueError, OSError) as e:
        raise ValueError(f"{path.name}: not a readable latent-means file ({e})") from None
    missing = [k for k in ("epochs", "means", "labels") if k not in arrays]
    if missing:
        raise ValueError(f"{path.name}: not a readable latent-means file (missing {', '.join(missing)})")
    epochs, means, labels = arrays["epochs"], arrays["means"], arrays["labels"]
    if epochs.ndim != 1 or epochs.dtype.kind not in "iu" or len(epochs) == 0 or (epochs < 1).any() \
            or (np.diff(epochs) <= 0).any():
        raise ValueError(f"{path.name}: epochs must be increasing integers >= 1")
    if means.dtype != np.float32 or means.ndim != 3 or means.shape[0] != len(epochs) or not np.isfinite(means).all():
        raise ValueError(f"{path.name}: means must be finite float32 of shape (epochs, digits, latent_dim)")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != means.shape[1] or \
            (len(labels) and not (0 <= labels.min() and labels.max() <= 9)):
        raise ValueError(f"{path.name}: labels must be one class 0-9 per digit")
    return LatentMeans(epochs.astype(np.int32), means, labels.astype(np.uint8))


def write_epoch(run_dir: str | os.PathLike, epoch: int, means: np.ndarray, labels: np.ndarray) -> None:
    """Add (or replace) epoch `epoch`'s means, dropping any later epoch, in one atomic rewrite."""
    means = np.asarray(means, np.float32)
    old = _read_or_none(run_dir)
    if old is not None and (old.means.shape[1:] != means.shape or not np.array_equal(old.labels, labels)):
        old = None  # another digit set (e.g. --max-test-examples changed): start the history again
    keep = old.epochs < epoch if old is not None else np.zeros(0, bool)
    epochs = np.append(old.epochs[keep] if old is not None else np.zeros(0, np.int32), epoch).astype(np.int32)
    stacked = np.concatenate([old.means[keep], means[None]]) if old is not None else means[None]
    buf = io.BytesIO()
    np.savez(buf, epochs=epochs, means=stacked, labels=np.asarray(labels, np.uint8))
    atomic_write_bytes(Path(run_dir) / FILE, buf.getvalue())


def truncate(run_dir: str | os.PathLike, epoch: int) -> None:
    """Drop epochs after `epoch` (a resume from an older checkpoint replays them)."""
    old = _read_or_none(run_dir)
    if old is None or old.epochs[-1] <= epoch:
        return
    keep = old.epochs <= epoch
    path = Path(run_dir) / FILE
    if not keep.any():
        path.unlink()
        return
    buf = io.BytesIO()
    np.savez(buf, epochs=old.epochs[keep], means=old.means[keep], labels=old.labels)
    atomic_write_bytes(path, buf.getvalue())


def _read_or_none(run_dir) -> LatentMeans | None:
    try:
        return read_latent_means(run_dir)
    except ValueError:
        return None  # unreadable: the trainer starts the history again rather than fail the run
