"""p(x|z) in NumPy, the same maths as cvae/engine/likelihoods.py (tests/test_likelihood.py checks them equal)."""

from __future__ import annotations

import numpy as np

from ..store.arch import HALF_BIN, LOG_SCALE_MIN


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def bernoulli_log_likelihood(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """log p(x|z) summed over each image: x*l - softplus(l), stable for large |l|."""
    ll = x * logits - _softplus(logits)
    return ll.reshape(len(ll), -1).sum(axis=1)


def split_params(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decoder output (..., 2C) -> mean and log-scale (floored at LOG_SCALE_MIN)."""
    c = params.shape[-1] // 2
    return params[..., :c], np.maximum(params[..., c:], LOG_SCALE_MIN)


def discretized_logistic_log_prob(x: np.ndarray, mean: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """log P(x) per sub-pixel for x = k/255; edge bins reach to -inf (k = 0) and +inf (k = 255)."""
    inv_s = np.exp(-log_scale)
    a = inv_s * (x - mean + HALF_BIN)
    b = inv_s * (x - mean - HALF_BIN)
    with np.errstate(divide="ignore"):
        mid = a + np.log(-np.expm1(b - a)) - _softplus(a) - _softplus(b)
    return np.where(x < HALF_BIN, -_softplus(-a), np.where(x > 1.0 - HALF_BIN, -_softplus(b), mid))


def log_likelihood(likelihood: str, x: np.ndarray, params: np.ndarray) -> np.ndarray:
    """log p(x|z) per image for the named likelihood."""
    if likelihood == "discretized_logistic":
        ll = discretized_logistic_log_prob(x, *split_params(params))
        return ll.reshape(len(ll), -1).sum(axis=1)
    return bernoulli_log_likelihood(x, params)


def mean_image(likelihood: str, params: np.ndarray) -> np.ndarray:
    """The decoded image in [0, 1]: Bernoulli probabilities, or the logistic's mean clipped to [0, 1]."""
    if likelihood == "discretized_logistic":
        return np.clip(split_params(params)[0], 0.0, 1.0).astype(np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * params))).astype(np.float32)


def sample_image(likelihood: str, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from p(x|z) in [0, 1]: binary pixels, or 8-bit values k/255 (logistic draw rounded to its bin)."""
    if likelihood == "discretized_logistic":
        mean, log_scale = split_params(params)
        u = rng.uniform(1e-6, 1.0 - 1e-6, mean.shape)
        x = mean + np.exp(log_scale) * (np.log(u) - np.log1p(-u))
        return (np.clip(np.rint(x * 255.0), 0, 255) / 255.0).astype(np.float32)
    return (rng.random(params.shape) < mean_image(likelihood, params)).astype(np.float32)
