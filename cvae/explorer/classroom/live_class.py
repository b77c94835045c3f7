"""The live classroom's pure pieces: a student's drawing to the model's input and code, the QR code of the join
address, the projected class map (plotly) and its PNG export (Pillow). No Streamlit here."""

from __future__ import annotations

import base64
import io
import math
from typing import Sequence
from urllib.parse import urlencode, urlsplit

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from ...store.classes import GUESS_NOT_A_DIGIT, Submission
from ..maths import own_digit as od
from ..figures.maps import CLASS_COLORS, latent_map_figure, map_coords

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


def side_by_side(*images: np.ndarray, gap: int = 2) -> np.ndarray:
    """28×28 images in a row with a grey gap, scaled ×8 with crisp pixels: one cheap st.image (no plotly)."""
    parts = []
    for k, img in enumerate(images):
        if k:
            parts.append(np.full((img.shape[0], gap), 0.5, np.float32))
        parts.append(np.clip(np.asarray(img, np.float32).reshape(img.shape[0], img.shape[1]), 0, 1))
    row = np.concatenate(parts, axis=1)
    return np.kron(row, np.ones((8, 8), np.float32))


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


def class_map_base(bg_xy: np.ndarray, bg_labels: np.ndarray, names: Sequence[str], *, axis_titles: tuple[str, str],
                   ranges, height: int = 600, click_grid: int = 0, lang: str = "en") -> go.Figure:
    """The projected map's fixed part: the test digits as one image under the axes (a browser under load redraws
    a 2,000-point scatter every second too slowly), each class's name on its cluster (no legend: it would take
    a third of a projector's height), and (click_grid > 0) an invisible grid so a click anywhere reports its
    position. Built once per run, language and mode."""
    fig = latent_map_figure(np.zeros((0, 2), np.float32), np.zeros(0, int), names, current=None,
                            axis_titles=axis_titles, ranges=ranges, height=height, click_grid=click_grid,
                            legend=False, webgl=False, lang=lang)
    (x0, x1), (y0, y1) = ranges
    png = map_png(bg_xy, bg_labels, np.zeros((0, 2)), ranges, size=900, pad=0, transparent=True, dot=4.0)
    fig.add_layout_image(source="data:image/png;base64," + base64.b64encode(png).decode(), xref="x", yref="y",
                         x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0, sizing="stretch", layer="below", opacity=0.7)
    for c, name in enumerate(names):
        m = np.asarray(bg_labels) == c
        if m.sum() >= 5:
            mx, my = np.median(np.asarray(bg_xy)[m], axis=0)
            fig.add_annotation(x=float(mx), y=float(my), text=f"<b>{name}</b>", showarrow=False,
                               font=dict(size=22, color=CLASS_COLORS[c % 10]), bgcolor="rgba(255,255,255,0.6)")
    fig.update_layout(uirevision="class-map")
    return fig


LABEL_SIDES = ("top center", "bottom center", "top right", "top left", "bottom right", "bottom left", "middle right",
               "middle left")
LABEL_PLOT_PX = 300.0  # the class map's plot side on a 1280-px laptop with the sidebar and the QR column open


def place_labels(xy: np.ndarray, names: Sequence[str], ranges, *, plot_px: float, font_px: float,
                 ring_px: float, obstacles: Sequence[tuple[float, float, float]] = ()) -> list[str | None]:
    """Where each name goes beside its ring (a plotly textposition), or None where every side would cover a name
    placed before it or leave the plot; a greedy pass in the given order (pass the newest first). A side that
    covers none of the `obstacles` (rings: x, y, diameter px) is preferred. Boxes are estimated in pixels of a
    square plot `plot_px` wide. A room of names must stay readable, not pile up: the rest are in the hover text."""
    (x0, x1), (y0, y1) = ranges
    sx, sy = plot_px / max(x1 - x0, 1e-9), plot_px / max(y1 - y0, 1e-9)
    h, r = 1.25 * font_px, ring_px / 2 + 2
    rings = [((ox - x0) * sx - d / 2, (oy - y0) * sy - d / 2, (ox - x0) * sx + d / 2, (oy - y0) * sy + d / 2)
             for ox, oy, d in obstacles]
    placed: list[tuple[float, float, float, float]] = []
    out: list[str | None] = []
    for (x, y), name in zip(np.asarray(xy, float), names):
        px, py, w = (x - x0) * sx, (y - y0) * sy, 0.6 * font_px * max(len(str(name)), 1)
        boxes = {"top center": (px - w / 2, py + r, px + w / 2, py + r + h),
                 "bottom center": (px - w / 2, py - r - h, px + w / 2, py - r),
                 "top right": (px, py + r, px + w, py + r + h), "top left": (px - w, py + r, px, py + r + h),
                 "bottom right": (px, py - r - h, px + w, py - r), "bottom left": (px - w, py - r - h, px, py - r),
                 "middle right": (px + r, py - h / 2, px + r + w, py + h / 2),
                 "middle left": (px - r - w, py - h / 2, px - r, py + h / 2)}
        free = [k for k in LABEL_SIDES
                if boxes[k][0] >= 0 and boxes[k][1] >= 0 and boxes[k][2] <= plot_px and boxes[k][3] <= plot_px
                and not any(_overlap(boxes[k], b) for b in placed)]
        side = next((k for k in free if not any(_overlap(boxes[k], b) for b in rings)), free[0] if free else None)
        if side is not None:
            placed.append(boxes[side])
        out.append(side)
    return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def class_map_figure(base: dict, subs: Sequence[Submission], pca, *, now: float,
                     star_xy: Sequence[float] | None = None, circle: tuple[float, float, float] | None = None,
                     selected: int | None = None, scale: float = 1.0) -> go.Figure:
    """The live map: `base` (class_map_base(...).to_plotly_json(), never modified) plus the class's drawings as
    large rings (new ones filled, with the student's name where it fits: place_labels), the ★ of a predict round,
    the circle of a circle round. customdata of a drawing = its id; hovering shows the name. The overlay is plain
    trace dicts, not validated: ~8 ms a refresh, not ~80."""
    traces: list[dict] = []
    if subs:
        xy = map_coords(np.array([s.code for s in subs], np.float32), pca)
        new = np.array([now - s.created <= NEW_SECONDS for s in subs])
        ids = np.array([s.id for s in subs])
        names_ = np.array([s.name for s in subs], dtype=object)
        created = np.array([s.created for s in subs], float)
        for name, mask, size, colour in ((CLASS_TRACE, ~new, 11, "rgba(255,255,255,0.75)"),
                                         (NEW_TRACE, new, 18, "#e4007c")):
            if not mask.any():
                continue
            trace = dict(type="scatter", x=np.round(xy[mask, 0], 3).tolist(), y=np.round(xy[mask, 1], 3).tolist(),
                         customdata=ids[mask].tolist(), name=name, mode="markers",
                         hovertext=[str(n) for n in names_[mask]], hovertemplate="%{hovertext}<extra></extra>",
                         marker=dict(symbol="circle", size=size * scale, color=colour,
                                     line=dict(color="black", width=2.5)),
                         selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))
            if name == NEW_TRACE:
                order = np.argsort(-created[mask], kind="stable")  # the newest names first
                rings = [(float(a), float(b), (18 if n else 11) * scale) for (a, b), n in zip(xy, new)]
                if star_xy is not None:
                    rings.append((float(star_xy[0]), float(star_xy[1]), 34 * scale))
                # The page's width is unknown here: boxes are sized for the smallest map it shows, so names that
                # fit there never touch on a larger one.
                sides = place_labels(xy[mask][order], names_[mask][order], _layout_ranges(base.get("layout", {})),
                                     plot_px=LABEL_PLOT_PX * scale, font_px=16 * scale, ring_px=size * scale,
                                     obstacles=rings)
                where: list[str | None] = [None] * int(mask.sum())
                for k, side in zip(order, sides):
                    where[int(k)] = side
                trace.update(mode="markers+text", text=[str(n) if w else "" for n, w in zip(names_[mask], where)],
                             textposition=[w or "top center" for w in where], cliponaxis=False,
                             textfont=dict(size=16 * scale, weight="bold", color="#c8006d"))
            traces.append(trace)
        if selected is not None and selected in set(ids.tolist()):
            i = int(np.flatnonzero(ids == selected)[0])
            traces.append(dict(type="scatter", x=[float(xy[i, 0])], y=[float(xy[i, 1])], mode="markers",
                               name="selected", showlegend=False, hoverinfo="skip",
                               marker=dict(size=34 * scale, color="rgba(0,0,0,0)", line=dict(color="#0072B2", width=4))))
    if star_xy is not None:
        traces.append(dict(type="scatter", x=[float(star_xy[0])], y=[float(star_xy[1])], mode="markers",
                           name=STAR_TRACE, hoverinfo="skip",
                           marker=dict(symbol="star", size=34 * scale, color="#ffd500", line=dict(color="black", width=2))))
    layout = dict(base["layout"])
    if circle is not None:
        cx, cy, r = circle
        layout["shapes"] = [dict(type="circle", x0=cx - r, y0=cy - r, x1=cx + r, y1=cy + r,
                                 line=dict(color="#0072B2", width=4, dash="dash"), fillcolor="rgba(0,114,178,0.08)")]
    return go.Figure(data=list(base["data"]) + traces, layout=layout, _validate=False)


def _layout_ranges(layout: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges of a map's layout dict (as latent_map_figure sets them)."""
    rx = (layout.get("xaxis") or {}).get("range") or (-3.0, 3.0)
    ry = (layout.get("yaxis") or {}).get("range") or (-3.0, 3.0)
    return (float(rx[0]), float(rx[1])), (float(ry[0]), float(ry[1]))


def student_map_figure(base: dict, xy: np.ndarray, circle: tuple[float, float, float] | None = None) -> go.Figure:
    """A student's map: `base` (never modified), their earlier drawings as rings, the latest as the ★."""
    traces = []
    if len(xy) > 1:
        traces.append(dict(type="scatter", x=xy[:-1, 0].tolist(), y=xy[:-1, 1].tolist(), mode="markers",
                           name="earlier", hoverinfo="skip",
                           marker=dict(size=12, color="white", line=dict(color="black", width=2))))
    traces.append(dict(type="scatter", x=[float(xy[-1, 0])], y=[float(xy[-1, 1])], mode="markers", name=STAR_TRACE,
                       hoverinfo="skip", marker=dict(symbol="star", size=26, color="#ffd500",
                                                     line=dict(color="black", width=2))))
    layout = dict(base["layout"])
    if circle is not None:
        cx, cy, r = circle
        layout["shapes"] = [dict(type="circle", x0=cx - r, y0=cy - r, x1=cx + r, y1=cy + r,
                                 line=dict(color="#0072B2", width=3, dash="dash"))]
    return go.Figure(data=list(base["data"]) + traces, layout=layout, _validate=False)


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


def map_png(bg_xy: np.ndarray, bg_labels: np.ndarray, class_xy: np.ndarray, ranges, size: int = 900, pad: int = 30,
            transparent: bool = False, dot: float = 2.5) -> bytes:
    """The class map as a PNG (Pillow): test digits as small class-coloured dots, the class's drawings as rings.
    pad=0, transparent: just the dots, exactly over `ranges` (the live map's background image)."""
    (x0, x1), (y0, y1) = ranges
    im = Image.new("RGBA" if transparent else "RGB", (size, size), (255, 255, 255, 0) if transparent else "white")
    draw = ImageDraw.Draw(im)

    def px(x: float, y: float) -> tuple[float, float]:
        return (pad + (x - x0) / (x1 - x0) * (size - 2 * pad), size - pad - (y - y0) / (y1 - y0) * (size - 2 * pad))

    if not transparent:
        draw.rectangle([pad, pad, size - pad, size - pad], outline="#888888")
        ox, oy = px(0.0, 0.0)
        draw.line([pad, oy, size - pad, oy], fill="#cccccc")
        draw.line([ox, pad, ox, size - pad], fill="#cccccc")
    for (x, y), c in zip(np.asarray(bg_xy, float), np.asarray(bg_labels, int)):
        u, v = px(x, y)
        draw.ellipse([u - dot, v - dot, u + dot, v + dot], fill=CLASS_COLORS[c % 10])
    for x, y in np.asarray(class_xy, float).reshape(-1, 2):
        u, v = px(x, y)
        draw.ellipse([u - 8, v - 8, u + 8, v + 8], fill="white", outline="black", width=3)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
