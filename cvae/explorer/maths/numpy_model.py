"""The trained CVAE's forward pass in NumPy, for the app: no TensorFlow, no Keras, no pickle.

Why: importing TensorFlow puts `keras` in sys.modules, and Streamlit then calls
`keras.backend.clear_session()` (a full garbage collection, ~0.15 s here) after every script run.
Keeping the app process free of TensorFlow removes that per-rerun cost and the multi-second import,
and a decode of one z takes well under a millisecond. tests/test_numpy_model.py checks every output
against the Keras model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...data.likelihoods import likelihood as likelihood_entry
from ...store.arch import Architecture, architecture_of
from ...store.config import TrainConfig
from ...store.errors import RunError
from ...store.runs import WEIGHTS_FILE, read_config
from ...store.weights import expected_shapes, load_weights_npz, model_words

LOG_2PI = float(np.log(2.0 * np.pi))
# Images per NumPy pass: small decode blocks keep the transposed convolutions' temporaries in the CPU cache, encoding
# prefers larger ones (measurements: bench/RESULTS.md, "NumPy model block sizes").
_ENCODE_CHUNK = 256
_DECODE_CHUNK = 16
_IWAE_BLOCK = _DECODE_CHUNK  # codes decoded per block in NumpyCVAE.iwae


def _conv2d_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """Keras Conv2D(padding='valid') as im2col + matmul; x is NHWC, kernel HWIO."""
    kh, kw, cin, cout = kernel.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    n, oh, ow = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * cin)
    return (cols @ kernel.reshape(kh * kw * cin, cout) + bias).reshape(n, oh, ow, cout)


def _conv2d_transpose_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """Keras Conv2DTranspose(padding='same'); kernel is (h, w, out, in) as Keras stores it."""
    kh, kw, cout, cin = kernel.shape
    n, h, w, _ = x.shape
    # Each input pixel adds kernel * value into a kh x kw patch of the (uncropped) output.
    contrib = (x.reshape(-1, cin) @ kernel.transpose(3, 0, 1, 2).reshape(cin, kh * kw * cout))
    contrib = contrib.reshape(n, h, w, kh, kw, cout)
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, cout), np.float32)
    for a in range(kh):
        for b in range(kw):
            full[:, a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride] += contrib[:, :, :, a, b]
    # TensorFlow's SAME padding puts the smaller half of the padding first.
    top = max((h - 1) * stride + kh - h * stride, 0) // 2
    left = max((w - 1) * stride + kw - w * stride, 0) // 2
    return full[:, top:top + h * stride, left:left + w * stride] + bias


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def log_normal_pdf(sample: np.ndarray, mean, logvar, axis: int = -1) -> np.ndarray:
    """Diagonal Gaussian log-density summed over axis."""
    return np.sum(-0.5 * ((sample - mean) ** 2 * np.exp(-logvar) + logvar + LOG_2PI), axis=axis)


class NumpyCVAE:
    """Encode/decode with a trained CVAE's weights; same maths and outputs as cvae.engine.model.CVAE."""

    def __init__(self, arrays: dict[str, np.ndarray], latent_dim: int, arch: Architecture | None = None):
        self.latent_dim = int(latent_dim)
        self.arch = arch or Architecture()
        self.likelihood = likelihood_entry(self.arch.likelihood)  # the registry's p(x|z): log-prob, mean image
        self.w = {k: np.ascontiguousarray(v, np.float32) for k, v in arrays.items()}
        layers = self.arch.layers(self.latent_dim)
        self.specs = {part: tuple(s for s in layers if s.part == part) for part in ("encoder", "decoder")}
        expected = expected_shapes(self.latent_dim, self.arch)
        for key, shape in expected.items():
            if key not in self.w:
                raise ValueError(f"weights: missing array {key!r}")
            if self.w[key].shape != shape:
                raise ValueError(f"weights: {key} has shape {self.w[key].shape}, expected {shape} "
                                 f"for latent_dim {self.latent_dim}, filters {self.arch.filters1}/"
                                 f"{self.arch.filters2} (weights from another model?)")
            if not np.all(np.isfinite(self.w[key])):
                raise ValueError(f"weights: {key} contains NaN or infinity")
        extra = sorted(set(self.w) - set(expected))
        if extra:
            raise ValueError(f"weights: unexpected arrays {extra} (another architecture?)")

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z|x) for images (N,H,W[,C]) in [0,1] (28x28x1 for MNIST)."""
        x = np.asarray(x, np.float32).reshape(-1, *self.arch.image_shape)
        outs = [self._encode(x[i:i + _ENCODE_CHUNK]) for i in range(0, len(x), _ENCODE_CHUNK)] or [
            np.zeros((0, 2 * self.latent_dim), np.float32)]
        out = np.concatenate(outs)
        return out[:, :self.latent_dim], out[:, self.latent_dim:]

    def _run(self, part: str, h: np.ndarray) -> np.ndarray:
        """One part of the network, layer by layer as the description lists them."""
        w = self.w
        for spec in self.specs[part]:
            if spec.kind == "flatten":
                h = h.reshape(len(h), -1)
            elif spec.kind == "reshape":
                h = h.reshape(-1, *spec.out_shape)
            elif spec.kind == "dense":
                h = h @ w[f"{spec.name}/kernel"] + w[f"{spec.name}/bias"]
            elif spec.kind == "conv":
                h = _conv2d_valid(h, w[f"{spec.name}/kernel"], w[f"{spec.name}/bias"], spec.stride)
            elif spec.kind == "deconv":
                h = _conv2d_transpose_same(h, w[f"{spec.name}/kernel"], w[f"{spec.name}/bias"], spec.stride)
            else:
                raise ValueError(f"unknown layer kind {spec.kind!r}")
            if spec.relu:
                h = _relu(h)
        return h

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return self._run("encoder", x)

    def decode(self, z: np.ndarray, apply_sigmoid: bool = False) -> np.ndarray:
        """Parameters of p(x|z) (N,H,W,out_channels), or with apply_sigmoid the image in [0,1] (N,H,W,C)."""
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        outs = [self._decode(z[i:i + _DECODE_CHUNK]) for i in range(0, len(z), _DECODE_CHUNK)] or [
            np.zeros((0, self.arch.size, self.arch.size, self.arch.out_channels), np.float32)]
        logits = np.concatenate(outs)
        return self.likelihood.mean_image(logits) if apply_sigmoid else logits

    def _decode(self, z: np.ndarray) -> np.ndarray:
        return self._run("decoder", z).astype(np.float32)

    @staticmethod
    def reparameterize(mean: np.ndarray, logvar: np.ndarray, eps: np.ndarray | None = None,
                       rng: np.random.Generator | None = None) -> np.ndarray:
        """z = mean + sigma * eps."""
        if eps is None:
            eps = (rng or np.random.default_rng()).standard_normal(mean.shape).astype(np.float32)
        return (eps * np.exp(0.5 * logvar) + mean).astype(np.float32)

    def elbo_terms(self, x: np.ndarray, eps: np.ndarray | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Single-sample ELBO and its terms per example (same estimator as cvae.engine.objectives)."""
        x = np.asarray(x, np.float32).reshape(-1, *self.arch.image_shape)
        mean, logvar = self.encode(x)
        z = self.reparameterize(mean, logvar, eps, rng)
        logpx_z = self.likelihood.log_likelihood(x, self.decode(z))
        logpz = log_normal_pdf(z, 0.0, 0.0)
        logqz_x = log_normal_pdf(z, mean, logvar)
        kl = 0.5 * np.sum(np.exp(logvar) + mean ** 2 - 1.0 - logvar, axis=1)
        return {"elbo": logpx_z + logpz - logqz_x, "logpx_z": logpx_z, "logpz": logpz,
                "logqz_x": logqz_x, "kl": kl, "mean": mean, "logvar": logvar, "z": z}

    def iwae(self, x: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Importance-weighted estimate of log p(x) with k samples per example (Burda et al. 2016).

        Vectorised over examples and samples: the N*k codes are decoded in blocks of _IWAE_BLOCK (a decode's
        NumPy temporaries stay in cache; ~3x the throughput of 1000-code blocks here), and each block's log
        weights are computed at once, so memory stays at one block however large N*k is. The noise is drawn
        per example, (k, d) at a time, as before: the same rng gives the same numbers.
        """
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError(f"iwae: k must be an integer >= 1, got {k!r}")
        x = np.asarray(x, np.float32).reshape(-1, *self.arch.image_shape)
        rng = rng or np.random.default_rng()
        n, d = len(x), self.latent_dim
        mean, logvar = self.encode(x)
        eps = np.stack([rng.standard_normal((k, d)).astype(np.float32) for _ in range(n)]) if n else \
            np.zeros((0, k, d), np.float32)
        z = (eps * np.exp(0.5 * logvar)[:, None] + mean[:, None]).astype(np.float32)  # (n, k, d)
        owner = np.repeat(np.arange(n), k)  # which example each flattened code belongs to
        z_flat = z.reshape(n * k, d)
        logpx_z = np.empty(n * k, np.float64)
        for i in range(0, n * k, _IWAE_BLOCK):
            rows = owner[i:i + _IWAE_BLOCK]
            logpx_z[i:i + len(rows)] = self.likelihood.log_likelihood(x[rows], self._decode(z_flat[i:i + len(rows)]))
        logw = (logpx_z.reshape(n, k) + log_normal_pdf(z, 0.0, 0.0)
                - log_normal_pdf(z, mean[:, None], logvar[:, None]))
        m = logw.max(axis=1, keepdims=True)
        return (m[:, 0] + np.log(np.mean(np.exp(logw - m), axis=1))).astype(np.float64)


def load_numpy_model(run_dir: str | os.PathLike, config: TrainConfig | None = None) -> NumpyCVAE:
    """The NumPy model of a run directory (config.json + weights.npz)."""
    run_dir = Path(run_dir)
    if config is None:
        config = read_config(run_dir)
    try:
        arch = architecture_of(config)
        arrays = load_weights_npz(run_dir / WEIGHTS_FILE, expected_shapes(config.latent_dim, arch),
                                  model_words(config.latent_dim, arch))
    except ValueError as e:
        raise RunError(str(e).replace(str(run_dir.parent) + os.sep, "")) from None
    try:
        return NumpyCVAE(arrays, config.latent_dim, architecture_of(config))
    except ValueError as e:
        raise RunError(f"{run_dir.name}/{WEIGHTS_FILE}: {e}") from None
