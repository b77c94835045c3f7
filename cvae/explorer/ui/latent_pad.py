"""The latent pad: drag a code z over the latent map while the decoder runs in the browser (static/latent_pad.js).

Python packs a run's decoder weights and map points into base64 "blobs", sends each blob once per browser session
(keyed by a version string of the run's weights), and hears back only the chosen z: on release, and throttled
to a few times a second while it moves. No TensorFlow here: the app process never imports it.
"""

from __future__ import annotations

import base64
import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ...store.arch import Architecture
from . import presenter, component_state
from ..figures.maps import CLASS_COLORS, CLASS_SYMBOLS  # one palette and one marker per class on every map
from ..i18n import Msg, _

STATIC = Path(__file__).resolve().parent.parent / "static"
COMPONENT_NAME = "cvae_latent_pad"
MAX_URL_Z_CHARS = 600  # a z of 64 dimensions at full precision fits; anything longer is not a code
SENT_KEY = "_latent_pad_sent"  # session state: blob versions (and pieces) this browser session already received
# A blob larger than this (base64 characters) goes in pieces, one per message: a 512-wide decoder is ~26 MB of
# base64, above server.maxMessageSize (16 MB, .streamlit/config.toml), which stays >= 10x every message sent.
PART_CHARS = 1_500_000

HTML = """<div class="lp-root">
  <div class="lp-mapbox">
    <div class="lp-legend"></div>
    <canvas class="lp-map" tabindex="0" role="slider" aria-label="latent code: drag, or use the arrow keys"></canvas>
    <div class="lp-help">Drag the ★ (mouse or touch), or focus the map and use the arrow keys (Shift: fine steps).</div>
  </div>
  <div class="lp-side">
    <div class="lp-outputs"></div>
    <div class="lp-readout"></div>
    <div class="lp-status"></div>
  </div>
</div>"""


def pad_labels() -> dict[str, str]:
    """The pad's own texts (drawn by its JS) in the session's language."""
    return {"help": _("Drag the ★ (mouse or touch), or focus the map and use the arrow keys (Shift: fine steps)."),
            "map": _("latent code: drag, or use the arrow keys"), "sample": _("a sample x ~ p(x | z)"),
            "prior": _("prior ±3σ"), "loading": _("Loading the decoder…"),
            "scrub": _("position along the path from A to B")}


# ---------------------------------------------------------------------------------------------- blobs


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype)).tobytes()).decode("ascii")


def decoder_keys(latent_dim: int, arch: Architecture | None = None) -> list[str]:
    """The decoder's weight arrays, in the order a model blob packs them (the description's order)."""
    return list((arch or Architecture()).weight_shapes(latent_dim, "decoder"))


def model_blob(arrays: Mapping[str, np.ndarray], latent_dim: int, arch: Architecture | None = None) -> dict[str, Any]:
    """The decoder as the browser runs it: its layers (the architecture's description), how its output becomes
    the mean image, and its weights as one base64 float32 ('<f4', Keras layouts) string with names and shapes."""
    a = arch or Architecture()
    expected = a.weight_shapes(latent_dim, "decoder")
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise ValueError(f"decoder weights: missing {missing}")
    wrong = [f"{k} {tuple(np.shape(arrays[k]))} (expected {s})" for k, s in expected.items()
             if tuple(np.shape(arrays[k])) != s]
    if wrong:
        raise ValueError(f"decoder weights: wrong shapes: {', '.join(wrong)}")
    flat = np.concatenate([np.asarray(arrays[k], np.float32).ravel() for k in expected])
    return {"kind": "model", "latent_dim": int(latent_dim),
            "layers": [layer.to_json() for layer in a.layers(latent_dim) if layer.part == "decoder"],
            "image": list(a.image_shape), "mean": a.browser_mean, "names": list(expected),
            "shapes": [list(s) for s in expected.values()], "weights": _b64(flat, "<f4")}


def blob_parts(version: str, blob: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(id, blob) to send: the blob itself, or a model blob's weights cut into PART_CHARS pieces ('version~i'),
    the first carrying everything else; the browser joins them (latent_pad.js, update)."""
    weights = blob.get("weights", "")
    if len(weights) <= PART_CHARS:
        return [(version, dict(blob))]
    meta = {k: v for k, v in blob.items() if k != "weights"}
    n = math.ceil(len(weights) / PART_CHARS)
    return [(f"{version}~{i}", {"kind": "part", "of": version, "index": i, "count": n,
                                "chars": weights[i * PART_CHARS:(i + 1) * PART_CHARS], **({"meta": meta} if i == 0 else {})})
            for i in range(n)]


def unpack_model_blob(blob: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """model_blob's inverse (tests, and a check that the packing loses nothing)."""
    flat = np.frombuffer(base64.b64decode(blob["weights"]), dtype="<f4")
    out, offset = {}, 0
    for name, shape in zip(blob["names"], blob["shapes"]):
        n = int(np.prod(shape))
        out[name] = flat[offset:offset + n].reshape(shape).astype(np.float32)
        offset += n
    if offset != len(flat):
        raise ValueError(f"model blob: {len(flat)} floats for {offset} parameters")
    return out


def map_blob(points: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Map points (N, 2) in plane coordinates as base64 float32 and their class labels as base64 uint8."""
    points = np.asarray(points, np.float32).reshape(-1, 2)
    labels = np.asarray(labels).reshape(-1)[:len(points)]
    return {"kind": "map", "points": _b64(points, "<f4"), "labels": _b64(labels, "u1")}


def blob_bytes(blob: Mapping[str, Any]) -> int:
    """Characters of base64 a blob puts on the wire."""
    return sum(len(v) for k, v in blob.items() if k in ("weights", "points", "labels"))


def version_string(*parts: object) -> str:
    """A short, stable id for a blob: a digest of what it depends on (run, weights stamp, sizes...)."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- URL state


def parse_z(text: str | None, latent_dim: int, low: float, high: float) -> tuple[list[float] | None, list[Msg]]:
    """A code from the URL ('1.5,-2'): (z, notes). Bad parts are ignored (0) or clamped, with a note for each;
    (None, notes) when there is nothing usable. Never raises."""
    if text is None or not str(text).strip():
        return None, []
    text = str(text)
    if len(text) > MAX_URL_Z_CHARS:
        return None, [Msg("z in the URL is {n} characters long: ignored", n=len(text))]
    parts = [p.strip() for p in text.split(",")]
    notes: list[Msg] = []
    if len(parts) != latent_dim:
        notes.append(Msg("z in the URL has {n} values for a {d}-dimensional code: the extra ones are ignored",
                         n=len(parts), d=latent_dim) if len(parts) > latent_dim else
                     Msg("z in the URL has {n} values for a {d}-dimensional code: the missing ones are 0",
                         n=len(parts), d=latent_dim))
    z, usable = [], 0
    for i, part in enumerate(parts[:latent_dim]):
        try:
            v = float(part)
        except ValueError:
            notes.append(Msg("z{i} = {got} is not a number: ignored (0)", i=i + 1, got=repr(part[:20])))
            z.append(0.0)
            continue
        if math.isnan(v):
            notes.append(Msg("z{i} is NaN: ignored (0)", i=i + 1))
            z.append(0.0)
            continue
        if not low <= v <= high:
            clamped = min(high, max(low, v))
            notes.append(Msg("z{i} = {got} is outside {low}…{high}: clamped to {clamped}", i=i + 1, got=part[:20],
                             low=f"{low:g}", high=f"{high:g}", clamped=f"{clamped:g}"))
            v = clamped
        z.append(float(v))
        usable += 1
    z += [0.0] * (latent_dim - len(z))
    if not usable:
        return None, notes + [Msg("no usable value in z: the page keeps its own")]
    return z, notes


def format_z(z: Sequence[float]) -> str:
    """The URL form of a code: '1.5,-2' (at most 4 decimals, no trailing zeros)."""
    out = []
    for v in z:
        s = f"{float(v):.4f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return ",".join(out)


def parse_run(text: str | None, names: Sequence[str]) -> tuple[str | None, list[Msg]]:
    """A run name from the URL: (name, []) if it is one of `names`, else (None, [a note])."""
    if text is None or text == "":
        return None, []
    text = str(text)
    if text in names:
        return text, []
    shown = text[:40] + ("…" if len(text) > 40 else "")
    return None, [Msg("run {name} from the URL does not exist here: showing the selected run instead", name=repr(shown))]


def prior_centre(pca_mean: np.ndarray | None, components: np.ndarray | None) -> list[float]:
    """Where the prior's mean (z = 0) lands on the map: the origin (d = 2) or -mean·Cᵀ in the PCA plane."""
    if components is None:
        return [0.0, 0.0]
    return [float(v) for v in -(np.asarray(pca_mean, np.float64) @ np.asarray(components, np.float64).T)]


def view_ranges(xy: np.ndarray, centre: Sequence[float], star: Sequence[float] | None = None, half: float = 3.09,
                margin: float = 0.06) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square view of the map (one unit as long on both axes) that always holds the prior's ±`half` box around
    `centre`, the data's 0.5–99.5 % range and the star; the shorter side grows around its middle, so the square
    canvas is filled rather than a band of it."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    cx, cy = float(centre[0]), float(centre[1])
    lo, hi = np.array([cx - half, cy - half]), np.array([cx + half, cy + half])
    finite = xy[np.isfinite(xy).all(axis=1)]
    if len(finite):
        lo = np.minimum(lo, np.percentile(finite, 0.5, axis=0))
        hi = np.maximum(hi, np.percentile(finite, 99.5, axis=0))
    if star is not None and all(math.isfinite(float(v)) for v in star):
        lo = np.minimum(lo, [float(star[0]), float(star[1])])
        hi = np.maximum(hi, [float(star[0]), float(star[1])])
    side = float((hi - lo).max()) * (1 + 2 * margin)
    mid = (lo + hi) / 2
    return ((float(mid[0] - side / 2), float(mid[0] + side / 2)), (float(mid[1] - side / 2), float(mid[1] + side / 2)))


def valid_z(value: Any, latent_dim: int, low: float, high: float) -> list[float] | None:
    """A code reported by the browser, checked (d finite numbers) and clamped; None if it is not one."""
    if not isinstance(value, (list, tuple)) or len(value) != latent_dim:
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        out.append(min(high, max(low, float(v))))
    return out


# ---------------------------------------------------------------------------------------------- the component


def _compact_js(js: str) -> str:
    """The module without its full-line comments and indentation: the JS travels with every rerun of the pad's
    element (~30 KB -> ~20 KB). Only whole comment lines go; code, strings and trailing comments are untouched."""
    lines = (line.strip() for line in js.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str]:
    css = (STATIC / "latent_pad.css").read_text(encoding="utf-8")
    return css, _compact_js((STATIC / "latent_pad.js").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _component() -> Callable[..., Any]:
    import streamlit as st

    component_state.install()  # the browser's state is parsed with a nesting limit
    css, js = _assets()
    return st.components.v2.component(COMPONENT_NAME, html=HTML, css=css, js=js)


def latent_pad(*, key: str, models: Sequence[tuple[str, str, Callable[[], dict]]], map_version: str,
               map_factory: Callable[[], dict], z: Sequence[float], z_rev: int, plane: Mapping[str, Any],
               ranges: Sequence[Sequence[float]], axis_titles: Sequence[str], names: Sequence[str],
               low: float, high: float, seed: int = 0, show_sample: bool = True, report_ms: int = 0,
               path: Sequence[Sequence[float]] | None = None, report: bool = True,
               on_z_change: Callable[[], None] | None = None,
               layer: tuple[str, Callable[[], dict]] | None = None) -> Any:
    """Mount the pad. `models`: (label, blob version, blob factory) per decoder shown (1 to 4, same latent_dim);
    blobs are built and sent only to a browser session that has not had them. The browser reports z on release
    (and, with report_ms > 0, at most once per report_ms while it moves): every report is a rerun.
    With `path` (codes from A to B) the point moves only along it (drag, keys, or a slider under the images).
    report=False: the browser never reports (no reruns at all). `layer`: (blob version, factory) of a map layer
    drawn under the points (a small image, sent once like the other blobs).
    Returns the component result (`.z`: the last code the browser reported, or None)."""
    import streamlit as st

    sent: set[str] = st.session_state.setdefault(SENT_KEY, set())

    def on_need() -> None:
        # The browser lacks a blob we thought it had (e.g. a message lost to a fast rerun): send it again, all its
        # pieces too. A blob still on its way in pieces is left alone: this rerun sends its next piece.
        need = (st.session_state.get(key) or {}).get("need")
        for v in need if isinstance(need, list) else []:
            if str(v) in sent:
                sent.difference_update({s for s in sent if s == str(v) or s.startswith(f"{v}~")})

    blobs: dict[str, dict] = {}
    complete: set[str] = set()
    piece_sent = False
    extra = [layer] if layer is not None else []
    for version, factory in [(map_version, map_factory)] + [(v, f) for _, v, f in models] + extra:
        if version in sent or version in complete:
            continue
        parts = blob_parts(version, factory())
        todo = [(pid, b) for pid, b in parts if pid not in sent]
        if len(parts) == 1 or (todo and not piece_sent):  # whole blobs, and at most one piece per message
            blobs[todo[0][0]] = todo[0][1]
            piece_sent = piece_sent or len(parts) > 1
            todo = todo[1:]
        if not todo:
            complete.add(version)
    data = {
        "models": [{"name": label, "version": v} for label, v, _ in models],
        "map": {"version": map_version}, "blobs": blobs, "layer": {"version": layer[0]} if layer else None,
        "z": [float(v) for v in z], "z_rev": int(z_rev), "plane": dict(plane),
        "ranges": [[float(a), float(b)] for a, b in ranges], "axis_titles": list(axis_titles),
        "names": [str(n) for n in names], "colors": list(CLASS_COLORS), "symbols": list(CLASS_SYMBOLS),
        "low": float(low), "high": float(high),
        "seed": int(seed), "show_sample": bool(show_sample), "report_ms": max(0, int(report_ms)),
        "prior_centre": prior_centre(plane.get("mean"), plane.get("components")),
        "path": [[float(v) for v in code] for code in path] if path is not None else None, "report": bool(report),
        "labels": pad_labels(),
        "compact": presenter.presenting(),
    }
    result = _component()(key=key, data=data, on_z_change=on_z_change or (lambda: None), on_need_change=on_need)
    sent.update(blobs)  # the message is on its way; the JS asks again ("need") if it ever misses one
    sent.update(complete)
    return result
