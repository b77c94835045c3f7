"""The bundled 1,000-digit MNIST test sample (so a fresh clone works offline) and the app's test split."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..store.errors import DataError
from .idx import NUM_CLASSES, check_counts, check_images, check_labels, read_npz_arrays
from .datasets import DEFAULT_DATASET, dataset_spec
from .loading import load_keyed
from .sources import DATA_DIR_ENV, Dataset

BUNDLED_SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "mnist_test_sample.npz"
BUNDLED_SOURCE = "bundled sample (1000 test digits)"


def write_bundled_sample(
    dataset: Dataset, path: str | os.PathLike, n: int = 1000, seed: int = 0
) -> None:
    """Save a class-stratified sample of `dataset`'s test split as a compressed .npz, atomically."""
    labels = dataset.test_labels
    if not 0 < n <= len(labels):
        raise ValueError(f"write_bundled_sample: n must be in 1..{len(labels)}, got {n}")
    rng = np.random.default_rng(seed)
    per_class = [n // NUM_CLASSES + (c < n % NUM_CLASSES) for c in range(NUM_CLASSES)]
    chosen = []
    for c, k in enumerate(per_class):
        pool = np.flatnonzero(labels == c)
        if len(pool) < k:
            raise ValueError(f"write_bundled_sample: class {c} has {len(pool)} images, need {k}")
        chosen.append(rng.choice(pool, size=k, replace=False))
    # Sorted so the sample reads in the original test-set order.
    indices = np.sort(np.concatenate(chosen)).astype(np.int32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Temp file in the same directory so os.replace is atomic: readers never see a partial file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                images=np.ascontiguousarray(dataset.test_images[indices]),
                labels=np.ascontiguousarray(labels[indices]),
                indices=indices,
            )
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the asset must be readable by everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_bundled_sample(
    path: str | os.PathLike = BUNDLED_SAMPLE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load the bundled test sample: uint8 images (n, 28, 28), uint8 labels, int32 test indices."""
    where = str(path)
    if not Path(path).exists():
        raise DataError(f"{where}: bundled sample not found (reinstall the package)")
    keys = ("images", "labels", "indices")
    arrays = read_npz_arrays(path, keys, "a bundled sample has images, labels, indices")
    images, labels, indices = (arrays[k] for k in keys)
    check_images(images, f"{where}[images]")
    check_labels(labels, f"{where}[labels]")
    check_counts(len(images), len(labels), f"{where}[images]", f"{where}[labels]")
    if indices.shape != labels.shape or not np.issubdtype(indices.dtype, np.integer):
        raise DataError(
            f"{where}[indices]: expected {labels.shape} integers, got {indices.dtype} {indices.shape}"
        )
    if indices.size and (indices.min() < 0 or len(np.unique(indices)) != len(indices)):
        raise DataError(f"{where}[indices]: must be distinct non-negative test-set indices")
    return images, labels, indices.astype(np.int32, copy=False)


def load_test_split(
    name: str = DEFAULT_DATASET,
    data_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
    own: tuple = (),
) -> tuple[np.ndarray, np.ndarray, str]:
    """Test images, labels and a source string; falls back to the bundled MNIST sample. `own`: your own data's
    loading key (cvae/data/loading.py's own_key)."""
    try:
        ds = load_keyed(name, data_dir, own, allow_download=allow_download)
        return ds.test_images, ds.test_labels, ds.source
    except DataError:
        # Fall back only when nothing was configured: a broken --data-dir / $CVAE_DATA_DIR
        # must surface its error rather than be masked by the 1000-digit sample.
        configured = data_dir is not None or bool(os.environ.get(DATA_DIR_ENV))
        if not dataset_spec(name).bundled_sample or configured:
            raise
    images, labels, _ = load_bundled_sample()
    return images, labels, BUNDLED_SOURCE
