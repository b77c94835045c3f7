"""Conv widths as config (issue #14): the Keras model, decode_fast, the NumPy copy and weights files follow them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays
from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.store.arch import Architecture, architecture_of
from cvae.store.config import FIELD_SPECS, TrainConfig
from cvae.store.errors import ConfigError
from cvae.store.weights import expected_shapes

ARCHS = [Architecture(filters1=8, filters2=24), Architecture(filters1=48, filters2=16),
         Architecture(size=32, channels=3, filters1=16, filters2=8),
         Architecture(size=32, channels=3, filters1=8, filters2=16, likelihood="discretized_logistic")]


def random_pair(arch: Architecture, latent_dim: int = 2, seed: int = 0):
    """A Keras CVAE and a NumpyCVAE of one architecture sharing random weights (biases non-zero)."""
    model = build_model(latent_dim, seed=seed, arch=arch)
    rng = np.random.default_rng(seed)
    arrays = {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32) for k, v in get_weight_arrays(model).items()}
    set_weight_arrays(model, arrays)
    return model, NumpyCVAE(arrays, latent_dim, arch)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.size}x{a.channels}-{a.filters1}-{a.filters2}"
                                                      f"-p{a.params_per_subpixel}")
def test_numpy_and_decode_fast_equal_keras_for_other_widths(arch):
    model, npm = random_pair(arch, latent_dim=3)
    assert {k: v.shape for k, v in get_weight_arrays(model).items()} == expected_shapes(3, arch)
    rng = np.random.default_rng(1)
    x = rng.random((5, *arch.image_shape)).astype(np.float32)
    mean, logvar = model.encode(x)
    n_mean, n_logvar = npm.encode(x)
    np.testing.assert_allclose(n_mean, mean.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(n_logvar, logvar.numpy(), rtol=1e-5, atol=1e-5)
    z = rng.normal(0, 2, (7, 3)).astype(np.float32)
    logits = model.decode(z).numpy()
    assert logits.shape == (7, arch.size, arch.size, arch.out_channels)
    assert np.abs(logits).max() > 0.5  # a non-trivial comparison
    np.testing.assert_allclose(npm.decode(z), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.decode_fast(z).numpy(), logits, rtol=1e-5, atol=1e-5)


def test_default_architecture_keeps_the_tutorial_weight_names_and_shapes():
    a = architecture_of(TrainConfig())
    assert a == Architecture() and a.image_shape == (28, 28, 1) and (a.enc_size, a.dec_size) == (6, 7)
    shapes = expected_shapes(2)
    assert shapes["enc_conv1/kernel"] == (3, 3, 1, 32) and shapes["enc_dense/kernel"] == (6 * 6 * 64, 4)
    assert shapes["dec_dense/kernel"] == (2, 7 * 7 * 32) and shapes["dec_logits/kernel"] == (3, 3, 1, 32)


def test_a_wide_config_describes_its_widths_and_is_validated():
    c = TrainConfig(filters1=128, filters2=512)
    again = TrainConfig.from_json(c.to_json())
    assert json.loads(c.to_json())["filters1"] == 128 and architecture_of(again).filters2 == 512
    # An older config.json without the fields is the tutorial's network.
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("filters1", "filters2")}
    assert architecture_of(TrainConfig.from_dict(old)) == Architecture()
    for bad in (0, 513, 1.5, True, "64"):
        with pytest.raises(ConfigError) as e:
            TrainConfig(filters2=bad)
        assert e.value.field == "filters2"
    assert FIELD_SPECS["filters1"].high == 512


def test_numpy_model_refuses_weights_of_other_widths():
    arrays = {k: np.zeros(s, np.float32) for k, s in expected_shapes(2, Architecture(filters1=16)).items()}
    with pytest.raises(ValueError, match="filters 32/64"):
        NumpyCVAE(arrays, 2)
    assert NumpyCVAE(arrays, 2, Architecture(filters1=16)).arch.filters1 == 16


@pytest.mark.slow
def test_a_128_filter_run_end_to_end(root, mnist_dir):
    """CLI train (128/128 filters, 256 digits) -> eval -> every page in AppTest decodes it with the NumPy copy."""
    from test_app import PAGES, app_test, no_exceptions
    from test_cli import cli

    from cvae.explorer.maths.numpy_model import load_numpy_model
    from cvae.store import runs
    from cvae.store.files import read_jsonl

    r = cli("train", "--name", "wide", "--runs-dir", str(root), "--data-dir", str(mnist_dir),
            "--filters1", "128", "--filters2", "128", "--max-train-examples", "256", "--max-test-examples", "64",
            "--epochs", "2", "--learning-rate", "1e-3", "--log-every-steps", "4")
    assert r.returncode == 0, r.stderr
    run = root / "wide"
    config = json.loads((run / runs.CONFIG_FILE).read_text())
    assert (config["filters1"], config["filters2"]) == (128, 128)
    elbos = [row["test_elbo"] for row in runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))]
    assert len(elbos) == 2 and elbos[1] > elbos[0]  # it learns
    npm = load_numpy_model(run)
    assert npm.w["enc_conv2/kernel"].shape == (3, 3, 128, 128) and npm.w["dec_logits/kernel"].shape == (3, 3, 1, 128)
    r = cli("eval", "wide", "--runs-dir", str(root), "--max-test-examples", "64", "--iwae-k", "4")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["test_elbo"] == pytest.approx(elbos[-1], rel=1e-5)
    assert -450 < result["test_elbo"] < -100 and result["test_elbo"] - 2 < result["iwae_4"] < 0
    at = app_test()
    at.session_state["cvae_selected_run"] = "wide"
    at.run()
    no_exceptions(at)
    for page in (*PAGES, "app_pages/6_Interpolate.py"):
        at.switch_page(page).run()
        no_exceptions(at)
        assert not at.error, (page, [e.value for e in at.error])
