"""Page chrome: the page's title, icon and layout, the styles of the mode, the sidebar, and errors as one line."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import presenter
from .keys import LISTING_KEY
from .nav import APP_TITLE, PAGES, nav_ui, page_link_ui
from .selection import seed_run_from_url
from .text import md
from ..i18n import _

FAVICON = Path(__file__).resolve().parent.parent / "static" / "favicon.png"


SIDEBAR_WHEN_PRESENTING = ("classroom",)


def page_setup(page: str) -> None:
    """Page title (from the page registry, nav.PAGES) and the wide layout every page uses; the language and
    presenter mode; the page list."""
    title = PAGES[page][1]
    # The tab icon is a local file: a ":material/...:" page_icon makes the browser fetch its SVG from the
    # network, and classrooms are offline (tests/test_latent_pad.py checks that a page requests nothing else).
    presenter.seed_from_url()  # first: presenter mode starts with the sidebar collapsed (its arrow reopens it)
    # ... except on Classroom, whose sidebar holds the teacher's controls (Reveal, what a click on the map does).
    collapsed = presenter.presenting() and page not in SIDEBAR_WHEN_PRESENTING
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", page_icon=str(FAVICON), layout="wide",
                       initial_sidebar_state="collapsed" if collapsed else "auto")
    st.session_state.pop(LISTING_KEY, None)  # a new page run lists the runs afresh (once: list_runs_ui)
    seed_run_from_url()
    presenter.css_ui()
    nav_ui()


def show_error(error: BaseException | str, prefix: str | None = None) -> None:
    """An expected error as one red line (plus its extra lines, if any, folded away); never a traceback."""
    text = str(error).strip() or type(error).__name__
    first, *rest = text.splitlines()
    # The text often quotes files or the URL (a status message, a run name): shown as text, never as markdown.
    st.error(md(f"{prefix}: {first}" if prefix else first), icon=":material/error:")
    if rest:
        with st.expander(_("Details")):
            st.code("\n".join(rest), language=None)


def formula_ui(wide: str, narrow: str, key: str) -> None:
    """A display formula on one line, and on phones (< 641 px) as `narrow`, its lines broken (KaTeX never wraps)."""
    with st.container(key=f"eq_wide_{key}"):
        st.latex(wide)
    with st.container(key=f"eq_narrow_{key}"):
        st.latex(narrow)


def no_runs_ui() -> None:
    """The friendly message of a page that needs a trained model when there is none."""
    st.info(_("There is no trained model yet. Start one on the **Train** page: with the tutorial's "
              "settings it takes a few minutes on a laptop CPU, and the pages fill in after its first epoch."),
            icon=":material/waving_hand:")
    page_link_ui("train")
