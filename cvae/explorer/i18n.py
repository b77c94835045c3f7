"""The message catalogue: every user-facing string is English source text looked up in locales/<lang>.json.

Pages write `_("English text")` (or `_("Run {name} is starting", name=n)`); a catalogue maps the English text to
its translation, so converting a page is mechanical and English needs no file. Formulas, numbers, run names and
dataset class names are passed in as fields, never translated.
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGS = {"en": "English", "hi": "हिन्दी"}
DEFAULT_LANG = "en"
LANG_KEY = "cvae_lang"  # session state: survives page switches (query params do not)
LOCALES = Path(__file__).with_name("locales")


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """{English: translation} for `lang` ({} for English); entries that are not str → str are dropped."""
    if lang == DEFAULT_LANG or lang not in LANGS:
        return {}
    try:
        raw = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v}


def fields_of(text: str) -> set[str]:
    """The {name} fields of a message (what a translation must keep)."""
    try:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError:
        return set()


def translate(text: str, lang: str, /, **fields: Any) -> str:
    """`text` in `lang` (English when the catalogue lacks it), with `fields` filled in."""
    out = catalogue(lang).get(text, text) if lang != DEFAULT_LANG else text
    return out.format(**fields) if fields else out


def parse_lang(value: Any) -> str | None:
    """A language code from a URL or widget ('hi', 'en'), or None for anything else."""
    return value if isinstance(value, str) and value in LANGS else None


def current_lang() -> str:
    """The session's language (English outside a Streamlit script run)."""
    try:
        import streamlit as st

        return parse_lang(st.session_state.get(LANG_KEY)) or DEFAULT_LANG
    except Exception:  # noqa: BLE001 - no script run context (CLI, bare import): English
        return DEFAULT_LANG


def _(text: str, /, **fields: Any) -> str:
    """`text` in the session's language, with `fields` filled in."""
    return translate(text, current_lang(), **fields)


t = _


class Msg(str):
    """An English message that keeps its template and fields, so it can be shown later in the viewer's language."""

    template: str
    fields: dict[str, Any]

    def __new__(cls, template: str, /, **fields: Any) -> "Msg":
        obj = super().__new__(cls, template.format(**fields) if fields else template)
        obj.template, obj.fields = template, fields
        return obj

    def shown(self, lang: str | None = None) -> str:
        """The message in `lang` (default: the session's language)."""
        return translate(self.template, lang or current_lang(), **self.fields)


def N_(text: str, /) -> str:
    """Marks a literal for the catalogue where it is translated later (e.g. a table of labels)."""
    return text
