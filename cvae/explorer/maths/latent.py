"""Latent-space helpers: they return arrays (codes, grids, paths, projections), never plots."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

# The slider range of the latent plane: the prior's 0.1% and 99.9% quantiles.
PRIOR_LOW = NormalDist().inv_cdf(0.001)
PRIOR_HIGH = NormalDist().inv_cdf(0.999)


def normal_quantiles(n: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """n standard-normal quantiles at probabilities evenly spaced in [low, high] (pure Python, no TF)."""
    _check_range(n, low, high)
    nd = NormalDist()
    return np.array([nd.inv_cdf(p) for p in np.linspace(low, high, n)], np.float32)


def _check_range(n: int, low: float, high: float) -> None:
    if not (isinstance(n, (int, np.integer)) and 1 <= n <= 100):
        raise ValueError(f"n: got {n!r}; allowed: an integer from 1 to 100")
    if not (0.0 < low < high < 1.0):
        raise ValueError(f"quantile range: got {low}..{high}; allowed: 0 < low < high < 1")


def manifold_codes(grid_x: np.ndarray, grid_y: np.ndarray, latent_dim: int = 2, dims: tuple[int, int] = (0, 1),
                   base: np.ndarray | None = None) -> np.ndarray:
    """Latent codes for an image grid: row i varies dims[1] over grid_y, column j dims[0] over grid_x.

    Row-major, as the tutorial's manifold (z = [xi, yi] at image (i, j)); other dimensions stay at `base` (0).
    """
    d0, d1 = dims
    if not (0 <= d0 < latent_dim and 0 <= d1 < latent_dim and d0 != d1):
        raise ValueError(f"dims: got {dims}; allowed: two different dimensions in 0..{latent_dim - 1}")
    z = np.tile(np.zeros(latent_dim, np.float32) if base is None else np.asarray(base, np.float32),
                (len(grid_y) * len(grid_x), 1))
    yy, xx = np.meshgrid(grid_y, grid_x, indexing="ij")
    z[:, d0] = xx.ravel()
    z[:, d1] = yy.ravel()
    return z


def lerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Points on the straight line from z0 to z1, endpoints included."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return ((1 - t) * np.asarray(z0, np.float32) + t * np.asarray(z1, np.float32)).astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models), endpoints included."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-8 or n1 < 1e-8:
        return lerp(z0, z1, steps)
    omega = np.arccos(np.clip(np.dot(z0 / n0, z1 / n1), -1.0, 1.0))
    if omega < 1e-6:
        return lerp(z0, z1, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)).astype(np.float32)


class PCA2:
    """A 2-D principal-component projection of latent codes, and its way back through the principal plane."""

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes, np.float64)
        self.mean = codes.mean(axis=0)
        centred = codes - self.mean
        d = codes.shape[1]
        if d == 1:
            self.components = np.array([[1.0], [0.0]])
            self.explained = np.array([1.0, 0.0])
        else:
            _, s, vt = np.linalg.svd(centred, full_matrices=False)
            self.components = vt[:2]
            total = float(np.sum(s ** 2)) or 1.0
            self.explained = (s[:2] ** 2 / total)

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """(N, d) codes -> (N, 2) coordinates in the principal plane."""
        return ((np.asarray(codes, np.float64) - self.mean) @ self.components.T).astype(np.float32)

    def inverse(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) plane coordinates -> (N, d) codes on the principal plane."""
        return (np.asarray(points, np.float64) @ self.components + self.mean).astype(np.float32)


def separated_range(low: float, high: float, gap: float = 0.05, lo: float = 0.01, hi: float = 0.99
                    ) -> tuple[float, float]:
    """(low, high) sorted and at least `gap` apart inside [lo, hi]: a range control can never collapse."""
    low, high = sorted((float(low), float(high)))
    if high - low >= gap:
        return round(low, 2), round(high, 2)
    mid = min(max((low + high) / 2, lo + gap / 2), hi - gap / 2)
    return round(mid - gap / 2, 2), round(mid + gap / 2, 2)
