"""metrics.jsonl: one step row per logged chunk, one epoch row per epoch; selection and repair after a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import atomic_write_bytes, read_jsonl, repair_jsonl


def epoch_rows(metrics: list[dict]) -> list[dict]:
    """Per-epoch metric rows, one per epoch (the last written wins), in epoch order."""
    by_epoch: dict[int, dict] = {}
    for row in metrics:
        if row.get("kind") == "epoch" and isinstance(row.get("epoch"), int):
            by_epoch[row["epoch"]] = row
    return [by_epoch[e] for e in sorted(by_epoch)]


def step_rows(metrics: list[dict]) -> list[dict]:
    """Train-loss rows logged every N steps."""
    return [r for r in metrics if r.get("kind") == "step"]


def reconcile(path: Path, epoch: int, global_step: int, last_row: dict[str, Any] | None) -> None:
    """Make metrics.jsonl agree with a restored checkpoint (at `epoch`, `global_step`): no torn line, no rows
    from after it, its epoch row once."""
    repair_jsonl(path)
    rows = read_jsonl(path)
    keep = []
    seen_epochs = set()
    for row in rows:
        if row.get("kind") == "epoch":
            if row.get("epoch", 0) > epoch or row.get("epoch") in seen_epochs:
                continue
            seen_epochs.add(row.get("epoch"))
        elif row.get("step", 0) > global_step:
            continue
        keep.append(row)
    if last_row and epoch not in seen_epochs and epoch > 0:
        keep.append(last_row)
    if keep != rows:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep)
        atomic_write_bytes(path, text.encode())
