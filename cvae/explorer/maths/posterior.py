"""The true posterior of a 2-D latent code: log p(x) by adaptive quadrature over the plane, and the inference gaps.

    log p(x) = log ∫ p(x|z) p(z) dz,    p(z|x) = p(x|z) p(z) / p(x)

The integrand is evaluated on tensor-product grids (a Riemann/trapezoid sum: the integrand is ~0 on a window's
edge, where both rules agree), in three steps:

1. a coarse scan of the whole plane ([-SCAN_HALF, SCAN_HALF]², decoded once per model and shared by every digit:
   per digit it is one matrix product), to find every region that holds mass;
2. per region, a grid aligned with the encoder's q(z|x) (or the scan's cell), widened until its edge ring holds
   < 1e-3 of its mass → the posterior's mean and covariance;
3. a fine grid aligned with that covariance's principal axes, ±WINDOW standard deviations, FINE×FINE points.

Error estimate (nats, conservative): |log I_h − log I_2h| (the same window with every other point) + the mass in the
fine window's outermost ring (an upper estimate of the mass beyond it) + the scan's mass outside all windows.

The ELBO of a Gaussian q, q* and the gaps are in cvae.explorer.maths.gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...data.likelihoods import likelihood as likelihood_entry

LOG_2PI = float(np.log(2.0 * np.pi))
SCAN_HALF = 5.0  # the scan covers [-5, 5]²: the prior's mass outside it is < 1e-6
SCAN_POINTS = 81  # per axis: spacing 0.125
COARSE = 13  # step 2: points per axis (a point per σ of q), over ±COARSE_HALF σ of q(z|x)
COARSE_HALF = 6.0
FINE = 24  # step 3: points per axis
WINDOW = 6.5  # step 3: half-width in posterior standard deviations
MODE_GAP = 15.0  # scan points within this many nats of the peak, outside every window, start another window
MAX_MODES = 3
REFINE_ABOVE = 0.01  # nats of |log I_h − log I_2h| above which the main window gets twice the points per axis
MIN_SCALE = 1e-3

LogJoint = Callable[[np.ndarray], np.ndarray]  # z (M, 2) -> log p(x|z) + log p(z), (M,)


def _logsumexp(a: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    m = float(np.max(a))
    return m if not np.isfinite(m) else m + float(np.log(np.sum(np.exp(a - m))))


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) summed over the last axis."""
    z = np.asarray(z, np.float64)
    return -0.5 * np.sum(z ** 2 + LOG_2PI, axis=-1)


@dataclass
class Grid:
    """A tensor-product grid z = centre + (i·h₁) a₁ + (j·h₂) a₂ over a rectangle in rotated coordinates."""
    centre: np.ndarray  # (2,)
    axes: np.ndarray  # (2, 2): rows are the unit directions a₁, a₂
    half: np.ndarray  # (2,): half-widths along a₁, a₂
    n: int
    z: np.ndarray = field(init=False)  # (n, n, 2)
    log_f: np.ndarray | None = None  # (n, n): log p(x|z) + log p(z)

    def __post_init__(self) -> None:
        t = np.linspace(-1.0, 1.0, self.n)
        u, v = np.meshgrid(t * self.half[0], t * self.half[1], indexing="ij")
        self.z = self.centre + u[..., None] * self.axes[0] + v[..., None] * self.axes[1]

    @property
    def steps(self) -> np.ndarray:
        """Spacing along a₁ and a₂."""
        return 2.0 * self.half / (self.n - 1)

    @property
    def cell(self) -> float:
        """Area of one cell."""
        return float(np.prod(self.steps))

    def local(self, z: np.ndarray) -> np.ndarray:
        """Coordinates of z along a₁, a₂ relative to the centre."""
        return (np.asarray(z, np.float64) - self.centre) @ self.axes.T

    def contains(self, z: np.ndarray) -> np.ndarray:
        """Which points z (M, 2) fall inside the window (half a cell beyond the outer points counts as inside)."""
        return np.all(np.abs(self.local(z)) <= self.half + 0.5 * self.steps, axis=-1)

    def log_integral(self, mask: np.ndarray | None = None, stride: int = 1) -> float:
        """log Σ f·cell over the grid (every `stride`-th point, the cell scaled to match)."""
        lf = self.log_f[::stride, ::stride]
        if mask is not None:
            lf = np.where(mask[::stride, ::stride], lf, -np.inf)
        return _logsumexp(lf) + float(np.log(self.cell * stride * stride))

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the normalised f on the grid."""
        w = np.exp(self.log_f - self.log_f.max()).ravel()
        w /= w.sum()
        z = self.z.reshape(-1, 2)
        m = w @ z
        c = (z - m).T @ ((z - m) * w[:, None])
        return m, c

    def ring_fraction(self) -> float:
        """Share of the grid's mass on its outermost ring of points."""
        lf = self.log_f
        ring = np.concatenate([lf[0], lf[-1], lf[1:-1, 0], lf[1:-1, -1]])
        return float(np.exp(_logsumexp(ring) - _logsumexp(lf)))


def evaluate_grid(grid: Grid, log_joint: LogJoint) -> Grid:
    grid.log_f = np.asarray(log_joint(grid.z.reshape(-1, 2)), np.float64).reshape(grid.n, grid.n)
    return grid


def _box(centre, scale) -> Grid:
    return Grid(np.asarray(centre, np.float64), np.eye(2), np.maximum(np.asarray(scale, np.float64), MIN_SCALE), COARSE)


def _coarse(log_joint: LogJoint, centre: np.ndarray, sigma: np.ndarray, tries: int = 8) -> list[Grid]:
    """Step 2: boxes of ±COARSE_HALF σ, re-centred and widened while the edge holds mass, narrowed while the mass
    falls between points; every box evaluated (the first one is q's own grid), the last one resolves the posterior."""
    centre = np.asarray(centre, np.float64)
    half = COARSE_HALF * np.maximum(sigma, MIN_SCALE)
    grids = []
    for _ in range(tries):
        grid = evaluate_grid(_box(centre, half), log_joint)
        grids.append(grid)
        centre, c = grid.moments()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        if grid.ring_fraction() >= 1e-3:
            half = np.maximum(3.0 * half, COARSE_HALF * sd)
        elif np.any(sd < 0.5 * grid.steps):
            half = np.maximum(COARSE_HALF * sd, half / 4.0)
        else:
            break
    return grids


def _principal(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh(c)
    return vecs.T.copy(), np.sqrt(np.maximum(vals, MIN_SCALE ** 2))


def _edge_fractions(grid: Grid) -> np.ndarray:
    """Share of the mass on the two edges across a₁ (first/last row) and across a₂ (first/last column)."""
    lf, total = grid.log_f, _logsumexp(grid.log_f)
    return np.exp([_logsumexp(np.concatenate([lf[0], lf[-1]])) - total,
                   _logsumexp(np.concatenate([lf[:, 0], lf[:, -1]])) - total])


def _fine(log_joint: LogJoint, start: Grid, n: int = FINE, window: float = WINDOW, tries: int = 4) -> Grid:
    """Step 3: a grid on the posterior's principal axes, ±window standard deviations; rebuilt from its own moments
    (twice as wide across an edge that holds mass) until its edges are empty and its widths agree with them."""
    m, c = start.moments()
    axes, std = _principal(c)
    half = window * std
    for _ in range(tries):
        grid = evaluate_grid(Grid(m, axes, half, n), log_joint)
        edges = _edge_fractions(grid)
        m, c = grid.moments()
        std_here = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", axes, c, axes), 0.0))
        if edges.max() < 1e-5 and np.all(window * std_here <= 1.25 * half) and np.all(window * std_here >= 0.6 * half):
            return grid
        new_axes, std = _principal(c)
        reach = np.sqrt(((new_axes @ axes.T) ** 2) @ (half ** 2))  # the old window's extent along the new axes
        grow = np.sqrt(((new_axes @ axes.T) ** 2) @ (edges[:, None] >= 1e-5).astype(float)[:, 0]) > 0.5
        axes, half = new_axes, np.where(grow, np.maximum(window * std, 2.0 * reach), window * std)
    return grid


@dataclass
class ExactResult:
    """log p(x) by quadrature, its error estimate and how it was obtained."""
    logpx: float
    error: float  # nats: rule + window + outside
    error_rule: float  # |log I_h − log I_2h|
    error_window: float  # edge-ring mass of the fine windows (relative)
    error_outside: float  # the scan's mass outside every window (relative)
    windows: list[Grid]  # fine grids (the first holds the main mode)
    coarse: list[Grid]
    q_grid: Grid  # the first box, ±COARSE_HALF σ around the encoder's μ: where its own q(z|x) is resolved
    log_joint: LogJoint
    decodes: int
    post_mean: np.ndarray
    post_cov: np.ndarray


@dataclass
class Scan:
    """log p(x|z) + log p(z) on the shared plane-wide grid, for one x."""
    z: np.ndarray  # (G, 2)
    log_f: np.ndarray  # (G,)
    cell: float


def exact_log_marginal(log_joint: LogJoint, mean: np.ndarray, sigma: np.ndarray, scan: Scan | None = None,
                       fine: int = FINE, refine_above: float = REFINE_ABOVE) -> ExactResult:
    """log ∫ exp(log_joint(z)) dz over the plane, adaptive to where the mass is (module docstring); the main window
    gets twice the points per axis when its |log I_h − log I_2h| exceeds refine_above nats."""
    mean, sigma = np.asarray(mean, np.float64).ravel(), np.asarray(sigma, np.float64).ravel()
    if mean.shape != (2,) or sigma.shape != (2,):
        raise ValueError(f"exact log p(x) needs a 2-D latent code, got {mean.shape[0]} dimensions")
    calls = [0]
    inner = log_joint

    def log_joint(z: np.ndarray) -> np.ndarray:
        calls[0] += len(z)
        return inner(z)

    coarse = _coarse(log_joint, mean, sigma)
    q_grid = coarse[0]
    windows = [_fine(log_joint, coarse[-1], fine)]
    outside = 0.0
    if scan is not None:
        for _ in range(MAX_MODES - 1):
            peak = max(float(w.log_f.max()) for w in windows)
            free = ~np.any([w.contains(scan.z) for w in windows + coarse], axis=0)
            cand = np.where(free, scan.log_f, -np.inf)
            best = int(np.argmax(cand))
            if not np.isfinite(cand[best]) or cand[best] < peak - MODE_GAP:
                break
            step = np.full(2, SCAN_HALF * 2 / (SCAN_POINTS - 1))
            coarse += _coarse(log_joint, scan.z[best], step / 2)
            windows.append(_fine(log_joint, coarse[-1], fine))
        free = ~np.any([w.contains(scan.z) for w in windows], axis=0)
    if abs(windows[0].log_integral() - windows[0].log_integral(stride=2)) > refine_above and fine < 2 * FINE:
        w = windows[0]  # a wide, non-Gaussian posterior: the same window with twice the points per axis
        windows[0] = evaluate_grid(Grid(w.centre, w.axes, w.half, 2 * w.n - 1), log_joint)
    parts, parts_2h, rings = [], [], []
    for k, w in enumerate(windows):
        # Points a previous window already covers are left to it (modes are far apart, so such points hold ~0 mass).
        mask = ~np.any([p.contains(w.z.reshape(-1, 2)) for p in windows[:k]], axis=0).reshape(w.n, w.n) \
            if k else None
        parts.append(w.log_integral(mask))
        parts_2h.append(w.log_integral(mask, stride=2))
        rings.append(w.ring_fraction())
    logpx = _logsumexp(parts)
    if scan is not None and np.any(free):
        outside = float(np.exp(_logsumexp(scan.log_f[free]) + np.log(scan.cell) - logpx))
    rule = abs(logpx - _logsumexp(parts_2h))
    window_err = float(max(rings))
    m, c = windows[0].moments()
    return ExactResult(logpx=logpx, error=rule + window_err + outside, error_rule=rule, error_window=window_err,
                       error_outside=outside, windows=windows, coarse=coarse, q_grid=q_grid, log_joint=log_joint,
                       decodes=calls[0], post_mean=m, post_cov=c)


# --- the CVAE's integrand ------------------------------------------------------------------------------------------

def model_log_joint(model, x: np.ndarray) -> LogJoint:
    """z (M, 2) -> log p(x|z) + log p(z) for one image x, decoding with the NumPy model."""
    x = np.asarray(x, np.float32).reshape(1, *model.arch.image_shape)

    def log_joint(z: np.ndarray) -> np.ndarray:
        params = model.decode(np.asarray(z, np.float32))
        return likelihood_entry(model.arch.likelihood).log_likelihood(np.broadcast_to(x, params.shape[:3] + x.shape[3:]), params) \
            .astype(np.float64) + log_prior(z)

    return log_joint


def plane_points(points: int = SCAN_POINTS, half: float = SCAN_HALF) -> tuple[np.ndarray, float]:
    """The scan's points (points², 2) over [-half, half]² and the area of one cell."""
    t = np.linspace(-half, half, points)
    u, v = np.meshgrid(t, t, indexing="ij")
    return np.stack([u.ravel(), v.ravel()], axis=1), float((t[1] - t[0]) ** 2)


def grid_scan(log_joint: LogJoint, points: int = SCAN_POINTS, half: float = SCAN_HALF) -> Scan:
    """The scan of any integrand (tests; models use PlaneScan, which shares the decoding between images)."""
    z, cell = plane_points(points, half)
    return Scan(z, np.asarray(log_joint(z), np.float64), cell)


class PlaneScan:
    """The decoder's output on the shared [-SCAN_HALF, SCAN_HALF]² grid, decoded once; scan(x) per image is cheap."""

    def __init__(self, model, points: int = SCAN_POINTS, half: float = SCAN_HALF,
                 decode: Callable[[np.ndarray], np.ndarray] | None = None):
        if model.latent_dim != 2:
            raise ValueError(f"the plane scan needs latent_dim 2, got {model.latent_dim}")
        self.z, self.cell = plane_points(points, half)
        self.likelihood = model.arch.likelihood
        self.params = np.asarray((decode or model.decode)(self.z.astype(np.float32)), np.float32)
        self.log_pz = log_prior(self.z)
        if likelihood_entry(self.likelihood).logits_linear:  # log p(x|z) = x·θ − Σ softplus(θ): one matrix product
            flat = self.params.reshape(len(self.z), -1).astype(np.float64)
            self._logits = flat
            self._sp = np.logaddexp(0.0, flat).sum(axis=1)

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """log p(x|z) + log p(z) at every scan point, for one image."""
        if likelihood_entry(self.likelihood).logits_linear:
            return self._logits @ np.asarray(x, np.float64).ravel() - self._sp + self.log_pz
        xs = np.broadcast_to(np.asarray(x, np.float32).reshape(1, *self.params.shape[1:3], -1),
                             (len(self.z), *self.params.shape[1:3], np.asarray(x).size // (self.params.shape[1] *
                                                                                       self.params.shape[2])))
        return likelihood_entry(self.likelihood).log_likelihood(xs, self.params).astype(np.float64) + self.log_pz

    def __call__(self, x: np.ndarray) -> Scan:
        return Scan(self.z, self.log_joint(x), self.cell)


def exact_logpx(model, x: np.ndarray, scan: PlaneScan | None = None, fine: int = FINE,
                refine_above: float = REFINE_ABOVE) -> ExactResult:
    """log p(x) of one image under a 2-D CVAE, by quadrature started at the encoder's q(z|x)."""
    if model.latent_dim != 2:
        raise ValueError(f"exact log p(x) needs latent_dim 2, got {model.latent_dim}")
    mean, logvar = model.encode(x)
    return exact_log_marginal(model_log_joint(model, x), mean[0], np.exp(0.5 * logvar[0]),
                              scan(x) if scan is not None else None, fine, refine_above)
