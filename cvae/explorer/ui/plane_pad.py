"""The Latent plane page's browser-decoded view: the latent pad, its URL state (?run=&z=&view=) and run comparison.

app_pages/2_Latent_plane.py calls apply_url_run() before its run picker and plane_pad_ui() once the model is loaded;
when the pad is off (or latent_dim is 1) the page's classic slider view runs as before and reports its z back
through sync_from_classic(). No TensorFlow here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import streamlit as st

from . import selection
from .keys import PLANE_SAVED_Z, PLANE_SEED, plane_z_keys
from . import run_data, chrome
from .run_data import load_model as cached_numpy_model  # NumPy weights, cached per file version
from .text import md
from . import presenter
from ..figures import maps
from ..i18n import Msg, _
from ..maths.numpy_model import NumpyCVAE
from ..maths.latent import PCA2
from .pad_layers import pad_layer_ui
from ...store.runs import RunInfo

from .latent_pad import (format_z, latent_pad, map_blob, model_blob, parse_run, parse_z, prior_centre, valid_z,
                         version_string, view_ranges)

PAD_KEY = "lp_pad"  # the component
MODE_KEY = "lp_pad_on"  # the toggle: pad (browser) or classic sliders (server)
COMPARE_KEY = "lp_compare"
Z_KEY = "lp_z"  # the page's code (list of floats), whichever view set it
ZREV_KEY = "lp_z_rev"  # bumped when Python moves z (URL, sliders, reset): the pad then adopts Python's z
ZOWNER_KEY = "lp_z_owner"  # (run, latent_dim) the code belongs to
NOTES_KEY = "lp_url_notes"
URL_DONE_KEY = "lp_url_done"
PUSHED_KEY = "lp_z_rev_sliders"  # the z revision the sliders were last set to
MAX_COMPARE = 3




# ---------------------------------------------------------------------------------------------- URL


def apply_url_run() -> None:
    """Before the run picker, once per session: select ?run= if it names an existing run (else a note)."""
    if st.session_state.get(URL_DONE_KEY):
        return
    text = st.query_params.get("run")
    name, notes = parse_run(text, [r.name for r in run_data.list_runs_ui()] if text else [])
    if name:
        selection.select_run(name)
    st.session_state[NOTES_KEY] = notes
    if st.query_params.get("view") not in (None, "pad", "sliders"):
        st.session_state[NOTES_KEY].append(Msg("view in the URL must be 'pad' or 'sliders': ignored"))


def _url_z(d: int) -> list[float] | None:
    """?z= for this page's first run in the session (notes go to NOTES_KEY), else None."""
    if st.session_state.get(URL_DONE_KEY):
        return None
    st.session_state[URL_DONE_KEY] = True
    z, notes = parse_z(st.query_params.get("z"), d, maps.SLIDER_LOW, maps.SLIDER_HIGH)
    st.session_state.setdefault(NOTES_KEY, []).extend(notes)
    return z


def _sync_url(run: str, z: Sequence[float], pad_on: bool) -> None:
    """Keep ?run=&z=(&view=sliders) in step with the page, so the address can be shared or reloaded."""
    want = {"run": run, "z": format_z(z)}
    for k, v in want.items():
        if st.query_params.get(k) != v:
            st.query_params[k] = v
    if not pad_on and st.query_params.get("view") != "sliders":
        st.query_params["view"] = "sliders"
    elif pad_on and "view" in st.query_params:
        del st.query_params["view"]


# ---------------------------------------------------------------------------------------------- z state


def _init_z(info: RunInfo, d: int) -> None:
    """The page's z for this run: from the URL (first visit), the previous z of the same run, or 0."""
    owner = (info.name, d)
    url = _url_z(d)
    if url is not None:
        _set_z(url, owner)
    elif st.session_state.get(ZOWNER_KEY) != owner:
        saved = st.session_state.get(PLANE_SAVED_Z)
        _set_z(saved[1] if saved and saved[0] == owner else [0.0] * d, owner)


def _set_z(z: Sequence[float], owner: tuple[str, int] | None = None) -> None:
    """Python moves z: store it and bump the revision so the pad adopts it."""
    st.session_state[Z_KEY] = [float(v) for v in z]
    st.session_state[ZREV_KEY] = st.session_state.get(ZREV_KEY, 0) + 1
    if owner is not None:
        st.session_state[ZOWNER_KEY] = owner


def set_page_z(info: RunInfo, z: Sequence[float]) -> None:
    """Another page sends the Latent plane to code z (a manifold cell...): it opens there and the pad adopts it."""
    z = [min(maps.SLIDER_HIGH, max(maps.SLIDER_LOW, float(v))) for v in z]
    _set_z(z, (info.name, len(z)))
    st.session_state[PLANE_SAVED_Z] = ((info.name, len(z)), list(z))
    st.session_state[URL_DONE_KEY] = True  # the address after a page switch has no z: it must not override this
    st.session_state[NOTES_KEY] = []


def sync_from_classic(info: RunInfo, z: np.ndarray) -> None:
    """The classic view's z becomes the page's z (and the URL's), so switching views keeps the point."""
    z = [float(v) for v in z]
    if st.session_state.get(Z_KEY) != z or st.session_state.get(ZOWNER_KEY) != (info.name, len(z)):
        _set_z(z, (info.name, len(z)))
        st.session_state[PUSHED_KEY] = st.session_state[ZREV_KEY]  # the sliders are where this z came from
    _sync_url(info.name, z, pad_on=False)


def _on_pad_change(d: int) -> None:
    state = st.session_state.get(PAD_KEY) or {}
    z = valid_z(state.get("z"), d, maps.SLIDER_LOW, maps.SLIDER_HIGH)
    if z is None:
        return  # not a code: keep ours (the pad only ever sends d finite numbers)
    st.session_state[Z_KEY] = z  # no revision bump: the pad already shows this z
    st.session_state[NOTES_KEY] = []


def _on_slider(d: int) -> None:
    _set_z([float(st.session_state[k]) for k in plane_z_keys(d)])


def _reset(d: int) -> None:
    _set_z([0.0] * d)


def _resample() -> None:
    st.session_state[PLANE_SEED] = st.session_state.get(PLANE_SEED, 0) + 1


# ---------------------------------------------------------------------------------------------- blobs


@st.cache_data(max_entries=16, show_spinner=False)
def _model_blob_cached(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int]) -> dict:
    return model_blob(_model.w, _model.latent_dim, _model.arch)


def model_entry(model: NumpyCVAE, info: RunInfo, label: str) -> tuple[str, str, object]:
    stamp = run_data.weights_stamp(info.path)
    version = version_string("model", str(info.path), stamp, model.latent_dim)
    return label, version, lambda: _model_blob_cached(model, str(info.path), stamp)


def _compare_ui(info: RunInfo, d: int) -> list[tuple[str, str, object]]:
    """Other runs with the same latent_dim, decoded side by side at the same z."""
    others = [r for r in run_data.list_runs_ui() if r.name != info.name and r.has_weights and r.config is not None
              and r.config.latent_dim == d]
    if not others:
        return []
    names = [r.name for r in others]
    if any(n not in names for n in st.session_state.get(COMPARE_KEY, [])):
        st.session_state[COMPARE_KEY] = [n for n in st.session_state[COMPARE_KEY] if n in names]
    chosen = st.multiselect(_("Compare with other runs (latent_dim {d}) at the same z", d=d), names, key=COMPARE_KEY,
                            max_selections=MAX_COMPARE, placeholder=_("Choose runs"),
                            help=_("One pad drives every chosen run's decoder, side by side, in the browser."))
    entries = []
    by_name = {r.name: r for r in others}
    for name in chosen:
        try:
            entries.append(model_entry(cached_numpy_model(by_name[name].path), by_name[name], name))
        except (ValueError, OSError) as e:  # RunError is a ValueError
            chrome.show_error(e, _("Run {name}", name=repr(name)))
    return entries


# ---------------------------------------------------------------------------------------------- the view


def plane_pad_ui(info: RunInfo, model: NumpyCVAE, means: np.ndarray, labels: np.ndarray, names: Sequence[str],
                 source: str, xy: np.ndarray, pca: PCA2 | None, axis_titles: tuple[str, str], ranges) -> bool:
    """The pad view of the Latent plane page; False when the classic slider view should run instead."""
    d = model.latent_dim
    pad_on = False  # a one-dimensional code has no plane to drag in: the classic strip view
    if d >= 2:
        if MODE_KEY not in st.session_state:
            st.session_state[MODE_KEY] = st.query_params.get("view") != "sliders"
        pad_on = st.toggle(":material/bolt: " + _("Decode in the browser (latent pad)"), key=MODE_KEY,
                           help=_("On: drag through the latent space and the decoder runs in your browser, every "
                                  "frame. Off: the classic sliders, each change decoded on the server."))
    _init_z(info, d)
    if not pad_on:
        _notes_ui()
        # The classic sliders show the page's z when Python moved it (URL, pad, reset) — only then: there the
        # sliders are the source, and this runs before they report a user's change.
        if st.session_state.get(PUSHED_KEY) != st.session_state[ZREV_KEY]:
            _push_sliders(d)
        return False
    st.session_state.setdefault(PLANE_SEED, 0)
    if not presenter.presenting():  # on a projector the map starts right under the title: it fits 1280×720
        st.caption(_("Drag the ★ anywhere on the map: the decoder runs **in your browser**, so the digit follows "
                     "every frame. The server only hears where you let go."))
    _pad_fragment(info, model, means, labels, names, source, xy, pca, axis_titles, ranges)
    return True


def _notes_ui() -> None:
    for note in st.session_state.get(NOTES_KEY, []):  # what the URL asked for and could not have
        st.caption(":material/info: " + md(note.shown() if isinstance(note, Msg) else note))  # quotes the URL


def _push_sliders(d: int) -> None:
    for k, v in zip(plane_z_keys(d), st.session_state[Z_KEY]):
        st.session_state[k] = round(min(maps.SLIDER_HIGH, max(maps.SLIDER_LOW, v)), 2)
    st.session_state[PUSHED_KEY] = st.session_state[ZREV_KEY]


# A fragment: a report from the pad (or a slider, reset, resample) reruns only this part of the page, so the
# server's work per report is the pad's small message and the read-out, not the whole page.
@st.fragment
def _pad_fragment(info: RunInfo, model: NumpyCVAE, means: np.ndarray, labels: np.ndarray, names: Sequence[str],
                  source: str, xy: np.ndarray, pca: PCA2 | None, axis_titles: tuple[str, str], ranges) -> None:
    d = model.latent_dim
    _notes_ui()
    _push_sliders(d)  # the sliders (d > 2) show the page's z, wherever it came from
    z = st.session_state[Z_KEY]
    if d > 2:
        with st.expander(_("All {d} latent dimensions", d=d), expanded=False):
            per_row = 4
            for start in range(0, d, per_row):
                cols = st.columns(per_row)
                for i in range(start, min(d, start + per_row)):
                    cols[i - start].slider(f"z{i + 1}", maps.SLIDER_LOW, maps.SLIDER_HIGH, step=0.01, key=plane_z_keys(d)[i],
                                           on_change=_on_slider, args=(d,))
    compare = _compare_ui(info, d)
    # The layer's selector and legend come after the pad and its read-out (the pad stays high on the screen), but
    # the pad needs the chosen layer: fill the slots above afterwards.
    pad_slot, below = st.container(), st.container()
    layer, layer_legend = pad_layer_ui(model, info)
    layer_legend()

    stamp = run_data.weights_stamp(info.path)
    map_version = version_string("map", str(info.path), stamp, len(xy), d, source, info.config.dataset)
    plane = {} if pca is None else {"mean": [float(v) for v in pca.mean],
                                    "components": [[float(v) for v in row] for row in pca.components]}
    if pca is not None:  # the PCA view holds the prior's box, the data and the star, on a square
        ranges = view_ranges(xy, prior_centre(pca.mean, pca.components), pca.transform(np.asarray([z]))[0],
                             half=maps.SLIDER_HIGH)
    with pad_slot:
        _mount(info, model, compare, map_version, xy, labels, z, plane, ranges, axis_titles, names, layer)
    with below:
        _readout_ui(d, pca, len(means), source)
    st.session_state[PLANE_SAVED_Z] = ((info.name, d), list(st.session_state[Z_KEY]))
    _sync_url(info.name, st.session_state[Z_KEY], pad_on=True)


def _mount(info: RunInfo, model: NumpyCVAE, compare: list, map_version: str, xy: np.ndarray, labels: np.ndarray,
           z: Sequence[float], plane: dict, ranges, axis_titles: tuple[str, str], names: Sequence[str], layer) -> None:
    d = model.latent_dim
    latent_pad(key=PAD_KEY, models=[model_entry(model, info, info.name)] + compare, map_version=map_version,
               map_factory=lambda: map_blob(xy, labels), z=z, z_rev=st.session_state[ZREV_KEY], plane=plane,
               ranges=ranges, axis_titles=axis_titles, names=names, low=maps.SLIDER_LOW, high=maps.SLIDER_HIGH,
               seed=st.session_state[PLANE_SEED], on_z_change=lambda: _on_pad_change(d), layer=layer)


def _readout_ui(d: int, pca: PCA2 | None, n: int, source: str) -> None:
    z = st.session_state[Z_KEY]
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="center")
    with c1.container(key="lp_readout"):
        st.markdown(_("**Chosen z** = ({z})", z=", ".join(f"{v:.2f}" for v in z)))
    c2.button(_("Reset to z = 0"), key="lp_reset", on_click=_reset, args=(d,), icon=":material/restart_alt:")
    c3.button(_("Resample"), key="lp_resample", on_click=_resample, icon=":material/casino:")
    if pca is None:
        st.caption(_("Each dot is the encoder's mean μ for one of {n} test digits ({source}); colour and shape show "
                     "its label. The dashed square is the prior's ±3σ. The sample is x = [u < p] for fixed noise u "
                     "(Resample draws new u).", n=f"{n:,}", source=source))
    else:
        ex = pca.explained
        st.caption(_("The codes have {d} dimensions: the map shows the μ of {n} test digits ({source}) on their two "
                     "principal components ({a} and {b} of the variance). Dragging moves z within that plane "
                     "through the current code (the other directions keep their values); the sliders set every "
                     "dimension. The dashed square is the prior's ±3σ seen in that plane.", d=d, n=f"{n:,}",
                     source=source, a=f"{ex[0]:.0%}", b=f"{ex[1]:.0%}"))
