"""One entry point for your own data, for the dataset registry to call: a folder or an .npz, by what the path is."""

from __future__ import annotations

import os
from pathlib import Path

from ..store.errors import DataChanged, OwnDataError
from .own_data import OwnDataset, load_folder
from .own_npz import load_arrays

KINDS = ("folder", "npz")


def load_own(data_dir: str | os.PathLike, kind: str | None = None, size: int | None = None, channels: int | None = 1,
             labels: bool | None = None, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> OwnDataset:
    """Load `data_dir` as `kind` ("folder" or "npz"; None: a folder if it is one, else an .npz file). An .npz keeps
    its arrays' size and channels: `size` and `channels`, when given, must match them (None: grey for a folder)."""
    path = Path(data_dir).expanduser()
    if kind is None:
        kind = KINDS[0] if path.is_dir() else KINDS[1]
    if kind not in KINDS:
        raise OwnDataError(f"kind: got {kind!r}; allowed: {', '.join(KINDS)}", str(path))
    if kind == KINDS[0]:  # a folder
        return load_folder(path, size=size, channels=channels or 1, labels=labels, seed=seed, cache_dir=cache_dir)
    if path.suffix.lower() == ".zip":
        raise OwnDataError(f"{path}: a .zip: extract it first (the Train page's upload does, safely)", str(path))
    ds = load_arrays(path)
    if size is not None and size != ds.size or channels is not None and channels != ds.channels:
        raise OwnDataError(f"{path}: holds {ds.size}x{ds.size} images with {ds.channels} channel(s), "
                           f"not the {size or ds.size}x{size or ds.size} with {channels or ds.channels} channel(s) "
                           "asked for (leave --image-size and --channels blank for an .npz)", str(path))
    return ds


def changed_since(recorded: str | None, ds: OwnDataset) -> str | None:
    """One line when the data's fingerprint differs from the one a run recorded (None when it is the same)."""
    if not recorded or recorded == ds.fingerprint:
        return None
    return (f"{ds.data_dir}: the data changed since this run recorded it (fingerprint {recorded[:12]}…, now "
            f"{ds.fingerprint[:12]}…): files were added, removed or modified")


def check_unchanged(recorded: str | None, ds: OwnDataset) -> OwnDataset:
    """`ds` if it is the data a run recorded (or nothing was recorded), else DataChanged with changed_since's line."""
    line = changed_since(recorded, ds)
    if line is not None:
        raise DataChanged(line + "; train a new run on it, or restore the folder", str(ds.data_dir), str(recorded),
                          ds.fingerprint)
    return ds


def recorded_fields(ds: OwnDataset) -> dict:
    """What a run's config records about your own data (TrainConfig's class_names, data_* fields)."""
    return {"image_size": ds.size, "channels": ds.channels,  # an .npz's own (a folder's: as asked)
            "class_names": tuple(ds.class_names), "data_source": ds.source, "data_fingerprint": ds.fingerprint,
            "data_train_images": len(ds.train_images), "data_test_images": len(ds.test_images)}
