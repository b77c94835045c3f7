"""The ELBO (Kingma & Welling 2014, "Auto-Encoding Variational Bayes") and the IWAE bound, per example."""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

LOG_2PI = math.log(2.0 * math.pi)


class ElboTerms(NamedTuple):
    """Per-example terms of the single-sample Monte Carlo ELBO, float32, shape (batch,)."""

    elbo: tf.Tensor
    logpx_z: tf.Tensor
    logpz: tf.Tensor
    logqz_x: tf.Tensor


def log_normal_pdf(sample, mean, logvar, raxis: int = 1):
    """log N(sample; mean, exp(logvar)) summed over raxis (diagonal Gaussian)."""
    return tf.reduce_sum(-0.5 * ((sample - mean) ** 2.0 * tf.exp(-logvar) + logvar + LOG_2PI), axis=raxis)


def bernoulli_log_likelihood(x, logits):
    """log p(x|z) for Bernoulli pixels given logits, summed over the image."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3])


def elbo_terms(model, x, eps=None) -> ElboTerms:
    """log p(x|z) + log p(z) - log q(z|x) with z = mu + sigma*eps (the tutorial's estimator), per example."""
    mean, logvar = model.encode(x)
    z = model.reparameterize(mean, logvar, eps)
    logpx_z = bernoulli_log_likelihood(x, model.decode(z))
    logpz = log_normal_pdf(z, 0.0, 0.0)
    logqz_x = log_normal_pdf(z, mean, logvar)
    return ElboTerms(logpx_z + logpz - logqz_x, logpx_z, logpz, logqz_x)


def analytic_kl(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, in closed form."""
    return 0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mean) - 1.0 - logvar, axis=1)


def analytic_elbo_terms(model, x, eps=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(elbo, reconstruction = E log p(x|z) one-sample, kl = KL(q||p) closed form), per example."""
    mean, logvar = model.encode(x)
    z = model.reparameterize(mean, logvar, eps)
    recon = bernoulli_log_likelihood(x, model.decode(z))
    kl = analytic_kl(mean, logvar)
    return recon - kl, recon, kl


def loss(model, x):
    """Negative mean single-sample ELBO over the batch: the tutorial's compute_loss."""
    return -tf.reduce_mean(elbo_terms(model, x).elbo)


def iwae_bound(model, x, k: int, chunk: int = 100, eps=None):
    """Importance-weighted log p(x) estimate (Burda, Grosse & Salakhutdinov 2016) with k samples, per example.

    eps: optional standard-normal noise of shape (k, batch, latent_dim); fresh draws when None.
    """
    if k < 1 or chunk < 1:
        raise ValueError(f"iwae: k and chunk must be >= 1, got k={k}, chunk={chunk}")
    mean, logvar = model.encode(x)
    batch = tf.shape(mean)[0]
    parts = []
    # Chunks of samples keep memory at batch*chunk decodes however large k is.
    done = 0
    while done < k:
        n = min(chunk, k - done)
        e = tf.random.normal((n, batch, mean.shape[-1])) if eps is None else eps[done:done + n]
        z = mean[None] + tf.exp(0.5 * logvar)[None] * e  # (n, batch, d)
        flat = tf.reshape(z, (-1, mean.shape[-1]))
        logits = model.decode(flat)
        xs = tf.repeat(x[None], n, axis=0)
        xs = tf.reshape(xs, (-1, *x.shape[1:]))
        logpx_z = tf.reshape(bernoulli_log_likelihood(xs, logits), (n, batch))
        logw = logpx_z + log_normal_pdf(z, 0.0, 0.0, raxis=2) - log_normal_pdf(z, mean[None], logvar[None], raxis=2)
        parts.append(logw)
        done += n
    logw = tf.concat(parts, axis=0)
    return tf.reduce_logsumexp(logw, axis=0) - tf.math.log(tf.cast(k, tf.float32))
