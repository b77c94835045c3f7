"""latent_means.npz: the per-epoch latent map; atomic, each epoch once after SIGKILL + resume, validated on read."""

from __future__ import annotations

import io
import signal

import numpy as np
import pytest

from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.data.sources import binarize, load_dataset
from cvae.store import faults, latent_means as lm, runs
from cvae.store.weights import load_weights_npz
from test_faults import TINY, check_readable, cli, cli_env, epoch_numbers, temp_files


def test_write_adds_replaces_and_truncates(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    assert lm.read_latent_means(tmp_path) is None
    for e in (1, 2, 3):
        lm.write_epoch(tmp_path, e, np.full((5, 2), e, np.float32), labels)
    got = lm.read_latent_means(tmp_path)
    assert list(got.epochs) == [1, 2, 3] and got.means.shape == (3, 5, 2) and got.latest()[0] == 3
    lm.write_epoch(tmp_path, 2, np.full((5, 2), 9, np.float32), labels)  # a replayed epoch 2: once, later dropped
    got = lm.read_latent_means(tmp_path)
    assert list(got.epochs) == [1, 2] and got.means[1, 0, 0] == 9
    lm.truncate(tmp_path, 1)
    assert list(lm.read_latent_means(tmp_path).epochs) == [1]
    lm.write_epoch(tmp_path, 2, np.zeros((4, 2), np.float32), labels[:4])  # another digit set: history restarts
    assert list(lm.read_latent_means(tmp_path).epochs) == [2]


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD = dict(epochs=np.array([1, 2], np.int32), means=np.zeros((2, 3, 2), np.float32), labels=np.zeros(3, np.uint8))


@pytest.mark.parametrize("bad, words", [
    (b"not a zip", "not a readable"),
    (_npz(**{**GOOD, "epochs": np.array([2, 1], np.int32)}), "increasing"),
    (_npz(**{**GOOD, "means": np.full((2, 3, 2), np.nan, np.float32)}), "finite"),
    (_npz(**{**GOOD, "means": np.zeros((2, 3, 2), np.float64)}), "float32"),
    (_npz(**{**GOOD, "labels": np.full(3, 11, np.uint8)}), "class 0-9"),
    (_npz(epochs=GOOD["epochs"], means=GOOD["means"]), "not a readable"),
    (_npz(**{**GOOD, "labels": np.array(["a", "b", "c"], dtype=object)}), "not a readable"),  # pickled
])
def test_bad_files_are_refused_with_one_line(tmp_path, bad, words):
    (tmp_path / lm.FILE).write_bytes(bad)
    with pytest.raises(ValueError, match=words) as e:
        lm.read_latent_means(tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_means_survive_sigkill_and_resume_each_epoch_once(tmp_path, mnist_dir):
    run = tmp_path / "mapkill"
    chain = ["epoch_end:after_latent_means=kill:1", "epoch_end:after_checkpoint=kill:2",
             "atomic_write:latent_means.npz=kill:1"]  # epoch 3's rewrite dies between temp file and rename
    for i, spec in enumerate(chain):
        args = ["train", "--name", "mapkill", "--runs-dir", str(tmp_path)]
        args += ["--data-dir", str(mnist_dir), *TINY] if i == 0 else ["--resume"]
        r = cli(*args, env=cli_env(**{faults.FAILPOINTS_ENV: spec}))
        assert r.returncode == -signal.SIGKILL, (spec, r.stderr[-2000:])
        check_readable(run)
        got = lm.read_latent_means(run)
        # killed after epoch 1's means (no checkpoint yet); after epoch 1's replay and epoch 2's checkpoint; in
        # epoch 3's rewrite (the old file intact, a temp file beside it)
        assert list(got.epochs) == ([1] if i == 0 else [1, 2]), (spec, got.epochs)
        assert any(t.startswith(".latent_means.npz.") for t in temp_files(run)) == (i == 2)
    r = cli("train", "--name", "mapkill", "--runs-dir", str(tmp_path), "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert epoch_numbers(run) == [1, 2, 3] and temp_files(run) == []
    got = lm.read_latent_means(run)
    assert list(got.epochs) == [1, 2, 3] and got.means.shape == (3, 32, 2)
    ds = load_dataset("mnist", mnist_dir)
    np.testing.assert_array_equal(got.labels, ds.test_labels[:32])
    # the newest epoch's means are the final weights' encodings of the first 32 test digits
    model = NumpyCVAE(load_weights_npz(run / runs.WEIGHTS_FILE), 2)
    np.testing.assert_allclose(got.latest()[1], model.encode(binarize(ds.test_images[:32]))[0], atol=1e-4)
    assert len(set(map(bytes, got.means))) == 3  # three different maps: the model moved
