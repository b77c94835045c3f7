"""Grey or colour, Bernoulli or discretized logistic: what the pages show for a run's decoder (pure NumPy)."""

from __future__ import annotations

import numpy as np

from ...data.likelihoods import likelihood as likelihood_entry


def squeeze_grey(images: np.ndarray) -> np.ndarray:
    """Drop a single channel axis, (..., H, W, 1) -> (..., H, W); colour images (..., H, W, 3) are kept."""
    arr = np.asarray(images)
    return arr[..., 0] if arr.ndim >= 3 and arr.shape[-1] == 1 else arr


def decode_images(model, z: np.ndarray) -> np.ndarray:
    """The decoded images for codes z, values in [0, 1]: (N, H, W) grey or (N, H, W, 3) colour."""
    return squeeze_grey(model.decode(np.asarray(z, np.float32), apply_sigmoid=True))


def sample_images(model, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw x ~ p(x|z) per code: binary pixels (Bernoulli) or 8-bit values (discretized logistic)."""
    params = model.decode(np.asarray(z, np.float32))
    return squeeze_grey(likelihood_entry(model.arch.likelihood).sample(params, rng))


def decoded_hover(model) -> str:
    """The hover label of a decoded pixel's value."""
    return likelihood_entry(model.arch.likelihood).value_label


def binary_pixels(model) -> bool:
    """Whether the run's likelihood models binarized pixels (else the 8-bit values)."""
    return likelihood_entry(model.arch.likelihood).binary_input


def is_colour(model) -> bool:
    """Whether the run's images have colour channels."""
    return model.arch.channels == 3
