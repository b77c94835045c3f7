"""Map layers of a 2-D latent space (NumPy): where the data lives against the prior, and how fast the decoder's
picture changes.

- The aggregate posterior q(z) = (1/N) Σₙ q(z|xₙ), a mixture of the encoder's Gaussians over N test digits, against
  the prior p(z) = N(0, I): where p(z) is high and q(z) low, sampling the prior decodes codes no digit uses (holes).
  KL(q(z) ‖ p(z)) is estimated by Monte Carlo: M draws from the mixture, log q evaluated as the full mixture.
- The decoder's local magnification: sqrt(det(JᵀJ)) of the Jacobian J = ∂(Bernoulli means)/∂z, by central
  differences on a lattice — how much the decoded image changes per unit of area in z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))
LAYER_HALF = 3.09  # the prior's 0.1–99.9 % quantiles, as the Latent plane's sliders
LAYER_POINTS = 41  # per axis: 1,681 decodes for the magnification layer
KL_SAMPLES = 2000
_BLOCK = 512


def _mixture_log_density(z: np.ndarray, mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log (1/N) Σₙ N(z; μₙ, diag σₙ²) at points z (M, 2), in blocks of points."""
    out = np.empty(len(z))
    inv_var = np.exp(-logvar)
    const = -0.5 * np.sum(logvar + LOG_2PI, axis=1)
    for i in range(0, len(z), _BLOCK):
        d = z[i:i + _BLOCK, None, :] - mean[None]
        lp = const[None] - 0.5 * np.sum(d * d * inv_var[None], axis=2)
        m = lp.max(axis=1, keepdims=True)
        out[i:i + _BLOCK] = (m + np.log(np.mean(np.exp(lp - m), axis=1, keepdims=True)))[:, 0]
    return out


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I)."""
    return -0.5 * np.sum(z * z + LOG_2PI, axis=-1)


def lattice(points: int = LAYER_POINTS, half: float = LAYER_HALF) -> tuple[np.ndarray, np.ndarray]:
    """The layer's axis values and its points (points², 2), z₂ varying slowest (rows of a heatmap)."""
    t = np.linspace(-half, half, points)
    v, u = np.meshgrid(t, t, indexing="ij")
    return t, np.stack([u.ravel(), v.ravel()], axis=1)


@dataclass
class AggregateLayer:
    """q(z) and p(z) on the lattice, KL(q(z) ‖ p(z)) with its Monte Carlo standard error."""
    axis: np.ndarray
    log_q: np.ndarray  # (points, points)
    log_p: np.ndarray
    kl: float
    kl_stderr: float
    n_digits: int
    n_samples: int

    @property
    def log_ratio(self) -> np.ndarray:
        """log q(z)/p(z): < 0 where the prior puts more mass than the data uses."""
        return self.log_q - self.log_p


def aggregate_layer(mean: np.ndarray, logvar: np.ndarray, samples: int = KL_SAMPLES, seed: int = 0,
                    points: int = LAYER_POINTS) -> AggregateLayer:
    """The aggregate posterior of N encoded digits against the prior, and KL(q(z) ‖ p(z)) by Monte Carlo."""
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    if mean.ndim != 2 or mean.shape[1] != 2 or len(mean) == 0:
        raise ValueError(f"the aggregate posterior layer needs (N, 2) codes, got shape {mean.shape}")
    axis, z = lattice(points)
    shape = (len(axis), len(axis))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(mean), samples)
    zs = mean[pick] + np.exp(0.5 * logvar[pick]) * rng.standard_normal((samples, 2))
    terms = _mixture_log_density(zs, mean, logvar) - log_prior(zs)
    return AggregateLayer(axis=axis, log_q=_mixture_log_density(z, mean, logvar).reshape(shape),
                          log_p=log_prior(z).reshape(shape), kl=float(terms.mean()),
                          kl_stderr=float(terms.std(ddof=1) / np.sqrt(samples)), n_digits=len(mean),
                          n_samples=samples)


def magnification_layer(model, points: int = LAYER_POINTS, half: float = LAYER_HALF) -> tuple[np.ndarray, np.ndarray]:
    """(axis values, sqrt(det(JᵀJ)) on the lattice): J = ∂ decoded image / ∂z by central differences (one-sided at
    the edges) between lattice neighbours, one batched decode of points² codes."""
    if model.latent_dim != 2:
        raise ValueError(f"the magnification layer needs latent_dim 2, got {model.latent_dim}")
    axis, z = lattice(points, half)
    img = model.decode(z.astype(np.float32), apply_sigmoid=True).reshape(points, points, -1).astype(np.float64)
    h = axis[1] - axis[0]
    d_v, d_u = np.gradient(img, h, axis=(0, 1))  # rows vary z₂, columns z₁
    g11, g22, g12 = (d_u * d_u).sum(-1), (d_v * d_v).sum(-1), (d_u * d_v).sum(-1)
    return axis, np.sqrt(np.maximum(g11 * g22 - g12 * g12, 0.0))
