"""Streamlit pieces for the true posterior: one digit's gap decomposition and picture; a test set's gaps."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from . import presenter
from ..maths import latent_layers
from ..figures import posterior_figures
from . import run_data
from .keys import RECON_MODE
from ..i18n import N_, _, current_lang
from ..maths.numpy_model import NumpyCVAE
from ..maths.gaps import Gaps, gap_summary, gaps_from
from ..maths.posterior import PlaneScan, exact_log_marginal, model_log_joint

APP_SCAN_POINTS = 41  # the app's plane scan: 1,681 decodes once per run (spacing 0.25), shared by every digit
RESULT_KEY = "dg_exact_result"  # ((run, weights stamp, n), summary): this session's test-set figures
GOTO_KEY = "rc_goto"
# The app refines a window only when its conservative rule estimate exceeds 0.05 nats (the CLI: 0.01); measured
# against an independent reference the error is far smaller (docs/beyond.md), and a digit stays at ~750 decodes.
APP_REFINE_ABOVE = 0.05  # a test index for the Reconstruct page to open (set by Diagnostics' largest-gap buttons)


@st.cache_resource(max_entries=2, show_spinner="Scanning the latent plane once for this run…")
def _scan(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int]) -> PlaneScan:
    return PlaneScan(_model, points=APP_SCAN_POINTS)


@st.cache_resource(max_entries=64, show_spinner=False)
def _gaps(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int], digest: bytes, _x: np.ndarray) -> tuple[Gaps, float]:
    scan = _scan(_model, run_dir, stamp)
    t0 = time.perf_counter()
    mean, logvar = _model.encode(_x)
    res = exact_log_marginal(model_log_joint(_model, _x), mean[0], np.exp(0.5 * logvar[0]), scan(_x),
                              refine_above=APP_REFINE_ABOVE)
    g = gaps_from(res, mean[0].astype(np.float64), 0.5 * logvar[0].astype(np.float64))
    return g, time.perf_counter() - t0


def digit_gaps(model: NumpyCVAE, run_dir: Path, x: np.ndarray) -> tuple[Gaps, float]:
    """The gap decomposition of one image (cached per run weights and image) and the seconds it took."""
    x = np.asarray(x, np.float32).reshape(1, *model.arch.image_shape)
    return _gaps(model, str(run_dir), run_data.weights_stamp(run_dir), x.tobytes(), x)


def posterior_section_ui(model: NumpyCVAE, run_dir: Path, x: np.ndarray, key: str) -> None:
    """log p(x), the ELBO and KL(q‖p(z|x)) with the gap split, and the true posterior under the encoder's ellipses."""
    d = model.latent_dim
    if d != 2:
        st.info(_("The true posterior and exact log p(x) need a 2-D latent space; this run has {d} dimensions. "
                  "Here the IWAE bound (larger k = tighter) is the estimate of log p(x).", d=d),
                icon=":material/info:")
        return
    with st.spinner(_("Integrating p(x|z) p(z) over the latent plane…")):
        g, seconds = digit_gaps(model, run_dir, x)
    cols = st.columns(5)
    cols[0].metric("log p(x)", _("{v} nats", v=f"{g.logpx:.2f}"),
                   help=_("By numerical integration of p(x|z) p(z) over the plane (error estimate ± {err} nats).",
                          err=f"{g.error:.3f}"))
    cols[1].metric("ELBO", _("{v} nats", v=f"{g.elbo:.2f}"),
                   help=_("Of the encoder's q(z|x), its expectation computed exactly (not one sample)."))
    cols[2].metric("KL(q ‖ p(z|x))", _("{v} nats", v=f"{g.kl:.2f}"),
                   help=_("log p(x) − ELBO: how far the encoder's guess is from the true posterior."))
    cols[3].metric(_("approximation gap"), _("{v} nats", v=f"{g.approximation:.2f}"),
                   help=_("log p(x) − ELBO of q*, the best Gaussian for this digit: what no Gaussian q can close."))
    cols[4].metric(_("amortization gap"), _("{v} nats", v=f"{g.amortization:.2f}"),
                   help=_("ELBO of q* − ELBO of the encoder: the price of one encoder for all digits "
                          "(Cremer, Li & Duvenaud 2018)."))
    fig = posterior_figures.posterior_figure(g, lang=current_lang())
    st.plotly_chart(presenter.style_figure(fig), key=key, width="stretch")
    st.caption(_("Blue: the true posterior p(z|x) ∝ p(x|z) p(z) (contours around 39 % and 86 % of its mass). "
                 "Orange: the encoder's guess q(z|x), its 1-σ and 2-σ ellipses. Green: q*, the best Gaussian for "
                 "this digit, found by {steps} steps of gradient ascent on the ELBO from the encoder's guess. "
                 "{decodes} decoder calls, {seconds} s. Zoom with the mouse.", steps=300,
                 decodes=f"{g.result.decodes:,}", seconds=f"{seconds:.2f}"))


def _test_set_gaps(model: NumpyCVAE, run_dir: str, stamp: tuple[int, int], x: np.ndarray, labels: np.ndarray) -> dict:
    """Gaps of every image in x, with a progress bar; the summary (gap_summary) and the seconds it took."""
    scan = _scan(model, run_dir, stamp)
    n = len(x)
    bar = st.progress(0.0, text=_("Integrating {n} test digits…", n=n))
    mean, logvar = model.encode(x)
    rows = []
    t0 = time.perf_counter()
    for i in range(n):
        xi = x[i:i + 1]
        res = exact_log_marginal(model_log_joint(model, xi), mean[i], np.exp(0.5 * logvar[i]), scan(xi),
                                 refine_above=APP_REFINE_ABOVE)
        rows.append(gaps_from(res, mean[i].astype(np.float64), 0.5 * logvar[i].astype(np.float64)).as_dict())
        bar.progress((i + 1) / n, text=_("Integrating {n} test digits…", n=n))
    bar.empty()
    return {**gap_summary(rows, labels[:n]), "seconds": time.perf_counter() - t0}


def test_set_section_ui(model: NumpyCVAE, run_dir: Path, binary: np.ndarray, labels: np.ndarray,
                        names: tuple[str, ...]) -> None:
    """Diagnostics: mean log p(x) and gaps over the first n test digits, per class; the largest gaps, clickable."""
    if model.latent_dim != 2:
        st.caption(_("Exact log p(x) needs a 2-D latent space; this run has {d} dimensions.", d=model.latent_dim))
        return
    top = min(1000, len(binary))
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    low = min(10, top)  # your own data may hold fewer than 10 test images
    n = int(c1.number_input(_("Test digits"), min_value=low, max_value=top, value=min(50, top), step=min(10, top),
                            key="dg_exact_n"))
    stamp = run_data.weights_stamp(run_dir)
    done = st.session_state.get(RESULT_KEY)
    ready = done is not None and done[0] == (str(run_dir), stamp, n)
    if not ready and not c2.button(_("Integrate"), key="dg_exact_go", icon=":material/functions:"):
        st.caption(_("About 0.2–1 s per digit on two CPU cores: press Integrate."))
        return
    if not ready:
        x = binary[:n].astype(np.float32).reshape(n, *model.arch.image_shape)
        st.session_state[RESULT_KEY] = ((str(run_dir), stamp, n),
                                        _test_set_gaps(model, str(run_dir), stamp, x, np.asarray(labels)))
    s = st.session_state[RESULT_KEY][1]
    m = st.columns(4)
    m[0].metric(_("mean log p(x)"), _("{v} nats", v=f"{s['logpx']:.2f}"))
    m[1].metric(_("mean ELBO"), _("{v} nats", v=f"{s['elbo']:.2f}"))
    m[2].metric(_("approximation gap"), _("{v} nats", v=f"{s['approximation_gap']:.2f}"))
    m[3].metric(_("amortization gap"), _("{v} nats", v=f"{s['amortization_gap']:.2f}"))
    left, right = st.columns([3, 2], gap="large")
    with left:
        fig = posterior_figures.gaps_by_class_figure(s, names, lang=current_lang())
        st.plotly_chart(presenter.style_figure(fig), key="dg_gaps_class", width="stretch",
                        config={"displayModeBar": False})
    with right:
        st.markdown("**" + _("The largest gaps") + "**")
        for row in s["largest_gaps"][:6]:
            label = _("#{i} ({name}): gap {kl} nats", i=row["index"], name=names[row["label"]],
                      kl=f"{row['kl']:.1f}")
            if st.button(label, key=f"dg_goto_{row['index']}", icon=":material/autorenew:"):
                st.session_state[GOTO_KEY] = row["index"]
                st.switch_page("app_pages/3_Reconstruct.py")
    st.caption(_("The first {n} test digits, {seconds} s. Gap = KL(q(z|x) ‖ p(z|x)) = approximation gap + "
                 "amortization gap; a button opens the digit on Reconstruct.", n=n,
                 seconds=f"{s['seconds']:.1f}"))


def apply_goto() -> None:
    """On Reconstruct, before its widgets: open the test index Diagnostics asked for."""
    i = st.session_state.pop(GOTO_KEY, None)
    if isinstance(i, int):
        st.session_state[RECON_MODE] = "By index"
        st.session_state["rc_index"] = i


@st.cache_resource(max_entries=4, show_spinner="Computing the aggregate posterior…")
def _aggregate(run_dir: str, stamp: tuple[int, int], n: int, _mean: np.ndarray, _logvar: np.ndarray):
    return latent_layers.aggregate_layer(_mean, _logvar)


@st.cache_resource(max_entries=4, show_spinner="Measuring the decoder's magnification…")
def _magnification(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int]):
    return latent_layers.magnification_layer(_model)


def aggregate(model: NumpyCVAE, run_dir: Path, means: np.ndarray, logvars: np.ndarray):
    """The aggregate posterior layer of these codes (cached per run weights)."""
    return _aggregate(str(run_dir), run_data.weights_stamp(run_dir), len(means), means, logvars)


LAYER_NAMES = {"none": N_("none"), "holes": N_("aggregate posterior vs prior"),
               "magnification": N_("decoder magnification")}


def map_layer_ui(fig, model: NumpyCVAE, run_dir: Path, means: np.ndarray, logvars: np.ndarray, key: str) -> str:
    """A radio for the map's layer; adds it to fig (2-D runs); returns the caption that explains it ("" for none)."""
    kind = st.radio(_("Map layer"), list(LAYER_NAMES), key=key, horizontal=True,
                    format_func=lambda k: _(LAYER_NAMES[k]))
    stamp = run_data.weights_stamp(run_dir)
    if kind == "holes":
        layer = aggregate(model, run_dir, means, logvars)
        posterior_figures.add_layer(fig, layer.axis, layer.log_ratio, "holes", lang=current_lang())
        return _(
            "Red: log q(z)/p(z) < 0, the prior puts mass where no digit's q(z|x) goes — samples from there decode "
            "to nonsense; blue: the data crowds. KL(q(z) ‖ p(z)) ≈ {kl} ± {se} nats (Monte Carlo: {m} draws from "
            "q(z), the mixture of the encoder's Gaussians of {n} test digits, log q(z) evaluated as that mixture).",
            kl=f"{layer.kl:.3f}", se=f"{layer.kl_stderr:.3f}", m=f"{layer.n_samples:,}", n=f"{layer.n_digits:,}")
    elif kind == "magnification":
        axis, mag = _magnification(model, str(run_dir), stamp)
        posterior_figures.add_layer(fig, axis, mag, "magnification", lang=current_lang())
        return _(
            "How much the decoded image changes per unit of area in z: √det(JᵀJ) of the Jacobian of the pixel "
            "probabilities, by central differences on a {n}×{n} lattice. Bright ridges: a small move changes the "
            "digit a lot (class boundaries); dark: the picture hardly changes.", n=len(axis))
    return ""
