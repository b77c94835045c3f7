"""evaluations.jsonl: one row per `python -m cvae eval --iwae-k K`, kept beside the weights it evaluated."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from .files import append_jsonl, read_jsonl, repair_jsonl

EVALUATIONS_FILE = "evaluations.jsonl"


def evaluation_row(k: int, iwae: float, elbo: float, n: int, seconds: float, epoch: int | None = None,
                   seed: int = 0) -> dict[str, Any]:
    """One line of evaluations.jsonl."""
    return {"k": int(k), "iwae": float(iwae), "elbo": float(elbo), "n": int(n), "seconds": round(float(seconds), 2),
            "epoch": epoch, "seed": int(seed), "time": time.time()}


def append_evaluation(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one row to <run>/evaluations.jsonl (one write + fsync: a crash can only tear that line, and a
    torn last line from an earlier crash is dropped first so the new row starts on a line of its own)."""
    path = Path(run_dir) / EVALUATIONS_FILE
    repair_jsonl(path)
    append_jsonl(path, row)


def read_evaluations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The valid rows of <run>/evaluations.jsonl, oldest first (a torn or foreign line is skipped)."""
    rows = []
    for r in read_jsonl(Path(run_dir) / EVALUATIONS_FILE):
        if (isinstance(r, dict) and isinstance(r.get("k"), int) and not isinstance(r.get("k"), bool)
                and isinstance(r.get("iwae"), (int, float)) and math.isfinite(r["iwae"])):
            rows.append(r)
    return rows


def best_evaluation(rows: list[dict[str, Any]], epoch: int | None = None) -> dict[str, Any] | None:
    """The evaluation to show for a run: of the given epoch's weights if any say so, most images, then
    largest k, then newest."""
    if epoch is not None:
        rows = [r for r in rows if r.get("epoch") in (None, epoch)]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.get("n") or 0, r["k"], r.get("time") or 0.0))


def format_evaluation(row: dict[str, Any] | None) -> str | None:
    """'-152.31 (k = 1000, 10,000 images)' for a table cell."""
    if row is None:
        return None
    n = row.get("n")
    return f"{row['iwae']:.2f} (k = {row['k']}" + (f", {n:,} images)" if isinstance(n, int) else ")")
