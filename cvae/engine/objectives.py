"""The ELBO (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"), per example: one estimator for training
and evaluation."""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf

from .likelihoods import log_likelihood

LOG_2PI = math.log(2.0 * math.pi)


class ElboTerms(NamedTuple):
    """Per-example terms of the single-sample Monte Carlo ELBO, float32, shape (batch,) (mean, logvar: (batch, d))."""

    elbo: tf.Tensor
    logpx_z: tf.Tensor
    logpz: tf.Tensor
    logqz_x: tf.Tensor
    kl: tf.Tensor  # KL(q(z|x) || p(z)) in closed form: the test-set figures report it
    mean: tf.Tensor  # q(z|x)'s mean and log-variance, (batch, latent_dim): per-dimension diagnostics
    logvar: tf.Tensor


def log_normal_pdf(sample, mean, logvar, raxis: int = 1):
    """log N(sample; mean, exp(logvar)) summed over raxis (diagonal Gaussian)."""
    return tf.reduce_sum(-0.5 * ((sample - mean) ** 2.0 * tf.exp(-logvar) + logvar + LOG_2PI), axis=raxis)


def analytic_kl(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, in closed form."""
    return 0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mean) - 1.0 - logvar, axis=1)


def elbo_terms(model, x, eps=None, decode=None) -> ElboTerms:
    """log p(x|z) + log p(z) - log q(z|x) with z = mu + sigma*eps (the tutorial's estimator), per example, and
    the closed-form KL beside it. decode: the decoder to use (default model.decode; evaluation passes the
    inference-only model.decode_fast)."""
    mean, logvar = model.encode(x)
    z = model.reparameterize(mean, logvar, eps)
    logpx_z = log_likelihood(model.arch.likelihood, x, (decode or model.decode)(z))
    logpz = log_normal_pdf(z, 0.0, 0.0)
    logqz_x = log_normal_pdf(z, mean, logvar)
    return ElboTerms(logpx_z + logpz - logqz_x, logpx_z, logpz, logqz_x, analytic_kl(mean, logvar), mean, logvar)


def beta_objective(terms: ElboTerms, beta: float = 1.0):
    """E[log p(x|z)] - beta * KL with the same single-sample KL estimate (log q(z|x) - log p(z)) as the ELBO
    (Higgins et al. 2017, beta-VAE), per example. No special case for beta = 1: multiplying by 1.0 is exact and
    the sum runs in the ELBO's order, so it is bit for bit terms.elbo, gradients included (tests/test_objectives.py)."""
    return terms.logpx_z + beta * terms.logpz - beta * terms.logqz_x


def training_objective(terms: ElboTerms, beta: float = 1.0, kl_estimate: str = "sample"):
    """What a training step maximizes, per example: beta_objective with the tutorial's sampled KL, or E[log p(x|z)]
    - beta * KL with the KL in closed form (the same expectation; its gradient has no noise from the KL's sample)."""
    if kl_estimate == "closed_form":
        return terms.logpx_z - beta * terms.kl
    return beta_objective(terms, beta)
