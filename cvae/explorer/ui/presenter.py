"""Classroom chrome: the language switch, presenter mode (large type, no Runs page) and their URL parameters.

`?lang=hi` and `?mode=present` seed the session; the sidebar widgets change it (and the URL, so a link can be
shared). Values from the URL are untrusted: anything but a known value is ignored.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ...data.sample import BUNDLED_SOURCE
from ..i18n import DEFAULT_LANG, LANG_KEY, LANGS, _, parse_lang

PRESENT_KEY = "cvae_present"  # session state, like the language: survives page switches
LANG_WIDGET = "cl_lang"
PRESENT_WIDGET = "cl_present"

# Presenter mode: ≥ 18 px body text on a projector; wide equations scroll instead of being cut off (phones).
BASE_CSS = """
<style>
.katex-display { overflow-x: auto; overflow-y: hidden; padding-bottom: 4px; }
/* chrome.formula_ui: a formula's one-line form on wide screens, its broken-lines form on phones. */
@media (min-width: 641px) { [class*="st-key-eq_narrow_"] { display: none !important; } }
@media (max-width: 640px) { [class*="st-key-eq_wide_"] { display: none !important; } }
[data-testid="stCaptionContainer"] { opacity: 0.85; }
/* Rows of small pictures stay rows on a phone (Streamlit stacks columns under 640 px): Your digit's result, its
   preprocessing steps and its nearest digits. */
.st-key-yd_result [data-testid="stHorizontalBlock"], .st-key-yd_steps [data-testid="stHorizontalBlock"],
.st-key-yd_nearest [data-testid="stHorizontalBlock"] { flex-wrap: nowrap !important; gap: 0.4rem !important; }
.st-key-yd_result [data-testid="stColumn"], .st-key-yd_steps [data-testid="stColumn"],
.st-key-yd_nearest [data-testid="stColumn"] { min-width: 0 !important; flex: 1 1 0 !important; width: auto !important; }
.st-key-yd_steps [data-testid="stCaptionContainer"], .st-key-yd_nearest [data-testid="stCaptionContainer"],
.st-key-yd_steps [data-testid="stImageCaption"], .st-key-yd_nearest [data-testid="stImageCaption"] {
  font-size: 0.7rem !important; overflow-wrap: anywhere; }
</style>
"""
PRESENT_CSS = """
<style>
html, body, .stApp { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stWidgetLabel"] p, [data-testid="stCaptionContainer"], .stAlert p { font-size: 20px !important; }
[data-testid="stCaptionContainer"] { opacity: 1; }
[data-testid="stMain"] [data-testid="stVerticalBlock"] { gap: 0.6rem; }
[data-testid="stMainBlockContainer"] { padding-top: 3.9rem !important; padding-bottom: 0.5rem !important; }
h1 { font-size: 1.8rem !important; padding-top: 0 !important; padding-bottom: 0.1rem !important; }
.katex-display > .katex { font-size: 1.1em; }  /* the 20 px base already enlarges formulas: keep them on screen */
/* Long (Hindi) labels wrap instead of being cut with an ellipsis: buttons, metric labels, tabs. */
.stButton button p, .stDownloadButton button p, [data-testid="stMetricLabel"] p,
[data-testid="stMetricLabel"] div { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
.stButton button, .stDownloadButton button { height: auto !important; min-height: 2.5rem; }
[data-testid="stMetricValue"] div { overflow: visible !important; text-overflow: clip !important; }
</style>
"""
CHART_FONT = {False: 13, True: 18}  # plotly label size: ≥ 16 px when presenting


def seed_from_url() -> None:
    """Take ?lang= and ?mode= from the URL into the session (bad values ignored)."""
    qp = st.query_params
    lang = parse_lang(qp.get("lang"))
    if lang:
        st.session_state[LANG_KEY] = lang
    st.session_state.setdefault(LANG_KEY, DEFAULT_LANG)
    mode = qp.get("mode")
    if mode in ("present", "normal"):
        st.session_state[PRESENT_KEY] = mode == "present"
    st.session_state.setdefault(PRESENT_KEY, False)
    # The address always says the language and mode in use, so a reload or a shared link keeps them.
    for key, value in mode_params(with_defaults=True).items():
        if qp.get(key) != value:
            qp[key] = value


def mode_params(with_defaults: bool = False) -> dict[str, str]:
    """The URL parameters of the session's language and mode (defaults left out unless `with_defaults`)."""
    lang, present = st.session_state.get(LANG_KEY, DEFAULT_LANG), presenting()
    out = {}
    if lang != DEFAULT_LANG or with_defaults and "lang" in st.query_params:
        out["lang"] = lang
    if present or with_defaults and "mode" in st.query_params:
        out["mode"] = "present" if present else "normal"
    return out


def presenting() -> bool:
    """True in presenter mode."""
    return bool(st.session_state.get(PRESENT_KEY, False))


def _on_lang() -> None:
    lang = parse_lang(st.session_state.get(LANG_WIDGET)) or DEFAULT_LANG
    st.session_state[LANG_KEY] = lang
    st.query_params["lang"] = lang


def _on_present() -> None:
    on = bool(st.session_state.get(PRESENT_WIDGET))
    st.session_state[PRESENT_KEY] = on
    st.query_params["mode"] = "present" if on else "normal"


def controls_ui() -> None:
    """The sidebar's language switch and presenter-mode toggle (re-seeded each run: widget ids differ per page)."""
    st.session_state[LANG_WIDGET] = st.session_state[LANG_KEY]
    st.session_state[PRESENT_WIDGET] = presenting()
    with st.sidebar:
        st.segmented_control(_("Language"), list(LANGS), key=LANG_WIDGET, format_func=LANGS.get,
                             on_change=_on_lang, selection_mode="single")
        st.toggle(_("Presenter mode"), key=PRESENT_WIDGET, on_change=_on_present,
                  help=_("Large type for a projector; hides the Runs page. "
                         "Link: add ?mode=present to the address."))


def css_ui() -> None:
    """The stylesheet of the current mode."""
    st.html(BASE_CSS + (PRESENT_CSS if presenting() else ""))


def style_figure(fig: Any, marker_scale: float = 1.0) -> Any:
    """A plotly figure with the mode's font size (and larger map markers when presenting); returns it."""
    size = CHART_FONT[presenting()]
    fig.update_layout(font=dict(size=size))
    fig.update_xaxes(title_font_size=size, tickfont_size=size)
    fig.update_yaxes(title_font_size=size, tickfont_size=size)
    fig.update_annotations(font_size=size + 1)
    if presenting():
        fig.update_layout(legend_font_size=size, legend_title_font_size=size, title_font_size=size + 2,
                          hoverlabel_font_size=size)
        fig.update_coloraxes(colorbar_tickfont_size=size)
        for trace in fig.data:
            marker = getattr(trace, "marker", None)
            if (marker is not None and getattr(trace, "mode", None) == "markers"  # bars have no marker size
                    and isinstance(marker.size, (int, float))):
                if trace.name != "_click":
                    marker.size = marker.size * 1.6 * marker_scale
    return fig


def source_label(source: str, dataset: str) -> str:
    """Where test digits came from, for students: no server paths, no repeated counts."""
    if source == BUNDLED_SOURCE:
        return _("the bundled sample")
    if source.startswith("IDX files"):
        return _("{dataset} IDX files", dataset=dataset)
    if "keras" in source.lower():
        return _("the Keras cache")
    return _("{dataset} .npz file", dataset=dataset) if ".npz" in source else dataset
