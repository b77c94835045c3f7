"""Training callbacks: the hook interface, the run-directory writer, the stop flag and the CLI's progress bar."""

from __future__ import annotations

import math
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..store import latent_means, runs
from ..store.faults import failpoint
from ..store.files import append_jsonl
from ..store.fmt import fmt_seconds
from ..store.images import grid_image, save_png
from ..store.weights import save_weights_npz
from .. import __version__
from .checkpoints import write_checkpoint
from .model import get_weight_arrays


class Callback:
    """Progress hooks; the CLI's progress bar and the run directory writer both implement it."""

    def on_train_begin(self, trainer: "Trainer") -> None:
        """Called once before the first step (also after a resume)."""

    def on_steps(self, trainer: "Trainer", epoch: int, step: int, losses: np.ndarray) -> None:
        """Called after each compiled chunk of steps; `step` is the global step after it."""

    def on_epoch_end(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        """Called with the epoch's metrics row once its checkpoint is safe on disk."""

    def on_train_end(self, trainer: "Trainer", state: str, message: str) -> None:
        """Called once with the final state: done, stopped or failed."""


def chunk_loss(trainer: "Trainer", losses: np.ndarray) -> float:
    """The mean loss per image over a chunk (its steps' batch means weighted by their batch sizes)."""
    w = getattr(trainer, "chunk_weights", None)
    if w is None or len(w) != len(losses):
        return float(np.mean(losses))
    return float(np.average(losses, weights=w))


class RunWriter(Callback):
    """Writes metrics.jsonl, status.json, per-epoch images, weights and checkpoints of one run.

    With background=True (what train_run uses) the per-chunk progress writes (a step row and status.json,
    each fsynced: ~20 ms per chunk on this disk, ~4% of a batch-32 epoch) run on one writer thread, in
    order, so training does not wait for the disk. Epoch-end writes stay synchronous and first wait for
    the queued ones (flush), so the crash-safety order below is unchanged.
    """

    def __init__(self, run_dir: Path, background: bool = False):
        self.run_dir = run_dir
        self.background = background
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _submit(self, fn, *args, **kwargs) -> None:
        if not self.background:
            fn(*args, **kwargs)
            return
        if self._error is not None:
            self.flush()  # re-raises the write error on the training thread
        if self._thread is None:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._work, name="cvae-run-writer", daemon=True)
            self._thread.start()
        self._queue.put((fn, args, kwargs))

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args, kwargs = item
                try:
                    fn(*args, **kwargs)
                except BaseException as e:  # reported by flush() on the training thread
                    self._error = self._error or e
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued write is on disk; raise the first error a queued write hit."""
        if self._queue is not None:
            self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """flush(), then stop the writer thread."""
        try:
            self.flush()
        finally:
            if self._thread is not None:
                assert self._queue is not None
                self._queue.put(None)
                self._thread.join()
                self._thread = self._queue = None

    def on_train_begin(self, trainer: Trainer) -> None:
        (self.run_dir / runs.IMAGES_DIR).mkdir(exist_ok=True)
        if trainer.epoch == 0 and not runs.image_path(self.run_dir, 0).exists():
            self._save_frame(trainer, 0)

    def on_steps(self, trainer: Trainer, epoch: int, step: int, losses: np.ndarray) -> None:
        row = {"kind": "step", "epoch": epoch, "step": step, "loss": chunk_loss(trainer, losses),
               "elapsed_seconds": round(trainer.elapsed, 3), "time": time.time()}
        self._submit(self._write_step, row, trainer.step_in_epoch, trainer.steps_per_epoch)

    def _write_step(self, row: dict[str, Any], step_in_epoch: int, steps_per_epoch: int) -> None:
        append_jsonl(self.run_dir / runs.METRICS_FILE, row)
        runs.write_status(self.run_dir, step=row["step"], step_in_epoch=step_in_epoch,
                          steps_per_epoch=steps_per_epoch)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self.flush()
        # Order matters for crash safety: image and weights, then the checkpoint, then the metrics row.
        # A crash before the checkpoint replays the epoch; after it, resume re-adds a missing row.
        self._save_frame(trainer, row["epoch"])
        failpoint("epoch_end:after_image")
        labels = trainer.data.test_labels
        if labels is not None:  # the latent map of this epoch (replaced, not repeated, if the epoch is replayed)
            means = trainer.map_means(latent_means.MAP_DIGITS)
            latent_means.write_epoch(self.run_dir, row["epoch"], means, np.asarray(labels[:len(means)]))
            failpoint("epoch_end:after_latent_means")
        save_weights_npz(get_weight_arrays(trainer.model), self.run_dir / runs.WEIGHTS_FILE, epoch=row["epoch"],
                         step=trainer.global_step)  # evaluations read which weights they loaded from the file
        failpoint("epoch_end:after_weights")
        write_checkpoint(trainer, self.run_dir)
        failpoint("epoch_end:after_checkpoint")
        append_jsonl(self.run_dir / runs.METRICS_FILE, row)
        failpoint("epoch_end:after_metrics")
        runs.write_status(self.run_dir, epoch=row["epoch"], step=trainer.global_step, step_in_epoch=0,
                          test_elbo=row["test_elbo"], elapsed_seconds=row["elapsed_seconds"])

    def _save_frame(self, trainer: Trainer, epoch: int) -> None:
        n = trainer.config.num_examples_to_generate
        save_png(grid_image(trainer.sample_probs(), math.isqrt(n)), runs.image_path(self.run_dir, epoch))


class StopFlag:
    """Set by SIGTERM/SIGINT or by a STOP file in the run directory."""

    def __init__(self, run_dir: Path | None = None, event: threading.Event | None = None):
        self.run_dir = run_dir
        self.event = event or threading.Event()

    def __call__(self) -> bool:
        if self.run_dir is not None and (self.run_dir / runs.STOP_FILE).exists():
            self.event.set()
        return self.event.is_set()

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.event.set())


def overhead_text(trainer, row: dict[str, Any]) -> str:
    """'around the steps 0.9 s = 8% (eval 0.6 s, writes 0.2 s)': everything in the epoch but the compiled steps,
    the epoch-end writes of the callbacks before this one included, as a share of the whole epoch."""
    if "overhead_seconds" not in row:
        return ""
    writes = max(0.0, time.perf_counter() - trainer.epoch_end_started) if trainer.epoch_end_started else 0.0
    overhead = row["overhead_seconds"] + writes
    whole = row["epoch_seconds"] + writes
    return (f"around the steps {overhead:.2f} s = {100 * overhead / max(whole, 1e-9):.0f}% "
            f"(eval {row['eval_seconds']:.2f} s, writes {writes:.2f} s)")


class ProgressBar(Callback):
    """A one-line progress display (step, loss, images/s, ETA) and a summary line per epoch."""

    def __init__(self, stream=None):
        stream = stream or sys.stderr  # looked up now, not at import (sys.stderr may have been swapped since)
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.steps0 = 0
        self.last_print = 0.0

    def on_train_begin(self, trainer) -> None:
        self.t0, self.steps0 = time.perf_counter(), trainer.global_step
        c = trainer.config
        print(f"training {c.epochs} epochs x {trainer.steps_per_epoch} steps (batch {c.batch_size}, "
              f"lr {c.learning_rate:g}, latent_dim {c.latent_dim}, {c.precision}, preset {c.preset}); "
              f"data: {trainer.data.source}", file=self.stream, flush=True)
        if c.fast_path:
            print(f"fast path: {c.fast_path}", file=self.stream, flush=True)
        # Which code trains, in the run's log: a trainer launched by the app must run the app's own checkout.
        print(f"code: cvae {__version__} from {Path(__file__).resolve().parent.parent}", file=self.stream, flush=True)

    def on_steps(self, trainer, epoch, step, losses) -> None:
        now = time.perf_counter()
        if not self.tty and now - self.last_print < 10:
            return
        self.last_print = now
        done = step - self.steps0
        rate = done / max(now - self.t0, 1e-9)
        total = trainer.steps_per_epoch * trainer.config.epochs
        eta = (total - step) / rate if rate > 0 else float("nan")
        ips = rate * trainer.config.batch_size
        bar_w = 24
        frac = min(1.0, step / max(total, 1))
        bar = "#" * int(frac * bar_w) + "-" * (bar_w - int(frac * bar_w))
        line = (f"epoch {epoch}/{trainer.config.epochs} [{bar}] step {step}/{total} "
                f"loss {float(losses.mean()):.2f} {ips:,.0f} img/s ETA {fmt_seconds(eta)}")
        print(("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty else "\n",
              file=self.stream, flush=True)

    def on_epoch_end(self, trainer, row) -> None:
        print(("\r\x1b[K" if self.tty else "") +
              f"epoch {row['epoch']:>3}: test ELBO {row['test_elbo']:.2f} (recon {row['test_logpx_z']:.2f}, "
              f"KL {row['test_kl']:.2f}) {row['epoch_seconds']:.1f}s {row['images_per_second']:,.0f} img/s "
              f"elapsed {fmt_seconds(row['elapsed_seconds'])}; {overhead_text(trainer, row)}",
              file=self.stream, flush=True)

    def on_train_end(self, trainer, state, message) -> None:
        print(f"{state}: {message}", file=self.stream, flush=True)
