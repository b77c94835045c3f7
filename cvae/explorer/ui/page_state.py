"""A page's own selection in its address (#26): each `UrlParam` ties one URL parameter to one session-state key.

A page calls `restore(params)` before its widgets and `write(params)` after them. The address is read only when
it changed since this session last wrote or read it (a reload, a shared link, Back/Forward), so a widget the user
just moved is never overwritten by the address it is about to replace. Values from the address are untrusted:
each is parsed by its own function; a bad one is ignored with a one-line note (`notes_ui`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import streamlit as st

from ..i18n import Msg
from .text import md

SEEN_PREFIX = "ps_seen_"  # + session key: the address value this session last wrote or read for it
NOTES_KEY = "ps_notes"
MAX_CHARS = 400  # longer values are refused before parsing


@dataclass(frozen=True)
class UrlParam:
    """One URL parameter `name` for the session-state `key`; `parse` raises ValueError on a bad value."""

    name: str
    key: str
    parse: Callable[[str], Any]
    fmt: Callable[[Any], str] = str


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A parser of an integer in [low, high]."""
    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError(text)
        return value
    return parse


def one_of(options: Sequence[Any], shown: Callable[[Any], str] = str) -> Callable[[str], Any]:
    """A parser that accepts the text `shown(option)` of one of `options` and returns that option."""
    table = {shown(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in table:
            raise ValueError(text)
        return table[text]
    return parse


def dim_of(d: int) -> tuple[Callable[[str], int], Callable[[int], str]]:
    """Parser and formatter of a latent dimension, 1-based in the address (z1 … zd), 0-based in the page."""
    return (lambda text: int_in(1, d)(text) - 1), (lambda i: str(int(i) + 1))


def names_in(allowed: Sequence[str], max_count: int = 20) -> Callable[[str], list[str]]:
    """A parser of a comma-separated list of names, each one of `allowed` (run names never contain a comma)."""
    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        if len(names) > max_count or any(n not in allowed for n in names):
            raise ValueError(text)
        return list(dict.fromkeys(names))
    return parse


def flag(text: str) -> bool:
    """A parser of a switch: 1 or 0."""
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def join_names(names: Sequence[str]) -> str:
    """The address form of a list of names."""
    return ",".join(names)


def floats_in(count: int, low: float, high: float) -> Callable[[str], list[float]]:
    """A parser of `count` comma-separated finite numbers, each in [low, high]."""
    def parse(text: str) -> list[float]:
        values = [float(p) for p in text.split(",")]
        if len(values) != count or not all(low <= v <= high for v in values):  # NaN fails the comparison
            raise ValueError(text)
        return values
    return parse


def join_floats(values: Sequence[float]) -> str:
    """The address form of a list of numbers (2 decimals, as the sliders)."""
    return ",".join(f"{float(v):.2f}".rstrip("0").rstrip(".") for v in values)


def restore(params: Sequence[UrlParam]) -> None:
    """Before the page's widgets: take each parameter from the address when it changed since last seen (notes for
    bad values wait for `notes_ui`)."""
    notes: list[Msg] = st.session_state.setdefault(NOTES_KEY, [])
    for p in params:
        text = st.query_params.get(p.name)
        seen = SEEN_PREFIX + p.key
        if text == st.session_state.get(seen):
            continue
        st.session_state[seen] = text
        if text is None:
            continue
        try:
            if len(text) > MAX_CHARS:
                raise ValueError(text)
            st.session_state[p.key] = p.parse(text)
        except (ValueError, TypeError, IndexError, KeyError):
            shown = text[:40] + ("…" if len(text) > 40 else "")
            notes.append(Msg("{name}={value} in the address is not a valid choice here: ignored",
                             name=p.name, value=repr(shown)))


def write(params: Sequence[UrlParam], drop: Sequence[UrlParam] = ()) -> None:
    """After the page's widgets: name each parameter's current value in the address; remove those in `drop`."""
    for p in params:
        if p.key not in st.session_state or st.session_state[p.key] is None:
            continue
        text = p.fmt(st.session_state[p.key])
        if st.query_params.get(p.name) != text:
            st.query_params[p.name] = text
        st.session_state[SEEN_PREFIX + p.key] = text
    for p in drop:
        if p.name in st.query_params:
            del st.query_params[p.name]
        st.session_state[SEEN_PREFIX + p.key] = None


def notes_ui() -> None:
    """One caption per address value that was ignored on this run (then forgotten)."""
    for note in st.session_state.pop(NOTES_KEY, []):
        st.caption(":material/info: " + md(note.shown()))  # md: the value quotes the address, shown as text
