"""The trainer's status lines as codes with parameters (#26): status.json keeps the English `message` (old
readers, the CLI, `cat status.json`) and adds `code` and `params`, so the app can say the same line in the
viewer's language. Each code's parameters are checked field by field on read; anything unknown or invalid
falls back to the message."""

from __future__ import annotations

from typing import Any

from .schema import MAX_EPOCHS, MAX_STEPS, NATS, Check, integer, text

# code -> (English template, a check per parameter). The explorer's catalogue holds the same templates
# (cvae/explorer/ui/status_text.py; tests/test_status_codes.py keeps the two equal).
STATUS_CODES: dict[str, tuple[str, dict[str, Check]]] = {
    "loading_data": ("loading data", {}),
    "resuming": ("resuming", {}),
    "training": ("training", {}),
    "resumed": ("resumed from {checkpoint}", {"checkpoint": text(200)}),
    "restarted": ("no checkpoint found; restarted", {}),
    "stopped_on_request": ("stopped on request at epoch {epoch} + {steps} steps",
                           {"epoch": integer(0, MAX_EPOCHS), "steps": integer(0, MAX_STEPS)}),
    "finished": ("finished", {}),
    "finished_elbo": ("finished {epochs} epochs; test ELBO {elbo}", {"epochs": integer(0, MAX_EPOCHS), "elbo": NATS}),
    "force_stopped": ("force-stopped (trainer pid {pids} was not responding); Resume continues from the last "
                      "checkpoint", {"pids": text(200)}),
}


def _english(code: str, params: dict[str, Any]) -> str:
    shown = {k: f"{v:.2f}" if isinstance(v, float) else v for k, v in params.items()}
    return STATUS_CODES[code][0].format(**shown)


def coded(code: str, **params: Any) -> dict[str, Any]:
    """The status fields of one line: its code, its parameters and the English message."""
    return {"code": code, "params": params, "message": _english(code, params)}


def status_code(status: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(code, params) when status.json names a known code whose parameters are exactly the code's and each passes
    its check; None otherwise (the caller shows the message)."""
    code, params = status.get("code"), status.get("params", {})
    if not isinstance(code, str) or code not in STATUS_CODES or not isinstance(params, dict):
        return None
    checks = STATUS_CODES[code][1]
    if set(params) != set(checks) or any(checks[k](v) for k, v in params.items()):
        return None
    return code, params
