"""Run states for display: a Material icon (Streamlit's own font, so it renders without an emoji font) and a word
in the session's language."""

from __future__ import annotations

from ...store.readonly import SHIPPED_REASON
from ..i18n import N_, _
from .text import md

STATE_ICONS = {
    "running": ":material/play_circle:", "done": ":material/check_circle:", "stopped": ":material/pause_circle:",
    "failed": ":material/error:", "interrupted": ":material/warning:", "unknown": ":material/help:",
    "broken": ":material/broken_image:", "starting": ":material/hourglass_top:",
    "unresponsive": ":material/ac_unit:", "damaged": ":material/healing:",
}
STATE_WORDS = {
    "running": N_("running"), "done": N_("done"), "stopped": N_("stopped"), "failed": N_("failed"), "interrupted": N_("interrupted"),
    "unknown": N_("unknown"), "broken": N_("broken"), "starting": N_("starting"), "unresponsive": N_("not responding"),
    "damaged": N_("damaged"),
}


def state_word(state: str) -> str:
    """A run state in the session's language ('running', 'चल रहा है', ...)."""
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state


def state_badge(state: str, icon: bool = True) -> str:
    """A run state with its Material icon (icon=False for places that draw no markdown: tables, selectboxes)."""
    return f"{STATE_ICONS.get(state, ':material/help:')} {state_word(state)}" if icon else state_word(state)


def read_only_why(info) -> str:
    """Why a run (a RunInfo) is read-only, for the page: the shipped run's reason in the session's language, else
    the marker's problem as text."""
    return _("shipped with the app") if info.read_only == SHIPPED_REASON else md(info.read_only or "")
