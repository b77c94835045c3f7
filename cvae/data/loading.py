"""Loading a run's data, whichever it is: a known dataset (cvae/data/sources.py) or your own (cvae/data/own.py)."""

from __future__ import annotations

import os
from typing import Any

from ..store.errors import DataError
from .datasets import dataset_spec
from .own import check_unchanged, load_own
from .own_data import OwnDataset
from .sources import Dataset, load_dataset


def load_data(name: str, data_dir: str | os.PathLike | None = None, allow_download: bool = True,
              image_size: int | None = None, channels: int | None = None, seed: int = 0) -> Dataset:
    """load_dataset for a known dataset; your own data (a registry entry with `own`) from data_dir only, resized
    to image_size with `channels` and split with `seed`."""
    spec = dataset_spec(name)
    if not spec.own:
        return load_dataset(name, data_dir, allow_download)
    if data_dir is None:
        raise DataError(f"dataset {name}: needs --data-dir ({spec.data_hint})")
    return load_own(data_dir, spec.own, image_size, channels, seed=seed)


def config_data(config: Any, allow_download: bool = True, data_dir: str | os.PathLike | None = None) -> Dataset:
    """A TrainConfig's data (its dataset, data_dir or the one given, image size, channels and seed); your own
    data must be what the run recorded (DataChanged otherwise)."""
    return load_keyed(config.dataset, data_dir or config.data_dir, own_key(config), allow_download)


def summary_line(ds: Dataset) -> str:
    """One line on loaded data: counts, classes, the split and the files skipped (your own data), for the CLI."""
    line = f"{ds.source}: {len(ds.train_images):,} training and {len(ds.test_images):,} test images"
    if isinstance(ds, OwnDataset):
        names = ds.class_names
        classes = f"{len(names)} classes ({', '.join(names[:10])}{', …' if len(names) > 10 else ''})" if names \
            else "unlabelled"
        line += f", {classes}, split by {ds.split}; {ds.skipped_line()}"
    return line


def own_key(config: Any) -> tuple:
    """How a run's own data is loaded and which data it was, as a hashable key for caches (() for a known
    dataset): image size, channels, the hold-out's seed, the recorded fingerprint."""
    if not dataset_spec(config.dataset).own:
        return ()
    return (config.image_size, config.channels, config.seed, config.data_fingerprint)


def load_keyed(name: str, data_dir: str | os.PathLike | None, key: tuple = (), allow_download: bool = True) -> Dataset:
    """load_data with own_key's options; your own data must be the recorded data (DataChanged otherwise)."""
    if not key:
        return load_data(name, data_dir, allow_download)
    image_size, channels, seed, fingerprint = key
    ds = load_data(name, data_dir, allow_download, image_size, channels, seed)
    return check_unchanged(fingerprint, ds) if isinstance(ds, OwnDataset) else ds
