"""Progress of a training run for display: fraction done, epoch x of y, images per second, ETA."""

from __future__ import annotations

from typing import Any

from ..store import runs



def progress(info: runs.RunInfo, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Progress of a run for display: fraction, epoch x/y, images/s and ETA (seconds) where known."""
    status = info.status
    total_epochs = info.total_epochs or status.get("total_epochs") or 0
    steps_per_epoch = status.get("steps_per_epoch")
    epoch_done = int(status.get("epoch") or 0)
    step = int(status.get("step") or 0)
    frac = 0.0
    if total_epochs and steps_per_epoch:
        frac = step / (steps_per_epoch * total_epochs)
    elif total_epochs:
        frac = epoch_done / total_epochs
    out: dict[str, Any] = {"fraction": max(0.0, min(1.0, frac)), "epoch": min(epoch_done + 1, total_epochs or 1)
                           if info.state == "running" else epoch_done, "total_epochs": total_epochs,
                           "step": step, "images_per_second": None, "eta_seconds": None}
    batch = info.config.batch_size if info.config else None
    steps = steps or []
    if len(steps) >= 2 and batch:
        # Rate over the recent rows (a window of up to 10 logging intervals), across epoch boundaries.
        a, b = steps[max(0, len(steps) - 11)], steps[-1]
        dt = float(b.get("time", 0)) - float(a.get("time", 0))
        ds = int(b.get("step", 0)) - int(a.get("step", 0))
        if dt > 0 and ds > 0:
            out["images_per_second"] = ds * batch / dt
            if total_epochs and steps_per_epoch:
                out["eta_seconds"] = max(0.0, (steps_per_epoch * total_epochs - step) * dt / ds)
    return out
