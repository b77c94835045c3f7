"""The baseline: a faithful reimplementation of the TensorFlow CVAE tutorial's training loop.

Code shape kept from https://www.tensorflow.org/tutorials/generative/cvae :
  * preprocessing: x / 255 > .5 -> {0., 1.} float32
  * train_dataset = from_tensor_slices(train).shuffle(60000).batch(32), Python loop over it
  * @tf.function train_step(model, x, optimizer) per batch: GradientTape over compute_loss
    (single-sample ELBO with tf.random.normal eps inside model.reparameterize), Adam(1e-4), float32
  * test ELBO: test_dataset = from_tensor_slices(test).shuffle(10000).batch(32),
    `loss = tf.keras.metrics.Mean(); for test_x in test_dataset: loss(compute_loss(model, test_x))`
    (eager compute_loss per batch, a mean of batch means), elbo = -loss.result()
  * once per epoch: generate_and_save_images on 16 test digits (here decoded and written as a PNG
    with Pillow instead of a matplotlib figure, which would only make the baseline slower)
The architecture is the tutorial's, so cvae.engine.model.build_model is reused (same layers, same init).

Run on its own (one tutorial run, printing the tutorial's per-epoch line):
    .venv/bin/python -m bench.baseline [--epochs 10] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import DEFAULT_DATA_DIR, quiet_tf

quiet_tf()
import tensorflow as tf  # noqa: E402

from cvae.store.images import grid_image, save_png  # noqa: E402
from cvae.engine.model import build_model  # noqa: E402


def preprocess_images(images: np.ndarray) -> np.ndarray:
    """The tutorial's preprocess_images."""
    images = images.reshape((images.shape[0], 28, 28, 1)) / 255.
    return np.where(images > .5, 1.0, 0.0).astype('float32')


def load_mnist(data_dir: str = DEFAULT_DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Binarized (train, test) as the tutorial prepares them."""
    from cvae.data.sources import load_dataset

    ds = load_dataset("mnist", data_dir)
    return preprocess_images(ds.train_images), preprocess_images(ds.test_images)


def log_normal_pdf(sample, mean, logvar, raxis=1):
    log2pi = tf.math.log(2. * np.pi)
    return tf.reduce_sum(-.5 * ((sample - mean) ** 2. * tf.exp(-logvar) + logvar + log2pi), axis=raxis)


def compute_loss(model, x):
    mean, logvar = model.encode(x)
    z = model.reparameterize(mean, logvar)
    x_logit = model.decode(z)
    cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
    logpx_z = -tf.reduce_sum(cross_ent, axis=[1, 2, 3])
    logpz = log_normal_pdf(z, 0., 0.)
    logqz_x = log_normal_pdf(z, mean, logvar)
    return -tf.reduce_mean(logpx_z + logpz - logqz_x)


@tf.function
def train_step(model, x, optimizer):
    """Executes one training step and returns the loss."""
    with tf.GradientTape() as tape:
        loss = compute_loss(model, x)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))


class TutorialRun:
    """Model, optimizer and pipelines of one tutorial run (latent_dim 2, batch 32, Adam 1e-4 by default)."""

    def __init__(self, train_images, test_images, latent_dim=2, batch_size=32, learning_rate=1e-4,
                 seed: int | None = None, out_dir: str | Path | None = None, num_examples_to_generate=16):
        if seed is not None:
            tf.random.set_seed(seed)  # the tutorial sets no seed; benchmarks may, for repeatability
        train_size, test_size = len(train_images), len(test_images)
        self.train_dataset = (tf.data.Dataset.from_tensor_slices(train_images)
                              .shuffle(train_size).batch(batch_size))
        self.test_dataset = (tf.data.Dataset.from_tensor_slices(test_images)
                             .shuffle(test_size).batch(batch_size))
        self.optimizer = tf.keras.optimizers.Adam(learning_rate)
        self.model = build_model(latent_dim)
        self.test_sample = test_images[:num_examples_to_generate]
        self.out_dir = Path(out_dir) if out_dir else None
        self.n_train = train_size
        self.batch_size = batch_size
        # The tutorial's module-level @tf.function serves its one model; a benchmark builds several in one
        # process, and a traced step may create the optimizer's variables only once: one function per model.
        self._train_step = tf.function(train_step.python_function)

    def warm_up(self, train_images) -> None:
        """Trace this run's own step (the one train_epoch times) for a full batch and the epoch's short last one."""
        n, bs = len(train_images), self.batch_size
        shapes = [bs] + ([n % bs] if n % bs else [])
        for size in shapes:
            self._train_step(self.model, tf.constant(train_images[:size]), self.optimizer)

    def train_epoch(self) -> int:
        """One pass over train_dataset; returns the number of images trained on."""
        for train_x in self.train_dataset:
            self._train_step(self.model, train_x, self.optimizer)
        return self.n_train

    def evaluate(self) -> float:
        """The tutorial's test ELBO: mean of per-batch mean losses, eager compute_loss."""
        loss = tf.keras.metrics.Mean()
        for test_x in self.test_dataset:
            loss(compute_loss(self.model, test_x))
        return float(-loss.result())

    def generate_and_save_images(self, epoch: int) -> None:
        mean, logvar = self.model.encode(self.test_sample)
        z = self.model.reparameterize(mean, logvar)
        predictions = self.model.sample(z)
        if self.out_dir is not None:
            save_png(grid_image(predictions.numpy(), 4), self.out_dir / f"image_at_epoch_{epoch:04d}.png")

    def run(self, epochs: int, target: float | None = None, verbose: bool = True,
            t_start: float | None = None) -> list[dict]:
        """The tutorial's epoch loop; stops early once test ELBO >= target.

        Rows carry elapsed_seconds since t_start (default: the start of this call).
        """
        rows = []
        t_start = time.perf_counter() if t_start is None else t_start
        self.generate_and_save_images(0)
        for epoch in range(1, epochs + 1):
            start_time = time.perf_counter()
            self.train_epoch()
            end_time = time.perf_counter()
            elbo = self.evaluate()
            self.generate_and_save_images(epoch)
            now = time.perf_counter()
            rows.append({"epoch": epoch, "test_elbo": elbo, "train_seconds": end_time - start_time,
                         "epoch_seconds": now - start_time, "elapsed_seconds": now - t_start})
            if verbose:
                print(f"Epoch: {epoch}, Test set ELBO: {elbo:.3f}, time elapse for current epoch: "
                      f"{end_time - start_time:.2f}", flush=True)
            if target is not None and elbo >= target:
                break
        return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    args = p.parse_args(argv)
    train, test = load_mnist(args.data_dir)
    with tempfile.TemporaryDirectory() as d:
        TutorialRun(train, test, out_dir=d).run(args.epochs)


if __name__ == "__main__":
    main()
