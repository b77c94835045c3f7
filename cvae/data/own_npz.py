"""Your own arrays: an .npz with x_train, x_test (uint8, or float in [0, 1]; N×H×W or N×H×W×C), optional y_train,
y_test and class_names, read without pickle after every header is checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..store.errors import OwnDataError
from ..store.npz import read_arrays as read_npz
from .own_data import MAX_CLASSES, MAX_SIZE, OwnDataset

_KINDS = {"x_train": "uf", "x_test": "uf", "y_train": "ui", "y_test": "ui", "class_names": "U"}
_CHUNK = 4096  # images converted per step (float -> uint8 without a float64 copy of everything)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _images(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 (N, S, S) or (N, S, S, 3) from uint8 or float-in-[0, 1] (N, H, W[, C]) arrays."""
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] != 3):
        raise OwnDataError(f"{where}: shaped {x.shape}; expected N×H×W (grey) or N×H×W×3 (colour)", where)
    n, h, w = x.shape[:3]
    if n == 0:
        raise OwnDataError(f"{where}: no images", where)
    if h != w or h % 4 or not 4 <= h <= MAX_SIZE:
        raise OwnDataError(f"{where}: images are {h}x{w}; expected square, a multiple of 4 up to {MAX_SIZE}", where)
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind != "f":
        raise OwnDataError(f"{where}: dtype {x.dtype}; expected uint8 or float in [0, 1]", where)
    out = np.empty(x.shape, np.uint8)
    for i in range(0, n, _CHUNK):
        part = x[i:i + _CHUNK]
        if not np.isfinite(part).all() or part.min() < 0 or part.max() > 1:
            raise OwnDataError(f"{where}: float values must be finite and in [0, 1] "
                               f"(found {float(np.nanmin(part)):g}..{float(np.nanmax(part)):g} near image {i})", where)
        out[i:i + _CHUNK] = np.rint(part.astype(np.float32) * 255)
    return out


def _labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise OwnDataError(f"{where}: shaped {y.shape}; expected ({n},), one label per image", where)
    if y.size and (int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES):
        raise OwnDataError(f"{where}: labels must be 0..{MAX_CLASSES - 1} (found {int(y.min())}..{int(y.max())})",
                           where)
    return y.astype(np.uint8, copy=False)


def load_arrays(path: str | os.PathLike) -> OwnDataset:
    """Load an .npz of your own arrays as an OwnDataset (unlabelled without y_train/y_test)."""
    p = Path(path).expanduser()
    where = str(p)
    a = read_npz(p, _KINDS, ("x_train", "x_test"))
    train, test = _images(a.pop("x_train"), f"{where}[x_train]"), _images(a.pop("x_test"), f"{where}[x_test]")
    if train.shape[1:] != test.shape[1:]:
        raise OwnDataError(f"{where}: x_train images are {train.shape[1:]}, x_test {test.shape[1:]}", where)
    if ("y_train" in a) != ("y_test" in a):
        raise OwnDataError(f"{where}: has {'y_train' if 'y_train' in a else 'y_test'} but not the other; "
                           "give both or neither", where)
    names: tuple[str, ...] = ()
    if "y_train" in a:
        y_train = _labels(a["y_train"], len(train), f"{where}[y_train]")
        y_test = _labels(a["y_test"], len(test), f"{where}[y_test]")
        top = int(max(y_train.max(), y_test.max())) + 1
        if "class_names" in a:
            names = tuple(str(s) for s in a["class_names"].reshape(-1))
            if len(names) < top:
                raise OwnDataError(f"{where}[class_names]: {len(names)} names but labels go up to {top - 1}", where)
        else:
            names = tuple(str(i) for i in range(top))
    else:
        y_train, y_test = np.zeros(len(train), np.uint8), np.zeros(len(test), np.uint8)
    size, channels = train.shape[1], 1 if train.ndim == 3 else 3
    return OwnDataset(
        name="npz", train_images=train, train_labels=y_train, test_images=test, test_labels=y_test,
        source=where, data_dir=str(p.resolve()), names=names, fingerprint=_file_sha256(p), size=size,
        channels=channels, resize_rule="none (arrays used as they are)", split="x_train and x_test as given")
