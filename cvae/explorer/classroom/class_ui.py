"""Streamlit pieces shared by the Classroom (teacher) and Join (student) pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from ...store import classes, runs
from ...store.errors import ClassError, RunError
from ..figures.maps import map_projection, map_ranges
from ..i18n import LANG_KEY, LANGS, _, parse_lang
from ..maths.numpy_model import NumpyCVAE
from ..ui import presenter
from . import live_class
from ..ui import run_data, chrome


@st.cache_resource(show_spinner=False)
def _store(path: str) -> classes.ClassStore:
    return classes.ClassStore(path)


def class_store() -> classes.ClassStore:
    """The classroom database (one store object per database path; it holds no connection)."""
    return _store(str(classes.db_path()))


@dataclass(frozen=True)
class ClassModel:
    """The model of a class's run and its map: test digits' positions, labels, class names, PCA (d > 2)."""

    model: NumpyCVAE
    bg_xy: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    pca: Any
    axis_titles: tuple[str, str]
    ranges: Any


def class_model_ui(run: str) -> ClassModel:
    """The class's run loaded (cached), or one line and st.stop()."""
    try:
        path = runs.run_path(run)
        info = runs.run_info(path)
        if info.config is None or not info.has_weights:
            raise RunError(f"run {run!r} has no usable weights")
        model = run_data.load_model(path)
    except (RunError, ValueError, OSError) as e:
        chrome.show_error(_("This class's model can't be used: {error}", error=e))
        st.stop()
    means, labels, _source = run_data.map_points(model, info)
    xy, pca, titles = map_projection(means)
    return ClassModel(model, xy, labels, run_data.class_names(info.config), pca, titles,
                      map_ranges(xy, model.latent_dim))


@st.cache_resource(max_entries=8, show_spinner=False)
def _map_base(run: str, stamp: tuple, lang: str, present: bool, grid: bool, height: int, _cm: ClassModel) -> dict:
    base = live_class.class_map_base(_cm.bg_xy, _cm.labels, _cm.names, axis_titles=_cm.axis_titles,
                                     ranges=_cm.ranges, height=height, click_grid=25 if grid else 0, lang=lang)
    return presenter.style_figure(base).to_plotly_json()  # shared, read-only: class_map_figure never changes it


def map_base(cm: ClassModel, run: str, lang: str, present: bool, grid: bool = False, height: int | None = None) -> dict:
    """The class map's fixed part for this run, language and mode (with a click grid when a click places the ★ or
    the circle), built once per weights version."""
    height = height or (560 if present else 600)
    return _map_base(run, run_data.weights_stamp(runs.run_path(run)), lang, present, grid, height, cm)


def refused(e: ClassError) -> str:
    """A refusal as one line in the viewer's language (the store's English text is kept for the rest)."""
    from ...store import errors as er

    if isinstance(e, er.ClassLocked):
        return _("The teacher has locked this class: no new drawings for now.")
    if isinstance(e, er.ClassEnded):
        return _("This class has ended.")
    if isinstance(e, er.RateLimited):
        return _("Too fast: try again in {s} s.", s=f"{max(e.retry_after, 0.1):.1f}")
    if isinstance(e, er.ClassFull):
        return _("This class is full.")
    if isinstance(e, er.NotTeacher):
        return _("This address has no valid teacher key for that class.")
    if isinstance(e, er.ClassNotFound):
        return _("No open class has this code.")
    return str(e)


def _on_inline_lang(key: str) -> None:
    lang = parse_lang(st.session_state.get(key)) or "en"
    st.session_state[LANG_KEY] = lang
    st.query_params["lang"] = lang


def inline_lang_ui(key: str) -> None:
    """The language switch in the main area (phones keep the sidebar closed)."""
    st.session_state[key] = st.session_state.get(LANG_KEY, "en")
    st.segmented_control(_("Language"), list(LANGS), key=key, format_func=LANGS.get, selection_mode="single",
                         on_change=_on_inline_lang, args=(key,), label_visibility="collapsed")
