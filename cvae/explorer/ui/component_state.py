"""The browser's component state, parsed with a nesting limit: Streamlit's custom components (the latent pad, the
drawing canvas) report their state as JSON that Streamlit decodes with json.loads, and 5,000 nested brackets make
json.loads raise RecursionError (a traceback with server paths, and the page broken until the user leaves it).

`install()` gives Streamlit's component (de)serialisation modules a json whose loads refuses nesting deeper than
MAX_DEPTH with a JSONDecodeError, which Streamlit already handles (the state reads as empty / the raw string).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_DEPTH = 32  # the pad's state is 2 levels deep ({"z": [..]}); the canvas's 1
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string literal (unrolled: linear time)
_STEP = np.zeros(256, np.int8)
_STEP[[0x5B, 0x7B]], _STEP[[0x5D, 0x7D]] = 1, -1  # [ { open, ] } close


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of [ and { in a JSON text (brackets inside strings do not count)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    arr = np.frombuffer(_STRINGS.sub(b'""', raw), np.uint8)
    if arr.size == 0:
        return 0
    return int(np.cumsum(_STEP[arr], dtype=np.int64).max(initial=0))


class _DepthLimitedJson:
    """The json module, except loads refuses texts nested deeper than MAX_DEPTH (JSONDecodeError)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)

    @staticmethod
    def loads(s: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(s, (str, bytes, bytearray)) and json_depth(s) > MAX_DEPTH:
            raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels; refused", "", 0)
        return json.loads(s, *args, **kwargs)


def install() -> None:
    """Make Streamlit's bidirectional components decode browser state with the nesting limit (idempotent)."""
    from streamlit.components.v2.bidi_component import main, serialization

    for module in (main, serialization):
        if not isinstance(getattr(module, "json", None), _DepthLimitedJson):
            module.json = _DepthLimitedJson()
