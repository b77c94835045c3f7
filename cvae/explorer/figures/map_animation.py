"""The latent map forming over the epochs: a Plotly animation (slider + play) and GIF frames (pure functions)."""

from __future__ import annotations

from typing import Sequence

import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from .maps import CLASS_COLORS, CLASS_SYMBOLS, SLIDER_HIGH, SLIDER_LOW, map_projection, map_ranges
from ..i18n import translate


def _class_traces(xy: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> list[go.Scatter]:
    # SVG Scatter, not Scattergl: frames animate the same traces, one per class, always present (maybe empty).
    return [go.Scatter(x=np.round(xy[labels == c, 0], 3), y=np.round(xy[labels == c, 1], 3), mode="markers",
                       name=str(names[c]), marker=dict(size=5, color=CLASS_COLORS[c % 10], opacity=0.75,
                                                       symbol=CLASS_SYMBOLS[c % 10]),
                       hovertemplate=f"{names[c]}<extra></extra>") for c in range(len(names))]


def _regular(n: int, rot: float, r: float = 1.0) -> list[tuple[float, float]]:
    return [(r * math.cos(rot + 2 * math.pi * k / n), r * math.sin(rot + 2 * math.pi * k / n)) for k in range(n)]


def _plus(w: float) -> list[tuple[float, float]]:
    return [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]


# Unit outlines of CLASS_SYMBOLS (y down), as the latent pad draws them (static/latent_pad.js SHAPES).
MARKER_SHAPES = {
    "circle": _regular(16, 0), "square": _regular(4, math.pi / 4, 1.15), "diamond": _regular(4, 0, 1.25),
    "cross": _plus(0.36), "x": [((x - y) * 0.85, (x + y) * 0.85) for x, y in _plus(0.36)],
    "triangle-up": _regular(3, -math.pi / 2, 1.25), "triangle-down": _regular(3, math.pi / 2, 1.25),
    "triangle-left": _regular(3, math.pi, 1.25), "triangle-right": _regular(3, 0, 1.25),
    "hexagon": _regular(6, 0, 1.1),
}


def project_epochs(means: np.ndarray) -> np.ndarray:
    """(E, N, 2) map positions of every epoch's means: the codes (d = 2), (z, 0) for d = 1, or one PCA of the last
    epoch for d > 2 (one projection for all frames, so the motion is the model's, not the projection's)."""
    means = np.asarray(means, np.float32)
    d = means.shape[2]
    if d == 2:
        return means
    if d == 1:
        return np.concatenate([means, np.zeros_like(means)], axis=2)
    _, pca, _ = map_projection(means[-1])
    return np.stack([pca.transform(m) for m in means])


def animation_ranges(xy: np.ndarray, d: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Ranges holding every epoch's codes (0.5–99.5 %, padded) and, for d ≤ 2, at least the latent plane's ±3.09:
    early epochs sit in the prior's box, later ones can spread past it."""
    (x0, x1), (y0, y1) = map_ranges(xy.reshape(-1, 2), 3)
    if d <= 2:
        x0, y0, x1, y1 = min(x0, SLIDER_LOW), min(y0, SLIDER_LOW), max(x1, SLIDER_HIGH), max(y1, SLIDER_HIGH)
    return (x0, x1), (y0, y1)


def map_animation_figure(epochs: Sequence[int], means: np.ndarray, labels: np.ndarray, names: Sequence[str],
                         height: int = 560, lang: str = "en") -> go.Figure:
    """One frame per epoch, an epoch slider and a play button; equal units on both axes."""
    xy = project_epochs(means)
    labels = np.asarray(labels)
    d = np.shape(means)[2]
    (x0, x1), (y0, y1) = animation_ranges(xy, d)
    frames = [go.Frame(data=_class_traces(xy[i], labels, names), name=str(e)) for i, e in enumerate(epochs)]
    fig = go.Figure(data=_class_traces(xy[-1], labels, names), frames=frames)
    steps = [dict(method="animate", label=str(e), args=[[str(e)], dict(mode="immediate", frame=dict(
        duration=0, redraw=False), transition=dict(duration=0))]) for e in epochs]
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40, b=10), dragmode=False, hovermode="closest",
        legend=dict(title=translate("class", lang) + " ", itemsizing="constant", orientation="h", y=1.01, yanchor="bottom", x=0),
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=-0.08, xanchor="left", yanchor="top",
                          buttons=[dict(label="▶ " + translate("Play", lang), method="animate", args=[None, dict(
                              frame=dict(duration=500, redraw=False), transition=dict(duration=300),
                              fromcurrent=False, mode="immediate")])])],
        sliders=[dict(active=len(epochs) - 1, steps=steps, x=0.1, len=0.9, y=-0.05, yanchor="top",
                      currentvalue=dict(prefix=translate("epoch", lang) + " ", font=dict(size=16)))])
    # A unit is as long across as up (distances read true); the plot narrows rather than widening the range.
    fig.update_xaxes(range=[x0, x1], zeroline=True, zerolinecolor="#bbb", title="z₁" if d <= 2 else "PC 1",
                     constrain="domain")
    fig.update_yaxes(range=[y0, y1], zeroline=True, zerolinecolor="#bbb", title="z₂" if d == 2 else ("PC 2" if d > 2 else ""),
                     scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def map_gif_frames(epochs: Sequence[int], means: np.ndarray, labels: np.ndarray, size: int = 360) -> list[Image.Image]:
    """The map of each epoch rasterized (dots in the class colours, the epoch written in a corner), for a GIF."""
    xy = project_epochs(means)
    d = np.shape(means)[2]
    (x0, x1), (y0, y1) = animation_ranges(xy, d)
    side = max(x1 - x0, y1 - y0)  # one scale for both axes (a square image), centred
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    (x0, x1), (y0, y1) = (cx - side / 2, cx + side / 2), (cy - side / 2, cy + side / 2)
    colors = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in CLASS_COLORS]
    out = []
    for i, e in enumerate(epochs):
        im = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(im)
        px = (xy[i, :, 0] - x0) / (x1 - x0) * (size - 1)
        py = (1 - (xy[i, :, 1] - y0) / (y1 - y0)) * (size - 1)
        for x, y, c in zip(px, py, np.asarray(labels)):
            shape = MARKER_SHAPES[CLASS_SYMBOLS[int(c) % 10]]
            draw.polygon([(x + 2.5 * u, y + 2.5 * v) for u, v in shape], fill=colors[int(c) % 10])
        draw.text((6, 6), f"epoch {e}", fill="black")
        out.append(im)
    return out
