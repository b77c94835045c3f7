"""Tests for cvae.engine.objectives against tensorflow_probability, and the ELBO / IWAE bounds' statistics."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from cvae.engine import likelihoods, objectives
import reference
from cvae.data.sources import binarize, load_dataset
from reference import iwae_estimate
from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays

tfd = tfp.distributions
RTOL = 1e-4


@pytest.fixture(scope="module")
def images(mnist_dir) -> np.ndarray:
    """Eight real binarized MNIST test digits."""
    return binarize(load_dataset("mnist", mnist_dir).test_images[:8])


def wide_q_model(seed: int = 0):
    """A random CVAE whose q(z|x) is far too wide (sigma ~ 2.7), so the ELBO is clearly loose and IWAE has room."""
    model = build_model(2, seed=seed)
    arrays = get_weight_arrays(model)
    arrays["enc_dense/bias"] = np.array([0.3, -0.2, 2.0, 2.0], np.float32)  # mean, then logvar
    arrays["dec_logits/bias"] = np.full((1,), -1.0, np.float32)
    set_weight_arrays(model, arrays)
    return model


def assert_rel(a, b, rtol=RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max())) * 1e-2)


def test_terms_match_tfp_distributions_on_the_same_z(images):
    model = wide_q_model()
    x = tf.constant(images)
    eps = tf.constant(np.random.default_rng(0).standard_normal((len(images), 2)).astype(np.float32))
    terms = objectives.elbo_terms(model, x, eps)

    mean, logvar = model.encode(x)
    z = mean + tf.exp(0.5 * logvar) * eps
    logits = model.decode(z)
    px_z = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=3)
    pz = tfd.MultivariateNormalDiag(tf.zeros_like(z), tf.ones_like(z))
    qz_x = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * logvar))

    assert_rel(terms.logpx_z, px_z.log_prob(x))
    assert_rel(terms.logpz, pz.log_prob(z))
    assert_rel(terms.logqz_x, qz_x.log_prob(z))
    assert_rel(terms.elbo, px_z.log_prob(x) + pz.log_prob(z) - qz_x.log_prob(z))
    # The same with the module's standalone helpers on arbitrary inputs.
    rng = np.random.default_rng(1)
    m, lv = rng.normal(0, 2, (5, 3)).astype(np.float32), rng.normal(0, 1, (5, 3)).astype(np.float32)
    s = rng.normal(0, 2, (5, 3)).astype(np.float32)
    assert_rel(objectives.log_normal_pdf(s, m, lv), tfd.MultivariateNormalDiag(m, np.exp(0.5 * lv)).log_prob(s))
    lg = rng.normal(0, 5, (3, 28, 28, 1)).astype(np.float32)
    xb = (rng.random((3, 28, 28, 1)) > 0.5).astype(np.float32)
    assert_rel(likelihoods.bernoulli_log_likelihood(xb, lg),
               tfd.Independent(tfd.Bernoulli(logits=lg, dtype=tf.float32), 3).log_prob(xb))


def test_analytic_kl_matches_tfp():
    rng = np.random.default_rng(2)
    mean = rng.normal(0, 2, (6, 4)).astype(np.float32)
    logvar = rng.normal(0, 1.5, (6, 4)).astype(np.float32)
    q = tfd.MultivariateNormalDiag(mean, np.exp(0.5 * logvar))
    p = tfd.MultivariateNormalDiag(np.zeros(4, np.float32), np.ones(4, np.float32))
    assert_rel(objectives.analytic_kl(mean, logvar), tfd.kl_divergence(q, p))
    # KL(p || p) = 0
    np.testing.assert_allclose(objectives.analytic_kl(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32)),
                               [0.0], atol=1e-7)


def test_elbo_terms_are_per_example_and_sum_up(images):
    model = wide_q_model()
    terms = objectives.elbo_terms(model, images)
    for t in (terms.elbo, terms.logpx_z, terms.logpz, terms.logqz_x, terms.kl):
        assert t.shape == (len(images),) and t.dtype == tf.float32
    assert terms.mean.shape == terms.logvar.shape == (len(images), 2)  # q(z|x) itself, for per-dimension figures
    np.testing.assert_allclose(terms.kl, 0.5 * np.sum(np.exp(terms.logvar) + np.square(terms.mean) - 1.0
                                                      - terms.logvar, axis=1), rtol=1e-5)
    np.testing.assert_allclose(terms.elbo, terms.logpx_z + terms.logpz - terms.logqz_x, rtol=1e-6)
    # Per example: one image's ELBO does not depend on the others in the batch (same eps).
    eps = np.random.default_rng(3).standard_normal((len(images), 2)).astype(np.float32)
    full = objectives.elbo_terms(model, images, eps).elbo.numpy()
    alone = objectives.elbo_terms(model, images[2:3], eps[2:3]).elbo.numpy()
    np.testing.assert_allclose(alone, full[2:3], rtol=1e-5)
    elbo, recon, kl = reference.analytic_elbo_terms(model, images, eps)
    assert elbo.shape == recon.shape == kl.shape == (len(images),)
    np.testing.assert_allclose(elbo, recon - kl, rtol=1e-6)


def test_loss_is_negative_mean_elbo(images):
    model = wide_q_model()
    tf.random.set_seed(11)
    loss = reference.loss(model, images)
    tf.random.set_seed(11)  # the same eps draw
    elbo = objectives.elbo_terms(model, images).elbo
    assert loss.shape == ()
    np.testing.assert_allclose(loss.numpy(), -np.mean(elbo.numpy()), rtol=1e-6)


def test_mc_and_analytic_elbo_agree_in_expectation(images):
    model = wide_q_model()
    x = images[:4]
    draws = 200
    xs = np.repeat(x, draws, axis=0)
    eps = np.random.default_rng(4).standard_normal((len(xs), 2)).astype(np.float32)
    mc = objectives.elbo_terms(model, xs, eps).elbo.numpy().reshape(4, draws).astype(np.float64)
    an = reference.analytic_elbo_terms(model, xs, eps)[0].numpy().reshape(4, draws).astype(np.float64)
    diff = mc - an  # = log p(z) - log q(z|x) + KL: zero mean, not zero
    assert diff.std(axis=1).min() > 0.1
    se = diff.std(axis=1, ddof=1) / np.sqrt(draws)
    assert np.all(np.abs(diff.mean(axis=1)) < 4 * se + 1e-3), (diff.mean(axis=1), se)


def _per_rep_means(values: np.ndarray, reps: int) -> np.ndarray:
    """(reps * batch,) values of a tiled batch -> the batch mean of each repetition, (reps,)."""
    return np.asarray(values, np.float64).reshape(reps, -1).mean(axis=1)


def test_iwae_bound_statistics(images):
    model = wide_q_model()
    x = images[:4]
    tf.random.set_seed(5)
    # Repetitions as one tiled batch: each row of x appears `reps` times with independent noise.
    reps = {"elbo": 100, 1: 100, 10: 20, 100: 5}
    runs = {"elbo": objectives.elbo_terms(model, np.tile(x, (reps["elbo"], 1, 1, 1))).elbo.numpy()}
    for k in (1, 10, 100):
        runs[k] = reference.iwae_bound(model, tf.constant(np.tile(x, (reps[k], 1, 1, 1))), k).numpy()
        assert runs[k].shape == (reps[k] * len(x),) and np.isfinite(runs[k]).all()
    stats = {}
    for key, v in runs.items():
        m = _per_rep_means(v, reps[key])
        stats[key] = (m.mean(), m.std(ddof=1) / np.sqrt(len(m)))
    (m_e, s_e), (m1, s1), (m10, s10), (m100, s100) = (stats[k] for k in ("elbo", 1, 10, 100))
    # k = 1 is the single-sample ELBO: equal in expectation.
    assert abs(m1 - m_e) < 4 * np.hypot(s1, s_e), stats
    # More samples: a tighter bound, never a looser one (beyond Monte Carlo error).
    assert m10 > m_e - 3 * np.hypot(s10, s_e), stats
    assert m10 >= m1 - 3 * np.hypot(s10, s1), stats
    assert m100 >= m10 - 3 * np.hypot(s100, s10), stats
    # This q is deliberately poor, so the gain is real, not noise: well beyond the error bars.
    assert m100 - m_e > 5 * np.hypot(s100, s_e), stats
    assert m10 - m_e > 3 * np.hypot(s10, s_e), stats
    # Tighter on average for every single example too.
    per_example = {k: np.asarray(v, np.float64).reshape(reps[k], -1).mean(axis=0) for k, v in runs.items()}
    assert np.all(per_example[100] > per_example["elbo"]), per_example


def test_iwae_chunks_and_estimate(images):
    model = wide_q_model()
    x = images[:3]
    tf.random.set_seed(0)
    reps = 6
    xs = tf.constant(np.tile(x, (reps, 1, 1, 1)))
    # k = 30 in chunks of 100 (one), of 7 (4 full + a partial one of 2) and of 1: the same quantity.
    means = {}
    for chunk in (100, 7, 1):
        v = reference.iwae_bound(model, xs, 30, chunk=chunk).numpy()
        assert v.shape == (reps * 3,) and np.isfinite(v).all()
        m = _per_rep_means(v, reps)
        means[chunk] = (m.mean(), m.std(ddof=1) / np.sqrt(reps))
    for chunk in (7, 1):
        assert abs(means[chunk][0] - means[100][0]) < 4 * np.hypot(means[chunk][1], means[100][1]) + 0.05, means
    for bad in ({"k": 0}, {"k": -1}, {"k": 5, "chunk": 0}):
        with pytest.raises(ValueError, match="iwae: k and chunk must be >= 1"):
            reference.iwae_bound(model, tf.constant(x), **bad)
    # iwae_estimate: the mean over images, reproducible for one seed, whatever the batch size.
    e1 = iwae_estimate(model, x, 20, seed=3)
    e2 = iwae_estimate(model, x, 20, seed=3)
    assert e1 == e2
    # Its noise: numpy's default_rng(seed), (k, images, d) per batch of images (here one batch).
    eps = np.random.default_rng(3).standard_normal((20, len(x), 2), np.float32)
    direct = reference.iwae_bound(model, tf.constant(x), 20, eps=tf.constant(eps)).numpy().mean()
    np.testing.assert_allclose(e1, direct, rtol=1e-5)
    e3 = iwae_estimate(model, x, 20, batch_size=1, seed=3)
    assert e3 != e1 and abs(e3 - e1) < 2.0  # other noise, same quantity
