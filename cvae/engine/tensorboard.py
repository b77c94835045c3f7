"""TensorBoard summaries of a run, so `tensorboard --logdir checkpoints/` shows every run.

Written with TensorFlow's own summary writer (tf.summary.write with the scalars / images plugin metadata,
the format tf.summary.scalar and tf.summary.image produce): tf.summary.scalar and .image need the
`tensorboard` package, which training does not (only viewing does: `pip install tensorboard`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..store.images import grid_image, png_bytes
from .callbacks import Callback

TB_DIR = "tensorboard"


def _metadata(plugin: str, data_class: int) -> bytes:
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
    meta.data_class = data_class
    return meta.SerializeToString()


def write_scalar(tag: str, value: float, step: int) -> None:
    """What tf.summary.scalar writes (a float32 scalar tensor, plugin 'scalars'), to the default writer."""
    from tensorflow.core.framework import summary_pb2

    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step,
                     metadata=_metadata("scalars", summary_pb2.DATA_CLASS_SCALAR))


def write_png(tag: str, png: bytes, width: int, height: int, step: int) -> None:
    """What tf.summary.image writes for one image ([width, height, PNG] strings, plugin 'images')."""
    from tensorflow.core.framework import summary_pb2

    tf.summary.write(tag, tf.constant([str(width).encode(), str(height).encode(), png]), step=step,
                     metadata=_metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE))


class TensorBoardWriter(Callback):
    """Scalars (train loss, test ELBO and its split, images/s) and the 4x4 sample grid per epoch."""

    def __init__(self, run_dir: Path):
        self.logdir = Path(run_dir) / TB_DIR
        self.writer: tf.summary.SummaryWriter | None = None

    def on_train_begin(self, trainer) -> None:
        self.writer = tf.summary.create_file_writer(str(self.logdir))

    def on_steps(self, trainer, epoch: int, step: int, losses: np.ndarray) -> None:
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            write_scalar("train/loss", float(np.mean(losses)), step)

    def on_epoch_end(self, trainer, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        # sample_probs() is cached per step: the RunWriter's PNG of this epoch decoded the same grid.
        grid = grid_image(trainer.sample_probs(), math.isqrt(len(trainer.sample_images)), scale=1)
        step = row["epoch"]
        with self.writer.as_default(step=step):
            for key in ("test_elbo", "test_logpx_z", "test_kl", "test_active_units", "images_per_second",
                        "epoch_seconds"):
                if key in row:
                    write_scalar(f"epoch/{key}", row[key], step)
            for i, kl in enumerate(row.get("test_kl_per_dim", [])):  # which dimensions carry information
                write_scalar(f"kl_per_dim/z{i + 1}", kl, step)
            write_png("samples", png_bytes(grid), grid.width, grid.height, step)
        self.writer.flush()

    def on_train_end(self, trainer, state: str, message: str) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the events file (train_run calls it however training ends); idempotent."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
