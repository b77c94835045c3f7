"""The CVAE as data (no TensorFlow): the full layer list with every shape, so every backend agrees.

`Architecture.layers(latent_dim)` is the one description of the network. The Keras builder
(cvae/engine/model.py), the NumPy encoder/decoder (cvae/explorer/maths/numpy_model.py), the weights-file check
(cvae/store/weights.py: `weight_shapes`) and the browser's decoder (cvae/explorer/static/latent_pad.js, sent the
decoder's layers with its weights) all interpret it; adding a layer or changing a width is one edit here. A run's
config.json holds the fields it is derived from (dataset, image_size, channels, filters1, filters2, likelihood).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..data.datasets import DEFAULT_DATASET, dataset_spec
from ..data.likelihoods import DEFAULT_LIKELIHOOD, likelihood as likelihood_entry



KERNEL = 3  # every convolution is 3x3


@dataclass(frozen=True)
class Layer:
    """One layer of the CVAE: kind, shapes per example (H, W, C or features) and, if it has any, its weights."""

    name: str  # Keras layer name, and the weight arrays' prefix ("enc_conv1/kernel")
    part: str  # "encoder" or "decoder"
    kind: str  # "conv" (3x3, 'valid'), "deconv" (3x3 transposed, 'same'), "dense", "flatten" or "reshape"
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    stride: int = 1
    relu: bool = False
    output: bool = False  # the part's output: float32 even under mixed precision (it enters the loss)

    @property
    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """'kernel' and 'bias' shapes in Keras' layouts (conv HWIO, deconv HW-out-in, dense in x out); {} if none."""
        cin, cout = self.in_shape[-1], self.out_shape[-1]
        kernel = {"conv": (KERNEL, KERNEL, cin, cout), "deconv": (KERNEL, KERNEL, cout, cin),
                  "dense": (cin, cout)}.get(self.kind)
        return {} if kernel is None else {"kernel": kernel, "bias": (cout,)}

    @property
    def macs(self) -> int:
        """Multiply-adds of one example (a 'same' transposed conv: every input pixel times the whole kernel)."""
        if self.kind == "dense":
            return self.in_shape[-1] * self.out_shape[-1]
        if self.kind == "conv":
            return self.out_shape[0] * self.out_shape[1] * KERNEL * KERNEL * self.in_shape[-1] * self.out_shape[-1]
        if self.kind == "deconv":
            h, w, cin = self.in_shape
            return h * w * KERNEL * KERNEL * cin * self.out_shape[-1]
        return 0

    def to_json(self) -> dict[str, Any]:
        """The layer as plain JSON (what the browser's decoder reads)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _conv_out(size: int, stride: int) -> int:
    return (size - KERNEL) // stride + 1


@dataclass(frozen=True)
class Architecture:
    """Encoder Conv2D(f1,3,s2) -> Conv2D(f2,3,s2) -> Dense(2d); decoder Dense(s*s*f1) -> (f2, f1, out) deconvs.

    Defaults are the tutorial's MNIST network (32/64 filters, 28x28x1, one Bernoulli logit per pixel).
    """

    size: int = 28  # image height = width, a multiple of 4
    channels: int = 1
    filters1: int = 32
    filters2: int = 64
    likelihood: str = DEFAULT_LIKELIHOOD  # a name in cvae/data/likelihoods.py's registry

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one input image."""
        return (self.size, self.size, self.channels)

    @property
    def params_per_subpixel(self) -> int:
        """Decoder outputs per sub-pixel (the likelihood registry's: 1 Bernoulli logit, a logistic's mean and scale)."""
        return likelihood_entry(self.likelihood).params_per_subpixel

    @property
    def out_channels(self) -> int:
        """Channels of the decoder's output (distribution parameters per pixel)."""
        return self.channels * self.params_per_subpixel

    @property
    def browser_mean(self) -> dict[str, Any]:
        """How the browser's decoder turns the output into the mean image and a sample (latent_pad.js)."""
        return dict(likelihood_entry(self.likelihood).browser)

    @property
    def enc_size(self) -> int:
        """Side of the encoder's last feature map (two 'valid' stride-2 3x3 convolutions: 28 -> 13 -> 6)."""
        return self.layers(1)[1].out_shape[0]

    @property
    def dec_size(self) -> int:
        """Side of the decoder's first feature map (two stride-2 deconvolutions back to size: 7 -> 14 -> 28)."""
        return self.size // 4

    def layers(self, latent_dim: int) -> tuple[Layer, ...]:
        """Every layer of encoder and decoder, in order, with its shapes: THE description every backend reads."""
        d, c, f1, f2, s = int(latent_dim), self.channels, self.filters1, self.filters2, self.size // 4
        e1 = _conv_out(self.size, 2)
        e2 = _conv_out(e1, 2)
        return (
            Layer("enc_conv1", "encoder", "conv", (self.size, self.size, c), (e1, e1, f1), 2, relu=True),
            Layer("enc_conv2", "encoder", "conv", (e1, e1, f1), (e2, e2, f2), 2, relu=True),
            Layer("enc_flatten", "encoder", "flatten", (e2, e2, f2), (e2 * e2 * f2,)),
            # No activation: a mean and a log-variance.
            Layer("enc_dense", "encoder", "dense", (e2 * e2 * f2,), (2 * d,), output=True),
            Layer("dec_dense", "decoder", "dense", (d,), (s * s * f1,), relu=True),
            Layer("dec_reshape", "decoder", "reshape", (s * s * f1,), (s, s, f1)),
            Layer("dec_deconv1", "decoder", "deconv", (s, s, f1), (2 * s, 2 * s, f2), 2, relu=True),
            Layer("dec_deconv2", "decoder", "deconv", (2 * s, 2 * s, f2), (4 * s, 4 * s, f1), 2, relu=True),
            # No activation: the likelihood's parameters per pixel.
            Layer("dec_logits", "decoder", "deconv", (4 * s, 4 * s, f1), (4 * s, 4 * s, self.out_channels), 1,
                  output=True),
        )

    def weight_layers(self, latent_dim: int = 2) -> tuple[Layer, ...]:
        """The layers that have weights, in the order of a weights file."""
        return tuple(layer for layer in self.layers(latent_dim) if layer.weight_shapes)

    def weight_shapes(self, latent_dim: int, part: str | None = None) -> dict[str, tuple[int, ...]]:
        """'layer/kernel' or 'layer/bias' -> shape of every weight array (of one part, if given)."""
        return {f"{layer.name}/{kind}": shape for layer in self.weight_layers(latent_dim)
                if part in (None, layer.part) for kind, shape in layer.weight_shapes.items()}

    def macs_per_image(self, latent_dim: int = 2) -> int:
        """Multiply-adds of one forward pass (encoder + decoder): the cost model behind the Train form's estimate."""
        return sum(layer.macs for layer in self.layers(latent_dim))


def architecture_of(config: Any) -> Architecture:
    """The Architecture a TrainConfig describes (fields missing from older configs take the tutorial's values)."""
    spec = dataset_spec(getattr(config, "dataset", DEFAULT_DATASET))
    # Your own data: the config's image_size and channels (TrainConfig.image_side / image_channels).
    size, channels = getattr(config, "image_side", spec.size), getattr(config, "image_channels", spec.channels)
    return Architecture(size, channels, int(getattr(config, "filters1", 32)),
                        int(getattr(config, "filters2", 64)), getattr(config, "likelihood", DEFAULT_LIKELIHOOD))
