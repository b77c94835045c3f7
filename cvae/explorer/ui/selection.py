"""Which run the session shows, and the address that says so: `?run=` selects a run on any page, and every link
carries the run, the language and presenter mode, so a reload or a shared link restores them."""

from __future__ import annotations

import streamlit as st

from ...store import runs
from ...store.errors import RunError
from . import presenter

SELECTED_KEY = "cvae_selected_run"  # persists across pages (a widget's own key would not)
PICKER_KEY = "run_picker"
URL_RUN_NOTE = "cvae_url_run_note"
URL_RUN_SEEN = "cvae_url_run_seen"


def selected_run_name() -> str | None:
    """The run picked in the sidebar (persisted in session state across pages)."""
    return st.session_state.get(SELECTED_KEY)


def select_run(name: str | None) -> None:
    """Make `name` the selected run (e.g. right after starting it)."""
    st.session_state[SELECTED_KEY] = name


def on_pick() -> None:
    """The run picker's callback: select the picked run and name it in the address before the rerun reads it."""
    st.session_state[SELECTED_KEY] = st.session_state.get(PICKER_KEY)
    if st.session_state[SELECTED_KEY]:
        st.query_params["run"] = st.session_state[SELECTED_KEY]


def seed_run_from_url() -> None:
    """?run=NAME selects that run on any page; a name that is not a run here is ignored with a note (shown by the
    run picker)."""
    text = st.query_params.get("run")
    st.session_state.pop(URL_RUN_NOTE, None)
    # Only an address that changed since this session last wrote or read it (a pasted or shared link, Back and
    # Forward) selects a run; otherwise the session's own choice (picker, Start, Resume) stands.
    if text == st.session_state.get(URL_RUN_SEEN):
        return
    st.session_state[URL_RUN_SEEN] = text
    if not text or text == selected_run_name():
        return
    try:
        exists = runs.run_path(text).is_dir()
    except RunError:
        exists = False
    if exists:
        select_run(text)
    else:
        st.session_state[URL_RUN_NOTE] = text


def url_note() -> str | None:
    """The run name from the address that was not found here (None when there is none)."""
    return st.session_state.get(URL_RUN_NOTE)


def write_address(chosen: str) -> None:
    """Name the run shown in the address. Written on every page run, even when unchanged: Streamlit puts the
    page's own path in the address only when the page writes its query parameters."""
    st.query_params["run"] = chosen
    st.session_state[URL_RUN_SEEN] = chosen


def carried_params() -> dict[str, str]:
    """What every link to another page carries: the language, presenter mode and the selected run."""
    out = presenter.mode_params()
    if selected_run_name():
        out["run"] = selected_run_name()
    return out
