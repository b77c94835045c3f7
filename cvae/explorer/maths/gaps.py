"""The inference gaps of one digit (Cremer, Li & Duvenaud 2018): log p(x) = ELBO + KL(q(z|x) ‖ p(z|x)), the gap
split into the approximation gap (log p(x) − ELBO of q*, the best diagonal Gaussian) and the amortization gap
(ELBO of q* − ELBO of the encoder's q).

The ELBO of a diagonal Gaussian q is E_q[log p(x|z) + log p(z)] + H(q), the expectation summed on the quadrature grid
that resolves q (cvae.explorer.maths.posterior); q* maximises it by Adam with analytic gradients on the fine posterior
window (the integrand is fixed there, so the gradients are exact for the discretised objective).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .posterior import (COARSE, COARSE_HALF, LOG_2PI, ExactResult, Grid, LogJoint, PlaneScan, evaluate_grid,
                        exact_log_marginal, exact_logpx)


def _q_weights(grid: Grid, mu: np.ndarray, log_sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q(z_i)·cell on the grid points (flattened) and (z_i − μ)/σ."""
    z = grid.z.reshape(-1, 2)
    u = (z - mu) / np.exp(log_sigma)
    logq = -0.5 * np.sum(u ** 2 + LOG_2PI, axis=1) - np.sum(log_sigma)
    return np.exp(logq) * grid.cell, u


def gaussian_entropy(log_sigma: np.ndarray) -> float:
    """Entropy of a diagonal Gaussian."""
    return float(np.sum(log_sigma) + 0.5 * len(log_sigma) * (1.0 + LOG_2PI))


def elbo_on_grid(grid: Grid, mu: np.ndarray, log_sigma: np.ndarray) -> tuple[float, float]:
    """(ELBO of N(μ, σ²) = E_q[log f] + H(q) summed on the grid, the mass of q the grid captures)."""
    w, _ = _q_weights(grid, mu, log_sigma)
    mass = float(w.sum())
    lf = grid.log_f.ravel()
    return float(w @ lf / mass) + gaussian_entropy(log_sigma), mass


def resolves(grid: Grid, mu: np.ndarray, log_sigma: np.ndarray) -> bool:
    """The grid holds q (mass within 1e-6 of 1) with a point at least every 1.1 σ along z₁ and z₂."""
    _, mass = elbo_on_grid(grid, mu, log_sigma)
    step = np.max(np.abs(grid.axes * grid.steps[:, None]), axis=0)  # largest stride along z₁, z₂
    return abs(mass - 1.0) < 1e-6 and bool(np.all(step <= 1.1 * np.exp(log_sigma)))


def elbo_exact(result: ExactResult, mu: np.ndarray, log_sigma: np.ndarray) -> float:
    """The ELBO of a diagonal Gaussian q: on the fine posterior window when it resolves q, else on q's own grid."""
    for grid in (result.windows[0], result.q_grid):
        if resolves(grid, mu, log_sigma):
            return elbo_on_grid(grid, mu, log_sigma)[0]
    own = evaluate_grid(Grid(np.asarray(mu, np.float64), np.eye(2), COARSE_HALF * np.exp(log_sigma), COARSE),
                    result.log_joint)
    return elbo_on_grid(own, mu, log_sigma)[0]


def optimise_q(grid: Grid, mu: np.ndarray, log_sigma: np.ndarray, steps: int = 300,
               lr: float = 0.05) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """q* = argmax ELBO over diagonal Gaussians, by Adam on the grid's exact gradients, started at (μ, log σ).

    Parameters are scaled by the starting σ, so one learning rate fits narrow and wide posteriors. Returns the best
    (μ, log σ) seen and the ELBO trace.
    """
    lf = grid.log_f.ravel() - grid.log_f.max()
    scale = np.exp(np.asarray(log_sigma, np.float64))
    p = np.concatenate([np.zeros(2), np.asarray(log_sigma, np.float64)])
    mu0 = np.asarray(mu, np.float64)
    m1, m2 = np.zeros(4), np.zeros(4)
    best, trace = (mu0.copy(), p[2:].copy(), -np.inf), []
    for t in range(1, steps + 1):
        mu_t = mu0 + p[:2] * scale
        w, u = _q_weights(grid, mu_t, p[2:])
        mass = w.sum()
        if mass <= 0 or not np.isfinite(mass):
            break
        w = w / mass
        e_lf = float(w @ lf)
        value = e_lf + gaussian_entropy(p[2:]) + float(grid.log_f.max())
        trace.append(value)
        if value > best[2] and abs(mass * 1.0 - 1.0) < 1e-3:
            best = (mu_t.copy(), p[2:].copy(), value)
        centred = lf - e_lf  # d/dθ E_w[lf] = E_w[(lf − E lf) d log q/dθ]
        g_mu = (w * centred) @ (u / np.exp(p[2:])) * scale
        g_ls = (w * centred) @ (u ** 2 - 1.0) + 1.0
        g = np.concatenate([g_mu, g_ls])
        m1 = 0.9 * m1 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        p = p + lr * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
    return best[0], best[1], trace


@dataclass
class Gaps:
    """log p(x) = ELBO + KL(q‖p(z|x)); the gap split into approximation and amortization (Cremer et al. 2018)."""
    logpx: float
    error: float
    elbo: float  # the encoder's q(z|x), exact expectation
    elbo_star: float  # the optimised q*
    mu: np.ndarray
    sigma: np.ndarray
    mu_star: np.ndarray
    sigma_star: np.ndarray
    result: ExactResult

    @property
    def kl(self) -> float:
        """KL(q(z|x) ‖ p(z|x)) = log p(x) − ELBO: the whole gap."""
        return self.logpx - self.elbo

    @property
    def approximation(self) -> float:
        """log p(x) − ELBO*: what no diagonal Gaussian can close."""
        return self.logpx - self.elbo_star

    @property
    def amortization(self) -> float:
        """ELBO* − ELBO: what one encoder for all digits gives up against the best q for this digit."""
        return self.elbo_star - self.elbo

    def as_dict(self) -> dict[str, float]:
        """The numbers, for JSON and tables."""
        return {"logpx": self.logpx, "error": self.error, "elbo": self.elbo, "elbo_star": self.elbo_star,
                "kl": self.kl, "approximation_gap": self.approximation, "amortization_gap": self.amortization}


def gaps(model, x: np.ndarray, scan: PlaneScan | None = None, steps: int = 300) -> Gaps:
    """The gap decomposition of one image under a 2-D CVAE."""
    res = exact_logpx(model, x, scan)
    mean, logvar = model.encode(x)
    mu, ls = mean[0].astype(np.float64), 0.5 * logvar[0].astype(np.float64)
    return gaps_from(res, mu, ls, steps)


def gaps_from(res: ExactResult, mu: np.ndarray, log_sigma: np.ndarray, steps: int = 300) -> Gaps:
    """The gaps for an encoder output (μ, log σ) given the quadrature result."""
    elbo = elbo_exact(res, mu, log_sigma)
    grid = res.windows[0]
    start_mu = mu if resolves(grid, mu, log_sigma) else res.post_mean
    start_ls = log_sigma if resolves(grid, mu, log_sigma) else 0.5 * np.log(np.diag(res.post_cov))
    mu_s, ls_s, _ = optimise_q(grid, start_mu, start_ls, steps)
    elbo_s = elbo_exact(res, mu_s, ls_s)
    if elbo_s < elbo:  # q* is the best diagonal Gaussian found, and the encoder's q is one of them
        mu_s, ls_s, elbo_s = mu, log_sigma, elbo
    return Gaps(logpx=res.logpx, error=res.error, elbo=elbo, elbo_star=elbo_s, mu=mu, sigma=np.exp(log_sigma),
                mu_star=mu_s, sigma_star=np.exp(ls_s), result=res)


# --- over a test set ----------------------------------------------------------------------------------------------

def test_set_gaps(log_joint_for: Callable[[np.ndarray], LogJoint], images: np.ndarray, mean: np.ndarray,
                  logvar: np.ndarray, scan: PlaneScan | None = None, steps: int = 300,
                  progress: Callable[[int, int], None] | None = None) -> list[dict[str, float]]:
    """The gaps (Gaps.as_dict: numbers only, no grids) of every image (N, H, W, C) given its encoder output;
    log_joint_for(x (1, H, W, C)) builds the integrand."""
    out = []
    for i in range(len(images)):
        x = images[i:i + 1]
        res = exact_log_marginal(log_joint_for(x), mean[i], np.exp(0.5 * logvar[i]), scan(x) if scan else None)
        out.append(gaps_from(res, np.asarray(mean[i], np.float64), 0.5 * np.asarray(logvar[i], np.float64),
                             steps).as_dict())
        if progress is not None:
            progress(i + 1, len(images))
    return out


def exact_test_set(model, images: np.ndarray, labels: np.ndarray | None,
                   log_joint_for: Callable[[np.ndarray], LogJoint],
                   decode: Callable[[np.ndarray], np.ndarray] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """gap_summary of every image (a plane scan decoded once with `decode`, default the NumPy model's) and the
    seconds it all took; log_joint_for(x) gives the integrand, e.g. from the Keras decoder."""
    t0 = time.perf_counter()
    scan = PlaneScan(model, decode=decode)
    mean, logvar = model.encode(images)
    rows = test_set_gaps(lambda x: _float64(log_joint_for(x)), images, mean, logvar, scan, progress=progress)
    return {**gap_summary(rows, labels), "seconds": round(time.perf_counter() - t0, 2)}


def _float64(log_joint: LogJoint) -> LogJoint:
    return lambda z: np.asarray(log_joint(np.asarray(z)), np.float64)


def gap_summary(rows: list[dict[str, float]], labels: np.ndarray | None = None, largest: int = 10) -> dict:
    """Means over the digits (rows: Gaps.as_dict), per class, and the digits with the largest gaps (JSON-ready)."""
    if not rows:
        return {"examples": 0}
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}

    def means(sel: np.ndarray) -> dict[str, float]:
        return {k: round(float(v[sel].mean()), 4) for k, v in table.items()}

    out = {"examples": len(rows), **means(np.ones(len(rows), bool))}
    if labels is not None:
        labels = np.asarray(labels)[:len(rows)]
        out["per_class"] = {str(int(c)): {"n": int((labels == c).sum()), **means(labels == c)}
                            for c in np.unique(labels)}
    order = np.argsort(-table["kl"])[:largest]
    out["largest_gaps"] = [{"index": int(i), **({"label": int(labels[i])} if labels is not None else {}),
                            **{k: round(float(table[k][i]), 4) for k in ("logpx", "elbo", "kl", "approximation_gap",
                                                                          "amortization_gap")}} for i in order]
    return out
