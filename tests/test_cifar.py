"""CIFAR-10's binary version (issue #14): parsing files the tests generate, refusing broken ones with one line."""

from __future__ import annotations

import numpy as np
import pytest

from cifar_support import make_cifar_dir, synthetic_images
from cvae.data import cifar, sources
from cvae.store.errors import DataError, DataNotFound


@pytest.fixture(autouse=True)
def fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


def test_a_record_is_a_label_then_red_green_blue_planes(tmp_path):
    # Build the bytes by hand, independently of write_batch: pixel (y, x) of plane c is byte 1 + c*1024 + 32y + x.
    rng = np.random.default_rng(0)
    planes = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)  # records, channel, y, x
    raw = b"".join(bytes([label]) + planes[i].tobytes() for i, label in enumerate((7, 0, 9)))
    (tmp_path / "b.bin").write_bytes(raw)
    images, labels = cifar.read_batch(tmp_path / "b.bin")
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and labels.tolist() == [7, 0, 9]
    assert images[1, 5, 17, 0] == planes[1, 0, 5, 17] and images[2, 31, 0, 2] == planes[2, 2, 31, 0]
    assert images[0, 0, 0, 1] == raw[1 + 1024]


def test_load_dataset_from_a_data_dir_and_its_subdirectory(tmp_path):
    make_cifar_dir(tmp_path / "plain", per_train_file=40, n_test=50)
    ds = sources.load_dataset("cifar10", tmp_path / "plain")
    assert ds.train_images.shape == (200, 32, 32, 3) and ds.test_images.shape == (50, 32, 32, 3)
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck" and len(ds.class_names) == 10
    expected, labels = synthetic_images(50, 9)
    assert np.array_equal(ds.test_images, expected) and np.array_equal(ds.test_labels, labels)
    # The layout cifar-10-binary.tar.gz unpacks to.
    make_cifar_dir(tmp_path / "tar" / cifar.SUBDIR, per_train_file=10, n_test=20)
    assert len(sources.load_dataset("cifar10", tmp_path / "tar").train_images) == 50


def test_the_keras_cache_directory_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    make_cifar_dir(tmp_path / "keras" / "datasets" / cifar.SUBDIR, per_train_file=10, n_test=20)
    assert len(sources.load_dataset("cifar10", allow_download=False).test_images) == 20


def test_nothing_found_is_one_message(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DataNotFound) as e:
        sources.load_dataset("cifar10", allow_download=False)
    assert "data_batch_1.bin" in str(e.value) and "cifar-10-binary.tar.gz" in str(e.value)


def _broken(tmp_path, name: str, data: bytes):
    d = make_cifar_dir(tmp_path / "d", per_train_file=10, n_test=10)
    (d / name).write_bytes(data)
    return d


@pytest.mark.parametrize("what,data,words", [
    ("truncated", None, ["data_batch_3.bin", "not a multiple of 3,073"]),
    ("empty", b"", ["data_batch_3.bin", "empty file"]),
    ("label 10", bytes([10]) + bytes(3072), ["data_batch_3.bin", "record 0 has label 10", "expected 0-9"]),
    ("pickle", b"\x80\x04\x95" + bytes(100), ["data_batch_3.bin", "not a multiple"]),
])
def test_broken_files_are_refused_with_one_line(tmp_path, what, data, words):
    if data is None:
        good = (tmp_path / "src").mkdir() or make_cifar_dir(tmp_path / "src", 10, 10)
        data = (good / "data_batch_3.bin").read_bytes()[:-5]
    d = _broken(tmp_path, "data_batch_3.bin", data)
    with pytest.raises(DataError) as e:
        sources.load_dataset("cifar10", d)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--data-dir: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_missing_files_and_links_are_named(tmp_path):
    d = make_cifar_dir(tmp_path / "d", per_train_file=10, n_test=10)
    (d / "data_batch_5.bin").unlink()
    with pytest.raises(DataError, match="missing data_batch_5.bin"):
        sources.load_dataset("cifar10", d)
    fifo = d / "data_batch_5.bin"
    import os
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="data_batch_5.bin"):
        sources.load_dataset("cifar10", d)
    with pytest.raises(DataError, match="no cifar10 data"):
        sources.load_dataset("cifar10", tmp_path)


@pytest.mark.slow
def test_a_short_colour_training_improves_and_eval_reports_bits_per_dim(tmp_path):
    """CLI: --dataset cifar10 --likelihood discretized_logistic on 300 generated records; ELBO improves; eval."""
    import json
    import math

    from test_cli import cli

    from cvae.store import runs
    from cvae.store.files import read_jsonl

    data = make_cifar_dir(tmp_path / "data", per_train_file=60, n_test=100)
    r = cli("train", "--name", "colour", "--runs-dir", str(tmp_path / "runs"), "--data-dir", str(data),
            "--dataset", "cifar10", "--likelihood", "discretized_logistic", "--epochs", "3", "--learning-rate", "1e-3",
            "--log-every-steps", "5", "--filters1", "16", "--filters2", "32")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs" / "colour"
    elbos = [row["test_elbo"] for row in runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))]
    assert len(elbos) == 3 and elbos[2] > elbos[0] + 500, elbos
    # A discrete likelihood: log P(x) <= 0, so ELBO < 0; 8 bits per sub-pixel is the uniform distribution's cost.
    assert -3072 * 8 * math.log(2) * 1.5 < elbos[-1] < 0
    r = cli("eval", "colour", "--runs-dir", str(tmp_path / "runs"), "--iwae-k", "4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["test_elbo"] == pytest.approx(elbos[-1], rel=1e-5)
    assert out["test_elbo_bpd"] == pytest.approx(-out["test_elbo"] / (32 * 32 * 3 * math.log(2)), rel=1e-9)
    assert out["iwae_4_bpd"] < out["test_elbo_bpd"] + 0.05  # the IWAE bound is (on average) no looser
    images = sorted((run / runs.IMAGES_DIR).glob("*.png"))
    from PIL import Image
    with Image.open(images[-1]) as im:
        assert im.mode == "RGB" and im.size == (2 * 4 * 32, 2 * 4 * 32)
