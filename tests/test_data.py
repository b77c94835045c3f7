"""Tests for cvae.data: IDX/npz parsing, dataset search, preprocessing, pipelines, bundled sample."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvae.data import sample
from cvae.data import sources
from cvae.store.errors import DataError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, dtype_code: int = 0x08) -> bytes:
    """Serialize `array` as an IDX file."""
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` as IDX, gzip-compressed when the name ends in .gz."""
    payload = idx_bytes(array)
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def make_arrays(n_train: int = 30, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random MNIST-shaped arrays with every class present."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_dir(directory: Path, gz: bool | dict[str, bool] = False, **overrides) -> dict:
    """Write the four IDX files into `directory`; returns the arrays written."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {**make_arrays(), **overrides}
    for key, base in sources.IDX_FILES.items():
        compress = gz[key] if isinstance(gz, dict) else gz
        write_idx(directory / (base + ".gz" if compress else base), arrays[key])
    return arrays


def write_npz(path: Path, arrays: dict | None = None, **overrides) -> dict:
    """Write a Keras-format npz."""
    a = arrays or make_arrays()
    keras = {"x_train": a["train_images"], "y_train": a["train_labels"],
             "x_test": a["test_images"], "y_test": a["test_labels"], **overrides}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **keras)
    return keras


def raises_data_error(*fragments: str):
    """Context manager asserting a DataError whose message contains every fragment."""
    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(DataError)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self._cm.__exit__(*exc)
            msg = str(self.info.value)
            for frag in fragments:
                assert frag in msg, f"{frag!r} not in error message: {msg!r}"
            return result
    return _Ctx()


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_good_images_and_labels(tmp_path, suffix):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    got_images = sources.read_idx(write_idx(tmp_path / f"imgs{suffix}", images))
    got_labels = sources.read_idx(write_idx(tmp_path / f"labs{suffix}", labels))
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images[0, 0, 0] = 7  # read_idx returns a writable array of its own


def test_read_idx_detects_gzip_by_content(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(sources.read_idx(path), labels)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated(tmp_path, suffix):
    payload = idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-100]
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with raises_data_error(str(path), "truncated: header says 3x28x28 = 2352 bytes, found 2252"):
        sources.read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_trailing_bytes(tmp_path, suffix):
    payload = idx_bytes(np.zeros(4, np.uint8)) + b"junk"
    path = tmp_path / f"labels{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with raises_data_error(str(path), "4 trailing bytes", "header says 4 = 4 bytes"):
        sources.read_idx(path)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with raises_data_error(str(path), "not an IDX file", "12340801"):
        sources.read_idx(path)


def test_read_idx_rejects_non_ubyte_element_type(tmp_path):
    path = tmp_path / "floats-idx1"
    path.write_bytes(idx_bytes(np.zeros(2, np.uint8), dtype_code=0x0D))
    with raises_data_error(str(path), "unsupported IDX element type 0x0d"):
        sources.read_idx(path)


def test_read_idx_rejects_rank_2(tmp_path):
    path = tmp_path / "matrix"
    path.write_bytes(idx_bytes(np.zeros((2, 3), np.uint8)))
    with raises_data_error(str(path), "unsupported IDX rank 2"):
        sources.read_idx(path)


def test_read_idx_rejects_absurd_header_without_allocating(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 2**31, 28, 28))
    with raises_data_error(str(path), "header claims 2147483648x28x28"):
        sources.read_idx(path)


@pytest.mark.parametrize("name", ["garbage-idx3-ubyte", "garbage-idx3-ubyte.gz"])
def test_read_idx_garbage(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xff" + np.random.default_rng(0).bytes(4095))
    with pytest.raises(DataError) as info:
        sources.read_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "not an IDX file" in msg or "gzip" in msg


def test_read_idx_truncated_gzip_stream(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    compressed = gzip.compress(idx_bytes(images))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with raises_data_error(str(path), "truncated gzip"):
        sources.read_idx(path)


def test_read_idx_gzip_crc_mismatch(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8))))
    compressed[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path = tmp_path / "labels.gz"
    path.write_bytes(bytes(compressed))
    with raises_data_error(str(path), "corrupt"):
        sources.read_idx(path)


@pytest.mark.parametrize("name", ["empty-idx1-ubyte", "empty-idx1-ubyte.gz"])
def test_read_idx_zero_length(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with raises_data_error(str(path), "empty file (0 bytes)"):
        sources.read_idx(path)


def test_read_idx_empty_gzip_member(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(b""))
    with raises_data_error(str(path), "too short for an IDX header (0 bytes after decompression)"):
        sources.read_idx(path)


def test_read_idx_missing_file_and_directory(tmp_path):
    with raises_data_error(str(tmp_path / "nope"), "file not found"):
        sources.read_idx(tmp_path / "nope")
    with raises_data_error(str(tmp_path), "is a directory"):
        sources.read_idx(tmp_path)


# --------------------------------------------------------------------------- load_idx_dir


def test_load_idx_dir_mixed_plain_and_gz(tmp_path):
    gz = {"train_images": True, "train_labels": False, "test_images": False, "test_labels": True}
    arrays = write_idx_dir(tmp_path, gz=gz)
    ds = sources.load_idx_dir(tmp_path)
    assert ds.name == "mnist" and str(tmp_path) in ds.source
    for key, value in arrays.items():
        np.testing.assert_array_equal(getattr(ds, key), value)
        assert getattr(ds, key).dtype == np.uint8
    assert ds.class_names == tuple("0123456789")


def test_load_idx_dir_labels_out_of_range(tmp_path):
    labels = (np.arange(20) % 10).astype(np.uint8)
    labels[7] = 12
    write_idx_dir(tmp_path, test_labels=labels)
    with raises_data_error("t10k-labels-idx1-ubyte", "label 12 at index 7 is out of range 0..9"):
        sources.load_idx_dir(tmp_path)


def test_load_idx_dir_count_mismatch(tmp_path):
    write_idx_dir(tmp_path, train_labels=(np.arange(29) % 10).astype(np.uint8))
    with raises_data_error("train-labels-idx1-ubyte", "29 labels",
                           "train-images-idx3-ubyte", "30 images"):
        sources.load_idx_dir(tmp_path)


def test_load_idx_dir_wrong_image_size(tmp_path):
    write_idx_dir(tmp_path, test_images=np.zeros((20, 32, 32), np.uint8))
    with raises_data_error("t10k-images-idx3-ubyte", "images are 32x32, expected 28x28"):
        sources.load_idx_dir(tmp_path)


def test_load_idx_dir_swapped_files(tmp_path):
    arrays = make_arrays()
    write_idx_dir(tmp_path, train_labels=arrays["train_images"])
    with raises_data_error("train-labels-idx1-ubyte", "expected labels shaped (N,)"):
        sources.load_idx_dir(tmp_path)


def test_load_idx_dir_missing_files_are_all_named(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with raises_data_error(str(tmp_path), "missing", "train-labels-idx1-ubyte[.gz]",
                           "t10k-images-idx3-ubyte[.gz]") as info:
        sources.load_idx_dir(tmp_path)
    assert "train-images" not in str(info.value).split("missing")[1].split("(")[0]


def test_load_idx_dir_not_a_directory(tmp_path):
    with raises_data_error(str(tmp_path / "absent"), "no such directory"):
        sources.load_idx_dir(tmp_path / "absent")


def test_load_idx_dir_unknown_name(tmp_path):
    write_idx_dir(tmp_path)
    with raises_data_error("unknown dataset 'cifar100'", "mnist, fashion_mnist"):
        sources.load_idx_dir(tmp_path, name="cifar100")


# --------------------------------------------------------------------------- load_npz


def test_load_npz_good_and_int64_labels(tmp_path):
    arrays = make_arrays()
    path = tmp_path / "mnist.npz"
    write_npz(path, arrays, y_train=arrays["train_labels"].astype(np.int64))
    ds = sources.load_npz(path, name="fashion_mnist")
    assert ds.name == "fashion_mnist" and ds.source == str(path)
    assert ds.train_labels.dtype == np.uint8
    np.testing.assert_array_equal(ds.train_labels, arrays["train_labels"])
    np.testing.assert_array_equal(ds.test_images, arrays["test_images"])
    assert ds.class_names[9] == "Ankle boot"


def test_load_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    arrays = make_arrays()
    objects = np.empty(len(arrays["train_labels"]), dtype=object)
    objects[:] = [int(v) for v in arrays["train_labels"]]
    write_npz(path, arrays, y_train=objects)
    with raises_data_error(str(path), "refused y_train", "pickled"):
        sources.load_npz(path)


def test_load_npz_refuses_plain_pickle(tmp_path):
    import pickle

    path = tmp_path / "mnist.npz"
    path.write_bytes(pickle.dumps({"x_train": [1, 2, 3]}))
    with raises_data_error(str(path), "not a valid .npz archive", "unpickling it is refused"):
        sources.load_npz(path)


def test_load_npz_missing_keys(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((1, 28, 28), np.uint8), y_train=np.zeros(1, np.uint8))
    with raises_data_error(str(path), "missing arrays x_test, y_test"):
        sources.load_npz(path)


def test_load_npz_bad_shape_dtype_and_range(tmp_path):
    arrays = make_arrays()
    path = tmp_path / "a.npz"
    write_npz(path, arrays, x_test=arrays["test_images"].astype(np.float32))
    with raises_data_error(f"{path}[x_test]", "dtype float32, expected uint8"):
        sources.load_npz(path)
    write_npz(path, arrays, x_train=np.zeros((30, 28, 27), np.uint8))
    with raises_data_error(f"{path}[x_train]", "images are 28x27"):
        sources.load_npz(path)
    write_npz(path, arrays, y_test=np.full(20, -1, np.int64))
    with raises_data_error(f"{path}[y_test]", "label -1 at index 0 is out of range"):
        sources.load_npz(path)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x93NUMPY garbage"])
def test_load_npz_garbage(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        sources.load_npz(path)
    assert str(path) in str(info.value)


def test_load_npz_missing_file(tmp_path):
    with raises_data_error(str(tmp_path / "mnist.npz"), "file not found"):
        sources.load_npz(tmp_path / "mnist.npz")


# --------------------------------------------------------------------------- load_dataset search


def test_data_dir_argument_beats_env_var(isolated_data_env, tmp_path, monkeypatch):
    arg_dir, env_dir = tmp_path / "arg", tmp_path / "env"
    arg_arrays = write_idx_dir(arg_dir, train_labels=np.full(30, 1, np.uint8))
    write_idx_dir(env_dir, train_labels=np.full(30, 2, np.uint8))
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(env_dir))
    ds = sources.load_dataset(data_dir=arg_dir, allow_download=False)
    np.testing.assert_array_equal(ds.train_labels, arg_arrays["train_labels"])
    assert str(arg_dir) in ds.source


def test_env_var_used(isolated_data_env, tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    write_idx_dir(env_dir, gz=True)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(env_dir))
    assert str(env_dir) in sources.load_dataset(allow_download=False).source


def test_explicit_bad_data_dir_raises_instead_of_falling_through(
    isolated_data_env, tmp_path, monkeypatch
):
    write_npz(isolated_data_env / ".keras" / "datasets" / "mnist.npz")  # would be found otherwise
    with raises_data_error("--data-dir", str(tmp_path / "nowhere"), "no such directory"):
        sources.load_dataset(data_dir=tmp_path / "nowhere", allow_download=False)
    broken = tmp_path / "broken"
    write_idx_dir(broken)
    (broken / "t10k-labels-idx1-ubyte").write_bytes(b"")
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(broken))
    with raises_data_error(f"{sources.DATA_DIR_ENV}={broken}", "t10k-labels-idx1-ubyte", "empty file"):
        sources.load_dataset(allow_download=False)


def test_data_dir_without_data_says_what_it_expected(isolated_data_env, tmp_path):
    (tmp_path / "empty").mkdir()
    with raises_data_error(str(tmp_path / "empty"), "no mnist data",
                           "train-images-idx3-ubyte", "mnist.npz"):
        sources.load_dataset(data_dir=tmp_path / "empty", allow_download=False)


def test_data_dir_npz_file_npz_inside_and_per_dataset_subdirs(isolated_data_env, tmp_path):
    write_npz(tmp_path / "d1" / "mnist.npz")
    assert sources.load_dataset(data_dir=tmp_path / "d1" / "mnist.npz").source.endswith("mnist.npz")
    assert sources.load_dataset(data_dir=tmp_path / "d1").source == str(tmp_path / "d1" / "mnist.npz")
    write_idx_dir(tmp_path / "d2" / "mnist")
    write_idx_dir(tmp_path / "d2" / "fashion-mnist", gz=True)
    assert sources.load_dataset("mnist", tmp_path / "d2").source.endswith(os.sep + "mnist")
    fashion = sources.load_dataset("fashion_mnist", tmp_path / "d2")
    assert fashion.source.endswith("fashion-mnist") and fashion.name == "fashion_mnist"


def test_keras_cache_home_and_keras_home(isolated_data_env, tmp_path, monkeypatch):
    write_npz(isolated_data_env / ".keras" / "datasets" / "mnist.npz")
    ds = sources.load_dataset(allow_download=False)
    assert ds.source == str(isolated_data_env / ".keras" / "datasets" / "mnist.npz")
    keras_home = tmp_path / "kh"
    write_idx_dir(keras_home / "datasets" / "fashion-mnist", gz=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    fashion = sources.load_dataset("fashion_mnist", allow_download=False)
    assert fashion.source == f"IDX files in {keras_home / 'datasets' / 'fashion-mnist'}"


def test_fashion_system_dir(isolated_data_env, tmp_path, monkeypatch):
    system = tmp_path / "usr-share-fashion"
    write_idx_dir(system, gz=True)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"mnist": (), "fashion_mnist": (system,)})
    assert str(system) in sources.load_dataset("fashion_mnist", allow_download=False).source
    with pytest.raises(DataError):
        sources.load_dataset("mnist", allow_download=False)


@pytest.mark.parametrize("name", ("mnist", "fashion_mnist"))  # cifar10: tests/test_cifar.py
def test_nothing_found_lists_places_and_three_ways(isolated_data_env, name):
    with pytest.raises(DataError) as info:
        sources.load_dataset(name, allow_download=False)
    msg = str(info.value)
    keras_dir = isolated_data_env / ".keras" / "datasets"
    expected_place = keras_dir / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    for fragment in (
        f"no {name} data found", f"{expected_place}: not found", "$CVAE_DATA_DIR: not given",
        "the download (tf.keras.datasets.", "not tried here", "--data-dir DIR", "CVAE_DATA_DIR=DIR",
        "train-images-idx3-ubyte", "be online:",
    ):
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    if name == "mnist":
        assert "put mnist.npz in ~/.keras/datasets/" in msg
        assert "python -m cvae data --download" in msg
    else:
        assert "apt-get install dataset-fashion-mnist" in msg


def test_corrupt_keras_cache_is_reported_in_the_final_message(isolated_data_env):
    bad = isolated_data_env / ".keras" / "datasets" / "mnist.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a zip")
    with raises_data_error(f"{bad}: not a valid .npz archive", "Provide it in one of three ways"):
        sources.load_dataset(allow_download=False)


def test_unknown_dataset_name(isolated_data_env):
    with raises_data_error("unknown dataset 'emnist'", "mnist, fashion_mnist"):
        sources.load_dataset("emnist", allow_download=False)


def test_load_dataset_caches_and_sees_replaced_files(isolated_data_env, tmp_path):
    write_idx_dir(tmp_path / "d", train_labels=np.full(30, 1, np.uint8))
    first = sources.load_dataset(data_dir=tmp_path / "d")
    assert sources.load_dataset(data_dir=tmp_path / "d") is first
    with pytest.raises(ValueError):
        first.train_images[0, 0, 0] = 1  # shared cached arrays are read-only
    write_idx_dir(tmp_path / "d", train_labels=np.full(30, 3, np.uint8))
    os.utime(tmp_path / "d" / "train-labels-idx1-ubyte", ns=(1, 1))
    second = sources.load_dataset(data_dir=tmp_path / "d")
    assert second is not first and set(second.train_labels) == {3}


def test_mnist_served_as_fashion_is_refused(isolated_data_env, tmp_path):
    labels = np.repeat(np.arange(10, dtype=np.uint8), MNIST_TEST_COUNTS)
    write_idx_dir(tmp_path / "d", test_images=np.zeros((10000, 28, 28), np.uint8), test_labels=labels)
    assert sources.load_dataset("mnist", tmp_path / "d").name == "mnist"
    with raises_data_error("this is MNIST", "fashion_mnist was requested"):
        sources.load_dataset("fashion_mnist", tmp_path / "d")


def test_dataset_validates_on_construction():
    a = make_arrays()
    with raises_data_error("hand-made: test labels", "label 10 at index 0"):
        sources.Dataset("mnist", a["train_images"], a["train_labels"], a["test_images"],
                     np.full(20, 10, np.uint8), source="hand-made")


# --------------------------------------------------------------------------- real MNIST


def test_real_mnist_label_counts(mnist_dir):
    ds = sources.load_dataset("mnist", data_dir=mnist_dir, allow_download=False)
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert ds.train_images.dtype == np.uint8
    assert np.bincount(ds.train_labels).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.test_labels).tolist() == MNIST_TEST_COUNTS


# --------------------------------------------------------------------------- binarize


def tutorial_preprocess(images: np.ndarray) -> np.ndarray:
    """Verbatim from the TensorFlow CVAE tutorial."""
    images = images.reshape((images.shape[0], 28, 28, 1)) / 255.
    return np.where(images > .5, 1.0, 0.0).astype('float32')


def test_binarize_matches_tutorial_on_every_byte_value():
    images = np.resize(np.arange(256, dtype=np.uint8), (7, 28, 28))
    got = sources.binarize(images)
    assert got.dtype == np.float32 and got.shape == (7, 28, 28, 1)
    np.testing.assert_array_equal(got, tutorial_preprocess(images))
    assert got.reshape(-1)[127] == 0.0 and got.reshape(-1)[128] == 1.0


def test_binarize_float_input_uses_tutorial_formula():
    images = np.random.default_rng(0).uniform(0, 255, (3, 28, 28))
    np.testing.assert_array_equal(sources.binarize(images), tutorial_preprocess(images))


def test_binarize_rejects_wrong_size():
    with pytest.raises(ValueError, match="cannot be reshaped"):
        sources.binarize(np.zeros((2, 27, 28), np.uint8))


def test_import_is_cheap():
    code = "import sys, cvae.data.sources, cvae.data.sample; print('tensorflow' in sys.modules, 'streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.split() == ["False", "False"]


# --------------------------------------------------------------------------- bundled sample


def test_bundled_sample_matches_real_test_set(mnist_dir):
    images, labels, indices = sample.load_bundled_sample()
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.uint8 and indices.dtype == np.int32
    assert np.bincount(labels, minlength=10).tolist() == [100] * 10
    assert (np.diff(indices) > 0).all()
    ds = sources.load_dataset("mnist", data_dir=mnist_dir, allow_download=False)
    np.testing.assert_array_equal(images, ds.test_images[indices])
    np.testing.assert_array_equal(labels, ds.test_labels[indices])
    assert sample.BUNDLED_SAMPLE.stat().st_size < 300_000


def test_write_bundled_sample_roundtrip_and_atomic(tmp_path):
    a = make_arrays(n_train=10, n_test=200)
    ds = sources.Dataset("mnist", source="synthetic", **a)
    out = tmp_path / "assets" / "sample.npz"
    sample.write_bundled_sample(ds, out, n=25, seed=1)
    images, labels, indices = sample.load_bundled_sample(out)
    assert len(images) == 25 and np.bincount(labels, minlength=10).tolist() == [3] * 5 + [2] * 5
    np.testing.assert_array_equal(images, a["test_images"][indices])
    assert sorted(p.name for p in out.parent.iterdir()) == ["sample.npz"]  # no temp file left
    again = tmp_path / "again.npz"
    sample.write_bundled_sample(ds, again, n=25, seed=1)
    np.testing.assert_array_equal(sample.load_bundled_sample(again)[2], indices)


def test_load_bundled_sample_rejects_bad_files(tmp_path):
    with raises_data_error(str(tmp_path / "none.npz"), "not found"):
        sample.load_bundled_sample(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros(2, np.uint8))
    with raises_data_error(str(bad), "missing arrays indices"):
        sample.load_bundled_sample(bad)
    npy = tmp_path / "sample.npy"
    np.save(npy, np.zeros(3, np.uint8))
    with raises_data_error(str(npy), "expected a .npz archive"):
        sample.load_bundled_sample(npy)


def test_load_test_split_prefers_real_data(mnist_dir):
    images, labels, source = sample.load_test_split("mnist", data_dir=mnist_dir)
    assert images.shape == (10000, 28, 28) and str(mnist_dir) in source


def test_load_test_split_falls_back_to_bundled_sample(isolated_data_env, tmp_path, monkeypatch):
    images, labels, source = sample.load_test_split("mnist", allow_download=False)
    assert source == "bundled sample (1000 test digits)" and images.shape == (1000, 28, 28)
    with pytest.raises(DataError):
        sample.load_test_split("fashion_mnist", allow_download=False)
    with raises_data_error("--data-dir"):  # a configured but broken dir is not masked
        sample.load_test_split("mnist", data_dir=tmp_path / "missing", allow_download=False)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path / "missing"))
    with raises_data_error(sources.DATA_DIR_ENV):
        sample.load_test_split("mnist", allow_download=False)
