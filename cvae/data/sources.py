"""Where a dataset is found (flag, $CVAE_DATA_DIR, the Keras cache, Debian, the download), caching, binarization."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store.errors import DataError, DataNotFound
from . import cifar
from .download import keras_cache_dir
from .datasets import DATASETS, DEFAULT_DATASET, dataset_spec
from .likelihoods import DEFAULT_LIKELIHOOD, likelihood as likelihood_entry
from .idx import (NUM_CLASSES, as_uint8_labels, check_counts, check_images, check_labels, read_npz_arrays,
                  read_idx)

CLASS_NAMES: dict[str, tuple[str, ...]] = {name: spec.class_names for name, spec in DATASETS.items()}
DATA_DIR_ENV = "CVAE_DATA_DIR"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Where distro packages put the data (from the registry); tests monkeypatch this.
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {name: tuple(Path(d) for d in spec.system_dirs)
                                            for name, spec in DATASETS.items()}
_KERAS_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_KIND = "npz"  # a file format of _cached_load (not the dataset of that name)


def _check_name(name: str) -> str:
    """Return `name` if it is a known dataset, else raise DataError listing DATASETS."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return name


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """A validated dataset: uint8 (N, 28, 28) images (CIFAR-10: (N, 32, 32, 3)) and uint8 (N,) labels per split."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    data_dir: str | None = None  # where it was found, as --data-dir accepts it (None: the Keras download)

    def __post_init__(self) -> None:
        """Validate every array so a Dataset is always safe to feed to the model."""
        _check_name(self.name)
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            check_images(images, f"{self.source}: {split} images", image_shape(self.name))
            check_labels(labels, f"{self.source}: {split} labels")
            check_counts(
                len(images), len(labels),
                f"{self.source}: {split} images", f"{self.source}: {split} labels",
            )

    @property
    def class_names(self) -> tuple[str, ...]:
        """Human-readable names of the 10 classes."""
        return CLASS_NAMES[self.name]


def image_shape(name: str) -> tuple[int, ...]:
    """Shape of one stored image: (28, 28) for the grey datasets, (32, 32, 3) for CIFAR-10."""
    spec = dataset_spec(name)
    return (spec.size, spec.size) if spec.channels == 1 else (spec.size, spec.size, spec.channels)


# --------------------------------------------------------------------------- loaders


def _find_idx_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each IDX_FILES key to an existing plain or .gz file; also return the missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, base in IDX_FILES.items():
        # Plain first: it parses without the decompression cost when both are present.
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{base}[.gz]")
    return found, missing


def load_idx_dir(directory: str | os.PathLike, name: str = DEFAULT_DATASET) -> Dataset:
    """Load the four MNIST-format IDX files (each plain or .gz) from `directory`."""
    _check_name(name)
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "no such directory"
        raise DataError(f"{directory}: {what}")
    found, missing = _find_idx_files(directory)
    if missing:
        raise DataError(
            f"{directory}: missing {', '.join(missing)} (need all four IDX files, plain or .gz)"
        )
    arrays = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        img_key, lab_key = f"{split}_images", f"{split}_labels"
        images, labels = arrays[img_key], arrays[lab_key]
        check_images(images, str(found[img_key]), image_shape(name))
        check_labels(labels, str(found[lab_key]))
        check_counts(len(images), len(labels), str(found[img_key]), str(found[lab_key]))
    return Dataset(name=name, source=f"IDX files in {directory}", data_dir=str(directory.resolve()), **arrays)


def load_npz(path: str | os.PathLike, name: str = DEFAULT_DATASET) -> Dataset:
    """Load a Keras-format mnist.npz (x_train, y_train, x_test, y_test) without unpickling."""
    _check_name(name)
    where = str(path)
    arrays = read_npz_arrays(path, _KERAS_NPZ_KEYS, f"a Keras-format npz has {', '.join(_KERAS_NPZ_KEYS)}")
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        x_where, y_where = f"{where}[{x_key}]", f"{where}[{y_key}]"
        arrays[y_key] = as_uint8_labels(arrays[y_key], y_where)
        check_images(arrays[x_key], x_where, image_shape(name))
        check_labels(arrays[y_key], y_where)
        check_counts(len(arrays[x_key]), len(arrays[y_key]), x_where, y_where)
    return Dataset(
        name=name,
        train_images=arrays["x_train"],
        train_labels=arrays["y_train"],
        test_images=arrays["x_test"],
        test_labels=arrays["y_test"],
        source=where,
        data_dir=str(Path(path).expanduser().resolve()),  # a .npz path is a valid --data-dir
    )


def _stat_key(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Identify files by path, mtime and size so a replaced file is not served from cache."""
    key = []
    for p in paths:
        st = p.stat()
        key.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(key)


def _freeze(ds: Dataset) -> Dataset:
    """Make a dataset's arrays read-only, because cached datasets are shared by every caller."""
    for arr in (ds.train_images, ds.train_labels, ds.test_images, ds.test_labels):
        arr.setflags(write=False)
    return ds


# Gunzipping and parsing 70k images takes ~0.3 s, and Streamlit reruns the app on every click.
@functools.lru_cache(maxsize=4)
def _cached_load(kind: str, path: str, name: str, _stamp: tuple) -> Dataset:
    """Load `path` as `kind` ('idx' or 'npz'); `_stamp` only invalidates the cache."""
    if kind == "cifar":
        return _freeze(Dataset(name=name, source=f"CIFAR-10 binary files in {path}",
                               **cifar.load_arrays(Path(path))))
    loader = load_idx_dir if kind == "idx" else load_npz
    return _freeze(loader(path, name))


@functools.lru_cache(maxsize=2)
def _cached_download(name: str) -> Dataset:
    """Download (or reuse Keras's copy of) `name` via tf.keras.datasets."""
    import tensorflow as tf  # lazy: only the download path needs TensorFlow

    spec = dataset_spec(name)
    if spec.format == "cifar_binary":
        # The binary version via Keras' downloader: keras.datasets.cifar10 would unpickle the Python version.
        archive = Path(tf.keras.utils.get_file("cifar-10-binary.tar.gz", cifar.BINARY_URL, extract=True))
        where = next((d for d in (archive, archive.parent) if cifar.batch_dir(d)), archive.parent)
        found = cifar.batch_dir(where) or where
        return _cached_load("cifar", str(found), name, _stat_key(cifar.batch_files(found)))
    module = getattr(tf.keras.datasets, spec.keras_module)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return _freeze(
        Dataset(
            name=name,
            train_images=np.asarray(x_train, dtype=np.uint8),
            train_labels=as_uint8_labels(np.asarray(y_train), f"Keras {name} train labels"),
            test_images=np.asarray(x_test, dtype=np.uint8),
            test_labels=as_uint8_labels(np.asarray(y_test), f"Keras {name} test labels"),
            source=f"tf.keras.datasets.{name} (Keras download cache)",
        )
    )


def clear_cache() -> None:
    """Forget every dataset parsed in this process."""
    _cached_load.cache_clear()
    _cached_download.cache_clear()


def _load_idx_cached(directory: Path, name: str) -> Dataset:
    """load_idx_dir through the in-process cache."""
    found, missing = _find_idx_files(directory)
    if missing or not directory.is_dir():
        return load_idx_dir(directory, name)  # raises the specific error
    return _cached_load("idx", str(directory), name, _stat_key(list(found.values())))


def _load_npz_cached(path: Path, name: str) -> Dataset:
    """load_npz through the in-process cache."""
    if not path.is_file():
        return load_npz(path, name)  # raises the specific error (missing, a directory, a FIFO...)
    return _cached_load(NPZ_KIND, str(path), name, _stat_key([path]))


def _load_cifar_cached(path: Path, name: str) -> Dataset:
    """The CIFAR-10 binary files in `path` (or its cifar-10-batches-bin/) through the in-process cache."""
    if not path.is_dir():
        raise DataError(f"{path}: {'is not a directory' if path.exists() else 'no such directory'}")
    found = cifar.batch_dir(path)
    if found is None:
        raise DataError(f"{path}: no {name} data: expected the six files of the CIFAR-10 binary version "
                        f"({', '.join(cifar.TRAIN_FILES)}, {cifar.TEST_FILE}), there or in {cifar.SUBDIR}/")
    return _cached_load("cifar", str(found), name, _stat_key(cifar.batch_files(found)))


def _check_identity(ds: Dataset, name: str) -> Dataset:
    """Refuse another dataset's files served as `name` (MNIST and Fashion-MNIST use the same file names): data
    with the class counts the registry gives for another dataset, and not this one's."""
    test = tuple(int(c) for c in np.bincount(ds.test_labels, minlength=NUM_CLASSES))
    train = tuple(int(c) for c in np.bincount(ds.train_labels, minlength=NUM_CLASSES))

    def looks_like(spec) -> bool:
        return spec.label_counts is not None and test == spec.label_counts[0] and \
            spec.label_counts[1] in (None, train)

    if looks_like(dataset_spec(name)):
        return ds
    for other in DATASETS.values():
        if other.name != name and looks_like(other):
            raise DataError(f"{ds.source}: this is {other.short} (its class counts), but {name} was requested; "
                            f"point the data dir at the {dataset_spec(name).short} files")
    return ds


def _load_from_data_dir(path: Path, name: str, origin: str) -> Dataset:
    """Load `name` from a user-given path; every failure raises, naming where it came from."""
    npz_names = (f"{name}.npz", f"{name.replace('_', '-')}.npz")
    try:
        if dataset_spec(name).format == "cifar_binary":
            return _load_cifar_cached(path, name)
        if path.suffix == ".npz":
            return _load_npz_cached(path, name)
        if not path.is_dir():
            what = "is not a directory or .npz file" if path.exists() else "no such directory"
            raise DataError(f"{path}: {what}")
        for npz_name in npz_names:
            if (path / npz_name).exists():  # a FIFO or device is refused by load_npz's reader, never opened blocking
                return load_npz(path / npz_name, name) if not (path / npz_name).is_file() \
                    else _load_npz_cached(path / npz_name, name)
        # A subdirectory per dataset lets one CVAE_DATA_DIR serve both datasets.
        for sub in dict.fromkeys((name, name.replace("_", "-"))):
            if _find_idx_files(path / sub)[0]:
                return _load_idx_cached(path / sub, name)
        found, _ = _find_idx_files(path)
        if found:
            return _load_idx_cached(path, name)  # raises naming any missing files
        raise DataError(
            f"{path}: no {name} data: expected the four IDX files "
            f"({', '.join(IDX_FILES.values())}; plain or .gz) or {npz_names[0]}"
        )
    except DataError as exc:
        raise DataError(f"{origin}: {exc}") from None


def _keras_datasets_dir() -> Path:
    """Keras's download cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return keras_cache_dir()


def _not_found_message(name: str, looked: list[str]) -> str:
    """The one message shown when no source had the data."""
    spec = dataset_spec(name)
    if spec.format == "cifar_binary":
        files = f"the six CIFAR-10 binary-version files ({', '.join(cifar.TRAIN_FILES)}, {cifar.TEST_FILE})"
    else:
        files = f"the four IDX files ({', '.join(IDX_FILES.values())}; plain or .gz) or {name}.npz"
    lines = [f"no {name} data found. Looked in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines += [
        "Provide it in one of three ways:",
        f"  1. --data-dir DIR or {DATA_DIR_ENV}=DIR, where DIR holds {files}",
        f"  2. {spec.cache_hint}",
        "  3. be online: `python -m cvae data --download` (or the Train page's Download button) fetches "
        "mnist.npz into the Keras cache, checksum-verified; training also downloads it" if spec.verified_download else
        "  3. be online: training downloads it with Keras into its cache",
    ]
    return "\n".join(lines)


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Find and load `name`: data_dir / $CVAE_DATA_DIR, Keras cache, system dir, then download (your own data:
    cvae/data/loading.py)."""
    _check_name(name)
    spec = dataset_spec(name)
    if spec.own:
        raise DataError(f"dataset {name}: load it with cvae.data.loading.load_data (its --data-dir: {spec.data_hint})")
    # An explicitly configured location that is broken must fail loudly, not fall through.
    if data_dir is not None:
        ds = _load_from_data_dir(Path(data_dir).expanduser(), name, "--data-dir")
        return _check_identity(ds, name)
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        ds = _load_from_data_dir(Path(env_dir).expanduser(), name, f"{DATA_DIR_ENV}={env_dir}")
        return _check_identity(ds, name)

    looked = [f"--data-dir / ${DATA_DIR_ENV}: not given"]
    keras_dir = _keras_datasets_dir()
    cached = keras_dir / spec.keras_cache
    kind = "cifar" if spec.format == "cifar_binary" else NPZ_KIND if cached.suffix == ".npz" else "idx"
    candidates: list[tuple[str, Path]] = [(kind, cached)]
    candidates += [("idx", d) for d in SYSTEM_DIRS.get(name, ())]
    for kind, path in candidates:
        if not path.exists():
            looked.append(f"{path}: not found")
            continue
        try:
            if kind == "cifar":
                ds = _load_cifar_cached(path, name)
            elif kind == NPZ_KIND:
                ds = _load_npz_cached(path, name)
            else:
                ds = _load_idx_cached(path, name)
            return _check_identity(ds, name)
        except DataError as exc:  # implicit locations: note why and keep looking
            looked.append(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}")

    if allow_download:
        try:
            return _check_identity(_cached_download(name), name)
        except Exception as exc:  # offline, blocked, corrupt download: report and fall through
            looked.append(f"Keras download (tf.keras.datasets.{name}): failed: {exc}")
    else:
        looked.append(f"the download (tf.keras.datasets.{name}): not tried here")
    raise DataNotFound(_not_found_message(name, looked), dataset=name, looked=looked)


# --------------------------------------------------------------------------- preprocessing


def binarize(images: np.ndarray) -> np.ndarray:
    """The TF tutorial's preprocessing: scale to [0, 1], threshold at 0.5, float32 (N, 28, 28, 1); colour images
    (N, H, W, 3) keep their shape (each sub-pixel thresholded); grey (N, S, S) of any side gain a channel axis."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return (images > 127).astype(np.float32) if images.dtype == np.uint8 else \
            (images / 255.0 > 0.5).astype(np.float32)
    square = images.ndim == 3 and images.shape[1] == images.shape[2]  # your own data: (N, S, S) of any side
    shape = (-1, *images.shape[1:], 1) if square else (-1, 28, 28, 1)
    if not square and images.size % (28 * 28):
        raise ValueError(f"binarize: {images.shape} cannot be reshaped to (N, 28, 28, 1)")
    if images.dtype == np.uint8:
        # Same result as x / 255. > .5 for uint8 (127/255 < .5 < 128/255) without a float64 copy.
        return (images.reshape(shape) > 127).astype(np.float32)
    scaled = images.reshape(shape) / 255.0
    return np.where(scaled > 0.5, 1.0, 0.0).astype(np.float32)


def unit_scale(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 k/255 in [0, 1], NHWC ((N, 28, 28) gains a channel axis)."""
    x = np.asarray(images).astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def model_input(images: np.ndarray, likelihood: str = DEFAULT_LIKELIHOOD) -> np.ndarray:
    """Test images as the model sees them: binarized (Bernoulli), or the 8-bit values k/255 (the likelihood
    registry's binary_input)."""
    return binarize(images) if likelihood_entry(likelihood).binary_input else unit_scale(images)
