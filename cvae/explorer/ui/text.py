"""Text from files, the URL or a user, shown as text: the one module every page uses before such text reaches
Streamlit's markdown (st.markdown, st.caption, st.error… and widget labels all render markdown). `md()` for text
inside a sentence; `code()` for verbatim words shown in monospace (a trainer's status message, a run name).

Streamlit escapes HTML but renders markdown: a status message `x` [Log in](https://…) ![](https://…) became a
clickable link and a remote image for every viewer. `md()` backslash-escapes every character that can start a
markdown construct (CommonMark lets any ASCII punctuation be escaped), breaks GitHub's bare-URL and e-mail
autolinks, and folds newlines, so the text renders exactly as its characters — no link, image, code span, emphasis,
heading, list, table, math or HTML. Letters, digits, `'`, `"`, `,`, `;`, `:`, `(`, `)`, `/`, `%`, `=`, `?` and
intraword `_`, `.`, `-` stay as they are, so messages read the same in the page source.
"""

from __future__ import annotations

import re
from typing import Any

_ALWAYS = re.compile(r"([\\`*~\[\]<>#$|!{}&^])")  # each can open or close a construct anywhere in a line
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # emphasis unless inside a word
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=www)(\.)|(@)")  # https:// · www. · user@host
_LINE_START = re.compile(r"^(\s*)([-+=.]|\d+(?=[.)]))")  # list items, setext underlines at the start of the text
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def md(value: Any) -> str:
    """`value` as text that Streamlit's markdown shows literally (one line; no markdown, no HTML)."""
    text = _CONTROL.sub("", str(value))
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    text = _ALWAYS.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _AUTOLINK.sub(lambda m: "\\" + m.group(0), text)
    m = _LINE_START.match(text)
    if m is None:
        return text
    if m.group(2)[0].isdigit():  # "1. " / "1) " opens an ordered list: escape its delimiter
        end = m.end()
        return text[:end] + "\\" + text[end:]
    return m.group(1) + "\\" + text[len(m.group(1)):]


_BACKTICKS = re.compile(r"`+")


def code(value: Any) -> str:
    """`value` as one inline code span that nothing inside can close: its fence is one backtick longer than the
    longest run of backticks in it (CommonMark), padded with a space each side (which the parser strips). Inside
    a code span markdown and HTML are not parsed, so the text shows verbatim."""
    text = _CONTROL.sub("", str(value))
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    fence = "`" * (max((len(r) for r in _BACKTICKS.findall(text)), default=0) + 1)
    return f"{fence} {text} {fence}"
