"""The discretized logistic likelihood for 8-bit pixels (issue #14): a proper distribution over the 256 values of a
sub-pixel, equal to TFP's quantized logistic, the NumPy copy equal to TensorFlow, and the ELBO a bound on log p(x)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from cvae.engine import likelihoods
from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays
from cvae.engine.objectives import elbo_terms
from cvae.data import likelihoods as likelihood_np  # the registry's NumPy maths
from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.store.arch import Architecture
from cvae.store.config import TrainConfig
from cvae.store.errors import ConfigError

tfd = tfp.distributions
K = np.arange(256)
# Means inside and outside [0, 1], scales from the floor (e^-7, narrower than a bin) to wider than the range.
GRID = [(m, ls) for m in (-0.3, 0.0, 0.2, 0.5013, 0.9, 1.0, 1.4) for ls in (-7.0, -5.5, -3.0, -1.0, 0.0, 1.5)]


def _values_and_params():
    x = np.tile(K / 255.0, (len(GRID), 1))  # (params, 256)
    mean = np.array([[m] for m, _ in GRID]) * np.ones_like(x)
    log_scale = np.array([[ls] for _, ls in GRID]) * np.ones_like(x)
    return x, mean, log_scale


def test_probabilities_of_the_256_values_sum_to_one():
    x, mean, log_scale = _values_and_params()
    p_np = np.exp(likelihood_np.discretized_logistic_log_prob(x, mean, log_scale)).sum(axis=1)
    np.testing.assert_allclose(p_np, 1.0, atol=1e-5)
    lp_tf = likelihoods.discretized_logistic_log_prob(*(tf.constant(a, tf.float32) for a in (x, mean, log_scale)))
    np.testing.assert_allclose(np.exp(lp_tf.numpy().astype(np.float64)).sum(axis=1), 1.0, atol=1e-5)


def test_equals_tfp_quantized_logistic():
    """P(k) = P(k - 1 < X <= k) for X ~ Logistic(255 m - 1/2, 255 s) on {0..255}, edges to +-inf: TFP's definition."""
    x, mean, log_scale = _values_and_params()
    ref = tfd.QuantizedDistribution(tfd.Logistic(loc=255.0 * mean - 0.5, scale=255.0 * np.exp(log_scale)),
                                    low=0.0, high=255.0).log_prob(255.0 * x).numpy()
    ours = likelihood_np.discretized_logistic_log_prob(x, mean, log_scale)
    ours_tf = likelihoods.discretized_logistic_log_prob(
        *(tf.constant(a, tf.float32) for a in (x, mean, log_scale))).numpy()
    # Compare probabilities (TFP's float64 log of tiny differences is exact only where they are not negligible).
    np.testing.assert_allclose(np.exp(ours), np.exp(ref), atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(np.exp(ours_tf), np.exp(ref), atol=1e-6, rtol=1e-4)
    sure = ref > -30
    np.testing.assert_allclose(ours[sure], ref[sure], atol=1e-4, rtol=1e-5)
    assert np.isfinite(ours).all() and np.isfinite(ours_tf).all()  # no log(0) even 1,000 bins away from the mean


def test_numpy_equals_tensorflow_on_images():
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (4, 8, 8, 3)) / 255.0).astype(np.float32)
    params = rng.normal(0, 1, (4, 8, 8, 6)).astype(np.float32)
    params[..., :3] = rng.uniform(-0.2, 1.2, (4, 8, 8, 3))
    np.testing.assert_allclose(likelihood_np.likelihood("discretized_logistic").log_likelihood(x, params),
                               likelihoods.log_likelihood("discretized_logistic", x, params).numpy(), rtol=1e-5)
    np.testing.assert_allclose(likelihood_np.likelihood("discretized_logistic").mean_image(params),
                               likelihoods.mean_image("discretized_logistic", params).numpy(), atol=1e-7)
    bx = (x > 0.5).astype(np.float32)
    np.testing.assert_allclose(likelihood_np.likelihood("bernoulli").log_likelihood(bx, params[..., :3]),
                               likelihoods.log_likelihood("bernoulli", bx, params[..., :3]).numpy(), rtol=1e-5)


def test_samples_are_8_bit_and_follow_the_distribution():
    rng = np.random.default_rng(1)
    params = np.zeros((20_000, 1, 1, 2), np.float32)
    params[..., 0], params[..., 1] = 0.4, np.log(0.05)
    s = likelihood_np.likelihood("discretized_logistic").sample(params, rng).ravel()
    assert np.allclose(s * 255, np.rint(s * 255)) and s.min() >= 0 and s.max() <= 1
    freq = np.bincount(np.rint(s * 255).astype(int), minlength=256) / len(s)
    p = np.exp(likelihood_np.discretized_logistic_log_prob(K / 255.0, 0.4, np.log(0.05)))
    # Kolmogorov-Smirnov distance of the empirical CDF; the 1% critical value for 20,000 draws is 1.63/141 = 0.0115.
    assert np.abs(np.cumsum(freq) - np.cumsum(p)).max() < 0.0115


def test_keras_and_numpy_elbo_agree_and_the_elbo_bounds_log_p_x():
    arch = Architecture(size=32, channels=3, filters1=8, filters2=8, likelihood="discretized_logistic")
    model = build_model(2, seed=0, arch=arch)
    rng = np.random.default_rng(0)
    arrays = {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in get_weight_arrays(model).items()}
    set_weight_arrays(model, arrays)
    npm = NumpyCVAE(arrays, 2, arch)
    x = (rng.integers(0, 256, (6, 32, 32, 3)) / 255.0).astype(np.float32)
    eps = rng.standard_normal((6, 2)).astype(np.float32)
    tf_terms = elbo_terms(model, tf.constant(x), tf.constant(eps))
    np_terms = npm.elbo_terms(x, eps)
    np.testing.assert_allclose(np_terms["logpx_z"], tf_terms.logpx_z.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np_terms["elbo"], tf_terms.elbo.numpy(), rtol=1e-5)
    # A discrete likelihood: every log P(x|z) is <= 0 (unlike a density), so the bound is on log P(x) of the bytes.
    assert (tf_terms.logpx_z.numpy() < 0).all()


def test_config_combination_is_validated():
    assert TrainConfig(dataset="cifar10", likelihood="discretized_logistic").likelihood == "discretized_logistic"
    assert TrainConfig().likelihood == "bernoulli"  # MNIST keeps the tutorial's Bernoulli
    with pytest.raises(ConfigError) as e:
        TrainConfig(likelihood="discretized_logistic", binarization="dynamic")
    assert e.value.field == "binarization" and "discretized_logistic" in str(e.value)
    with pytest.raises(ConfigError):
        TrainConfig(likelihood="gaussian")
