"""evaluations.jsonl: one row per `python -m cvae eval --iwae-k K` (and per `--exact`: method "exact"), kept beside
the weights it evaluated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .files import append_jsonl, read_jsonl, repair_jsonl
from .schema import evaluation_row_problem

EVALUATIONS_FILE = "evaluations.jsonl"


def evaluation_row(k: int, iwae: float, elbo: float, n: int, seconds: float, epoch: int | None = None,
                   seed: int = 0, step: int | None = None) -> dict[str, Any]:
    """One line of evaluations.jsonl; epoch/step: those of the weights evaluated (None when they don't say)."""
    return {"k": int(k), "iwae": float(iwae), "elbo": float(elbo), "n": int(n), "seconds": round(float(seconds), 2),
            "epoch": epoch, "step": step, "seed": int(seed), "time": time.time()}


def exact_row(summary: dict[str, Any], elbo: float, n: int, seconds: float, epoch: int | None = None,
              step: int | None = None) -> dict[str, Any]:
    """One `eval --exact` line from a gap summary (cvae.explorer.maths.gaps.gap_summary): the mean log p(x) by quadrature
    over n test digits, its mean error estimate, the single-sample test ELBO (as in the IWAE rows), the exact ELBO
    and the mean approximation/amortization gaps."""
    return {"method": "exact", "exact_logpx": float(summary["logpx"]), "exact_error": float(summary["error"]),
            "elbo": float(elbo), "elbo_exact": float(summary["elbo"]),
            "approximation_gap": float(summary["approximation_gap"]),
            "amortization_gap": float(summary["amortization_gap"]), "n": int(n), "seconds": round(float(seconds), 2),
            "epoch": epoch, "step": step, "time": time.time()}


def append_evaluation(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one row to <run>/evaluations.jsonl (one write + fsync: a crash can only tear that line, and a
    torn last line from an earlier crash is dropped first so the new row starts on a line of its own)."""
    path = Path(run_dir) / EVALUATIONS_FILE
    repair_jsonl(path)
    append_jsonl(path, row)


def read_evaluations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The valid rows of <run>/evaluations.jsonl, oldest first (a torn line, or a row failing
    cvae.store.schema's checks, is skipped)."""
    return [r for r in read_jsonl(Path(run_dir) / EVALUATIONS_FILE) if evaluation_row_problem(r) is None]


def best_evaluation(rows: list[dict[str, Any]], epoch: int | None = None) -> dict[str, Any] | None:
    """The evaluation to show for a run: of the given epoch's weights (a row that does not say which epoch it
    evaluated is never shown beside an epoch's ELBO), most images, then largest k, then newest."""
    rows = [r for r in rows if r.get("method", "iwae") == "iwae"]
    if epoch is not None:
        rows = [r for r in rows if r.get("epoch") == epoch]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.get("n") or 0, r["k"], r.get("time") or 0.0))


def best_exact(rows: list[dict[str, Any]], epoch: int | None = None) -> dict[str, Any] | None:
    """The `eval --exact` row to show for the given epoch's weights: most digits, then newest."""
    rows = [r for r in rows if r.get("method") == "exact" and (epoch is None or r.get("epoch") == epoch)]
    return max(rows, key=lambda r: (r.get("n") or 0, r.get("time") or 0.0)) if rows else None


def format_evaluation(row: dict[str, Any] | None) -> str | None:
    """'-152.31 (k = 1000, 10,000 images)' for a table cell."""
    if row is None:
        return None
    n = row.get("n")
    return f"{row['iwae']:.2f} (k = {row['k']}" + (f", {n:,} images)" if isinstance(n, int) else ")")


def format_evaluation_cell(row: dict[str, Any] | None) -> str | None:
    """The IWAE estimate with the ELBO of the same weights beside it, naming their epoch:
    '-151.95 (k = 1000, 10,000 images) · ELBO -156.74, epoch 10'."""
    text = format_evaluation(row)
    if text is None or row is None:
        return None
    elbo = row.get("elbo")
    return text + (f" · ELBO {elbo:.2f}" if elbo is not None else "") + f", epoch {row.get('epoch')}"
