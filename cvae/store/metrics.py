"""metrics.jsonl: one step row per logged chunk, one epoch row per epoch; validated selection, an incremental
reader for live runs (only the appended tail is parsed), downsampling for charts, and repair after a crash."""

from __future__ import annotations

import json
import os
import stat
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import BAD_LINE, atomic_write_bytes, jsonl_values, read_jsonl, repair_jsonl
from .schema import metrics_row_problem

ACTIVE_THRESHOLD = 0.01  # a latent dimension is active when Var_x(E_q[z_i]) exceeds this (Burda et al. 2015)
CHART_POINTS = 2000  # step rows drawn per chart at most: a browser line needs no more, and 200k cost seconds


def epoch_rows(metrics: list[dict]) -> list[dict]:
    """Valid per-epoch metric rows, one per epoch (the last written wins), in epoch order."""
    by_epoch: dict[int, dict] = {}
    for row in metrics:
        if isinstance(row, dict) and row.get("kind") == "epoch" and metrics_row_problem(row) is None:
            by_epoch[row["epoch"]] = row
    return [by_epoch[e] for e in sorted(by_epoch)]


def step_rows(metrics: list[dict]) -> list[dict]:
    """Valid train-loss rows logged every N steps (a row without a numeric step and loss is skipped)."""
    return [r for r in metrics if isinstance(r, dict) and r.get("kind") == "step" and metrics_row_problem(r) is None]


@dataclass
class MetricsView:
    """A snapshot of a metrics file: its epoch rows, its step rows as columns, and how many rows were skipped."""

    epochs: list[dict] = field(default_factory=list)
    step: np.ndarray = field(default_factory=lambda: np.zeros(0))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bad_rows: int = 0

    def chart_steps(self, max_points: int = CHART_POINTS) -> tuple[list[float], list[float]]:
        """(steps, losses) of at most max_points step rows, evenly spaced, the first and last always kept."""
        n = len(self.step)
        idx = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        return self.step[idx].tolist(), self.loss[idx].tolist()

    def recent_steps(self, n: int = 11) -> list[dict[str, float]]:
        """The last n step rows as {'step', 'loss', 'time'} (what progress/ETA needs)."""
        return [{"step": int(s), "loss": float(l_), "time": float(t)}
                for s, l_, t in zip(self.step[-n:], self.loss[-n:], self.time[-n:])]


class _Tail:
    """What has been parsed of one metrics file so far: file identity, bytes consumed, rows."""

    def __init__(self, ident: tuple[int, int]):
        self.ident, self.offset, self.head = ident, 0, b""
        self.by_epoch: dict[int, dict] = {}
        self.step, self.loss, self.time = array("d"), array("d"), array("d")
        self.bad = 0

    def add(self, data: bytes) -> None:
        for row in jsonl_values(data):
            if row is BAD_LINE or metrics_row_problem(row) is not None:
                self.bad += 1
            elif row["kind"] == "epoch":
                self.by_epoch[row["epoch"]] = row
            else:
                t = row.get("time")
                self.step.append(row["step"])
                self.loss.append(row["loss"])
                self.time.append(float(t) if t is not None else float("nan"))

    def view(self) -> MetricsView:
        n = len(self.step)
        return MetricsView(epochs=[self.by_epoch[e] for e in sorted(self.by_epoch)],
                           step=np.frombuffer(self.step, dtype=np.float64, count=n).copy(),
                           loss=np.frombuffer(self.loss, dtype=np.float64, count=n).copy(),
                           time=np.frombuffer(self.time, dtype=np.float64, count=n).copy(), bad_rows=self.bad)


_TAILS: dict[str, _Tail] = {}
_TAILS_LOCK = threading.Lock()  # Streamlit runs each session's script in its own thread
_MAX_TAILS = 4096
_HEAD = 64  # first bytes kept to notice a file rewritten in place (same inode, different content)


def read_metrics(path: str | os.PathLike) -> MetricsView:
    """The file's valid rows; appended bytes are parsed once per process, an atomically replaced (or rewritten,
    truncated) file is read again from the start. A missing file, a link or a FIFO reads as empty."""
    key = os.path.abspath(path)
    try:
        fd = os.open(key, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        with _TAILS_LOCK:
            _TAILS.pop(key, None)
        return MetricsView()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return MetricsView()
        with _TAILS_LOCK:
            tail = _TAILS.get(key)
            ident = (st.st_dev, st.st_ino)
            if (tail is None or tail.ident != ident or st.st_size < tail.offset
                    or os.pread(fd, len(tail.head), 0) != tail.head):
                tail = _TAILS[key] = _Tail(ident)
                if len(_TAILS) > _MAX_TAILS:
                    _TAILS.pop(next(iter(_TAILS)))
            if st.st_size > tail.offset:
                data = os.pread(fd, st.st_size - tail.offset, tail.offset)
                end = data.rfind(b"\n") + 1  # a torn or still-being-written last line waits for its newline
                tail.add(data[:end])
                tail.offset += end
                if len(tail.head) < _HEAD:
                    tail.head = os.pread(fd, min(_HEAD, tail.offset), 0)
            return tail.view()
    finally:
        os.close(fd)


def reconcile(path: Path, epoch: int, global_step: int, last_row: dict[str, Any] | None) -> int:
    """Make metrics.jsonl agree with a restored checkpoint (at `epoch`, `global_step`): no torn line, no rows
    from after it, its epoch row once, no malformed row; returns how many malformed rows were dropped."""
    repair_jsonl(path)
    rows = read_jsonl(path)
    keep = []
    seen_epochs = set()
    bad = 0
    for row in rows:
        if metrics_row_problem(row) is not None:  # e.g. a string or null step: dropped, not compared
            bad += 1
            continue
        if row["kind"] == "epoch":
            if row["epoch"] > epoch or row["epoch"] in seen_epochs:
                continue
            seen_epochs.add(row["epoch"])
        elif row["step"] > global_step:
            continue
        keep.append(row)
    if last_row and epoch not in seen_epochs and epoch > 0:
        keep.append(last_row)
    if keep != rows:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep)
        atomic_write_bytes(path, text.encode())
    return bad
