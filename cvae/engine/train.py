"""Train a run: take its lock, prepare its directory and data, restore, run the loop, record how it ended."""

from __future__ import annotations

import os
import time
from typing import Iterable

import tensorflow as tf

from ..data.likelihoods import likelihood as likelihood_entry
from ..data.loading import config_data
from ..data.own import recorded_fields
from ..data.own_data import OwnDataset
from ..data.sources import binarize, model_input, unit_scale
from ..store import runs
from ..store.config import TrainConfig
from ..store.errors import RunExists, TrainingError
from ..store.files import atomic_write_json, remove_temp_files
from ..store import latent_means
from ..store.images import save_gif
from ..store.metrics import reconcile
from ..store.status_codes import coded
from .callbacks import Callback, RunWriter, StopFlag
from .checkpoints import restore_latest, restore_weights_only, write_checkpoint
from .tensorboard import TensorBoardWriter
from .machine import apply_threads, cpu_replica_strategy, resolve_fast_config
from .trainer import NonFiniteLoss, TrainData, Trainer, bf16_supported


def prepare_data(config: TrainConfig) -> TrainData:
    """Load the configured dataset and preprocess it as the tutorial does (your own data: the same data the run
    recorded, DataChanged otherwise)."""
    ds = config_data(config)
    record = recorded_fields(ds) if isinstance(ds, OwnDataset) else None
    train = ds.train_images[: config.max_train_examples] if config.max_train_examples else ds.train_images
    if config.batch_size > len(train):
        raise TrainingError(f"batch_size: got {config.batch_size}; allowed: at most the {len(train)} training examples")
    # Dynamic binarization samples from the grey levels, and the discretized logistic models them: both get k/255.
    keep_levels = config.binarization == "dynamic" or not likelihood_entry(config.likelihood).binary_input
    train = unit_scale(train) if keep_levels else binarize(train)
    test = ds.test_images[: config.max_test_examples] if config.max_test_examples else ds.test_images
    labels = ds.test_labels[: len(test)]
    return TrainData(train=train, test=model_input(test, config.likelihood), source=ds.source, data_dir=ds.data_dir,
                     test_labels=labels, record=record)


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
    lock: runs.RunLock | None = None,
    fixed: Iterable[str] = (),
) -> str:
    """Create (or resume) run `name` and train it to its configured epochs; returns the final state.

    strategy: a tf.distribute strategy for the Trainer (default: default_strategy()).
    lock: the run's lock, already held (the CLI takes it before importing TensorFlow: a starting trainer is then
    never without it); released here.
    fixed: config fields given explicitly (the CLI's flags): the fast preset's machine choice leaves them alone.
    """
    run_dir = runs.run_path(name, runs_dir)
    if not resume and config is None:
        raise TrainingError("a new run needs a config")
    if lock is None:
        runs.check_can_start(run_dir, resume)
        lock = runs.acquire_run_lock(run_dir)
    try:
        runs.check_writable(run_dir)
        linked = runs.symlinked_entries(run_dir)
        if linked:  # the writes below would land wherever the links point
            raise TrainingError(f"run {name!r}: {', '.join(linked)} is a symbolic link; refusing to write through it")
        for d in (run_dir, run_dir / runs.CKPT_DIR, run_dir / runs.IMAGES_DIR):
            # What a killed trainer left (never read as data; this frees the space). Only the trainer's own
            # files: e.g. `cvae eval` may be writing evaluations.jsonl right now.
            remove_temp_files(d, lambda n: n in runs.RUN_ENTRIES or n == latent_means.FILE
                              or n.startswith(("ckpt-", "epoch_")))
        return _train_locked(name, run_dir, config, resume, list(callbacks), data, stop, handle_signals, strategy,
                             set(fixed))
    finally:
        lock.release()


def _train_locked(name, run_dir, config, resume, callbacks, data, stop, handle_signals, strategy=None,
                  fixed=frozenset()) -> str:
    if resume:
        stored = runs.read_config(run_dir)
        if config is not None:  # resuming may extend a run, or find its data in a new place; nothing else
            runs.check_resume_epochs(run_dir, config.epochs)
            stored = stored.replace(epochs=config.epochs, data_dir=config.data_dir or stored.data_dir)
        config = stored
    elif (run_dir / runs.CONFIG_FILE).exists():
        if not runs.nothing_trained(run_dir, we_hold_the_lock=True):
            raise RunExists(f"run {name!r} already exists; use --resume", run=name)
        runs.clear_untrained(run_dir)
    if not resume:
        # The fast preset: the measured table's choice for this machine (issue #25), recorded in config.fast_path.
        config = resolve_fast_config(config, fixed)
    (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
    now = time.time()
    if not resume:
        atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        runs.write_status(run_dir, state="running", pid=os.getpid(), created=now, started=now, epoch=0,
                          total_epochs=config.epochs, **coded("loading_data"))
    else:
        atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        runs.write_status(run_dir, state="running", pid=os.getpid(), started=now, total_epochs=config.epochs,
                          **coded("resuming"))
    stop = stop or StopFlag(run_dir)
    if handle_signals:
        stop.install_signal_handlers()
    trainer = None
    try:
        if config.precision == "mixed_bfloat16":
            ok, why = bf16_supported()
            if not ok:
                raise TrainingError(f"precision mixed_bfloat16: {why}; use float32")
        apply_threads(config.threads)
        replicas_note = None
        if strategy is None and config.replicas > 1:  # before anything starts TensorFlow's runtime
            strategy, replicas_note = cpu_replica_strategy(config.replicas)
        t_data = time.perf_counter()
        data = data or prepare_data(config)
        data_seconds = time.perf_counter() - t_data
        if config.data_dir is None and data.data_dir:
            # Found through $CVAE_DATA_DIR, the Keras cache or Debian's dir: stored, so --resume finds it again.
            config = config.replace(data_dir=data.data_dir)
            atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        if data.record and any(getattr(config, k) != v for k, v in data.record.items()):
            # Your own data: its classes, where it came from and its fingerprint, so resume and the pages find
            # the same data (and notice when the folder changed).
            config = config.replace(**data.record)
            atomic_write_json(run_dir / runs.CONFIG_FILE, config.to_dict())
        trainer = Trainer(config, data, strategy)
        runs.write_status(run_dir, replicas=trainer.strategy.num_replicas_in_sync, replicas_note=replicas_note)
        writer = RunWriter(run_dir, background=True)
        board = TensorBoardWriter(run_dir)  # <run>/tensorboard: `tensorboard --logdir checkpoints/` shows the run
        line = coded("training")
        if resume:
            restored, warnings = restore_latest(trainer, run_dir)
            from_weights = restore_weights_only(trainer, run_dir) if restored is None and not warnings and \
                runs.read_status(run_dir).get("resume_from") == "weights" else None
            if restored is None and warnings:
                # Restarting from scratch would overwrite weights.npz and drop the run's history: refuse.
                raise TrainingError(f"run {name!r}: no usable checkpoint ({'; '.join(warnings)}); move "
                                    f"{runs.CKPT_DIR}/ out of the run directory to train it again from scratch")
            reconcile(run_dir / runs.METRICS_FILE, trainer.epoch, trainer.global_step, trainer.last_row)
            latent_means.truncate(run_dir, trainer.epoch)
            line = (coded("resumed", checkpoint=restored.name) if restored else
                    {"message": from_weights} if from_weights else coded("restarted"))
            if warnings:  # the engine's own words: shown as the message (no code)
                line = {"message": line["message"] + f" ({'; '.join(warnings)})"}
        trainer.data_seconds = data_seconds
        trainer.warm_up_seconds = trainer.warm_up()
        runs.write_status(run_dir, state="running", **line, epoch=trainer.epoch,
                          steps_per_epoch=trainer.steps_per_epoch, source=data.source,
                          resume_from=None)  # a copy's weights are used once; checkpoints follow
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
            line = coded("stopped_on_request", epoch=trainer.epoch, steps=trainer.step_in_epoch)
        else:
            frames = runs.epoch_images(run_dir)
            if frames:
                save_gif(frames, run_dir / runs.GIF_FILE)
            elbo = (trainer.last_row or {}).get("test_elbo")
            line = coded("finished_elbo", epochs=trainer.epoch, elbo=float(elbo)) \
                if isinstance(elbo, (int, float)) else coded("finished")
        runs.write_status(run_dir, state=state, **line, finished=time.time(), epoch=trainer.epoch)
        for cb in callbacks:
            cb.on_train_end(trainer, state, line["message"])
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
