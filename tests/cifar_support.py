"""Small CIFAR-10 binary-version files generated for tests (never a real dataset in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvae.data import cifar

# One colour per class; an image is a blurred disc or square of its class colour on a contrasting background.
_COLOURS = np.array([[230, 40, 40], [40, 200, 60], [50, 70, 230], [240, 220, 40], [200, 60, 210],
                     [40, 210, 220], [250, 140, 30], [120, 120, 120], [250, 250, 250], [90, 40, 10]], np.float64)


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n structured 32x32 RGB images (uint8) and their labels: a class-coloured shape at a random place."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 32, 32, 3), np.uint8)
    for i, label in enumerate(labels):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 10)
        inside = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) if label % 2 else (
            (abs(yy - cy) < r) & (abs(xx - cx) < r))
        background = 255.0 - _COLOURS[label] * 0.6
        img = np.where(inside[..., None], _COLOURS[label], background) + rng.normal(0, 12, (32, 32, 3))
        images[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return images, labels


def make_cifar_dir(directory: Path, per_train_file: int = 60, n_test: int = 100, seed: int = 0) -> Path:
    """The six binary-version files in `directory` (5 x per_train_file training records, n_test test records)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(cifar.TRAIN_FILES):
        cifar.write_batch(directory / name, *synthetic_images(per_train_file, seed * 10 + i))
    cifar.write_batch(directory / cifar.TEST_FILE, *synthetic_images(n_test, seed * 10 + 9))
    return directory
