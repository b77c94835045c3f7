"""Reference implementations that only the tests use: each checks a product function against a second route."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from cvae.engine.evaluate import DEFAULT_CHUNK, iwae_per_example
from cvae.engine.likelihoods import bernoulli_log_likelihood
from cvae.engine.objectives import elbo_terms, log_normal_pdf
from cvae.explorer.maths.latent import _check_range


def normal_quantiles_tfp(n: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """The manifold's quantiles via tfp.distributions.Normal, as the tutorial computes them."""
    _check_range(n, low, high)
    import tensorflow_probability as tfp

    return tfp.distributions.Normal(0.0, 1.0).quantile(np.linspace(low, high, n, dtype=np.float32)).numpy()


def analytic_elbo_terms(model, x, eps=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(elbo with closed-form KL, one-sample reconstruction, KL), per example."""
    t = elbo_terms(model, x, eps)
    return t.logpx_z - t.kl, t.logpx_z, t.kl


def loss(model, x):
    """Negative mean single-sample ELBO over the batch: the tutorial's compute_loss."""
    return -tf.reduce_mean(elbo_terms(model, x).elbo)


def iwae_bound(model, x, k: int, chunk: int = 100, eps=None):
    """Importance-weighted log p(x) estimate (Burda et al. 2016) written out in plain TensorFlow, per example.

    eps: optional standard-normal noise of shape (k, batch, latent_dim); fresh draws when None.
    """
    if k < 1 or chunk < 1:
        raise ValueError(f"iwae: k and chunk must be >= 1, got k={k}, chunk={chunk}")
    mean, logvar = model.encode(x)
    batch = tf.shape(mean)[0]
    parts = []
    done = 0
    while done < k:
        n = min(chunk, k - done)
        e = tf.random.normal((n, batch, mean.shape[-1])) if eps is None else eps[done:done + n]
        z = mean[None] + tf.exp(0.5 * logvar)[None] * e  # (n, batch, d)
        logits = model.decode(tf.reshape(z, (-1, mean.shape[-1])))
        xs = tf.reshape(tf.repeat(x[None], n, axis=0), (-1, *x.shape[1:]))
        logpx_z = tf.reshape(bernoulli_log_likelihood(xs, logits), (n, batch))
        parts.append(logpx_z + log_normal_pdf(z, 0.0, 0.0, raxis=2) - log_normal_pdf(z, mean[None], logvar[None], raxis=2))
        done += n
    logw = tf.concat(parts, axis=0)
    return tf.reduce_logsumexp(logw, axis=0) - tf.math.log(tf.cast(k, tf.float32))


def iwae_estimate(model, images: np.ndarray, k: int, batch_size: int | None = None, seed: int = 0,
                  chunk: int = DEFAULT_CHUNK) -> float:
    """Mean k-sample importance-weighted bound on log p(x) over images."""
    return float(iwae_per_example(model, images, k, batch_size, seed, chunk).mean())


def log_marginal_uniform_grid(model, x: np.ndarray, centre: np.ndarray, inner: float = 0.75, h: float = 0.0075,
                              outer: float = 5.0, outer_h: float = 0.05, block: int = 4096) -> float:
    """log p(x) = log ∫ p(x|z) p(z) dz for a 2-D Keras CVAE by a fixed, non-adaptive rule: a uniform grid of spacing h
    over centre ± inner, plus a coarse uniform grid (spacing outer_h) over the rest of [-outer, outer]². The
    densities are tfp.distributions objects; nothing is shared with cvae.explorer.maths.posterior."""
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    prior = tfd.MultivariateNormalDiag(loc=tf.zeros(2), scale_diag=tf.ones(2))

    def log_f(z: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(z), block):
            zz = tf.constant(z[i:i + block], tf.float32)
            logits = model.decode(zz)
            px = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), 3)
            out.append((px.log_prob(tf.repeat(tf.constant(x, tf.float32), len(zz), axis=0)) + prior.log_prob(zz))
                       .numpy().astype(np.float64))
        return np.concatenate(out)

    def uniform(lo, hi, step):
        t = [np.arange(lo[j], hi[j] + step / 2, step) for j in range(2)]
        u, v = np.meshgrid(*t, indexing="ij")
        return np.stack([u.ravel(), v.ravel()], axis=1)

    centre = np.asarray(centre, np.float64)
    z_in = uniform(centre - inner, centre + inner, h)
    z_out = uniform(np.full(2, -outer), np.full(2, outer), outer_h)
    z_out = z_out[np.any(np.abs(z_out - centre) > inner + outer_h / 2, axis=1)]
    terms = np.concatenate([log_f(z_in) + np.log(h * h), log_f(z_out) + np.log(outer_h * outer_h)])
    m = terms.max()
    return float(m + np.log(np.exp(terms - m).sum()))
