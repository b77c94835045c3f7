"""The likelihood registry: p(x|z) per image, one entry per likelihood, in NumPy (no TensorFlow, no imports from the
package: the run store reads it too).

Each entry gives the decoder's parameters per sub-pixel (cvae/store/arch.py), how images become the model's input,
the log-probability in NumPy (the app's model, cvae/explorer/maths/numpy_model.py) and in TensorFlow (`tf`: the object in
cvae/engine/likelihoods.py that training and evaluation use), the mean image the pages show, a sample, and what the
browser's decoder does with its output (`browser`: cvae/explorer/static/latent_pad.js). Adding a likelihood is one
entry here plus its own code (NumPy functions here, TensorFlow ones in the engine).

Discretized logistic (Salimans et al. 2017, PixelCNN++), single component: x = k/255 in [0, 1];
P(k) = sigmoid((x + h - m)/s) - sigmoid((x - h - m)/s) with h = 1/510, the edge bins reaching to -inf (k = 0) and
+inf (k = 255), so the ELBO bounds log p(x) of the 8-bit image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# Discretized logistic on [0, 1]: value k/255 owns the bin [k/255 - HALF_BIN, k/255 + HALF_BIN], edge bins to +-inf.
HALF_BIN = 0.5 / 255.0
LOG_SCALE_MIN = -7.0  # as PixelCNN++: keeps the density finite while training


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _per_image(ll: np.ndarray) -> np.ndarray:
    return ll.reshape(len(ll), -1).sum(axis=1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function, float32."""
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


# ------------------------------------------------------------------------------------------------- Bernoulli


def bernoulli_log_likelihood(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """log p(x|z) summed over each image: x*l - softplus(l), stable for large |l|."""
    return _per_image(x * logits - _softplus(logits))


def _bernoulli_sample(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(params.shape) < sigmoid(params)).astype(np.float32)


# ------------------------------------------------------------------------------------------------- discretized logistic


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


def _logistic_log_likelihood(x: np.ndarray, params: np.ndarray) -> np.ndarray:
    return _per_image(discretized_logistic_log_prob(x, *split_params(params)))


def _logistic_mean(params: np.ndarray) -> np.ndarray:
    return np.clip(split_params(params)[0], 0.0, 1.0).astype(np.float32)


def _logistic_sample(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean, log_scale = split_params(params)
    u = rng.uniform(1e-6, 1.0 - 1e-6, mean.shape)
    x = mean + np.exp(log_scale) * (np.log(u) - np.log1p(-u))
    return (np.clip(np.rint(x * 255.0), 0, 255) / 255.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Likelihood:
    """One p(x|z): its parameters, its maths in NumPy, and where its TensorFlow and browser parts are."""

    name: str
    params_per_subpixel: int
    binary_input: bool  # the model sees binarized pixels (True) or the 8-bit values k/255 (False)
    log_likelihood: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x, params) -> log p(x|z) per image
    mean_image: Callable[[np.ndarray], np.ndarray]  # params -> the image shown, in [0, 1]
    sample: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # params -> one draw, in [0, 1]
    tf: str  # the TensorFlow object (log_likelihood, mean_image) in cvae.engine.likelihoods
    browser: dict[str, Any] = field(default_factory=dict)  # latent_pad.js: {"op": mean op, "sample": ...}
    value_label: str = "value"  # what a decoded pixel's value is (hover labels)
    help: str = ""  # the config field's help for this choice
    logits_linear: bool = False  # log p(x|z) = x·θ − Σ softplus(θ) (Bernoulli logits θ): linear in x


LIKELIHOODS: dict[str, Likelihood] = {lik.name: lik for lik in (
    Likelihood("bernoulli", 1, True, bernoulli_log_likelihood, sigmoid, _bernoulli_sample, "BERNOULLI",
               {"op": "sigmoid", "sample": "bernoulli"}, "p(pixel = 1)",
               "bernoulli for binarized pixels (the tutorial)", logits_linear=True),
    Likelihood("discretized_logistic", 2, False, _logistic_log_likelihood, _logistic_mean, _logistic_sample,
               "DISCRETIZED_LOGISTIC", {"op": "clip", "sample": "logistic", "log_scale_min": LOG_SCALE_MIN},
               "mean value", "discretized_logistic for 8-bit grey or colour values (a true bound on log p(x) of "
               "the raw images; binarization is then not used)"),
)}
DEFAULT_LIKELIHOOD = "bernoulli"


def likelihood(name: str) -> Likelihood:
    """The registry entry of `name` (KeyError naming the known ones)."""
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise KeyError(f"unknown likelihood {name!r}: expected one of {', '.join(LIKELIHOODS)}") from None


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    """-log2 p(x) per dimension from a log-likelihood in nats per image (lower is better)."""
    return -float(nats_per_image) / (dims * float(np.log(2.0)))
