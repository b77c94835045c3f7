"""Schemas of the JSON the store reads back (status.json, metrics.jsonl rows, evaluations.jsonl rows), in one place.

Everything on disk is untrusted: a field is checked for type, range and finiteness before anything uses it.
A check returns the first problem as one line naming the field, or None; nothing here raises.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .config import MAX_LATENT_DIM as MAX_LATENT

# Sane wall-clock range for timestamps (Unix seconds): 1970 .. 2100-01-01. A created of 1e20 is refused here
# instead of overflowing datetime/strftime in a page.
TIME_MIN, TIME_MAX = 0.0, 4_102_444_800.0
MAX_EPOCHS = 10_000  # TrainConfig.epochs' upper bound
MAX_STEPS = 10**12
MAX_COUNT = 10**9
MAX_ABS_NATS = 1e7  # an ELBO/loss in nats per image; beyond this it is garbage, not a bad model

Check = Callable[[Any], str | None]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def integer(low: int, high: int) -> Check:
    """An int (not a bool, not a float) in [low, high]."""
    def check(v: Any) -> str | None:
        if _is_int(v) and low <= v <= high:
            return None
        return f"expected an integer in {low}..{high:,}, got {_short(v)}"
    return check


def number(low: float = -math.inf, high: float = math.inf) -> Check:
    """A finite int or float in [low, high]."""
    def check(v: Any) -> str | None:
        if _is_num(v) and low <= v <= high:
            return None
        return f"expected a finite number in [{low:g}, {high:g}], got {_short(v)}"
    return check


def timestamp(v: Any) -> str | None:
    """Unix seconds between 1970 and 2100."""
    if _is_num(v) and TIME_MIN <= v <= TIME_MAX:
        return None
    return f"expected a time (Unix seconds, 1970..2100), got {_short(v)}"


def text(max_len: int = 10_000) -> Check:
    """A string of at most max_len characters."""
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and len(v) <= max_len else f"expected text, got {_short(v)}"
    return check


def one_of(*choices: str) -> Check:
    """One of the given strings."""
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in choices else f"expected one of {', '.join(choices)}, got {_short(v)}"
    return check


def numbers(low: float, high: float, max_len: int) -> Check:
    """A list of 1..max_len finite numbers in [low, high] (e.g. one per latent dimension)."""
    def check(v: Any) -> str | None:
        if isinstance(v, list) and 1 <= len(v) <= max_len and all(_is_num(x) and low <= x <= high for x in v):
            return None
        return f"expected a list of 1..{max_len} numbers in [{low:g}, {high:g}], got {_short(v)}"
    return check


def params(max_items: int = 8) -> Check:
    """A small JSON object of named parameters: identifier keys, each a finite number or a short text."""
    def check(v: Any) -> str | None:
        if (isinstance(v, dict) and len(v) <= max_items
                and all(isinstance(k, str) and k.isidentifier() and len(k) <= 32 for k in v)
                and all(_is_num(x) or isinstance(x, str) and len(x) <= 200 for x in v.values())):
            return None
        return f"expected up to {max_items} named numbers or short texts, got {_short(v)}"
    return check


def optional(check: Check) -> Check:
    """The check, or null."""
    return lambda v: None if v is None else check(v)


STATES = ("running", "stopped", "failed", "done")
NATS = number(-MAX_ABS_NATS, MAX_ABS_NATS)
SECONDS = number(0.0, 1e9)

# status.json: every field the trainer writes. Fields not listed (e.g. from a newer version) pass through
# unchecked and unused.
STATUS_FIELDS: dict[str, Check] = {
    "state": one_of(*STATES),
    "pid": integer(1, 2**31),
    "created": timestamp, "started": timestamp, "updated": timestamp, "finished": timestamp,
    "epoch": integer(0, MAX_EPOCHS), "total_epochs": integer(1, MAX_EPOCHS),
    "step": integer(0, MAX_STEPS), "step_in_epoch": integer(0, MAX_STEPS), "steps_per_epoch": integer(1, MAX_STEPS),
    "failed_step": integer(0, MAX_STEPS),
    "test_elbo": optional(NATS), "elapsed_seconds": SECONDS,
    "message": text(), "source": text(), "failed_value": text(),
    "code": text(64), "params": params(),  # the message as a code (cvae/store/status_codes.py)
    "resume_from": optional(one_of("weights")),  # a copy without checkpoints (cvae/store/copies.py)
    "replicas": integer(1, 64), "replicas_note": optional(text()),  # how many copies trained, and why (#25)
}
STATUS_REQUIRED = ("state",)

_ROW_COMMON: dict[str, Check] = {"time": timestamp, "elapsed_seconds": SECONDS}
STEP_ROW: dict[str, Check] = {**_ROW_COMMON, "epoch": integer(0, MAX_EPOCHS), "step": integer(0, MAX_STEPS),
                              "loss": NATS}
STEP_REQUIRED = ("step", "loss")
EPOCH_ROW: dict[str, Check] = {**_ROW_COMMON, "epoch": integer(0, MAX_EPOCHS), "step": integer(0, MAX_STEPS),
                               "test_elbo": optional(NATS), "test_logpx_z": optional(NATS), "test_kl": optional(NATS),
                               "train_loss": optional(NATS), "epoch_seconds": SECONDS, "train_seconds": SECONDS,
                               "eval_seconds": SECONDS, "overhead_seconds": SECONDS,
                               "images_per_second": number(0.0, 1e12), "beta": number(0.0, 1e6),
                               "test_objective": optional(NATS), "test_examples": integer(1, MAX_COUNT),
                               "test_kl_per_dim": numbers(0.0, MAX_ABS_NATS, MAX_LATENT),
                               "test_activity": numbers(0.0, 1e12, MAX_LATENT),
                               "test_active_units": integer(0, MAX_LATENT)}
EPOCH_REQUIRED = ("epoch",)

EVALUATION_ROW: dict[str, Check] = {
    "k": integer(1, MAX_COUNT), "iwae": NATS, "elbo": optional(NATS), "n": optional(integer(1, MAX_COUNT)),
    "seconds": optional(SECONDS), "epoch": optional(integer(0, MAX_EPOCHS)), "step": optional(integer(0, MAX_STEPS)),
    "seed": optional(integer(0, 2**63)), "time": optional(timestamp), "note": text(),
}
EVALUATION_REQUIRED = ("k", "iwae")
EXACT_ROW: dict[str, Check] = {
    "method": text(), "exact_logpx": NATS, "exact_error": NATS, "elbo": optional(NATS), "elbo_exact": optional(NATS),
    "approximation_gap": optional(NATS), "amortization_gap": optional(NATS), "n": optional(integer(1, MAX_COUNT)),
    "seconds": optional(SECONDS), "epoch": optional(integer(0, MAX_EPOCHS)), "step": optional(integer(0, MAX_STEPS)),
    "time": optional(timestamp), "note": text(),
}
EXACT_REQUIRED = ("method", "exact_logpx", "exact_error")


def problem(obj: Any, fields: dict[str, Check], required: tuple[str, ...], what: str) -> str | None:
    """The first thing wrong with obj against a schema, as one line naming the field; None when it is valid."""
    if not isinstance(obj, dict):
        return f"{what}: expected a JSON object, got {type(obj).__name__}"
    for name in required:
        if name not in obj:
            return f"{what}: field {name!r} is missing"
    for name, check in fields.items():
        if name in obj:
            why = check(obj[name])
            if why:
                return f"{what}: field {name!r}: {why}"
    return None


def status_problem(status: Any) -> str | None:
    """What is wrong with a status.json object (None if nothing)."""
    return problem(status, STATUS_FIELDS, STATUS_REQUIRED, "status.json")


def valid_status_fields(status: dict[str, Any]) -> dict[str, Any]:
    """The fields of a status object that pass their check (unknown fields kept): what a writer may merge into."""
    return {k: v for k, v in status.items() if k not in STATUS_FIELDS or STATUS_FIELDS[k](v) is None}


def metrics_row_problem(row: Any) -> str | None:
    """What is wrong with one metrics.jsonl row (a step row or an epoch row)."""
    kind = row.get("kind") if isinstance(row, dict) else None
    if kind == "step":
        return problem(row, STEP_ROW, STEP_REQUIRED, "step row")
    if kind == "epoch":
        return problem(row, EPOCH_ROW, EPOCH_REQUIRED, "epoch row")
    return f"metrics row: 'kind' must be step or epoch, got {_short(kind)}"


def evaluation_row_problem(row: Any) -> str | None:
    """What is wrong with one evaluations.jsonl row (an IWAE row, or an `eval --exact` row: method "exact")."""
    if isinstance(row, dict) and "method" in row:
        if row["method"] != "exact":
            return f"evaluation row: field 'method': unknown value {str(row['method'])[:40]!r}"
        return problem(row, EXACT_ROW, EXACT_REQUIRED, "exact evaluation row")
    return problem(row, EVALUATION_ROW, EVALUATION_REQUIRED, "evaluation row")
