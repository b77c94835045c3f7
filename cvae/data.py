"""MNIST / Fashion-MNIST loading, validation, binarization and tf.data pipelines."""

from __future__ import annotations

import functools
import gzip
import math
import os
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:  # TensorFlow is imported lazily so `import cvae.data` stays cheap.
    import tensorflow as tf

DATASETS = ("mnist", "fashion_mnist")
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}
DATA_DIR_ENV = "CVAE_DATA_DIR"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Where distro packages put the data (Debian's dataset-fashion-mnist); tests monkeypatch this.
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (),
    "fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
BUNDLED_SAMPLE = Path(__file__).parent / "assets" / "mnist_test_sample.npz"
BUNDLED_SOURCE = "bundled sample (1000 test digits)"

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"
# A garbage header could claim terabytes; refuse before allocating (MNIST train is 47 MB).
_MAX_IDX_BYTES = 1 << 30
# Test-split class counts, used to catch the two datasets being swapped in a data dir.
_MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
_KERAS_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(ValueError):
    """Raised when a dataset is missing or malformed; message is one actionable line (or a short list)."""


# --------------------------------------------------------------------------- IDX parsing


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an unsigned-byte IDX file (plain or gzip) into an array shaped as its header says."""
    where = str(path)
    try:
        size = os.stat(path).st_size
        if size == 0:
            raise DataError(f"{where}: empty file (0 bytes)")
        with open(path, "rb") as raw:
            compressed = where.endswith(".gz") or raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    return _parse_idx(gz, where, compressed=True)
            return _parse_idx(raw, where, compressed=False)
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected an IDX file") from None
    except PermissionError:
        raise DataError(f"{where}: permission denied") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{where}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read ({exc.strerror or exc})") from None


def _read_full(stream: BinaryIO, out: memoryview) -> int:
    """Fill `out` from `stream` until it is full or the stream ends; return bytes read."""
    total = 0
    while total < len(out):
        n = stream.readinto(out[total:])
        if not n:
            break
        total += n
    return total


def _parse_idx(stream: BinaryIO, where: str, compressed: bool) -> np.ndarray:
    """Parse header and body of an already-opened IDX stream."""
    after = " after decompression" if compressed else ""
    header = stream.read(4)
    if len(header) < 4:
        raise DataError(f"{where}: too short for an IDX header ({len(header)} bytes{after})")
    zero0, zero1, dtype_code, ndim = header
    if zero0 or zero1 or dtype_code not in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E):
        raise DataError(
            f"{where}: not an IDX file (magic bytes {header.hex()}, expected 00000801 or 00000803)"
        )
    if dtype_code != 0x08:
        raise DataError(
            f"{where}: unsupported IDX element type 0x{dtype_code:02x} (only 0x08 unsigned bytes)"
        )
    if ndim not in (1, 3):
        raise DataError(f"{where}: unsupported IDX rank {ndim} (expected 1 for labels, 3 for images)")
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{where}: truncated header: {ndim} dimensions need {4 * ndim} bytes")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    expected = math.prod(dims)
    shape_txt = "x".join(str(d) for d in dims)
    if expected > _MAX_IDX_BYTES:
        raise DataError(
            f"{where}: header claims {shape_txt} = {expected} bytes, over the {_MAX_IDX_BYTES} limit"
        )
    data = np.empty(expected, dtype=np.uint8)
    found = _read_full(stream, memoryview(data))
    if found < expected:
        raise DataError(
            f"{where}: truncated: header says {shape_txt} = {expected} bytes, found {found}"
        )
    # Reading past the end also makes gzip verify its CRC, so corruption surfaces here.
    extra = 0
    while chunk := stream.read(1 << 20):
        extra += len(chunk)
    if extra:
        raise DataError(
            f"{where}: {extra} trailing bytes: header says {shape_txt} = {expected} bytes{after}"
        )
    return data.reshape(dims)


# --------------------------------------------------------------------------- validation


def _check_name(name: str) -> str:
    """Return `name` if it is a known dataset, else raise DataError listing DATASETS."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return name


def _check_images(images: np.ndarray, where: str) -> None:
    """Require a non-empty uint8 (N, 28, 28) array."""
    if not isinstance(images, np.ndarray) or images.ndim != 3:
        shape = getattr(images, "shape", type(images).__name__)
        raise DataError(f"{where}: expected images shaped (N, 28, 28), got {shape}")
    if images.shape[1:] != IMAGE_SHAPE:
        h, w = images.shape[1:]
        raise DataError(f"{where}: images are {h}x{w}, expected 28x28")
    if images.dtype != np.uint8:
        raise DataError(f"{where}: images have dtype {images.dtype}, expected uint8 (0..255)")
    if len(images) == 0:
        raise DataError(f"{where}: no images")


def _check_labels(labels: np.ndarray, where: str) -> None:
    """Require a uint8 (N,) array of class ids 0..9."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 1:
        shape = getattr(labels, "shape", type(labels).__name__)
        raise DataError(f"{where}: expected labels shaped (N,), got {shape}")
    if labels.dtype != np.uint8:
        raise DataError(f"{where}: labels have dtype {labels.dtype}, expected uint8")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: label {int(labels[i])} at index {i} is out of range 0..9 "
            f"({bad.size} bad labels)"
        )


def _check_counts(n_images: int, n_labels: int, images_where: str, labels_where: str) -> None:
    """Require one label per image."""
    if n_images != n_labels:
        raise DataError(
            f"{labels_where}: {n_labels} labels but {images_where} has {n_images} images"
        )


def _as_uint8_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Convert integer labels of any width to uint8 after range-checking them."""
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        dtype = getattr(labels, "dtype", type(labels).__name__)
        raise DataError(f"{where}: labels have dtype {dtype}, expected integers 0..9")
    if labels.dtype == np.uint8:
        return labels
    if labels.ndim == 1 and labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        i = int(np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))[0])
        raise DataError(f"{where}: label {int(labels[i])} at index {i} is out of range 0..9")
    return labels.astype(np.uint8)


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """A validated dataset: uint8 (N, 28, 28) images and uint8 (N,) labels for each split."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    def __post_init__(self) -> None:
        """Validate every array so a Dataset is always safe to feed to the model."""
        _check_name(self.name)
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            _check_images(images, f"{self.source}: {split} images")
            _check_labels(labels, f"{self.source}: {split} labels")
            _check_counts(
                len(images), len(labels),
                f"{self.source}: {split} images", f"{self.source}: {split} labels",
            )

    @property
    def class_names(self) -> tuple[str, ...]:
        """Human-readable names of the 10 classes."""
        return CLASS_NAMES[self.name]


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


def load_idx_dir(directory: str | os.PathLike, name: str = "mnist") -> Dataset:
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
        _check_images(images, str(found[img_key]))
        _check_labels(labels, str(found[lab_key]))
        _check_counts(len(images), len(labels), str(found[img_key]), str(found[lab_key]))
    return Dataset(name=name, source=f"IDX files in {directory}", **arrays)


def _read_npz(path: str | os.PathLike, keys: tuple[str, ...], layout: str) -> dict[str, np.ndarray]:
    """Read `keys` from a .npz archive without unpickling; `layout` describes the expected keys."""
    where = str(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        # Our own handle: np.load leaks its file when a zip-looking file fails to open.
        with open(path, "rb") as fh:
            # allow_pickle=False always: a pickle in a downloaded file would run arbitrary code.
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise DataError(f"{where}: is a single .npy array, expected a .npz archive")
            with loaded as npz:
                missing = [k for k in keys if k not in npz.files]
                if missing:
                    raise DataError(
                        f"{where}: missing arrays {', '.join(missing)} ({layout}; "
                        f"found {', '.join(npz.files) or 'none'})"
                    )
                for key in keys:
                    try:
                        arrays[key] = npz[key]
                    except ValueError as exc:
                        if "allow_pickle" in str(exc):
                            raise DataError(
                                f"{where}: refused {key}: it holds pickled Python objects "
                                "(allow_pickle=False); re-save it as plain uint8 arrays"
                            ) from None
                        raise
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, expected a .npz file") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(
                f"{where}: not a valid .npz archive (neither zip nor .npy; "
                "unpickling it is refused)"
            ) from None
        raise DataError(f"{where}: not a valid .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{where}: not a valid .npz archive ({exc})") from None
    return arrays


def load_npz(path: str | os.PathLike, name: str = "mnist") -> Dataset:
    """Load a Keras-format mnist.npz (x_train, y_train, x_test, y_test) without unpickling."""
    _check_name(name)
    where = str(path)
    arrays = _read_npz(path, _KERAS_NPZ_KEYS, f"a Keras-format npz has {', '.join(_KERAS_NPZ_KEYS)}")
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        x_where, y_where = f"{where}[{x_key}]", f"{where}[{y_key}]"
        arrays[y_key] = _as_uint8_labels(arrays[y_key], y_where)
        _check_images(arrays[x_key], x_where)
        _check_labels(arrays[y_key], y_where)
        _check_counts(len(arrays[x_key]), len(arrays[y_key]), x_where, y_where)
    return Dataset(
        name=name,
        train_images=arrays["x_train"],
        train_labels=arrays["y_train"],
        test_images=arrays["x_test"],
        test_labels=arrays["y_test"],
        source=where,
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
    loader = load_idx_dir if kind == "idx" else load_npz
    return _freeze(loader(path, name))


@functools.lru_cache(maxsize=2)
def _cached_download(name: str) -> Dataset:
    """Download (or reuse Keras's copy of) `name` via tf.keras.datasets."""
    import tensorflow as tf  # lazy: only the download path needs TensorFlow

    module = getattr(tf.keras.datasets, name)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return _freeze(
        Dataset(
            name=name,
            train_images=np.asarray(x_train, dtype=np.uint8),
            train_labels=_as_uint8_labels(np.asarray(y_train), f"Keras {name} train labels"),
            test_images=np.asarray(x_test, dtype=np.uint8),
            test_labels=_as_uint8_labels(np.asarray(y_test), f"Keras {name} test labels"),
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
        return load_npz(path, name)  # raises the specific error
    return _cached_load("npz", str(path), name, _stat_key([path]))


def _check_identity(ds: Dataset, name: str) -> Dataset:
    """Refuse MNIST served as Fashion-MNIST or vice versa (both use the same file names)."""
    counts = tuple(int(c) for c in np.bincount(ds.test_labels, minlength=NUM_CLASSES))
    if name == "fashion_mnist" and counts == _MNIST_TEST_COUNTS:
        raise DataError(
            f"{ds.source}: this is MNIST (digit test-label counts), but fashion_mnist was "
            "requested; point the data dir at the Fashion-MNIST files"
        )
    train_counts = np.bincount(ds.train_labels, minlength=NUM_CLASSES)
    if name == "mnist" and counts == (1000,) * 10 and (train_counts == 6000).all():
        raise DataError(
            f"{ds.source}: this looks like Fashion-MNIST (exactly 6000/1000 per class), but "
            "mnist was requested; point the data dir at the MNIST files"
        )
    return ds


def _load_from_data_dir(path: Path, name: str, origin: str) -> Dataset:
    """Load `name` from a user-given path; every failure raises, naming where it came from."""
    npz_names = (f"{name}.npz", f"{name.replace('_', '-')}.npz")
    try:
        if path.suffix == ".npz":
            return _load_npz_cached(path, name)
        if not path.is_dir():
            what = "is not a directory or .npz file" if path.exists() else "no such directory"
            raise DataError(f"{path}: {what}")
        for npz_name in npz_names:
            if (path / npz_name).is_file():
                return _load_npz_cached(path / npz_name, name)
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
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home).expanduser() if keras_home else Path.home() / ".keras"
    return base / "datasets"


def _not_found_message(name: str, looked: list[str]) -> str:
    """The one message shown when no source had the data."""
    files = ", ".join(IDX_FILES.values())
    if name == "mnist":
        cache_way = "put mnist.npz in ~/.keras/datasets/ (or $KERAS_HOME/datasets/)"
    else:
        cache_way = (
            "put the four .gz files in ~/.keras/datasets/fashion-mnist/, "
            "or `apt-get install dataset-fashion-mnist`"
        )
    lines = [f"no {name} data found. Looked in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines += [
        "Provide it in one of three ways:",
        f"  1. --data-dir DIR or {DATA_DIR_ENV}=DIR, where DIR holds the four IDX files "
        f"({files}; plain or .gz) or {name}.npz",
        f"  2. {cache_way}",
        "  3. be online so Keras downloads it",
    ]
    return "\n".join(lines)


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Find and load `name`: data_dir / $CVAE_DATA_DIR, Keras cache, system dir, then download."""
    _check_name(name)
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
    candidates: list[tuple[str, Path]] = []
    if name == "mnist":
        candidates.append(("npz", keras_dir / "mnist.npz"))
    else:
        candidates.append(("idx", keras_dir / "fashion-mnist"))
    candidates += [("idx", d) for d in SYSTEM_DIRS.get(name, ())]
    for kind, path in candidates:
        if not path.exists():
            looked.append(f"{path}: not found")
            continue
        try:
            if kind == "npz":
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
        looked.append(
            f"Keras download (tf.keras.datasets.{name}): not attempted (allow_download=False)"
        )
    raise DataError(_not_found_message(name, looked))


# --------------------------------------------------------------------------- preprocessing


def binarize(images: np.ndarray) -> np.ndarray:
    """The TF tutorial's preprocessing: scale to [0, 1], threshold at 0.5, float32 (N, 28, 28, 1)."""
    images = np.asarray(images)
    if images.size % (28 * 28):
        raise ValueError(f"binarize: {images.shape} cannot be reshaped to (N, 28, 28, 1)")
    if images.dtype == np.uint8:
        # Same result as x / 255. > .5 for uint8 (127/255 < .5 < 128/255) without a float64 copy.
        return (images.reshape(-1, 28, 28, 1) > 127).astype(np.float32)
    scaled = images.reshape(-1, 28, 28, 1) / 255.0
    return np.where(scaled > 0.5, 1.0, 0.0).astype(np.float32)


def dynamic_binarize(
    images_uint8: np.ndarray, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Sample each pixel from Bernoulli(x / 255): float32 (N, 28, 28, 1) of 0s and 1s."""
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.size % (28 * 28):
        raise ValueError(
            f"dynamic_binarize: expected uint8 images of 28x28, got {images.dtype} {images.shape}"
        )
    rng = np.random.default_rng(rng)
    probs = images.reshape(-1, 28, 28, 1).astype(np.float32) / np.float32(255.0)
    return (rng.random(probs.shape, dtype=np.float32) < probs).astype(np.float32)


# --------------------------------------------------------------------------- tf.data


def _is_positive_int(value: object) -> bool:
    """True for a Python or NumPy integer >= 1 (bools excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _check_model_input(images: np.ndarray, batch_size: int, fn: str) -> None:
    """Catch raw uint8 or mis-shaped images before they silently train a garbage model."""
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"{fn}: expected images shaped (N, 28, 28, 1), got {np.shape(images)}")
    if images.dtype != np.float32:
        raise ValueError(f"{fn}: expected float32 images (see binarize), got {images.dtype}")
    if len(images) == 0:
        raise ValueError(f"{fn}: no images")
    if not _is_positive_int(batch_size):
        raise ValueError(f"{fn}: batch_size must be a positive integer, got {batch_size!r}")


def make_train_dataset(
    images: np.ndarray, batch_size: int, seed: int, max_examples: int | None = None
) -> "tf.data.Dataset":
    """Shuffled (reshuffled every epoch, seeded), batched, prefetched training pipeline."""
    import tensorflow as tf  # lazy: keep `import cvae.data` cheap

    if max_examples is not None:
        if not _is_positive_int(max_examples):
            raise ValueError(f"make_train_dataset: max_examples must be >= 1, got {max_examples!r}")
        images = images[: int(max_examples)]
    _check_model_input(images, batch_size, "make_train_dataset")
    n = len(images)
    # A full-size buffer gives a uniform shuffle; the op-level seed alone makes the sequence
    # of epoch orders reproducible across processes while each epoch still differs.
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
        .batch(int(batch_size))  # keep the last partial batch, as the tutorial does
        .prefetch(tf.data.AUTOTUNE)
    )


def make_test_dataset(images: np.ndarray, batch_size: int) -> "tf.data.Dataset":
    """Fixed-order, batched, prefetched evaluation pipeline."""
    import tensorflow as tf  # lazy: keep `import cvae.data` cheap

    _check_model_input(images, batch_size, "make_test_dataset")
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(int(batch_size))
        .prefetch(tf.data.AUTOTUNE)
    )


# --------------------------------------------------------------------------- bundled sample


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
    arrays = _read_npz(path, keys, "a bundled sample has images, labels, indices")
    images, labels, indices = (arrays[k] for k in keys)
    _check_images(images, f"{where}[images]")
    _check_labels(labels, f"{where}[labels]")
    _check_counts(len(images), len(labels), f"{where}[images]", f"{where}[labels]")
    if indices.shape != labels.shape or not np.issubdtype(indices.dtype, np.integer):
        raise DataError(
            f"{where}[indices]: expected {labels.shape} integers, got {indices.dtype} {indices.shape}"
        )
    if indices.size and (indices.min() < 0 or len(np.unique(indices)) != len(indices)):
        raise DataError(f"{where}[indices]: must be distinct non-negative test-set indices")
    return images, labels, indices.astype(np.int32, copy=False)


def load_test_split(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Test images, labels and a source string; falls back to the bundled MNIST sample."""
    try:
        ds = load_dataset(name, data_dir, allow_download=allow_download)
        return ds.test_images, ds.test_labels, ds.source
    except DataError:
        # Fall back only when nothing was configured: a broken --data-dir / $CVAE_DATA_DIR
        # must surface its error rather than be masked by the 1000-digit sample.
        configured = data_dir is not None or bool(os.environ.get(DATA_DIR_ENV))
        if name != "mnist" or configured:
            raise
    images, labels, _ = load_bundled_sample()
    return images, labels, BUNDLED_SOURCE
