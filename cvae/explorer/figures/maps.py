"""Figure builders: pure functions from arrays to plotly figures (images, the latent map, paths on it)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ...store.latent_means import MAP_DIGITS
from ..i18n import _, translate
from ..maths.latent import PCA2, PRIOR_HIGH, PRIOR_LOW

MAP_POINTS = MAP_DIGITS  # one map everywhere: the first 2,000 test digits (all of them if the test set is smaller)
# Colour-blind-safe: Okabe & Ito's palette (its black swapped for grey, visible on a dark theme) plus two of Paul
# Tol's muted colours; every class also has its own marker symbol, so no class differs by colour alone.
# Classes 4 and 8 use Tol's lighter blue and purple (Okabe–Ito's #0072B2 and Tol's #882255 vanished on a dark map).
CLASS_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#4477AA",
                "#D55E00", "#CC79A7", "#999999", "#AA3377", "#44AA99")
CLASS_SYMBOLS = ("circle", "square", "diamond", "cross", "x",
                 "triangle-up", "triangle-down", "triangle-left", "triangle-right", "hexagon")
MAP_UIREVISION = "latent-map"  # constant: plotly keeps legend clicks (hidden classes) across reruns
SLIDER_LOW = round(PRIOR_LOW, 2)
SLIDER_HIGH = round(PRIOR_HIGH, 2)


def image_figure(image: np.ndarray, height: int = 320, title: str | None = None,
                 hover: str = "p(pixel = 1)") -> go.Figure:
    """A greyscale image as a plotly heatmap: 'gray' colour scale fixed to 0..1 (value = brightness, as the
    tutorial's imshow(cmap='gray')), square pixels, no axes."""
    img = np.asarray(image, np.float32)
    if _is_rgb(img):
        fig = go.Figure(_rgb_trace(img, hover))
    else:
        img = img.reshape(img.shape[-3], img.shape[-2]) if img.ndim > 2 else img
        fig = go.Figure(go.Heatmap(
            z=np.round(img, 3), colorscale="gray", zmin=0.0, zmax=1.0, showscale=False,
            hovertemplate=f"{_where()}<br>{hover} = %{{z:.2f}}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=36 if title else 4, b=4),
                      title=dict(text=title, x=0.5, xanchor="center", font=dict(size=18)) if title else None,
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    return fig


def _where() -> str:
    """The hover's pixel position in the session's language (Plotly fills %{y} and %{x})."""
    return _("row {row}, column {col}", row="%{y}", col="%{x}")


def _is_rgb(img: np.ndarray) -> bool:
    return img.ndim == 3 and img.shape[-1] == 3


def _rgb_trace(img: np.ndarray, hover: str) -> go.Image:
    """A colour image (H, W, 3) in [0, 1] as a plotly Image trace (8-bit values)."""
    z = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return go.Image(z=z, hovertemplate=f"{_where()}<br>{hover} (RGB) = %{{z}}<extra></extra>")


def images_row_figure(images: Sequence[np.ndarray], titles: Sequence[str], height: int = 240,
                      hovers: Sequence[str] | None = None) -> go.Figure:
    """Several greyscale images side by side in ONE figure (one plotly instance instead of many), same 0..1
    'gray' scale as image_figure."""
    from plotly.subplots import make_subplots

    n = len(images)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.03)
    for i, img in enumerate(images):
        img = np.asarray(img, np.float32)
        hover = hovers[i] if hovers else "value"
        if _is_rgb(img):
            fig.add_trace(_rgb_trace(img, hover), row=1, col=i + 1)
        else:
            img = img.reshape(img.shape[-3], img.shape[-2]) if img.ndim > 2 else img
            fig.add_trace(go.Heatmap(z=np.round(img, 3), coloraxis="coloraxis", hovertemplate=(
                f"{_where()}<br>{hover} = %{{z:.2f}}<extra></extra>")), row=1, col=i + 1)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=i + 1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", scaleratio=1,
                         constrain="domain", row=1, col=i + 1)
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=40, b=4),
                      coloraxis=dict(colorscale="gray", cmin=0.0, cmax=1.0, showscale=False),
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    fig.update_annotations(font_size=16)
    return fig


def tile_images(images: np.ndarray, ncols: int, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """N images (N,28,28[,1]) or (N,H,W,3) in a grid with thin grey separators (so digits are told apart)."""
    arr = np.asarray(images, np.float32)
    arr = arr if arr.ndim == 4 and arr.shape[-1] == 3 else arr.reshape(len(arr), arr.shape[1], arr.shape[2])
    n, h, w = arr.shape[:3]
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *arr.shape[3:]), pad_value, np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = arr[i]
    return out


def map_projection(means: np.ndarray) -> tuple[np.ndarray, PCA2 | None, tuple[str, str]]:
    """2-D coordinates of latent codes for a map: the codes themselves (d=2), their PCA (d>2), or (z, class) (d=1)."""
    d = means.shape[1]
    if d == 2:
        return np.asarray(means, np.float32), None, ("z₁", "z₂")
    if d == 1:
        return np.asarray(means, np.float32), None, ("z₁", _("class"))
    pca = PCA2(means)
    return pca.transform(means), pca, (_("principal component {i}", i=1), _("principal component {i}", i=2))


def map_ranges(xy: np.ndarray, d: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges: the slider range for d=2, the data's 0.5–99.5 % range (padded) for PCA maps."""
    if d <= 2:
        return (SLIDER_LOW, SLIDER_HIGH), (SLIDER_LOW, SLIDER_HIGH)
    lo = np.percentile(xy, 0.5, axis=0)
    hi = np.percentile(xy, 99.5, axis=0)
    pad = 0.1 * (hi - lo) + 1e-3
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def latent_map_figure(xy: np.ndarray, labels: np.ndarray, names: Sequence[str], *, current: Sequence[float] | None,
                      axis_titles: tuple[str, str], ranges, height: int = 560, marker_size: float = 6.0,
                      click_grid: int = 0, legend: bool = True, strip: bool = False, webgl: bool = True,
                      legend_side: str = "top", lang: str = "en") -> go.Figure:
    """Scatter of encoded test digits, a colour and a symbol per class, the current code as a star, and
    (click_grid > 0) an invisible grid of clickable points so a click anywhere reports its position (heatmaps and
    empty space send no click events). One unit is as long on both axes (except the d=1 strip). legend_side "right"
    stacks the legend beside the plot: on a wide, short screen (a projector) a legend above it takes the height."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    fig = go.Figure()
    Scatter = go.Scattergl if webgl else go.Scatter  # noqa: N806 (WebGL for thousands of points)
    (x0, x1), (y0, y1) = ranges
    if click_grid:
        gy = np.linspace(y0, y1, click_grid) if not strip else np.linspace(-0.5, 9.5, 21)
        gx = np.linspace(x0, x1, click_grid)
        xx, yy = np.meshgrid(gx, gy)
        fig.add_trace(Scatter(
            x=np.round(xx.ravel(), 3), y=np.round(yy.ravel(), 3), mode="markers", name=tr("click target"),
            marker=dict(size=10, color="rgba(0,0,0,0)"), showlegend=False,  # invisible, still hoverable
            selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
            hovertemplate=(tr("click to decode") + " z₁ = %{x:.2f}" if strip else
                           tr("click to decode") + f" ({axis_titles[0]} = %{{x:.2f}}, {axis_titles[1]} = %{{y:.2f}})")
            + "<extra></extra>"))
    labels = np.asarray(labels)
    y_plot = xy[:, 1] if not strip else labels + np.random.default_rng(0).uniform(-0.35, 0.35, len(labels))
    for c in range(len(names)):
        m = labels == c
        if not m.any():
            continue
        fig.add_trace(Scatter(
            x=np.round(xy[m, 0], 3), y=np.round(y_plot[m], 3), mode="markers", name=str(names[c]),
            marker=dict(size=marker_size, color=CLASS_COLORS[c % 10], symbol=CLASS_SYMBOLS[c % 10], opacity=0.75),
            selected=dict(marker=dict(opacity=0.75)), unselected=dict(marker=dict(opacity=0.75)),
            hovertemplate=f"{tr('class')} {names[c]}<br>μ = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>" if not strip
            else f"{tr('class')} {names[c]}<br>μ = %{{x:.2f}}<extra></extra>"))
    if current is not None:
        cy = current[1] if not strip else -0.9
        # Same trace type as the dots: WebGL traces are drawn above SVG ones, which would hide the star.
        fig.add_trace(Scatter(
            x=[float(current[0])], y=[float(cy)], mode="markers", name=tr("current z"), showlegend=legend,
            marker=dict(symbol="star", size=22, color="#ffd500", line=dict(color="black", width=2)),
            hovertemplate=tr("current z") + "<extra></extra>"))
    fig.update_xaxes(title=axis_titles[0], range=[x0, x1], zeroline=True, zerolinecolor="#bbb")
    if strip:
        fig.update_yaxes(title=tr("class"), range=[-1.4, 9.6], tickvals=list(range(len(names))),
                         ticktext=list(names))
    else:
        fig.update_xaxes(constrain="domain")
        # A square plot narrower than the figure is tall (a phone) sits at the top, under its legend, not
        # halfway down with a gap above it.
        fig.update_yaxes(title=axis_titles[1], range=[y0, y1], zeroline=True, zerolinecolor="#bbb",
                         scaleanchor="x", scaleratio=1, constrain="domain", constraintoward="top")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=legend,
                      legend=dict(title=tr("class") + " ", itemsizing="constant", font=dict(size=15), xanchor="left",
                                  **(dict(orientation="v", y=1, yanchor="top", x=1.02) if legend_side == "right" else
                                     dict(orientation="h", y=1.01, yanchor="bottom", x=0))),
                      dragmode=False, hovermode="closest", clickmode="event+select", uirevision=MAP_UIREVISION)
    return fig


def z_from_click(point: dict[str, Any], latent_dim: int, pca: PCA2 | None) -> np.ndarray:
    """The latent code under a clicked map point: (x, y) for d=2, x for d=1, PCA2.inverse(x, y) for d>2;
    clipped to the slider range and rounded to its 0.01 step."""
    x, y = float(point["x"]), float(point["y"])
    if latent_dim == 1:
        z = np.array([x])
    elif latent_dim == 2 or pca is None:
        z = np.array([x, y])
    else:
        z = pca.inverse(np.array([[x, y]]))[0]
    return np.round(np.clip(z, SLIDER_LOW, SLIDER_HIGH), 2)


def map_coords(codes: np.ndarray, pca: PCA2 | None, strip: bool = False) -> np.ndarray:
    """(N, 2) positions of latent codes on a latent map made by map_projection: the codes (d=2), their PCA
    coordinates (d>2), or (z, below the class rows) on the d=1 strip."""
    codes = np.asarray(codes, np.float32)
    if strip:
        return np.stack([codes[:, 0], np.full(len(codes), -0.9, np.float32)], axis=1)
    return pca.transform(codes) if pca is not None else codes[:, :2]


PATH_COLORS = ("#111111", "#e4007c")
PATH_COLORS_DARK = ("#f2f2f2", "#ff5fb0")  # the same two paths, visible on a dark theme


def add_paths_to_map(fig: go.Figure, paths: dict[str, np.ndarray], webgl: bool = True,
                     lang: str = "en", dark: bool = False) -> go.Figure:
    """Draw latent paths (label -> (N, 2) map positions) over a latent_map_figure, with A and B marked at the
    ends. Same trace type as the map's dots (WebGL traces are drawn above SVG ones)."""
    Scatter = go.Scattergl if webgl else go.Scatter  # noqa: N806
    colors = PATH_COLORS_DARK if dark else PATH_COLORS
    for i, (label, xy) in enumerate(paths.items()):
        fig.add_trace(Scatter(x=np.round(xy[:, 0], 3), y=np.round(xy[:, 1], 3), mode="lines+markers", name=label,
                              line=dict(color=colors[i % 2], width=3, dash="solid" if i == 0 else "dot"),
                              marker=dict(size=6, color=colors[i % 2]), hoverinfo="skip"))
    first = next(iter(paths.values()))
    fig.add_trace(Scatter(x=[float(first[0, 0]), float(first[-1, 0])], y=[float(first[0, 1]), float(first[-1, 1])],
                          mode="markers+text", text=["A", "B"], textposition="top center",
                          name=translate("endpoints", lang), textfont=dict(size=20),
                          marker=dict(symbol="star", size=20, color="#ffd500", line=dict(color="black", width=2)),
                          hovertemplate="%{text}<extra></extra>"))
    return fig
