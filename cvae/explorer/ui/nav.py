"""The page registry (key -> path, title, icon), read by st.navigation, the sidebar, page links, page titles and
the i18n catalogue; presenter mode's hidden pages."""

from __future__ import annotations

import streamlit as st

from .presenter import controls_ui, presenting
from .selection import carried_params
from ..i18n import N_, _

APP_TITLE = N_("CVAE explorer")
HIDDEN_WHEN_PRESENTING = ("runs",)  # Train stays: the latent map forming is a lesson highlight

# Streamlit's built-in Material icons: drawn from its own font, so they render where no emoji font is installed.
PAGES = {
    "home": ("home.py", N_("Home"), ":material/home:"),
    "lesson": ("app_pages/0_Lesson.py", N_("Lesson"), ":material/school:"),
    "train": ("app_pages/1_Train.py", N_("Train"), ":material/model_training:"),
    "plane": ("app_pages/2_Latent_plane.py", N_("Latent plane"), ":material/explore:"),
    "recon": ("app_pages/3_Reconstruct.py", N_("Reconstruct"), ":material/autorenew:"),
    "manifold": ("app_pages/4_Manifold.py", N_("Manifold"), ":material/grid_view:"),
    "runs": ("app_pages/5_Runs.py", N_("Runs"), ":material/folder_open:"),
    "interp": ("app_pages/6_Interpolate.py", N_("Interpolate"), ":material/animation:"),
    "digit": ("app_pages/7_Your_digit.py", N_("Your digit"), ":material/draw:"),
    "diag": ("app_pages/8_Diagnostics.py", N_("Diagnostics"), ":material/monitor_heart:"),
    "classroom": ("app_pages/9_Classroom.py", N_("Classroom"), ":material/groups:"),
    "join": ("app_pages/10_Join.py", N_("Join a class"), ":material/login:"),
}


def hidden_page(page: str) -> bool:
    """True for a page presenter mode hides."""
    return presenting() and page in HIDDEN_WHEN_PRESENTING


def page_title_ui(page: str) -> None:
    """The page's title with its icon, in the session's language."""
    _path, label, icon = PAGES[page]
    st.title(f"{icon} {_(label)}")


def hidden_when_presenting_ui(page: str) -> None:
    """Runs (deletion, downloads) is not for the projector: say so and stop in presenter mode."""
    if presenting() and page in HIDDEN_WHEN_PRESENTING:
        page_title_ui(page)
        st.info(_("This page is hidden in presenter mode. Switch presenter mode off in the sidebar to use it."),
                icon=":material/slideshow:")
        st.stop()


def url_path(path: str) -> str:
    """A page's address: its file name without the number that orders it ("app_pages/2_Latent_plane.py" ->
    "Latent_plane"), as Streamlit named the files of a pages/ folder, so shared links keep working."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    number, _sep, rest = stem.partition("_")
    return rest if number.isdigit() and rest else stem


def navigation() -> st.Page:
    """Streamlit's router over the registry (Home the default page at "/"); the sidebar's list is nav_ui's.

    No icon here: a page's Material icon would become the tab's icon, fetched from the network (classrooms are
    offline); page_setup sets the local favicon."""
    pages = [st.Page(path, title=_(label), url_path=None if key == "home" else url_path(path),
                     default=key == "home") for key, (path, label, _icon) in PAGES.items()]
    return st.navigation(pages, position="hidden")


def nav_ui() -> None:
    """The sidebar's page list, drawn here (st.navigation's own is hidden) so that each link carries the run,
    language and presenter mode, and presenter mode can leave pages out."""
    with st.sidebar:
        st.markdown(f"## :material/scatter_plot: {_(APP_TITLE)}")
        for page, (path, label, icon) in PAGES.items():
            if hidden_page(page):
                continue
            st.page_link(path, label=_(label), icon=icon, query_params=carried_params())
        controls_ui()
        st.divider()


def page_link_ui(page: str, description: str | None = None) -> None:
    """A link to one of the app's pages, optionally with a one-line description under it."""
    path, label, icon = PAGES[page]
    st.page_link(path, label=_(label), icon=icon, query_params=carried_params())
    if description:
        st.caption(description)
