"""The live classroom's pure pieces: a student's drawing to the model's input and code, the QR code of the join
address, the projected class map (plotly) and its PNG export (Pillow). No Streamlit here."""

from __future__ import annotations

import io
import math
from typing import Sequence
from urllib.parse import urlencode, urlsplit

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from ..store.classes import GUESS_NOT_A_DIGIT, Submission
from . import own_digit as od
from .figures import CLASS_COLORS, latent_map_figure, map_coords

MAX_DRAWING_BYTES = 300_000  # the canvas's 280×280 PNG is a few kB
MAX_DRAWING_PIXELS = 1024 * 1024
NEW_SECONDS = 10.0  # a point is marked "new" this long
CLASS_TRACE = "class drawings"
NEW_TRACE = "new"
STAR_TRACE = "★"
JOIN_PAGE = "Join"


def drawing_to_input(png: bytes) -> np.ndarray:
    """A drawn PNG -> the model's 28×28 binary input; size-checked before its pixels are decoded (ImageRejected)."""
    if not isinstance(png, (bytes, bytearray)):
        raise od.ImageRejected("no drawing")
    grey = od.decode_image(bytes(png), max_bytes=MAX_DRAWING_BYTES, max_pixels=MAX_DRAWING_PIXELS)
    return od.preprocess(grey).binary


def join_url(base: str, code: str, lang: str | None = None) -> str:
    """The students' address of class `code` on the server at `base` ('http://10.0.0.5:8501/...'): /Join?code=…"""
    parts = urlsplit(base if "://" in base else f"http://{base}")
    query = {"code": code}
    if lang and lang != "en":
        query["lang"] = lang
    return f"{parts.scheme or 'http'}://{parts.netloc}/{JOIN_PAGE}?{urlencode(query)}"


def server_base(url: str) -> str:
    """scheme://host:port of an address (its path and query, e.g. a teacher key, dropped)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme or 'http'}://{parts.netloc}"


def local_only(url: str) -> bool:
    """True when the address only works on this machine (localhost / 127.x): phones could not open it."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1", "") or host.startswith("127.")


def qr_png(text: str, scale: int = 8) -> bytes:
    """A QR code of `text` as PNG bytes (segno, generated locally: no network)."""
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def class_map_figure(bg_xy: np.ndarray, bg_labels: np.ndarray, names: Sequence[str], subs: Sequence[Submission],
                     pca, *, now: float, axis_titles: tuple[str, str], ranges, height: int = 600,
                     star_xy: Sequence[float] | None = None, circle: tuple[float, float, float] | None = None,
                     selected: int | None = None, click_grid: int = 25, lang: str = "en") -> go.Figure:
    """The projected map: the test digits faint, the class's drawings as large rings (new ones filled red, with
    the student's name), the ★ of a predict round, the circle of a circle round. customdata of a drawing = its id."""
    fig = latent_map_figure(bg_xy, bg_labels, names, current=None, axis_titles=axis_titles, ranges=ranges,
                            height=height, marker_size=5.0, click_grid=click_grid, legend=False, lang=lang)
    # No legend (it would take a third of a projector's height): each class's name sits on its cluster.
    for c, name in enumerate(names):
        m = np.asarray(bg_labels) == c
        if m.sum() >= 5:
            mx, my = np.median(np.asarray(bg_xy)[m], axis=0)
            fig.add_annotation(x=float(mx), y=float(my), text=f"<b>{name}</b>", showarrow=False,
                               font=dict(size=22, color=CLASS_COLORS[c % 10]), bgcolor="rgba(255,255,255,0.6)")
    for tr in fig.data:
        if tr.name not in ("click target",) and tr.marker is not None:
            tr.marker.opacity = 0.35
            tr.selected = dict(marker=dict(opacity=0.35))
            tr.unselected = dict(marker=dict(opacity=0.35))
    if subs:
        xy = map_coords(np.array([s.code for s in subs], np.float32), pca)
        new = np.array([now - s.created <= NEW_SECONDS for s in subs])
        ids = np.array([s.id for s in subs])
        names_ = np.array([s.name for s in subs], dtype=object)
        for name, mask, style in ((CLASS_TRACE, ~new, dict(size=16, color="rgba(255,255,255,0.9)",
                                                            line=dict(color="black", width=2.5))),
                                  (NEW_TRACE, new, dict(size=22, color="#e4007c", line=dict(color="black", width=2.5)))):
            if not mask.any():
                continue
            fig.add_trace(go.Scattergl(
                x=np.round(xy[mask, 0], 3), y=np.round(xy[mask, 1], 3), customdata=ids[mask].tolist(),
                mode="markers+text" if name == NEW_TRACE else "markers", name=name,
                text=list(names_[mask]) if name == NEW_TRACE else None, textposition="top center",
                textfont=dict(size=16), marker=dict(symbol="circle", **style),
                selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
                hovertemplate="%{customdata}<extra></extra>"))
        if selected is not None and selected in set(ids.tolist()):
            i = int(np.flatnonzero(ids == selected)[0])
            fig.add_trace(go.Scattergl(x=[float(xy[i, 0])], y=[float(xy[i, 1])], mode="markers", name="selected",
                                       showlegend=False, hoverinfo="skip",
                                       marker=dict(size=34, color="rgba(0,0,0,0)",
                                                   line=dict(color="#0072B2", width=4))))
    if star_xy is not None:
        fig.add_trace(go.Scattergl(x=[float(star_xy[0])], y=[float(star_xy[1])], mode="markers", name=STAR_TRACE,
                                   marker=dict(symbol="star", size=34, color="#ffd500",
                                               line=dict(color="black", width=2)), hoverinfo="skip"))
    if circle is not None:
        cx, cy, r = circle
        fig.add_shape(type="circle", x0=cx - r, y0=cy - r, x1=cx + r, y1=cy + r,
                      line=dict(color="#0072B2", width=4, dash="dash"), fillcolor="rgba(0,114,178,0.08)")
    fig.update_layout(uirevision="class-map")
    return fig


def histogram_figure(hist: dict[int, int], not_a_digit: str, height: int = 300) -> go.Figure:
    """Bars of the class's guesses: 0–9 and 'not a digit'."""
    keys = list(range(10)) + [GUESS_NOT_A_DIGIT]
    labels = [str(k) for k in range(10)] + [not_a_digit]
    counts = [int(hist.get(k, 0)) for k in keys]
    fig = go.Figure(go.Bar(x=labels, y=counts, text=counts, textposition="outside", marker_color="#0072B2",
                           hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=20, b=10), xaxis=dict(type="category"),
                      yaxis=dict(rangemode="tozero", dtick=max(1, math.ceil(max(counts + [1]) / 5))))
    return fig


def map_png(bg_xy: np.ndarray, bg_labels: np.ndarray, class_xy: np.ndarray, ranges, size: int = 900) -> bytes:
    """The class map as a PNG (Pillow): test digits as small class-coloured dots, the class's drawings as rings."""
    (x0, x1), (y0, y1) = ranges
    im = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(im)
    pad = 30

    def px(x: float, y: float) -> tuple[float, float]:
        return (pad + (x - x0) / (x1 - x0) * (size - 2 * pad), size - pad - (y - y0) / (y1 - y0) * (size - 2 * pad))

    draw.rectangle([pad, pad, size - pad, size - pad], outline="#888888")
    ox, oy = px(0.0, 0.0)
    draw.line([pad, oy, size - pad, oy], fill="#cccccc")
    draw.line([ox, pad, ox, size - pad], fill="#cccccc")
    for (x, y), c in zip(np.asarray(bg_xy, float), np.asarray(bg_labels, int)):
        u, v = px(x, y)
        draw.ellipse([u - 2.5, v - 2.5, u + 2.5, v + 2.5], fill=CLASS_COLORS[c % 10])
    for x, y in np.asarray(class_xy, float).reshape(-1, 2):
        u, v = px(x, y)
        draw.ellipse([u - 8, v - 8, u + 8, v + 8], fill="white", outline="black", width=3)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
