"""Tests for cvae.explorer.maths.numpy_model: the NumPy forward pass equals the Keras model; weights files are validated, never unpickled."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from cvae.engine import objectives
import reference
from cvae.store.config import TrainConfig
from cvae.data.sources import binarize, load_dataset
from cvae.explorer.maths.numpy_model import NumpyCVAE, load_numpy_model
from cvae.store.weights import expected_shapes, load_weights_npz
from cvae.store.weights import save_weights_npz
from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays
from cvae.store.errors import RunError

TOL = dict(rtol=1e-4, atol=1e-4)


def random_pair(latent_dim: int = 2, seed: int = 0):
    """A Keras CVAE and a NumpyCVAE sharing random weights, biases included (Keras starts them at 0)."""
    model = build_model(latent_dim, seed=seed)
    rng = np.random.default_rng(seed)
    arrays = {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32) for k, v in get_weight_arrays(model).items()}
    set_weight_arrays(model, arrays)
    return model, NumpyCVAE(arrays, latent_dim)


@pytest.fixture(scope="module")
def real_images(mnist_dir) -> np.ndarray:
    return binarize(load_dataset("mnist", mnist_dir).test_images[:64])


@pytest.mark.parametrize("latent_dim", [2, 5])
def test_numpy_equals_keras_on_random_inputs(latent_dim):
    model, npm = random_pair(latent_dim)
    rng = np.random.default_rng(1)
    x = rng.random((9, 28, 28, 1)).astype(np.float32)
    mean, logvar = model.encode(x)
    n_mean, n_logvar = npm.encode(x)
    assert n_mean.shape == (9, latent_dim) and n_logvar.shape == (9, latent_dim)
    np.testing.assert_allclose(n_mean, mean.numpy(), **TOL)
    np.testing.assert_allclose(n_logvar, logvar.numpy(), **TOL)
    z = rng.normal(0, 2, (9, latent_dim)).astype(np.float32)
    logits = model.decode(z).numpy()
    assert np.abs(logits).max() > 1.0  # a non-trivial comparison
    n_logits = npm.decode(z)
    assert n_logits.shape == (9, 28, 28, 1) and n_logits.dtype == np.float32
    np.testing.assert_allclose(n_logits, logits, **TOL)
    np.testing.assert_allclose(npm.decode(z, apply_sigmoid=True), model.decode(z, apply_sigmoid=True).numpy(),
                               rtol=1e-4, atol=1e-6)


def test_numpy_equals_keras_on_real_images(real_images):
    model, npm = random_pair(2, seed=3)
    # Accept (N,28,28) too, as the app passes it.
    n_mean, n_logvar = npm.encode(real_images[..., 0])
    mean, logvar = model.encode(real_images)
    np.testing.assert_allclose(n_mean, mean.numpy(), **TOL)
    np.testing.assert_allclose(n_logvar, logvar.numpy(), **TOL)
    np.testing.assert_allclose(npm.decode(n_mean), model.decode(mean).numpy(), **TOL)


def test_chunking_and_empty_batches(real_images):
    model, npm = random_pair(2, seed=4)
    x = np.concatenate([real_images] * 20)[:1001]  # several encode chunks (256) and a short last one
    m_all, _ = npm.encode(x)
    np.testing.assert_allclose(m_all[-64 + 1001 % 64:], npm.encode(x[-64 + 1001 % 64:])[0], rtol=1e-6, atol=1e-6)
    z = np.random.default_rng(1).normal(size=(37, 2)).astype(np.float32)  # decode chunks of 16, 16 and 5
    np.testing.assert_allclose(npm.decode(z), np.concatenate([npm.decode(z[i:i + 1]) for i in range(37)]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(npm.decode(z), model.decode(z).numpy(), rtol=1e-4, atol=1e-4)
    assert npm.encode(np.zeros((0, 28, 28, 1)))[0].shape == (0, 2)
    assert npm.decode(np.zeros((0, 2))).shape == (0, 28, 28, 1)


def test_elbo_terms_equal_tf_objectives_with_same_eps(real_images):
    model, npm = random_pair(2, seed=5)
    x = real_images[:16]
    eps = np.random.default_rng(6).standard_normal((16, 2)).astype(np.float32)
    tf_terms = objectives.elbo_terms(model, tf.constant(x), tf.constant(eps))
    np_terms = npm.elbo_terms(x, eps)
    for key in ("elbo", "logpx_z", "logpz", "logqz_x"):
        np.testing.assert_allclose(np_terms[key], getattr(tf_terms, key).numpy(), rtol=1e-4, atol=1e-3)
    mean, logvar = model.encode(x)
    np.testing.assert_allclose(np_terms["kl"], objectives.analytic_kl(mean, logvar).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np_terms["z"], (mean + tf.exp(0.5 * logvar) * eps).numpy(), **TOL)


def test_numpy_iwae_matches_tf_in_expectation(real_images):
    model, npm = random_pair(2, seed=7)
    x = real_images[:2]
    reps, k = 8, 20
    np_vals = np.stack([npm.iwae(x, k, rng=np.random.default_rng(r)) for r in range(reps)])
    tf.random.set_seed(0)
    tf_vals = reference.iwae_bound(model, tf.constant(np.tile(x, (reps, 1, 1, 1))), k).numpy().reshape(reps, 2)
    a, b = np_vals.mean(axis=1), tf_vals.mean(axis=1)
    se = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(reps)
    assert abs(a.mean() - b.mean()) < 4 * se + 0.05, (a.mean(), b.mean(), se)


def good_arrays(latent_dim: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.normal(0, 0.1, s).astype(np.float32) for k, s in expected_shapes(latent_dim).items()}


def test_rejects_weights_of_another_latent_dim():
    with pytest.raises(ValueError, match=r"enc_dense/kernel has shape \(2304, 6\), expected \(2304, 4\)"):
        NumpyCVAE(good_arrays(3), 2)


def test_rejects_missing_extra_and_nonfinite_arrays():
    arrays = good_arrays()
    del arrays["dec_deconv2/bias"]
    with pytest.raises(ValueError, match="missing array 'dec_deconv2/bias'"):
        NumpyCVAE(arrays, 2)
    with pytest.raises(ValueError, match=r"unexpected arrays \['extra/kernel'\]"):
        NumpyCVAE({**good_arrays(), "extra/kernel": np.zeros(3, np.float32)}, 2)
    for bad in (np.nan, np.inf):
        arrays = good_arrays()
        arrays["dec_logits/kernel"][0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match="dec_logits/kernel contains NaN or infinity"):
            NumpyCVAE(arrays, 2)
    assert NumpyCVAE(good_arrays(), 2).latent_dim == 2


def test_expected_shapes_match_the_keras_model():
    for d in (1, 2, 7):
        got = {k: v.shape for k, v in get_weight_arrays(build_model(d)).items()}
        assert got == expected_shapes(d)


def test_save_load_round_trip_leaves_no_temp_files(tmp_path):
    arrays = good_arrays()
    path = tmp_path / "weights.npz"
    save_weights_npz(arrays, path)
    save_weights_npz(arrays, path)  # replacing an existing file
    back = load_weights_npz(path)
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.npz"]
    NumpyCVAE(back, 2)


class _Trap:
    """Unpickling this creates a file: proof that a loader unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_files(tmp_path) -> dict[str, bytes]:
    good = io.BytesIO()
    np.savez(good, **good_arrays())
    good = good.getvalue()
    marker = tmp_path / "UNPICKLED"
    obj = np.empty(1, dtype=object)
    obj[0] = _Trap(marker)
    npz_obj = io.BytesIO()
    np.savez(npz_obj, **{"enc_conv1/kernel": obj})  # savez pickles object arrays
    npy_obj = io.BytesIO()
    np.save(npy_obj, obj, allow_pickle=True)
    # A valid npz whose entries are fine but one is an object array.
    mixed = io.BytesIO()
    np.savez(mixed, **{**good_arrays(), "dec_logits/bias": obj})
    return {
        "truncated": good[: len(good) // 2],
        "zero-length": b"",
        "random bytes": np.random.default_rng(0).bytes(5000),
        "npz with a pickled object array": npz_obj.getvalue(),
        "npz with one pickled entry": mixed.getvalue(),
        "npy with a pickled object array": npy_obj.getvalue(),
        "plain pickle": pickle.dumps(_Trap(marker)),
        "zip with a non-npy member": _zip_bytes({"enc_conv1/kernel": b"hello"}),
    }


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_load_weights_npz_refuses_bad_files_without_unpickling(tmp_path):
    files = _bad_files(tmp_path)
    for what, data in files.items():
        path = tmp_path / "weights.npz"
        path.write_bytes(data)
        with pytest.raises(ValueError) as e:
            load_weights_npz(path)
        assert "weights.npz" in str(e.value), (what, str(e.value))
        assert not (tmp_path / "UNPICKLED").exists(), f"{what}: the loader unpickled"
    # Sanity: the trap works, so the check above could fail.
    pickle.loads(files["plain pickle"])
    assert (tmp_path / "UNPICKLED").exists()


def test_load_weights_npz_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_weights_npz(tmp_path / "nope.npz")


def test_load_numpy_model_from_run_dir(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "config.json").write_text(TrainConfig(latent_dim=3).to_json())
    with pytest.raises(RunError, match="weights file not found"):
        load_numpy_model(run)
    save_weights_npz(good_arrays(3), run / "weights.npz")
    assert load_numpy_model(run).latent_dim == 3
    save_weights_npz(good_arrays(2), run / "weights.npz")  # weights of another latent_dim
    with pytest.raises(RunError, match="r1/weights.npz: .*enc_dense/kernel"):
        load_numpy_model(run)
    (run / "weights.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(RunError, match="not a readable weights file"):
        load_numpy_model(run)
    (run / "config.json").unlink()
    with pytest.raises(RunError, match="config.json is missing"):
        load_numpy_model(run)
