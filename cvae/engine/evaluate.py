"""Held-out log-likelihood beyond the ELBO: the importance-weighted estimate of log p(x), and a run's log of it.

The IWAE estimate (Burda, Grosse & Salakhutdinov 2016) with k samples z_i ~ q(z|x):

    log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)

k = 1 is the single-sample ELBO; the bound tightens (never loosens, in expectation) as k grows and tends
to log p(x). The densities are tfp.distributions objects; the computation is one compiled function
(tf.function with an input signature, so it is traced once for any batch and chunk size), fed chunks of
samples so that memory stays at `decodes_per_call` decoder passes however large k and the test set are.

Also the test-set ELBO of every epoch (make_eval_fn, evaluate_elbo): the mean over every test image on fixed noise.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from ..store.metrics import ACTIVE_THRESHOLD
from .likelihoods import log_likelihood
from .objectives import elbo_terms

EVAL_SEED = 20_240_501  # fixed eps for the test-set ELBO, so epochs are compared on the same noise
DECODES_PER_CALL = 2000  # images x samples decoded per compiled call (~0.5 GB of activations at most)
DEFAULT_CHUNK = 100  # samples per image per call


def make_iwae_logw_fn(model):
    """A compiled fn(x (b,H,W,C), eps (c,b,d)) -> log importance weights (c,b) for z = mu + sigma*eps.

    log w = log p(x|z) + log p(z) - log q(z|x) with p(x|z) = Independent(Bernoulli(logits), 3) (or the discretized
    logistic of cvae.engine.likelihoods),
    p(z) = MultivariateNormalDiag(0, I) and q(z|x) = MultivariateNormalDiag(mu, sigma).
    """
    tfd = tfp.distributions
    d = int(model.latent_dim)

    shape = list(model.arch.image_shape)
    likelihood = model.arch.likelihood

    @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32),
                                  tf.TensorSpec([None, None, d], tf.float32)])
    def logw_fn(x, eps):
        mean, logvar = model.encode(x)
        scale = tf.exp(0.5 * logvar)
        z = mean[None] + scale[None] * eps  # (c, b, d)
        params = model.decode_fast(tf.reshape(z, [-1, d]))  # (c*b, H, W, out_channels)
        pz = tfd.MultivariateNormalDiag(loc=tf.zeros([d]), scale_diag=tf.ones([d]))
        qz_x = tfd.MultivariateNormalDiag(loc=mean, scale_diag=scale)  # batch shape (b,)
        # The registry's likelihood (tests check Bernoulli against tfd.Bernoulli, the discretized logistic against
        # tfd.QuantizedDistribution(tfd.Logistic)), the images repeated for every sample.
        x_rep = tf.reshape(tf.tile(x[None], [tf.shape(eps)[0], 1, 1, 1, 1]), tf.concat([[-1], shape], axis=0))
        logpx_z = tf.reshape(log_likelihood(likelihood, x_rep, params), tf.shape(eps)[:2])
        return logpx_z + pz.log_prob(z) - qz_x.log_prob(z)

    return logw_fn


def _logmeanexp(logw: np.ndarray, axis: int = 0) -> np.ndarray:
    logw = np.asarray(logw, np.float64)
    m = np.max(logw, axis=axis, keepdims=True)
    return (m + np.log(np.mean(np.exp(logw - m), axis=axis, keepdims=True))).squeeze(axis)


def plan(k: int, chunk: int = DEFAULT_CHUNK, decodes_per_call: int = DECODES_PER_CALL) -> tuple[int, int]:
    """(images per batch, samples per call) so that one call decodes about `decodes_per_call` codes."""
    if not (isinstance(k, (int, np.integer)) and k >= 1) or chunk < 1 or decodes_per_call < 1:
        raise ValueError(f"iwae: k and chunk must be >= 1, got k={k}, chunk={chunk}")
    c = min(int(k), int(chunk))
    return max(1, decodes_per_call // c), c


def iwae_per_example(model, images: np.ndarray, k: int, batch_size: int | None = None, seed: int = 0,
                     chunk: int = DEFAULT_CHUNK, eps: np.ndarray | None = None, logw_fn=None,
                     progress=None) -> np.ndarray:
    """The k-sample IWAE estimate of log p(x) for every image, float64, shape (N,).

    eps: optional standard-normal noise (k, N, d) to use instead of fresh draws (tests pass the same eps to
    objectives.iwae_bound). Otherwise the noise comes from numpy's default_rng(seed), drawn batch by batch.
    progress: optional callable(done_images, total_images).
    """
    x_all = np.asarray(images, np.float32).reshape(-1, *model.arch.image_shape)
    per_batch, c = plan(k, chunk)
    batch_size = int(batch_size or per_batch)
    d = int(model.latent_dim)
    if eps is not None:
        eps = np.asarray(eps, np.float32)
        if eps.shape != (k, len(x_all), d):
            raise ValueError(f"iwae: eps has shape {eps.shape}, expected {(k, len(x_all), d)}")
    logw_fn = logw_fn or make_iwae_logw_fn(model)
    rng = np.random.default_rng(seed)
    out = np.empty(len(x_all), np.float64)
    for i in range(0, len(x_all), batch_size):
        x = x_all[i:i + batch_size]
        parts = []
        for j in range(0, k, c):
            n = min(c, k - j)
            e = eps[j:j + n, i:i + len(x)] if eps is not None else rng.standard_normal((n, len(x), d), np.float32)
            parts.append(logw_fn(x, e).numpy())
        out[i:i + len(x)] = _logmeanexp(np.concatenate(parts, axis=0), axis=0)
        if progress is not None:
            progress(i + len(x), len(x_all))
    return out


def make_eval_fn(model):
    """Compiled per-example (elbo, log p(x|z), closed-form KL, closed-form KL per dimension, μ of q(z|x)) for given
    eps; no retracing for any batch size."""

    @tf.function(input_signature=[tf.TensorSpec([None, *model.arch.image_shape], tf.float32),
                                  tf.TensorSpec([None, model.latent_dim], tf.float32)])
    def eval_fn(x, eps):
        terms = elbo_terms(model, x, eps, decode=model.decode_fast)
        kl_dims = 0.5 * (tf.exp(terms.logvar) + tf.square(terms.mean) - 1.0 - terms.logvar)
        return terms.elbo, terms.logpx_z, terms.kl, kl_dims, terms.mean

    return eval_fn


def eval_noise(n: int, latent_dim: int) -> np.ndarray:
    """The fixed eps used for test-set evaluation."""
    return np.random.default_rng(EVAL_SEED).standard_normal((n, latent_dim)).astype(np.float32)


def evaluate_elbo(eval_fn, test: np.ndarray, batch_size: int = 1000, eps: np.ndarray | None = None,
                  beta: float | None = None) -> dict[str, float]:
    """Test-set ELBO: the mean over every test image, each weighted equally (not a mean of batch means).
    With beta: also the training objective log p(x|z) - beta * (log q(z|x) - log p(z)) on the same noise."""
    if eps is None:
        eps = eval_noise(len(test), int(eval_fn.input_signature[1].shape[-1]))
    parts = [eval_fn(test[i:i + batch_size], eps[i:i + batch_size]) for i in range(0, len(test), batch_size)]
    elbo, logpx_z, kl, kl_dims, mean = (np.concatenate([p[j].numpy() for p in parts]).astype(np.float64)
                                        for j in range(5))
    # Per dimension (Burda et al. 2015 activity: Var over x of E_q[z_i]); what the Diagnostics page plots per epoch.
    activity = mean.var(axis=0)
    return {"test_elbo": float(elbo.mean()), "test_logpx_z": float(logpx_z.mean()), "test_kl": float(kl.mean()),
            "test_elbo_analytic": float((logpx_z - kl).mean()), "test_examples": int(len(test)),
            "test_kl_per_dim": [round(float(v), 6) for v in kl_dims.mean(axis=0)],
            "test_activity": [round(float(v), 6) for v in activity],
            "test_active_units": int((activity > ACTIVE_THRESHOLD).sum()),
            **({} if beta is None else {"beta": float(beta),
                                        "test_objective": float((logpx_z - beta * (logpx_z - elbo)).mean())})}


def make_log_joint_fn(model):
    """A compiled fn(x (1,H,W,C), z (M,d)) -> log p(x|z) + log p(z) (M,), with tfp densities: the integrand of
    log p(x) = log ∫ p(x|z) p(z) dz that `python -m cvae eval --exact` integrates (cvae.explorer.maths.posterior)."""
    tfd = tfp.distributions
    d = int(model.latent_dim)
    shape = list(model.arch.image_shape)
    likelihood = model.arch.likelihood

    @tf.function(input_signature=[tf.TensorSpec([1, *shape], tf.float32), tf.TensorSpec([None, d], tf.float32)])
    def log_joint_fn(x, z):
        params = model.decode_fast(z)
        x_rep = tf.repeat(x, tf.shape(z)[0], axis=0)
        logpx_z = log_likelihood(likelihood, x_rep, params)
        pz = tfd.MultivariateNormalDiag(loc=tf.zeros([d]), scale_diag=tf.ones([d]))
        return logpx_z + pz.log_prob(z)

    return log_joint_fn
