"""Map layers on the Latent plane's pad (2-D runs): the aggregate posterior against the prior (holes) or the decoder's
magnification, computed once per run (cvae/explorer/maths/latent_layers.py, as on Diagnostics) and sent to the browser as a
small RGBA image that the pad draws under the points: dragging repaints only the star and the decoded digit.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable

import numpy as np
import plotly.colors
import streamlit as st

from ..maths import latent_layers
from . import posterior_ui
from . import run_data
from ..i18n import N_, _
from .latent_pad import version_string
from ..maths.numpy_model import NumpyCVAE
from ...store.runs import RunInfo

LAYER_KEY = "lp_layer"
LAYERS = {"none": N_("none"), "holes": N_("holes: aggregate posterior vs prior"),
          "magnification": N_("decoder magnification")}
HOLES_LIMIT = 6.0  # nats of log q(z)/p(z) at the ends of the colour scale, as on Diagnostics
ALPHA = 0.6  # the layer's opacity: the points stay readable on top of it


def _palette(kind: str) -> np.ndarray:
    """(k, 3) anchor colours 0..255: ColorBrewer RdBu (red = holes) or Viridis, Plotly's own lists."""
    names = plotly.colors.sequential.RdBu if kind == "holes" else plotly.colors.sequential.Viridis
    return np.array([plotly.colors.hex_to_rgb(c) if c.startswith("#") else plotly.colors.unlabel_rgb(c)
                     for c in names], np.float64)


def colour_map(t: np.ndarray, kind: str) -> np.ndarray:
    """Values t in [0, 1] (NaN: transparent) -> RGBA uint8, interpolating the layer's palette linearly."""
    pal = _palette(kind)
    t = np.asarray(t, np.float64)
    ok = np.isfinite(t)
    pos = np.clip(np.where(ok, t, 0.0), 0.0, 1.0) * (len(pal) - 1)
    i = np.minimum(np.floor(pos).astype(int), len(pal) - 2)
    w = (pos - i)[..., None]
    rgb = pal[i] * (1 - w) + pal[i + 1] * w
    alpha = np.where(ok, round(255 * ALPHA), 0)[..., None]
    return np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8)


def scaled(values: np.ndarray, kind: str) -> tuple[np.ndarray, float, float]:
    """(values on 0..1, low, high) of the colour scale: log q/p clipped to ±HOLES_LIMIT, or log₁₀ magnification
    between its smallest and largest value."""
    v = np.asarray(values, np.float64)
    if kind == "holes":
        lo, hi = -HOLES_LIMIT, HOLES_LIMIT
        v = np.clip(v, lo, hi)
    else:
        v = np.log10(np.maximum(v, 1e-6))
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        hi = hi if hi > lo else lo + 1.0
    return (v - lo) / (hi - lo), float(lo), float(hi)


def layer_blob(axis: np.ndarray, values: np.ndarray, kind: str) -> dict[str, Any]:
    """The layer as the pad draws it: lattice values (rows = z₂ ascending) as an RGBA image with row 0 at the top,
    over the lattice cells' extent [x0, x1, y0, y1]."""
    axis = np.asarray(axis, np.float64)
    t, _lo, _hi = scaled(values, kind)
    rgba = colour_map(t[::-1], kind)
    h = float(axis[1] - axis[0]) / 2 if len(axis) > 1 else 0.5
    ext = [float(axis[0] - h), float(axis[-1] + h)]
    return {"kind": "layer", "size": [int(rgba.shape[1]), int(rgba.shape[0])], "extent": ext + ext,
            "rgba": base64.b64encode(np.ascontiguousarray(rgba).tobytes()).decode("ascii")}


def colour_bar(kind: str, width: int = 240, height: int = 14) -> np.ndarray:
    """The colour scale as an RGB image, low on the left (opaque: the legend shows the palette itself)."""
    return np.repeat(colour_map(np.linspace(0, 1, width), kind)[None, :, :3], height, axis=0)


@st.cache_resource(max_entries=4, show_spinner=False)
def _magnification(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return latent_layers.magnification_layer(_model)


def pad_layer_ui(model: NumpyCVAE, info: RunInfo) -> tuple[tuple[str, Callable[[], dict]] | None, Callable[[], None]]:
    """The layer selector above the pad: ((blob version, factory) or None, a function that draws the legend and
    the layer's caption under the pad)."""
    if model.latent_dim != 2:
        st.caption(_("Map layers (holes, decoder magnification) are drawn for 2-D runs only: this run's codes "
                     "have {d} dimensions.", d=model.latent_dim))
        return None, lambda: None
    shown = {k: _(v) for k, v in LAYERS.items()}  # format_func may run outside the script run: translate now
    kind = st.radio(_("Map layer"), list(LAYERS), key=LAYER_KEY, horizontal=True, format_func=shown.get,
                    help=_("A picture under the points, computed once for this run and drawn by your browser: "
                           "dragging stays as fast as without it."))
    if kind == "none":
        return None, lambda: None
    stamp = run_data.weights_stamp(info.path)
    if kind == "holes":
        means, logvars = run_data.encoded_test_set(model, info)
        with st.spinner(_("Computing the aggregate posterior…")):
            agg = posterior_ui.aggregate(model, Path(info.path), means, logvars)
        axis, values = agg.axis, agg.log_ratio
        caption = _("Red: log q(z)/p(z) < 0, the prior puts mass where no digit's q(z|x) goes — samples from there "
                    "decode to nonsense; blue: the data crowds. KL(q(z) ‖ p(z)) ≈ {kl} ± {se} nats (Monte Carlo: "
                    "{m} draws from q(z), the mixture of the encoder's Gaussians of {n} test digits, log q(z) "
                    "evaluated as that mixture).", kl=f"{agg.kl:.3f}", se=f"{agg.kl_stderr:.3f}",
                    m=f"{agg.n_samples:,}", n=f"{agg.n_digits:,}")
        scale = "log q(z)/p(z)"
    else:
        with st.spinner(_("Measuring the decoder's magnification…")):
            axis, values = _magnification(model, str(info.path), stamp)
        caption = _("How much the decoded image changes per unit of area in z: √det(JᵀJ) of the Jacobian of the "
                    "pixel probabilities, by central differences on a {n}×{n} lattice. Bright ridges: a small move "
                    "changes the digit a lot (class boundaries); dark: the picture hardly changes.", n=len(axis))
        scale = "log₁₀ √det(JᵀJ)"
    _t, lo, hi = scaled(values, kind)
    version = version_string("layer", kind, str(info.path), stamp, len(axis))

    def legend() -> None:
        with st.container(key="lp_layer_legend"):
            st.image(colour_bar(kind), caption=f"{lo:.1f}  ←  {scale}  →  {hi:.1f}", width=240)
            st.caption(caption)

    return (version, lambda: layer_blob(axis, values, kind)), legend
