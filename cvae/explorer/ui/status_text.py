"""The trainer's status line in the viewer's language: a known code with valid parameters is translated through
the catalogue; anything else (old runs, unknown codes, errors) is the stored message, shown as text."""

from __future__ import annotations

from typing import Any

from ...store.status_codes import status_code
from ..i18n import N_, _
from .text import code, md

# The same English templates as cvae/store/status_codes.py, marked for the catalogue.
SHOWN = {
    "loading_data": N_("loading data"),
    "resuming": N_("resuming"),
    "training": N_("training"),
    "resumed": N_("resumed from {checkpoint}"),
    "restarted": N_("no checkpoint found; restarted"),
    "stopped_on_request": N_("stopped on request at epoch {epoch} + {steps} steps"),
    "finished": N_("finished"),
    "finished_elbo": N_("finished {epochs} epochs; test ELBO {elbo}"),
    "force_stopped": N_("force-stopped (trainer pid {pids} was not responding); Resume continues from the last "
                        "checkpoint"),
}


def status_markdown(status: dict[str, Any]) -> str:
    """The status line as safe markdown: translated when coded, else the message in a code span ('' if none)."""
    found = status_code(status)
    if found and found[0] in SHOWN:
        key, params = found
        shown = {k: f"{v:.2f}" if isinstance(v, float) else v for k, v in params.items()}
        return md(_(SHOWN[key], **shown))
    message = status.get("message")
    return code(str(message)) if message else ""


def status_plain(status: dict[str, Any]) -> str:
    """The status line as plain text (a table cell): translated when coded, else the stored message."""
    found = status_code(status)
    if found and found[0] in SHOWN:
        key, params = found
        return _(SHOWN[key], **{k: f"{v:.2f}" if isinstance(v, float) else v for k, v in params.items()})
    return str(status.get("message") or "")
