"""The training loop: a Trainer owns one run's model, optimizer, RNG and compiled multi-step function."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import tensorflow as tf
import keras

from ..store.arch import architecture_of
from ..store.config import RESTART_FACTOR, TrainConfig
from ..store.errors import TrainingError
from ..store.faults import failpoint
from ..store.latent_means import MAP_DIGITS
from .evaluate import eval_noise, evaluate_elbo, make_eval_fn
from .model import build_model, get_weight_arrays, set_weight_arrays
from .objectives import elbo_terms, training_objective

if TYPE_CHECKING:
    from .callbacks import Callback

SAMPLE_SEED = 42  # fixed eps for the per-epoch sample grid, so the GIF shows learning, not noise


@dataclass
class TrainData:
    """Arrays the trainer needs: training pixels (binarized, or raw intensities for dynamic binarization)."""

    train: np.ndarray  # float32 (N,28,28,1)
    test: np.ndarray  # float32 binarized (M,28,28,1)
    source: str = ""
    data_dir: str | None = None  # where the data was found (stored in the run when its config had none)
    test_labels: np.ndarray | None = None  # (M,) classes: colour the per-epoch latent map (none: no map)
    record: dict | None = None  # your own data: config fields to record (class names, source, fingerprint, counts)


class NonFiniteLoss(TrainingError):
    """The loss became NaN or infinite."""

    def __init__(self, step: int, value: float, epoch: int):
        super().__init__(f"non-finite loss {value} at step {step} (epoch {epoch}); kept the last good checkpoint")
        self.step, self.value, self.epoch = step, value, epoch


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


class LinearRestarts(keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay to 0 within every epoch; epoch k (from 0) starts at rate * factor**k."""

    def __init__(self, rate: float, steps_per_epoch: int, factor: float = RESTART_FACTOR) -> None:
        self.rate, self.steps_per_epoch, self.factor = float(rate), max(1, int(steps_per_epoch)), float(factor)

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        epoch = tf.floor(step / self.steps_per_epoch)
        within = (step - epoch * self.steps_per_epoch) / self.steps_per_epoch
        return self.rate * tf.pow(self.factor, epoch) * (1.0 - within)

    def get_config(self) -> dict[str, float]:
        return {"rate": self.rate, "steps_per_epoch": self.steps_per_epoch, "factor": self.factor}


def make_optimizer(config: TrainConfig, steps_total: int, steps_per_epoch: int | None = None
                   ) -> keras.optimizers.Optimizer:
    """A fresh Adam for one run (an optimizer is bound to one model's variables)."""
    lr: Any = config.learning_rate
    if config.lr_schedule == "linear_restarts":
        lr = LinearRestarts(config.learning_rate, steps_per_epoch or max(1, steps_total // config.epochs))
    elif config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps_total), alpha=0.02)
    elif config.lr_schedule == "linear":
        lr = keras.optimizers.schedules.PolynomialDecay(config.learning_rate, max(1, steps_total), 0.0, power=1.0)
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
            self.model = build_model(config.latent_dim, config.precision, seed=config.seed,
                                     arch=architecture_of(config))
            self.steps_per_epoch = steps_per_epoch(len(data.train), config.batch_size)
            self.optimizer = make_optimizer(config, self.steps_per_epoch * config.epochs, self.steps_per_epoch)
            self.optimizer.build(self.model.trainable_variables)
            # Evaluation, sample grids and the latent map always run a float32 copy: under mixed precision the
            # training layers compute in bfloat16, but the reported ELBO is the float32 one of the float32 master
            # weights (copied before each use; exact, the variables are float32 either way).
            self.eval_model = self.model if config.precision == "float32" else build_model(
                config.latent_dim, "float32", seed=config.seed, arch=architecture_of(config))
        self._synced_step = -1  # global step the eval model's weights are from
        # Outside the scope: one generator, used in cross-replica context, so every path draws the same noise.
        self.rng = tf.random.Generator.from_seed(config.seed)
        self.epoch = 0  # last completed epoch
        self.global_step = 0
        self.step_in_epoch = 0  # steps already done in the current (incomplete) epoch
        self.elapsed = 0.0  # seconds of training + evaluation across resumes
        self.last_row: dict[str, Any] | None = None
        self._x = tf.constant(data.train)
        self._train_chunk = self._make_train_chunk()
        self._eval_fn = make_eval_fn(self.eval_model)
        self._decode_fn = tf.function(
            lambda z: self.eval_model.decode(z, apply_sigmoid=True),
            input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32)])
        self._encode_fn = tf.function(
            self.eval_model.encode,
            input_signature=[tf.TensorSpec([None, *self.model.arch.image_shape], tf.float32)])
        n = config.num_examples_to_generate
        # Cycled when the test set is smaller than the grid (your own data may hold a dozen test images).
        self.sample_images = data.test[np.arange(n) % len(data.test)] if len(data.test) < n else data.test[:n]
        self.sample_eps = np.random.default_rng(SAMPLE_SEED).standard_normal((n, config.latent_dim)).astype(np.float32)
        self.eval_eps = eval_noise(len(data.test), config.latent_dim)
        self._sample_cache: tuple[int, np.ndarray] | None = None  # (global_step, sample_probs())
        self._map_cache: tuple[int, int, np.ndarray] | None = None  # (global_step, n, map_means(n))
        self.epoch_end_started = 0.0  # perf_counter() when the epoch-end callbacks began (their writes: after it)
        self.chunk_weights = np.ones(0, np.float32)  # images per step of the latest chunk (losses are per-batch means)

    # -- compiled functions

    def _make_train_chunk(self):
        """Compiled: k optimizer steps per call over the given batch indices; returns the k losses."""
        model, optimizer, rng, x_all = self.model, self.optimizer, self.rng, self._x
        dynamic = self.config.binarization == "dynamic"
        latent_dim, beta, kl = self.config.latent_dim, self.config.beta, self.config.kl_estimate
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
                        loss = -tf.reduce_mean(training_objective(elbo_terms(model, x, eps), beta, kl))
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
        model, optimizer, strategy, beta = self.model, self.optimizer, self.strategy, self.config.beta
        kl = self.config.kl_estimate

        def replica_step(x, eps):
            ctx = tf.distribute.get_replica_context()
            n, r = ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group
            b = tf.shape(x)[0]
            lo, hi = b * r // n, b * (r + 1) // n
            x, eps = x[lo:hi], eps[lo:hi]
            with tf.GradientTape() as tape:
                loss = -tf.reduce_sum(training_objective(elbo_terms(model, x, eps), beta, kl)) / tf.cast(b, tf.float32)
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

    def _sync_eval_model(self) -> None:
        """Copy the training model's float32 master weights into the float32 evaluation model (mixed precision)."""
        if self.eval_model is self.model or self._synced_step == self.global_step:
            return
        for target, source in zip(self.eval_model.weights, self.model.weights):
            target.assign(source)
        self._synced_step = self.global_step

    def evaluate(self) -> dict[str, float]:
        """Test-set ELBO of the current weights (see evaluate_elbo), and the training objective beside it."""
        self._sync_eval_model()
        return evaluate_elbo(self._eval_fn, self.data.test, self.config.eval_batch_size, self.eval_eps,
                             beta=self.config.beta)

    def sample_probs(self) -> np.ndarray:
        """Decoded probabilities of the fixed test sample (encode -> reparameterize with fixed eps -> decode).

        Cached per global step: the run writer and TensorBoard both want it at the end of an epoch.
        """
        if self._sample_cache is not None and self._sample_cache[0] == self.global_step:
            return self._sample_cache[1]
        self._sync_eval_model()
        mean, logvar = self._encode_fn(self.sample_images)
        z = self.sample_eps * np.exp(0.5 * logvar.numpy()) + mean.numpy()
        probs = self._decode_fn(z.astype(np.float32)).numpy()
        self._sample_cache = (self.global_step, probs)
        return probs

    def map_means(self, n: int) -> np.ndarray:
        """Encoder means of the first n test digits (the latent map), float32 (n', d); cached per global step."""
        if self._map_cache is not None and self._map_cache[:2] == (self.global_step, n):
            return self._map_cache[2]
        self._sync_eval_model()
        x = self.data.test[:n]
        means = np.concatenate([self._encode_fn(x[i:i + 1000])[0].numpy() for i in range(0, len(x), 1000)])
        self._map_cache = (self.global_step, n, means)
        return means

    def warm_up(self) -> float:
        """Trace the evaluation, encoder and decoder functions now (on two test images), so that the first epoch's
        figures measure work, not tracing; returns the seconds it took (part of the run's start-up)."""
        t0 = time.perf_counter()
        n = min(2, len(self.data.test))
        self._eval_fn(self.data.test[:n], self.eval_eps[:n])
        self._decode_fn(self._encode_fn(self.data.test[:n])[0])
        return time.perf_counter() - t0

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
            hooks_seconds = 0.0  # per-chunk callbacks (metric rows, status) on this thread
            while self.step_in_epoch < self.steps_per_epoch:
                if should_stop():
                    self.elapsed += time.perf_counter() - t0
                    return "stopped"
                s = self.step_in_epoch
                if s < n_full:
                    # Chunks end on multiples of `chunk` so logged steps line up across resumes.
                    parts = [batches[s: min(n_full, (s // chunk + 1) * chunk)]]
                    if s + len(parts[0]) == n_full and tail.size:
                        # The short last batch joins the epoch's last chunk, weighted by its images: logged on
                        # its own it was a point of its own, a dip in the loss curve at every epoch end.
                        parts.append(tail[None, :])
                else:
                    parts = [tail[None, :]]  # a checkpoint taken just before the tail (older runs)
                losses = np.concatenate([self._train_chunk(idx).numpy() for idx in parts])
                self.chunk_weights = np.concatenate([np.full(len(idx), idx.shape[1], np.float32) for idx in parts])
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    raise NonFiniteLoss(self.global_step + int(bad[0]) + 1, float(losses[bad[0]]), epoch)
                self.step_in_epoch += len(losses)
                self.global_step += len(losses)
                trained_images += int(self.chunk_weights.sum())
                t_hooks = time.perf_counter()
                for cb in callbacks:
                    cb.on_steps(self, epoch, self.global_step, losses)
                hooks_seconds += time.perf_counter() - t_hooks
                failpoint("step")  # fault injection (cvae.store.faults): a no-op unless $CVAE_FAILPOINTS says so
            train_seconds = time.perf_counter() - t0
            t_eval = time.perf_counter()
            metrics = self.evaluate()
            eval_seconds = time.perf_counter() - t_eval
            # The epoch-end products the run writer saves (sample grid, latent map), made now so they count here.
            self.sample_probs()
            if self.data.test_labels is not None:
                self.map_means(MAP_DIGITS)
            self.epoch, self.step_in_epoch = epoch, 0
            epoch_seconds = time.perf_counter() - t0
            overhead = epoch_seconds - train_seconds + hooks_seconds
            self.elapsed += epoch_seconds
            self.last_row = {
                "kind": "epoch", "epoch": epoch, "step": self.global_step, **metrics,
                "epoch_seconds": round(epoch_seconds, 4), "train_seconds": round(train_seconds, 4),
                # Around the steps: evaluation, sample grid, latent map and per-chunk writes (the epoch-end file
                # writes come after this row: ProgressBar and the benchmarks add them).
                "eval_seconds": round(eval_seconds, 4), "overhead_seconds": round(overhead, 4),
                "elapsed_seconds": round(self.elapsed, 4),
                "images_per_second": round(trained_images / max(train_seconds, 1e-9), 1),
                "time": time.time(),
            }
            self.epoch_end_started = time.perf_counter()
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
        self._sample_cache = self._map_cache = None
        self._synced_step = -1
        self.epoch = int(meta["epoch"])
        self.global_step = int(meta["global_step"])
        self.step_in_epoch = int(meta["step_in_epoch"])
        self.elapsed = float(meta["elapsed_seconds"])
        self.last_row = meta.get("epoch_row")
