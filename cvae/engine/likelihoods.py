"""p(x|z) per image in TensorFlow: the `tf` side of cvae/data/likelihoods.py's registry (Bernoulli logits for
binarized pixels, or a discretized logistic per 8-bit sub-pixel); each registry entry names its object here.

Discretized logistic (Salimans et al. 2017, PixelCNN++; Kingma et al. 2016, IAF), single component: x = k/255 in
[0, 1]; P(k) = sigmoid((x + h - m)/s) - sigmoid((x - h - m)/s) with h = 1/510, and the edge bins reach to -inf (k=0)
and +inf (k=255), so the 256 probabilities of a sub-pixel sum to 1 and the ELBO bounds log p(x) of the 8-bit image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

from ..data.likelihoods import HALF_BIN, LOG_SCALE_MIN, likelihood as registry_entry


def bernoulli_log_likelihood(x, logits):
    """log p(x|z) for Bernoulli pixels given logits, summed over the image."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3])


def split_params(params):
    """Decoder output (..., 2C) -> mean (..., C) and log-scale (..., C), the log-scale floored at LOG_SCALE_MIN."""
    mean, log_scale = tf.split(params, 2, axis=-1)
    return mean, tf.maximum(log_scale, LOG_SCALE_MIN)


def discretized_logistic_log_prob(x, mean, log_scale):
    """log P(x) per sub-pixel, x = k/255; stable: log(sigmoid(a) - sigmoid(b)) = a + log(1 - e^(b-a)) - sp(a) - sp(b)."""
    inv_s = tf.exp(-log_scale)
    a = inv_s * (x - mean + HALF_BIN)
    b = inv_s * (x - mean - HALF_BIN)
    mid = a + tf.math.log(-tf.math.expm1(b - a)) - tf.nn.softplus(a) - tf.nn.softplus(b)
    return tf.where(x < HALF_BIN, -tf.nn.softplus(-a), tf.where(x > 1.0 - HALF_BIN, -tf.nn.softplus(b), mid))


def discretized_logistic_log_likelihood(x, params):
    """log p(x|z) of 8-bit images (x = k/255) summed over each image; params = decoder output (N, H, W, 2C)."""
    mean, log_scale = split_params(params)
    return tf.reduce_sum(discretized_logistic_log_prob(x, mean, log_scale), axis=[1, 2, 3])


@dataclass(frozen=True)
class TFLikelihood:
    """A likelihood's TensorFlow maths: log p(x|z) per image and the mean image, from the decoder's output."""

    log_likelihood: Callable
    mean_image: Callable


BERNOULLI = TFLikelihood(bernoulli_log_likelihood, tf.sigmoid)
DISCRETIZED_LOGISTIC = TFLikelihood(discretized_logistic_log_likelihood,
                                    lambda params: tf.clip_by_value(split_params(params)[0], 0.0, 1.0))


def tf_likelihood(name: str) -> TFLikelihood:
    """The TensorFlow object the registry entry `name` names."""
    return globals()[registry_entry(name).tf]


def log_likelihood(likelihood: str, x, params):
    """log p(x|z) per image for the named likelihood."""
    return tf_likelihood(likelihood).log_likelihood(x, params)


def mean_image(likelihood: str, params):
    """What the decoder shows for z, in [0, 1]: Bernoulli probabilities, or the logistic's mean clipped to [0, 1]."""
    return tf_likelihood(likelihood).mean_image(params)
