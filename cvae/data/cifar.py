"""CIFAR-10's official binary version (data_batch_1.bin ... data_batch_5.bin, test_batch.bin): parsed, never unpickled.

Each record is 3,073 bytes: one label byte (0-9), then the 32x32 red, green and blue planes, row-major. Every file is
checked (regular file, non-empty, size a multiple of 3,073, labels 0-9) and a bad one is named with what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..store.errors import DataError
from ..store.files import NotRegularFile, open_regular

SIDE, CHANNELS = 32, 3
RECORD_BYTES = 1 + SIDE * SIDE * CHANNELS  # 3,073
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
SUBDIR = "cifar-10-batches-bin"  # what cifar-10-binary.tar.gz unpacks to
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_MAX_FILE_BYTES = 10_000 * RECORD_BYTES  # an official batch file holds exactly 10,000 records


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One binary-version file -> uint8 images (N, 32, 32, 3) and uint8 labels (N,)."""
    where = str(path)
    try:
        with open_regular(path) as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except NotRegularFile as e:
        raise DataError(f"{where}: {e.strerror or 'not a regular file'}") from None
    except OSError as e:
        raise DataError(f"{where}: cannot read ({e.strerror or e})") from None
    if not data:
        raise DataError(f"{where}: empty file")
    if len(data) > _MAX_FILE_BYTES:
        raise DataError(f"{where}: larger than a CIFAR-10 batch file ({_MAX_FILE_BYTES:,} bytes, 10,000 records)")
    if len(data) % RECORD_BYTES:
        raise DataError(f"{where}: {len(data):,} bytes is not a multiple of {RECORD_BYTES:,} (1 label byte + 3,072 "
                        f"pixel bytes per record): truncated, or not the CIFAR-10 binary version")
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    bad = np.flatnonzero(labels >= len(CLASS_NAMES))
    if bad.size:
        raise DataError(f"{where}: record {int(bad[0])} has label {int(labels[bad[0]])}; expected 0-9 "
                        f"(is this CIFAR-100 or another format?)")
    images = records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)  # planes -> NHWC
    return np.ascontiguousarray(images), labels


def batch_dir(directory: Path) -> Path | None:
    """The directory holding the batch files: `directory` itself or its cifar-10-batches-bin/ (None if neither)."""
    for d in (directory, directory / SUBDIR):
        if (d / TEST_FILE).exists() or any((d / n).exists() for n in TRAIN_FILES):
            return d
    return None


def batch_files(directory: Path) -> list[Path]:
    """The six files of the binary version in `directory`; raises DataError naming any missing ones."""
    missing = [n for n in (*TRAIN_FILES, TEST_FILE) if not (directory / n).exists()]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (need the six files of the CIFAR-10 binary "
                        f"version: {', '.join(TRAIN_FILES)}, {TEST_FILE})")
    return [directory / n for n in (*TRAIN_FILES, TEST_FILE)]


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """train/test images and labels from the six files in `directory` (see batch_files)."""
    paths = batch_files(directory)
    train = [read_batch(p) for p in paths[:-1]]
    test_images, test_labels = read_batch(paths[-1])
    return {"train_images": np.concatenate([t[0] for t in train]),
            "train_labels": np.concatenate([t[1] for t in train]),
            "test_images": test_images, "test_labels": test_labels}


def write_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write uint8 images (N, 32, 32, 3) and labels (N,) in the binary version's format (tests and tools)."""
    images, labels = np.asarray(images, np.uint8), np.asarray(labels, np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    Path(path).write_bytes(np.concatenate([labels[:, None], planes], axis=1).tobytes())
