"""Your image for a run trained on your own data (#22): decoded, centre-cropped and resized exactly as its training
images were (cvae/data/own_images.py), then binarized or scaled as the run's likelihood wants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...data.datasets import is_own
from ...data.own_images import IMAGE_EXTENSIONS, decode_bytes
from ...data.sources import model_input


UPLOAD_TYPES = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS)  # the file types training reads


@dataclass(frozen=True)
class Prepared:
    """An image as the run's model sees it: `image` uint8 (S, S) or (S, S, 3), `x` float32 (1, S, S, C)."""

    image: np.ndarray
    x: np.ndarray


def needs_own_preprocessing(config) -> bool:
    """Whether the run learned your own data (its images are centre-cropped, not MNIST-centred)."""
    return is_own(config.dataset)


def prepare(data: bytes, arch) -> Prepared:
    """The bytes of a PNG/JPEG/GIF/BMP/WebP file as the model of `arch` sees it; ValueError with one line if not."""
    size, channels = arch.size, arch.channels
    image, why = decode_bytes(data, size, channels)
    if image is None:
        raise ValueError(why)
    x = model_input(image[None], arch.likelihood).reshape(1, *arch.image_shape)
    return Prepared(image, x.astype(np.float32, copy=False))


def seen(prepared: Prepared) -> np.ndarray:
    """What the model sees, for display: (S, S) grey or (S, S, 3) colour in [0, 1]."""
    x = prepared.x[0]
    return x[..., 0] if x.shape[-1] == 1 else x
