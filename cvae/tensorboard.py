"""TensorBoard summaries of a run, so `tensorboard --logdir checkpoints/` shows every run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .images import tile
from .train import Callback

TB_DIR = "tensorboard"


class TensorBoardWriter(Callback):
    """Scalars (train loss, test ELBO and its split, images/s) and the 4x4 sample grid per epoch."""

    def __init__(self, run_dir: Path):
        self.logdir = Path(run_dir) / TB_DIR
        self.writer: tf.summary.SummaryWriter | None = None

    def on_train_begin(self, trainer) -> None:
        self.writer = tf.summary.create_file_writer(str(self.logdir))

    def on_steps(self, trainer, epoch: int, step: int, losses: np.ndarray) -> None:
        with self.writer.as_default(step=step):
            tf.summary.scalar("train/loss", float(np.mean(losses)))

    def on_epoch_end(self, trainer, row: dict[str, Any]) -> None:
        grid = tile(trainer.sample_probs(), math.isqrt(len(trainer.sample_images)))
        with self.writer.as_default(step=row["epoch"]):
            for key in ("test_elbo", "test_logpx_z", "test_kl", "images_per_second", "epoch_seconds"):
                if key in row:
                    tf.summary.scalar(f"epoch/{key}", row[key])
            tf.summary.image("samples", grid[None, :, :, None].astype(np.float32))
        self.writer.flush()

    def on_train_end(self, trainer, state: str, message: str) -> None:
        if self.writer is not None:
            self.writer.close()
