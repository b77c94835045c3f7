"""The CVAE's shape as data (no TensorFlow): image size, channels and conv widths, so every builder agrees.

The Keras model (cvae/engine/model.py), the NumPy copy (cvae/explorer/numpy_model.py) and the weights-file check
(cvae/store/weights.py) all read one Architecture; a run's config.json holds the fields it is derived from
(dataset, filters1, filters2, likelihood), so a run describes its own widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Image shape (height = width, channels) of each dataset.
IMAGE_SHAPES: dict[str, tuple[int, int]] = {"mnist": (28, 1), "fashion_mnist": (28, 1), "cifar10": (32, 3)}
LIKELIHOODS = ("bernoulli", "discretized_logistic")
# Discretized logistic on [0, 1]: value k/255 owns the bin [k/255 - HALF_BIN, k/255 + HALF_BIN], edge bins to +-inf.
HALF_BIN = 0.5 / 255.0
LOG_SCALE_MIN = -7.0  # as PixelCNN++: keeps the density finite while training


@dataclass(frozen=True)
class Architecture:
    """Encoder Conv2D(f1,3,s2) -> Conv2D(f2,3,s2) -> Dense(2d); decoder Dense(s*s*f1) -> (f2, f1, out) deconvs.

    Defaults are the tutorial's MNIST network (32/64 filters, 28x28x1, one Bernoulli logit per pixel).
    """

    size: int = 28  # image height = width, a multiple of 4
    channels: int = 1
    filters1: int = 32
    filters2: int = 64
    likelihood: str = "bernoulli"  # or "discretized_logistic": 8-bit values, (mean, log-scale) per sub-pixel

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one input image."""
        return (self.size, self.size, self.channels)

    @property
    def enc_size(self) -> int:
        """Side of the encoder's last feature map (two 'valid' stride-2 3x3 convolutions: 28 -> 13 -> 6)."""
        s = self.size
        for _ in range(2):
            s = (s - 3) // 2 + 1
        return s

    @property
    def dec_size(self) -> int:
        """Side of the decoder's first feature map (two stride-2 deconvolutions back to size: 7 -> 14 -> 28)."""
        return self.size // 4

    @property
    def params_per_subpixel(self) -> int:
        """Decoder outputs per sub-pixel: 1 Bernoulli logit, or the logistic's mean and log-scale."""
        return 2 if self.likelihood == "discretized_logistic" else 1

    @property
    def out_channels(self) -> int:
        """Channels of the decoder's output (distribution parameters per pixel)."""
        return self.channels * self.params_per_subpixel


    def macs_per_image(self, latent_dim: int = 2) -> int:
        """Multiply-adds of one forward pass (encoder + decoder): the cost model behind the Train form's estimate."""
        e1 = (self.size - 3) // 2 + 1
        e2, s, d, f1, f2 = self.enc_size, self.dec_size, latent_dim, self.filters1, self.filters2
        return (e1 * e1 * 9 * self.channels * f1 + e2 * e2 * 9 * f1 * f2 + e2 * e2 * f2 * 2 * d  # encoder
                + d * s * s * f1 + s * s * 9 * f1 * f2 + (2 * s) ** 2 * 9 * f2 * f1  # dense, deconv 1 and 2
                + (4 * s) ** 2 * 9 * f1 * self.out_channels)  # last deconv


def architecture_of(config: Any) -> Architecture:
    """The Architecture a TrainConfig describes (fields missing from older configs take the tutorial's values)."""
    size, channels = IMAGE_SHAPES[getattr(config, "dataset", "mnist")]
    return Architecture(size, channels, int(getattr(config, "filters1", 32)), int(getattr(config, "filters2", 64)),
                        getattr(config, "likelihood", "bernoulli"))
