"""Posterior diagnostics in NumPy: KL per latent dimension, active units, the reconstruction/KL split, traversals.

KL(q(z|x) || N(0, I)) of a diagonal Gaussian is a sum over dimensions of
0.5 (σ_i² + μ_i² − 1 − log σ_i²); averaged over the test set, the per-dimension terms sum to the test KL.
Active units (Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", section 5.2):
dimension i is active when A_i = Cov_x(E_{q(z|x)}[z_i]) = Var_x(μ_i(x)) > 0.01. A collapsed dimension has
μ_i ≈ 0 and σ_i ≈ 1 for every x, so its KL is ≈ 0 and it carries no information about x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...store.metrics import ACTIVE_THRESHOLD  # Burda et al. 2015; one value for the trainer and pages


def kl_per_dim(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Closed-form KL(q(z_i|x) || N(0, 1)) per dimension, averaged over the examples: shape (d,), float64."""
    mean = np.asarray(mean, np.float64)
    logvar = np.asarray(logvar, np.float64)
    return (0.5 * (np.exp(logvar) + mean ** 2 - 1.0 - logvar)).mean(axis=0)


def activity(mean: np.ndarray) -> np.ndarray:
    """Var over the examples of each dimension's posterior mean (A_i of Burda et al. 2015): shape (d,)."""
    return np.asarray(mean, np.float64).var(axis=0)


def active_units(mean: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many dimensions have activity above threshold."""
    return int((activity(mean) > threshold).sum())


def summarize(mean: np.ndarray, logvar: np.ndarray, logpx_z: np.ndarray | None = None) -> dict[str, Any]:
    """kl_per_dim, kl (their sum), activity, active_units and, given per-example log p(x|z), the recon/KL split."""
    per_dim = kl_per_dim(mean, logvar)
    out: dict[str, Any] = {"kl_per_dim": [float(v) for v in per_dim], "kl": float(per_dim.sum()),
                           "activity": [float(v) for v in activity(mean)], "active_units": active_units(mean),
                           "latent_dim": int(np.shape(mean)[1]), "examples": int(len(mean))}
    if logpx_z is not None:
        recon = float(np.mean(np.asarray(logpx_z, np.float64)))
        out["logpx_z"] = recon
        out["elbo_analytic"] = recon - out["kl"]
    return out


def kl_order(per_dim: np.ndarray) -> np.ndarray:
    """Dimensions sorted by KL, largest first (ties by index)."""
    per_dim = np.asarray(per_dim)
    return np.lexsort((np.arange(len(per_dim)), -per_dim))


def traversal_codes(latent_dim: int, dim: int, values: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """Codes that move dimension `dim` through `values` with the others at `base` (default the prior mean 0)."""
    base = np.zeros(latent_dim, np.float32) if base is None else np.asarray(base, np.float32)
    codes = np.repeat(base[None], len(values), axis=0)
    codes[:, dim] = values
    return codes


def ellipse_path(mu: np.ndarray, sigma: np.ndarray, n_sigma: float = 1.0, points: int = 40) -> np.ndarray:
    """The n-σ contour of an axis-aligned Gaussian in 2-D as a closed polyline: shape (points + 1, 2)."""
    t = np.linspace(0.0, 2.0 * np.pi, points + 1)
    return np.stack([mu[0] + n_sigma * sigma[0] * np.cos(t), mu[1] + n_sigma * sigma[1] * np.sin(t)], axis=1)


COLLAPSED_KL = 0.01  # nats: below this a dimension's posterior is the prior for practical purposes


def dimension_table(summary: dict[str, Any], logvar: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per latent dimension, ordered by KL: its KL, activity (Var_x μ_i), mean σ_i and a status with the
    figures that decide it: active; collapsed (KL and activity both tiny: q(z_i|x) ≈ the prior); or low-activity
    (activity under the threshold, but the dimension still carries KL: not collapsed, the Burda test misses it)."""
    kl = np.asarray(summary["kl_per_dim"], np.float64)
    act = np.asarray(summary["activity"], np.float64)
    sigma = (np.exp(0.5 * np.asarray(logvar, np.float64)).mean(axis=0) if logvar is not None
             else np.full(len(kl), np.nan))
    rows = []
    for i in kl_order(kl):
        if act[i] > ACTIVE_THRESHOLD:
            status = "active"
        elif kl[i] < COLLAPSED_KL:
            status = "collapsed"
        else:
            status = "low_activity"
        rows.append({"dim": int(i) + 1, "kl": float(kl[i]), "activity": float(act[i]),
                     "mean_sigma": float(sigma[i]), "status": status})
    return rows


def table_csv(rows: list[dict[str, Any]]) -> str:
    """The dimension table as CSV (the same numbers the page shows, full precision)."""
    lines = [f"dimension,kl_nats,activity_var_mu,mean_sigma,status,active_threshold={ACTIVE_THRESHOLD},"
             f"collapsed_kl={COLLAPSED_KL}"]
    lines += [f"z{r['dim']},{r['kl']:.6g},{r['activity']:.6g},{r['mean_sigma']:.6g},{r['status']},," for r in rows]
    return "\n".join(lines) + "\n"
