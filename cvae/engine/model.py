"""The tutorial's convolutional VAE (Keras 3 on TensorFlow)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras
from keras import layers

from ..store.arch import KERNEL, Architecture, Layer
from .likelihoods import mean_image

# The order of arrays in an exported weights file: (layer, kernel|bias), as the description lists them.
WEIGHT_LAYERS = tuple(layer.name for layer in Architecture().weight_layers())


def _kernel_init(seed: int | None, layer: str):
    """Keras' default Glorot-uniform kernel init; seeded per layer when seed is given (else Python's RNG)."""
    if seed is None:
        return "glorot_uniform"
    return keras.initializers.GlorotUniform(seed=(int(seed) * 7919 + WEIGHT_LAYERS.index(layer)) % 2**31)


def keras_layer(spec: Layer, dtype: str, seed: int | None):
    """The Keras layer a description's Layer stands for (outputs kept float32 under mixed precision)."""
    if spec.kind == "flatten":
        return layers.Flatten(name=spec.name)
    if spec.kind == "reshape":
        return layers.Reshape(spec.out_shape, name=spec.name)
    common = {"name": spec.name, "dtype": "float32" if spec.output else dtype,
              "activation": "relu" if spec.relu else None, "kernel_initializer": _kernel_init(seed, spec.name)}
    if spec.kind == "dense":
        return layers.Dense(spec.out_shape[-1], **common)
    if spec.kind == "conv":
        return layers.Conv2D(spec.out_shape[-1], KERNEL, strides=spec.stride, **common)
    if spec.kind == "deconv":
        return layers.Conv2DTranspose(spec.out_shape[-1], KERNEL, strides=spec.stride, padding="same", **common)
    raise ValueError(f"unknown layer kind {spec.kind!r}")


def _build_part(part: str, latent_dim: int, dtype: str, seed: int | None, arch: Architecture | None):
    specs = [s for s in (arch or Architecture()).layers(latent_dim) if s.part == part]
    first = layers.InputLayer(shape=specs[0].in_shape, name=f"{part[:3]}_input")
    return keras.Sequential([first, *(keras_layer(s, dtype, seed) for s in specs)], name=part)


def build_encoder(latent_dim: int, dtype: str = "float32", seed: int | None = None,
                  arch: Architecture | None = None) -> keras.Sequential:
    """x -> concat(mean, logvar); layer names are explicit so reruns never rename weights."""
    return _build_part("encoder", latent_dim, dtype, seed, arch)


def build_decoder(latent_dim: int, dtype: str = "float32", seed: int | None = None,
                  arch: Architecture | None = None) -> keras.Sequential:
    """z -> the likelihood's parameters per pixel (Bernoulli logits for the tutorial's 28x28 digits)."""
    return _build_part("decoder", latent_dim, dtype, seed, arch)


class CVAE(keras.Model):
    """Convolutional variational autoencoder (Kingma & Welling 2014) as in the TensorFlow tutorial."""

    def __init__(self, latent_dim: int = 2, precision: str = "float32", seed: int | None = None,
                 arch: Architecture | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "cvae"), **kwargs)
        self.latent_dim = int(latent_dim)
        self.precision = precision
        self.arch = arch or Architecture()
        # A per-layer dtype policy, not the global one, so fp32 and bf16 models can live in one process.
        self.encoder = build_encoder(self.latent_dim, precision, seed, self.arch)
        self.decoder = build_decoder(self.latent_dim, precision, seed, self.arch)

    def call(self, x, training: bool = False):
        """Encode, sample z, decode: returns logits (so the model is built and can save weights)."""
        mean, logvar = self.encode(x)
        return self.decode(self.reparameterize(mean, logvar))

    def encode(self, x):
        """Mean and log-variance of q(z|x), always float32."""
        mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
        return tf.cast(mean, tf.float32), tf.cast(logvar, tf.float32)

    def reparameterize(self, mean, logvar, eps=None):
        """z = mean + sigma * eps; tf.shape keeps any batch size without retracing."""
        if eps is None:
            eps = tf.random.normal(shape=tf.shape(mean))
        return eps * tf.exp(logvar * 0.5) + mean

    def decode(self, z, apply_sigmoid: bool = False):
        """Parameters of p(x|z) (Bernoulli logits), or the image in [0, 1] when apply_sigmoid (see mean_image)."""
        logits = tf.cast(self.decoder(z), tf.float32)
        return mean_image(self.arch.likelihood, logits) if apply_sigmoid else logits

    def decode_fast(self, z, apply_sigmoid: bool = False):
        """decode() for inference (evaluation, IWAE, grids): the same numbers (to float32 rounding), ~15% sooner.

        oneDNN's transposed convolution with a single output channel runs at a few GFLOP/s on this CPU and was
        ~30% of a test-set evaluation. Here that last layer is one matmul to a channel per kernel tap, and the nine
        tap maps are added at their offsets (~2x faster for that layer). Training keeps the Keras layer (no gain
        there), so gradients and weights are the tutorial's.
        """
        *body, last = self.decoder.layers
        h = z
        for layer in body:
            h = layer(h)
        h = tf.cast(h, tf.float32)
        size, out = self.arch.size, self.arch.out_channels
        # kernel (3, 3, out, in) -> (in, 9 * out): column (3i + j) * out + o is tap (i, j) of output channel o.
        taps = tf.reshape(tf.transpose(last.kernel, [3, 0, 1, 2]), [tf.shape(last.kernel)[3], 9 * out])
        per_tap = tf.reshape(tf.matmul(tf.reshape(h, [-1, tf.shape(h)[-1]]), taps), [-1, size, size, 9, out])
        # A stride-1 'same' transposed convolution adds tap (i, j) of input pixel (y, x) to output (y+i-1, x+j-1).
        padded = tf.pad(per_tap, [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0]])
        e = size + 2
        logits = tf.add_n([padded[:, 2 - i:e - i, 2 - j:e - j, 3 * i + j] for i in range(3) for j in range(3)])
        logits = logits + last.bias
        return mean_image(self.arch.likelihood, logits) if apply_sigmoid else logits

    def sample(self, eps=None):
        """Decoded probabilities for eps (default: 100 draws from the prior)."""
        if eps is None:
            eps = tf.random.normal(shape=(100, self.latent_dim))
        return self.decode(eps, apply_sigmoid=True)


def build_model(latent_dim: int = 2, precision: str = "float32", seed: int | None = None,
                arch: Architecture | None = None) -> CVAE:
    """A CVAE with its variables created; a seed makes the initial weights reproducible."""
    model = CVAE(latent_dim, precision, seed, arch)
    model(np.zeros((1, *model.arch.image_shape), np.float32))
    return model


def get_weight_arrays(model: CVAE) -> dict[str, np.ndarray]:
    """The model's weights as plain named float32 arrays ('enc_conv1/kernel', ...)."""
    out: dict[str, np.ndarray] = {}
    for part in (model.encoder, model.decoder):
        for layer in part.layers:
            if layer.name in WEIGHT_LAYERS:
                kernel, bias = layer.get_weights()
                out[f"{layer.name}/kernel"] = np.asarray(kernel, np.float32)
                out[f"{layer.name}/bias"] = np.asarray(bias, np.float32)
    return out


def set_weight_arrays(model: CVAE, arrays: dict[str, np.ndarray]) -> None:
    """Load named arrays into the model, checking every name and shape first (a bad file changes nothing)."""
    updates = []
    for part in (model.encoder, model.decoder):
        for layer in part.layers:
            if layer.name not in WEIGHT_LAYERS:
                continue
            new = []
            for kind, var in zip(("kernel", "bias"), layer.get_weights()):
                key = f"{layer.name}/{kind}"
                if key not in arrays:
                    raise ValueError(f"weights: missing array {key!r}")
                if tuple(arrays[key].shape) != tuple(var.shape):
                    raise ValueError(f"weights: {key} has shape {tuple(arrays[key].shape)}, "
                                     f"model expects {tuple(var.shape)}")
                new.append(arrays[key])
            updates.append((layer, new))
    for layer, new in updates:
        layer.set_weights(new)
