"""Progress of a training run for display: fraction done, epoch x of y, images per second, ETA."""

from __future__ import annotations

import math
import time
from typing import Any

from ...store import runs

EVAL_COST = 1 / 3  # a test image is a forward pass: about a third of a training step's work per image
DEFAULT_TEST_IMAGES = 10_000

def _count(v: Any) -> int:
    """v if it is a non-negative int, else 0 (a wrong-typed field means 'not known')."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**12 else 0


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def current_process_rows(info: runs.RunInfo, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The step rows logged by the run's current process (after a Resume, the previous one's are history)."""
    started = info.status.get("started")
    if not isinstance(started, (int, float)):
        return steps
    return [r for r in steps if isinstance(r.get("time"), (int, float)) and r["time"] >= started]


def eval_seconds(info: runs.RunInfo, epochs: list[dict[str, Any]], seconds_per_image: float | None) -> float | None:
    """Seconds one test-set evaluation takes: measured at the last epoch end, else estimated from the training
    speed (the evaluation of 10,000 test images can take longer than training on a small subset)."""
    for row in reversed(epochs):
        e, t = row.get("epoch_seconds"), row.get("train_seconds")
        if isinstance(e, (int, float)) and isinstance(t, (int, float)) and e >= t:
            return float(e - t)
    if seconds_per_image is None:
        return None
    n_test = (info.config.max_test_examples if info.config else None) or DEFAULT_TEST_IMAGES
    return n_test * seconds_per_image * EVAL_COST


def progress(info: runs.RunInfo, steps: list[dict[str, Any]] | None = None,
             epochs: list[dict[str, Any]] | None = None, now: float | None = None) -> dict[str, Any]:
    """Progress of a run for display: fraction, epoch x/y, images/s and ETA (seconds, evaluations included)."""
    status = info.status
    # status.json is checked on read (cvae.store.schema drops a bad field); _count guards direct callers too.
    total_epochs = info.total_epochs or _count(status.get("total_epochs"))
    steps_per_epoch = _count(status.get("steps_per_epoch"))
    epoch_done = _count(status.get("epoch"))
    step = _count(status.get("step"))
    frac = 0.0
    if total_epochs and steps_per_epoch:
        frac = step / (steps_per_epoch * total_epochs)
    elif total_epochs:
        frac = epoch_done / total_epochs
    out: dict[str, Any] = {"fraction": max(0.0, min(1.0, frac)), "epoch": min(epoch_done + 1, total_epochs or 1)
                           if info.state == "running" else epoch_done, "total_epochs": total_epochs,
                           "step": step, "images_per_second": None, "eta_seconds": None}
    batch = info.config.batch_size if info.config else None
    steps = current_process_rows(info, steps or [])
    if len(steps) >= 2 and batch:
        # Rate over the recent rows (a window of up to 10 logging intervals), across epoch boundaries.
        a, b = steps[max(0, len(steps) - 11)], steps[-1]
        dt = _number(b.get("time")) - _number(a.get("time"))
        ds = _count(b.get("step")) - _count(a.get("step"))
        if math.isfinite(dt) and dt > 0 and ds > 0:
            out["images_per_second"] = ds * batch / dt
            if total_epochs and steps_per_epoch:
                train_left = max(0, steps_per_epoch * total_epochs - step) * dt / ds
                evals_left = max(0, total_epochs - epoch_done)
                per_eval = eval_seconds(info, epochs or [], dt / (ds * batch)) or 0.0
                since = max(0.0, (time.time() if now is None else now) - _number(b.get("time")))
                out["eta_seconds"] = max(0.0, train_left + evals_left * per_eval - since)
    return out
