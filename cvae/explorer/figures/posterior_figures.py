"""Pure figure builders for the true posterior: p(z|x) as a heatmap with contours, the encoder's q(z|x) 1- and 2-σ
ellipses and the optimised q*'s ellipse; the gaps of a test set per class."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ..maths.diagnostics import ellipse_path
from ..i18n import translate
from ..maths.gaps import Gaps
from ..maths.posterior import Grid

DISPLAY_POINTS = 90  # per axis of the display raster
HPD_LEVELS = (0.393, 0.865)  # mass inside a 2-D Gaussian's 1-σ and 2-σ ellipses


def _interpolate(grid: Grid, z: np.ndarray) -> np.ndarray:
    """log f at points z (M, 2) by bilinear interpolation in the grid's own coordinates; -inf outside it."""
    uv = grid.local(z) / grid.steps + (grid.n - 1) / 2.0
    inside = np.all((uv >= 0) & (uv <= grid.n - 1), axis=1)
    i0 = np.clip(np.floor(uv).astype(int), 0, grid.n - 2)
    t = np.clip(uv - i0, 0.0, 1.0)
    lf = grid.log_f
    a, b = i0[:, 0], i0[:, 1]
    out = ((1 - t[:, 0]) * (1 - t[:, 1]) * lf[a, b] + t[:, 0] * (1 - t[:, 1]) * lf[a + 1, b]
           + (1 - t[:, 0]) * t[:, 1] * lf[a, b + 1] + t[:, 0] * t[:, 1] * lf[a + 1, b + 1])
    return np.where(inside, out, -np.inf)


def posterior_raster(g: Gaps, points: int = DISPLAY_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z₁ values, z₂ values, p(z|x) on that raster): an axis-aligned view of the main window, zero outside it."""
    w = g.result.windows[0]
    corners = np.array([[sx, sy] for sx in (-1, 1) for sy in (-1, 1)]) * w.half @ w.axes + w.centre
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    # Wide enough for the encoder's 2-σ ellipse too, so the picture shows where the guess is even when it is far off.
    lo = np.minimum(lo, g.mu - 2.2 * g.sigma)
    hi = np.maximum(hi, g.mu + 2.2 * g.sigma)
    z1, z2 = np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points)
    u, v = np.meshgrid(z1, z2, indexing="xy")
    lf = _interpolate(w, np.stack([u.ravel(), v.ravel()], axis=1)).reshape(points, points)
    return z1, z2, np.exp(lf - g.logpx)


def _hpd_thresholds(density: np.ndarray, levels: Sequence[float]) -> list[float]:
    """Density values whose superlevel sets hold the given shares of the raster's mass."""
    d = np.sort(density.ravel())[::-1]
    c = np.cumsum(d) / max(d.sum(), 1e-300)
    return [float(d[min(np.searchsorted(c, q), len(d) - 1)]) for q in levels]


def posterior_figure(g: Gaps, height: int = 460, lang: str = "en") -> go.Figure:
    """p(z|x) (heatmap and its 39 %/86 % contours) under the encoder's 1- and 2-σ ellipses and q*'s 1-σ ellipse."""
    tr = lambda text, **f: translate(text, lang, **f)  # noqa: E731
    z1, z2, dens = posterior_raster(g)
    fig = go.Figure(go.Heatmap(x=z1, y=z2, z=dens, colorscale="Blues", showscale=False, zsmooth="best",
                               name=tr("true posterior p(z|x)"),
                               hovertemplate="z = (%{x:.3f}, %{y:.3f})<br>p(z|x) = %{z:.3g}<extra></extra>"))
    levels = _hpd_thresholds(dens, HPD_LEVELS)
    for level, dash in zip(levels, ("solid", "dot")):
        fig.add_trace(go.Contour(x=z1, y=z2, z=dens, showscale=False, contours=dict(start=level, end=level, size=1,
                                 coloring="none"), line=dict(color="#08306b", width=1.5, dash=dash),
                                 hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="#08306b", width=1.5),
                             name=tr("p(z|x): 39 % and 86 % of its mass")))
    for n_sigma, dash, show in ((1.0, "solid", True), (2.0, "dash", False)):
        path = ellipse_path(g.mu, g.sigma, n_sigma, 60)
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", line=dict(color="#d95f02", width=2.5,
                                 dash=dash), name=tr("encoder q(z|x): 1σ and 2σ"), showlegend=show,
                                 legendgroup="q", hoverinfo="skip"))
    path = ellipse_path(g.mu_star, g.sigma_star, 1.0, 60)
    fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", line=dict(color="#1b9e77", width=2.5),
                             name=tr("best Gaussian q*: 1σ"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[g.mu[0], g.mu_star[0]], y=[g.mu[1], g.mu_star[1]], mode="markers",
                             marker=dict(color=["#d95f02", "#1b9e77"], size=9, symbol=["x", "cross"]),
                             showlegend=False, hovertemplate="(%{x:.3f}, %{y:.3f})<extra></extra>"))
    fig.update_xaxes(title="z₁")
    fig.update_yaxes(title="z₂", scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="#f7fbff",  # Blues at 0
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return fig


def gaps_by_class_figure(summary: dict, names: Sequence[str], height: int = 320, lang: str = "en") -> go.Figure:
    """Mean approximation and amortization gaps per class, stacked: together they are KL(q(z|x) ‖ p(z|x))."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    per = summary.get("per_class", {})
    classes = sorted(per, key=int)
    labels = [names[int(c)] for c in classes]
    fig = go.Figure([
        go.Bar(x=labels, y=[per[c]["approximation_gap"] for c in classes], name=tr("approximation gap"),
               marker_color="#1b9e77"),
        go.Bar(x=labels, y=[per[c]["amortization_gap"] for c in classes], name=tr("amortization gap"),
               marker_color="#d95f02")])
    fig.update_layout(barmode="stack", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    fig.update_yaxes(title=tr("nats (mean over the digits)"), rangemode="tozero")
    return fig


LAYERS = ("none", "holes", "magnification")


def add_layer(fig: go.Figure, axis: np.ndarray, values: np.ndarray, kind: str, lang: str = "en") -> go.Figure:
    """Put a map layer under the points: log q(z)/p(z) (diverging: red where the prior's mass goes unused) or the
    decoder's magnification (log scale)."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    if kind == "holes":
        lim = 6.0
        trace = go.Heatmap(x=axis, y=axis, z=np.clip(values, -lim, lim), zmin=-lim, zmax=lim, colorscale="RdBu",
                           zsmooth="best",
                           opacity=0.55, colorbar=dict(title=dict(text="log q(z)/p(z)"), len=0.6),
                           name=tr("aggregate posterior vs prior"),
                           hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>log q(z)/p(z) = %{z:.2f}<extra></extra>")
    else:
        trace = go.Heatmap(x=axis, y=axis, z=np.log10(np.maximum(values, 1e-6)), colorscale="Viridis",
                           zsmooth="best",
                           opacity=0.6, colorbar=dict(title=dict(text="log₁₀ √det(JᵀJ)"), len=0.6),
                           name=tr("decoder magnification"),
                           hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>log₁₀ √det(JᵀJ) = %{z:.2f}"
                                         "<extra></extra>")
    fig.add_trace(trace)
    fig.data = (fig.data[-1],) + fig.data[:-1]  # under the points
    return fig
