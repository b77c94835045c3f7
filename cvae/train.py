"""Training: a compiled multi-step loop, per-epoch evaluation, crash-safe run directories, stop and resume."""

from __future__ import annotations

import io as _io
import json
import math
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import tensorflow as tf
import keras

from . import runs
from .config import TrainConfig
from .faults import crash_point, pace
from .images import grid_image, save_gif, save_png
from .infer import save_weights_npz
from .io import (append_jsonl, atomic_write_bytes, atomic_write_json, read_file_nofollow, read_jsonl,
                 remove_temp_files, repair_jsonl)
from .model import build_model, get_weight_arrays, set_weight_arrays
from .objectives import analytic_kl, bernoulli_log_likelihood, elbo_terms, log_normal_pdf

EVAL_SEED = 20_240_501  # fixed eps for the test-set ELBO, so epochs are compared on the same noise
SAMPLE_SEED = 42  # fixed eps for the 4x4 frames, so the GIF shows learning, not noise


class TrainingError(RuntimeError):
    """Training cannot start or continue; the message is one line for the user."""


# ---------------------------------------------------------------------------------------------- callbacks


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


# ---------------------------------------------------------------------------------------------- data


@dataclass
class TrainData:
    """Arrays the trainer needs: training pixels (binarized, or raw intensities for dynamic binarization)."""

    train: np.ndarray  # float32 (N,28,28,1)
    test: np.ndarray  # float32 binarized (M,28,28,1)
    source: str = ""


def prepare_data(config: TrainConfig) -> TrainData:
    """Load the configured dataset and preprocess it as the tutorial does."""
    from .data import binarize, load_dataset

    ds = load_dataset(config.dataset, config.data_dir)
    train = ds.train_images[: config.max_train_examples] if config.max_train_examples else ds.train_images
    if config.batch_size > len(train):
        raise TrainingError(f"batch_size: got {config.batch_size}; allowed: at most the {len(train)} training examples")
    train = binarize(train) if config.binarization == "static" else (train.astype(np.float32) / 255.0)[..., None]
    test = ds.test_images[: config.max_test_examples] if config.max_test_examples else ds.test_images
    return TrainData(train=train, test=binarize(test), source=ds.source)


# ---------------------------------------------------------------------------------------------- trainer


def bf16_supported() -> tuple[bool, str]:
    """Whether this CPU has native bfloat16 (AVX512-BF16 or AMX); the reason either way."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False, "cannot read /proc/cpuinfo"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f" {f}" in flags]
    if found:
        return True, f"CPU supports {', '.join(found)}"
    return False, "this CPU has neither AVX512-BF16 nor AMX: bfloat16 would be emulated and slow"


def make_optimizer(config: TrainConfig, steps_total: int) -> keras.optimizers.Optimizer:
    """A fresh Adam for one run (an optimizer is bound to one model's variables)."""
    lr: Any = config.learning_rate
    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps_total), alpha=0.02)
    return keras.optimizers.Adam(learning_rate=lr, name="adam")


def default_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over the visible GPUs when there are several; TensorFlow's default (one-device,
    no-op) strategy otherwise, which keeps the plain single-device training code path."""
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_default_strategy(strategy: tf.distribute.Strategy) -> bool:
    """True for TensorFlow's default strategy (what get_strategy() returns outside any scope)."""
    return type(strategy).__name__ == "_DefaultDistributionStrategy"


def dynamic_binarize(rng: tf.random.Generator, x: tf.Tensor) -> tf.Tensor:
    """Dynamic binarization: each pixel is 1 with probability x (its grey level / 255), drawn afresh on every
    call, so an image is a new binary sample every time a batch holding it is drawn."""
    return tf.cast(rng.uniform(tf.shape(x)) < x, tf.float32)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches per epoch, the last partial batch included (as tf.data's batch does)."""
    return math.ceil(n_train / batch_size)


class Trainer:
    """Owns the model, optimizer, RNG and compiled functions of one run."""

    def __init__(self, config: TrainConfig, data: TrainData, strategy: tf.distribute.Strategy | None = None):
        self.config = config
        self.data = data
        # tf.distribute: the default strategy (one device) keeps the plain code path; any other one (e.g.
        # MirroredStrategy over several GPUs) splits each step's global batch across its replicas.
        self.strategy = strategy if strategy is not None else default_strategy()
        self.distributed = not is_default_strategy(self.strategy)
        with self.strategy.scope():
            # Seeded init: two runs with one config start from the same weights (and end there too).
            self.model = build_model(config.latent_dim, config.precision, seed=config.seed)
            self.steps_per_epoch = steps_per_epoch(len(data.train), config.batch_size)
            self.optimizer = make_optimizer(config, self.steps_per_epoch * config.epochs)
            self.optimizer.build(self.model.trainable_variables)
        # Outside the scope: one generator, used in cross-replica context, so every path draws the same noise.
        self.rng = tf.random.Generator.from_seed(config.seed)
        self.epoch = 0  # last completed epoch
        self.global_step = 0
        self.step_in_epoch = 0  # steps already done in the current (incomplete) epoch
        self.elapsed = 0.0  # seconds of training + evaluation across resumes
        self.last_row: dict[str, Any] | None = None
        self._x = tf.constant(data.train)
        self._train_chunk = self._make_train_chunk()
        self._eval_fn = make_eval_fn(self.model)
        self._decode_fn = tf.function(
            lambda z: self.model.decode(z, apply_sigmoid=True),
            input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32)])
        self._encode_fn = tf.function(
            self.model.encode, input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        n = config.num_examples_to_generate
        self.sample_images = data.test[:n]
        self.sample_eps = np.random.default_rng(SAMPLE_SEED).standard_normal((n, config.latent_dim)).astype(np.float32)
        self.eval_eps = eval_noise(len(data.test), config.latent_dim)
        self._sample_cache: tuple[int, np.ndarray] | None = None  # (global_step, sample_probs())

    # -- compiled functions

    def _make_train_chunk(self):
        """Compiled: k optimizer steps per call over the given batch indices; returns the k losses."""
        model, optimizer, rng, x_all = self.model, self.optimizer, self.rng, self._x
        dynamic = self.config.binarization == "dynamic"
        latent_dim = self.config.latent_dim
        step = self._distributed_step() if self.distributed else None

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def train_chunk(batch_indices):
            # Several steps per call: the Python->graph round trip per step was the tutorial loop's overhead.
            k = tf.shape(batch_indices)[0]
            losses = tf.TensorArray(tf.float32, size=k)
            for i in tf.range(k):
                x = tf.gather(x_all, batch_indices[i])
                if dynamic:
                    x = dynamic_binarize(rng, x)
                # Noise for the global batch from one generator: both paths take the same step from one state.
                eps = rng.normal(tf.stack([tf.shape(x)[0], latent_dim]))
                if step is None:
                    with tf.GradientTape() as tape:
                        loss = -tf.reduce_mean(elbo_terms(model, x, eps).elbo)
                    grads = tape.gradient(loss, model.trainable_variables)
                    optimizer.apply_gradients(zip(grads, model.trainable_variables))
                else:
                    loss = step(x, eps)
                losses = losses.write(i, loss)
            return losses.stack()

        return train_chunk

    def _distributed_step(self):
        """One step under self.strategy: each replica takes a contiguous shard of the global batch and its loss is
        its examples' summed negative ELBO / the global batch size, so the gradients the optimizer sums over the
        replicas are those of the single-device mean."""
        model, optimizer, strategy = self.model, self.optimizer, self.strategy

        def replica_step(x, eps):
            ctx = tf.distribute.get_replica_context()
            n, r = ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group
            b = tf.shape(x)[0]
            lo, hi = b * r // n, b * (r + 1) // n
            x, eps = x[lo:hi], eps[lo:hi]
            with tf.GradientTape() as tape:
                loss = -tf.reduce_sum(elbo_terms(model, x, eps).elbo) / tf.cast(b, tf.float32)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))  # all-reduces (sums) the gradients
            return loss

        def step(x, eps):
            per_replica = strategy.run(replica_step, args=(x, eps))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return step

    # -- public API

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The training order of `epoch` (1-based): a full shuffle seeded by (seed, epoch), so resume replays it."""
        return np.random.default_rng([self.config.seed, epoch]).permutation(len(self.data.train)).astype(np.int32)

    def evaluate(self) -> dict[str, float]:
        """Test-set ELBO of the current weights (see evaluate_elbo)."""
        return evaluate_elbo(self._eval_fn, self.data.test, self.config.eval_batch_size, self.eval_eps)

    def sample_probs(self) -> np.ndarray:
        """Decoded probabilities of the fixed test sample (encode -> reparameterize with fixed eps -> decode).

        Cached per global step: the run writer and TensorBoard both want it at the end of an epoch.
        """
        if self._sample_cache is not None and self._sample_cache[0] == self.global_step:
            return self._sample_cache[1]
        mean, logvar = self._encode_fn(self.sample_images)
        z = self.sample_eps * np.exp(0.5 * logvar.numpy()) + mean.numpy()
        probs = self._decode_fn(z.astype(np.float32)).numpy()
        self._sample_cache = (self.global_step, probs)
        return probs

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Probabilities for latent codes, one compiled call."""
        return self._decode_fn(np.asarray(z, np.float32)).numpy()

    def run_epochs(self, callbacks: Sequence[Callback] = (), should_stop=lambda: False) -> str:
        """Train until config.epochs; returns 'done' or 'stopped'; raises NonFiniteLoss on NaN/inf."""
        cfg = self.config
        chunk = cfg.log_every_steps
        bs = cfg.batch_size
        for cb in callbacks:
            cb.on_train_begin(self)
        while self.epoch < cfg.epochs:
            epoch = self.epoch + 1
            order = self.epoch_order(epoch)
            n_full = len(order) // bs
            batches = order[: n_full * bs].reshape(n_full, bs)
            tail = order[n_full * bs:]
            t0 = time.perf_counter()
            trained_images = 0
            while self.step_in_epoch < self.steps_per_epoch:
                if should_stop():
                    self.elapsed += time.perf_counter() - t0
                    return "stopped"
                s = self.step_in_epoch
                if s < n_full:
                    # Chunks end on multiples of `chunk` so logged steps line up across resumes.
                    idx = batches[s: min(n_full, (s // chunk + 1) * chunk)]
                else:
                    idx = tail[None, :]
                losses = self._train_chunk(idx).numpy()
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    raise NonFiniteLoss(self.global_step + int(bad[0]) + 1, float(losses[bad[0]]), epoch)
                self.step_in_epoch += len(idx)
                self.global_step += len(idx)
                trained_images += idx.size
                for cb in callbacks:
                    cb.on_steps(self, epoch, self.global_step, losses)
                crash_point("step")  # fault injection (cvae.faults); a no-op unless $CVAE_CRASH_AT says so
                pace()  # likewise a no-op unless $CVAE_STEP_DELAY asks a test run to go slower
            train_seconds = time.perf_counter() - t0
            metrics = self.evaluate()
            self.epoch, self.step_in_epoch = epoch, 0
            epoch_seconds = time.perf_counter() - t0
            self.elapsed += epoch_seconds
            self.last_row = {
                "kind": "epoch", "epoch": epoch, "step": self.global_step, **metrics,
                "epoch_seconds": round(epoch_seconds, 4), "train_seconds": round(train_seconds, 4),
                "elapsed_seconds": round(self.elapsed, 4),
                "images_per_second": round(trained_images / max(train_seconds, 1e-9), 1),
                "time": time.time(),
            }
            for cb in callbacks:
                cb.on_epoch_end(self, self.last_row)
        return "done"

    # -- checkpoint state

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to resume bit-for-bit: weights, Adam slots, RNG state, counters."""
        arrays = {f"model/{k}": v for k, v in get_weight_arrays(self.model).items()}
        for i, var in enumerate(self.optimizer.variables):
            arrays[f"opt/{i:03d}"] = np.asarray(var.numpy())
        arrays["rng_state"] = self.rng.state.numpy()
        meta = {"epoch": self.epoch, "global_step": self.global_step, "step_in_epoch": self.step_in_epoch,
                "elapsed_seconds": self.elapsed, "epoch_row": self.last_row,
                "optimizer_variables": [v.path.split("/", 1)[-1] for v in self.optimizer.variables]}
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore from state_arrays(); ValueError if anything does not match this model."""
        meta = json.loads(str(arrays["meta"]))
        set_weight_arrays(self.model, {k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
        names = [v.path.split("/", 1)[-1] for v in self.optimizer.variables]
        if names != meta.get("optimizer_variables"):
            raise ValueError("checkpoint: optimizer state does not match this model")
        for i, var in enumerate(self.optimizer.variables):
            value = arrays[f"opt/{i:03d}"]
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(f"checkpoint: optimizer variable {names[i]} has the wrong shape")
            var.assign(value)
        self.rng.reset(arrays["rng_state"])
        self._sample_cache = None
        self.epoch = int(meta["epoch"])
        self.global_step = int(meta["global_step"])
        self.step_in_epoch = int(meta["step_in_epoch"])
        self.elapsed = float(meta["elapsed_seconds"])
        self.last_row = meta.get("epoch_row")


def make_eval_fn(model):
    """Compiled per-example (elbo, log p(x|z), analytic KL) for given eps; no retracing for any batch size."""

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32),
                                  tf.TensorSpec([None, model.latent_dim], tf.float32)])
    def eval_fn(x, eps):
        mean, logvar = model.encode(x)
        z = model.reparameterize(mean, logvar, eps)
        logpx_z = bernoulli_log_likelihood(x, model.decode_fast(z))
        elbo = logpx_z + log_normal_pdf(z, 0.0, 0.0) - log_normal_pdf(z, mean, logvar)
        return elbo, logpx_z, analytic_kl(mean, logvar)

    return eval_fn


def eval_noise(n: int, latent_dim: int) -> np.ndarray:
    """The fixed eps used for test-set evaluation."""
    return np.random.default_rng(EVAL_SEED).standard_normal((n, latent_dim)).astype(np.float32)


def evaluate_elbo(eval_fn, test: np.ndarray, batch_size: int = 1000, eps: np.ndarray | None = None) -> dict[str, float]:
    """Test-set ELBO: the mean over every test image, each weighted equally (not a mean of batch means)."""
    if eps is None:
        eps = eval_noise(len(test), int(eval_fn.input_signature[1].shape[-1]))
    parts = [eval_fn(test[i:i + batch_size], eps[i:i + batch_size]) for i in range(0, len(test), batch_size)]
    elbo, logpx_z, kl = (np.concatenate([p[j].numpy() for p in parts]).astype(np.float64) for j in range(3))
    return {"test_elbo": float(elbo.mean()), "test_logpx_z": float(logpx_z.mean()), "test_kl": float(kl.mean()),
            "test_elbo_analytic": float((logpx_z - kl).mean()), "test_examples": int(len(test))}


class NonFiniteLoss(TrainingError):
    """The loss became NaN or infinite."""

    def __init__(self, step: int, value: float, epoch: int):
        super().__init__(f"non-finite loss {value} at step {step} (epoch {epoch}); kept the last good checkpoint")
        self.step, self.value, self.epoch = step, value, epoch


# ---------------------------------------------------------------------------------------------- checkpoints


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """Training checkpoints, oldest first (never a symbolic link, nor anything in a symlinked ckpt/)."""
    ckpt_dir = run_dir / runs.CKPT_DIR
    if ckpt_dir.is_symlink():
        return []
    return sorted((p for p in ckpt_dir.glob("ckpt-[0-9]*.npz") if not p.is_symlink()),
                  key=lambda p: int(p.stem.split("-")[1]))


def write_checkpoint(trainer: Trainer, run_dir: Path) -> Path:
    """Write the trainer's state atomically as ckpt-<global_step>.npz, then prune to the newest k."""
    ckpt_dir = run_dir / runs.CKPT_DIR
    ckpt_dir.mkdir(exist_ok=True)
    path = ckpt_dir / f"ckpt-{trainer.global_step:08d}.npz"
    buf = _io.BytesIO()
    np.savez(buf, **trainer.state_arrays())
    atomic_write_bytes(path, buf.getvalue())
    for old in checkpoint_paths(run_dir)[: -trainer.config.keep_checkpoints]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """A checkpoint's arrays; never unpickles."""
    try:
        with np.load(_io.BytesIO(read_file_nofollow(path)), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        json.loads(str(arrays["meta"]))
        return arrays
    except Exception as e:
        raise ValueError(f"{path.name}: unreadable checkpoint ({type(e).__name__}: {e})") from None


def restore_latest(trainer: Trainer, run_dir: Path) -> tuple[Path | None, list[str]]:
    """Restore the newest checkpoint that loads; returns it and warnings about any skipped ones."""
    warnings = []
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            trainer.load_state_arrays(read_checkpoint(path))
            return path, warnings
        except (ValueError, KeyError) as e:
            warnings.append(f"skipped {path.name}: {e}")
    return None, warnings


# ---------------------------------------------------------------------------------------------- run directory writer


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
        row = {"kind": "step", "epoch": epoch, "step": step, "loss": float(np.mean(losses)),
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
        crash_point("epoch_end:after_image")
        save_weights_npz(get_weight_arrays(trainer.model), self.run_dir / runs.WEIGHTS_FILE)
        crash_point("epoch_end:after_weights")
        write_checkpoint(trainer, self.run_dir)
        crash_point("epoch_end:after_checkpoint")
        append_jsonl(self.run_dir / runs.METRICS_FILE, row)
        crash_point("epoch_end:after_metrics")
        runs.write_status(self.run_dir, epoch=row["epoch"], step=trainer.global_step, step_in_epoch=0,
                          test_elbo=row["test_elbo"], elapsed_seconds=row["elapsed_seconds"])

    def _save_frame(self, trainer: Trainer, epoch: int) -> None:
        n = trainer.config.num_examples_to_generate
        save_png(grid_image(trainer.sample_probs(), math.isqrt(n)), runs.image_path(self.run_dir, epoch))


def reconcile_metrics(run_dir: Path, trainer: Trainer) -> None:
    """Make metrics.jsonl agree with the restored checkpoint: no torn line, no rows from after it, its epoch row once."""
    path = run_dir / runs.METRICS_FILE
    repair_jsonl(path)
    rows = read_jsonl(path)
    keep = []
    seen_epochs = set()
    for row in rows:
        if row.get("kind") == "epoch":
            if row.get("epoch", 0) > trainer.epoch or row.get("epoch") in seen_epochs:
                continue
            seen_epochs.add(row.get("epoch"))
        elif row.get("step", 0) > trainer.global_step:
            continue
        keep.append(row)
    if trainer.last_row and trainer.epoch not in seen_epochs and trainer.epoch > 0:
        keep.append(trainer.last_row)
    if keep != rows:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep)
        atomic_write_bytes(path, text.encode())


# ---------------------------------------------------------------------------------------------- entry point


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


def train_run(
    name: str,
    config: TrainConfig | None = None,
    runs_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Iterable[Callback] = (),
    data: TrainData | None = None,
    stop: StopFlag | None = None,
    handle_signals: bool = False,
    strategy: tf.distribute.Strategy | None = None,
) -> str:
    """Create (or resume) run `name` and train it to its configured epochs; returns the final state.

    strategy: a tf.distribute strategy for the Trainer (default: default_strategy()).
    """
    run_dir = runs.run_path(name, runs_dir)
    if not resume and config is None:
        raise TrainingError("a new run needs a config")
    refusal = runs.start_refusal(run_dir, resume)
    if refusal:
        raise TrainingError(refusal)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = runs.RunLock(run_dir)
    if not lock.acquire():
        raise TrainingError(f"run {name!r} is already training (another process holds its lock)")
    try:
        linked = runs.symlinked_entries(run_dir)
        if linked:  # the writes below would land wherever the links point
            raise TrainingError(f"run {name!r}: {', '.join(linked)} is a symbolic link; refusing to write through it")
        for d in (run_dir, run_dir / runs.CKPT_DIR, run_dir / runs.IMAGES_DIR):
            # What a killed trainer left (never read as data; this frees the space). Only the trainer's own
            # files: e.g. `cvae eval` may be writing evaluations.jsonl right now.
            remove_temp_files(d, lambda n: n in runs.RUN_ENTRIES or n.startswith(("ckpt-", "epoch_")))
        return _train_locked(name, run_dir, config, resume, list(callbacks), data, stop, handle_signals, strategy)
    finally:
        lock.release()


def _train_locked(name, run_dir, config, resume, callbacks, data, stop, handle_signals, strategy=None) -> str:
    if resume:
        stored = runs.read_config(run_dir)
        if config is not None:  # resuming may extend a run, or find its data in a new place; nothing else
            stored = stored.replace(epochs=config.epochs, data_dir=config.data_dir or stored.data_dir)
        config = stored
    elif (run_dir / runs.CONFIG_FILE).exists():
        if not runs.nothing_trained(run_dir, we_hold_the_lock=True):
            raise TrainingError(f"run {name!r} already exists; use --resume")
        runs.clear_untrained(run_dir)
    (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
    now = time.time()
    if not resume:
        atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        runs.write_status(run_dir, state="running", pid=os.getpid(), created=now, started=now, epoch=0,
                          total_epochs=config.epochs, message="loading data")
    else:
        atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        runs.write_status(run_dir, state="running", pid=os.getpid(), started=now, total_epochs=config.epochs,
                          message="resuming")
    stop = stop or StopFlag(run_dir)
    if handle_signals:
        stop.install_signal_handlers()
    trainer = None
    try:
        if config.precision == "mixed_bfloat16":
            ok, why = bf16_supported()
            if not ok:
                raise TrainingError(f"precision mixed_bfloat16: {why}; use float32")
        data = data or prepare_data(config)
        trainer = Trainer(config, data, strategy)
        writer = RunWriter(run_dir, background=True)
        from .tensorboard import TensorBoardWriter  # here: cvae.tensorboard imports this module

        board = TensorBoardWriter(run_dir)  # <run>/tensorboard: `tensorboard --logdir checkpoints/` shows the run
        message = "training"
        if resume:
            restored, warnings = restore_latest(trainer, run_dir)
            if restored is None and warnings:
                # Restarting from scratch would overwrite weights.npz and drop the run's history: refuse.
                raise TrainingError(f"run {name!r}: no usable checkpoint ({'; '.join(warnings)}); move "
                                    f"{runs.CKPT_DIR}/ out of the run directory to train it again from scratch")
            reconcile_metrics(run_dir, trainer)
            message = (f"resumed from {restored.name}" if restored else "no checkpoint found; restarted") + (
                f" ({'; '.join(warnings)})" if warnings else "")
        runs.write_status(run_dir, state="running", message=message, epoch=trainer.epoch,
                          steps_per_epoch=trainer.steps_per_epoch, source=data.source)
        try:
            state = trainer.run_epochs([writer, board, *callbacks], should_stop=stop)
        except BaseException:
            for close in (writer.close, board.close):
                try:
                    close()
                except Exception:
                    pass  # the training error is the one to report
            raise
        writer.close()  # queued progress writes reach the disk before any status below
        board.close()
        if state == "stopped":
            write_checkpoint(trainer, run_dir)
            message = f"stopped on request at epoch {trainer.epoch} + {trainer.step_in_epoch} steps"
        else:
            frames = runs.epoch_images(run_dir)
            if frames:
                save_gif(frames, run_dir / runs.GIF_FILE)
            message = f"finished {trainer.epoch} epochs; test ELBO {trainer.last_row['test_elbo']:.2f}" \
                if trainer.last_row else "finished"
        runs.write_status(run_dir, state=state, message=message, finished=time.time(), epoch=trainer.epoch)
        for cb in callbacks:
            cb.on_train_end(trainer, state, message)
        (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
        return state
    except NonFiniteLoss as e:
        runs.write_status(run_dir, state="failed", message=str(e), failed_step=e.step, failed_value=repr(e.value),
                          finished=time.time())
        for cb in callbacks:
            cb.on_train_end(trainer, "failed", str(e))
        raise
    except BaseException as e:
        msg = str(e) if isinstance(e, (TrainingError, ValueError, OSError)) else f"{type(e).__name__}: {e}"
        try:
            runs.write_status(run_dir, state="failed", message=msg or type(e).__name__, finished=time.time())
        except OSError:
            pass  # a full or read-only disk: the exception itself still reaches the user
        raise
