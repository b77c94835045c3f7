"""Figure builders of the diagnostics (pure functions): KL per dimension, the recon/KL split, σ ellipses."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ...store.metrics import ACTIVE_THRESHOLD
from ..maths.diagnostics import ellipse_path
from .maps import CLASS_COLORS
from ..i18n import translate


def kl_bar_figure(kl_per_dim: Sequence[float], activity: Sequence[float], height: int = 320,
                  lang: str = "en") -> go.Figure:
    """KL per latent dimension as bars, ordered by dimension; active units (activity > 0.01) in colour."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    kl = np.asarray(kl_per_dim, np.float64)
    act = np.asarray(activity, np.float64)
    active = act > ACTIVE_THRESHOLD
    names = [f"z{i + 1}" for i in range(len(kl))]
    fig = go.Figure(go.Bar(
        x=names, y=np.round(kl, 4), marker_color=np.where(active, "#1f77b4", "#c7c7c7"),
        customdata=np.stack([np.round(act, 4), np.where(active, tr("active"), tr("inactive"))], axis=1),
        hovertemplate="%{x}: KL %{y:.3f} " + tr("nats") + "<br>" + tr("Var of μ over x") + " = %{customdata[0]} (%{customdata[1]})"
                      "<extra></extra>"))
    fig.update_yaxes(title=tr("KL per dimension (nats)"), rangemode="tozero")
    fig.update_xaxes(title=tr("latent dimension (grey = inactive)"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


def split_figure(epochs: Sequence[dict], height: int = 320, lang: str = "en") -> go.Figure:
    """Per epoch: the test reconstruction term and the KL term (the ELBO is their difference)."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    ep = [r["epoch"] for r in epochs]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=ep, y=[-(r.get("test_logpx_z") or 0.0) for r in epochs],
                         name=tr("−E[log p(x|z)] (reconstruction)"), marker_color="#ff7f0e"))
    fig.add_trace(go.Bar(x=ep, y=[r.get("test_kl") for r in epochs], name="KL", marker_color="#9467bd"))
    fig.update_layout(barmode="stack", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, font=dict(size=14)))
    fig.update_xaxes(title=tr("epoch"), dtick=1 if len(ep) <= 12 else None)
    fig.update_yaxes(title=tr("−ELBO = reconstruction + KL (nats)"))
    return fig


def kl_epochs_figure(epochs: Sequence[dict], height: int = 300, lang: str = "en") -> go.Figure | None:
    """KL per latent dimension after each epoch (the trainer's rows), as a heatmap: dimensions up, epochs across;
    the hover says whether each dimension was active then. None when no row has the per-dimension figures."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    rows = [r for r in epochs if r.get("test_kl_per_dim")]
    if not rows:
        return None
    d = max(len(r["test_kl_per_dim"]) for r in rows)
    kl = np.full((d, len(rows)), np.nan)
    state = np.full((d, len(rows)), "", dtype=object)
    for j, r in enumerate(rows):
        kl[:len(r["test_kl_per_dim"]), j] = r["test_kl_per_dim"]
        for i, a in enumerate(r.get("test_activity") or []):
            state[i, j] = tr("active") if a > ACTIVE_THRESHOLD else tr("inactive")
    fig = go.Figure(go.Heatmap(
        z=np.round(kl, 4), x=[r["epoch"] for r in rows], y=[f"z{i + 1}" for i in range(d)], customdata=state,
        colorscale="Viridis", zmin=0.0, zmax=max(float(np.nanmax(kl)), 1e-3),  # from 0: a collapsed row is dark
        colorbar=dict(title=dict(text="KL (nats)", side="right"), thickness=12),
        hovertemplate=tr("epoch") + " %{x}, %{y}: KL %{z:.3f} nats %{customdata}<extra></extra>", xgap=1, ygap=1))
    fig.update_xaxes(title=tr("epoch"), dtick=1 if len(rows) <= 20 else None)
    fig.update_yaxes(title=tr("latent dimension"), autorange="reversed")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def add_ellipses(fig: go.Figure, mean: np.ndarray, logvar: np.ndarray, labels: np.ndarray, n_sigma: float = 1.0,
                 webgl: bool = True) -> go.Figure:
    """One n-σ ellipse of q(z|x) per code (2-D), one trace per class in the map's colours (None breaks lines)."""
    Scatter = go.Scattergl if webgl else go.Scatter  # noqa: N806 (the map's dots are WebGL: drawn above SVG)
    sigma = np.exp(0.5 * np.asarray(logvar, np.float64))
    labels = np.asarray(labels)
    for c in np.unique(labels):
        parts = []
        for i in np.flatnonzero(labels == c):
            parts += [ellipse_path(mean[i], sigma[i], n_sigma, 24), np.full((1, 2), np.nan)]
        xy = np.concatenate(parts)
        fig.add_trace(Scatter(x=np.round(xy[:, 0], 3), y=np.round(xy[:, 1], 3), mode="lines", hoverinfo="skip",
                              line=dict(color=CLASS_COLORS[int(c) % 10], width=1), opacity=0.45,
                              showlegend=False, connectgaps=False))
    return fig
