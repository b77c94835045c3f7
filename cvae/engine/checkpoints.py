"""Training checkpoints (ckpt/ckpt-STEP.npz: weights, Adam slots, RNG state, counters) and loading a run's model."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from ..store import runs
from ..store.arch import architecture_of
from ..store.errors import RunError, RunNotFound
from ..store.files import atomic_write_bytes
from ..store.npz import max_elements_check, read_npz
from ..store.weights import MAX_ARRAY_ELEMENTS, MAX_WEIGHTS_BYTES, expected_shapes, read_weights
from .model import build_model, set_weight_arrays


MAX_CHECKPOINT_BYTES = 3 * MAX_WEIGHTS_BYTES + 2**20  # weights, Adam's m and v, RNG state and meta


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """Training checkpoints, oldest first (never a symbolic link, nor anything in a symlinked ckpt/)."""
    ckpt_dir = run_dir / runs.CKPT_DIR
    if ckpt_dir.is_symlink():
        return []
    return sorted((p for p in ckpt_dir.glob("ckpt-[0-9]*.npz") if not p.is_symlink()),
                  key=lambda p: int(p.stem.split("-")[1]))


def write_checkpoint(trainer, run_dir: Path) -> Path:
    """Write the trainer's state atomically as ckpt-<global_step>.npz, then prune to the newest k."""
    ckpt_dir = run_dir / runs.CKPT_DIR
    ckpt_dir.mkdir(exist_ok=True)
    path = ckpt_dir / f"ckpt-{trainer.global_step:08d}.npz"
    buf = io.BytesIO()
    np.savez(buf, **trainer.state_arrays())
    atomic_write_bytes(path, buf.getvalue())
    for old in checkpoint_paths(run_dir)[: -trainer.config.keep_checkpoints]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """A checkpoint's arrays; never unpickles."""
    try:
        # Bounded like weights.npz: file size, then each header, before decompressing (weights + two Adam slots).
        arrays = read_npz(path, max_file_bytes=MAX_CHECKPOINT_BYTES, max_total_bytes=MAX_CHECKPOINT_BYTES,
                          check=max_elements_check(MAX_ARRAY_ELEMENTS, text=("meta",)))
        json.loads(str(arrays["meta"]))
        return arrays
    except Exception as e:
        raise ValueError(f"{path.name}: unreadable checkpoint ({type(e).__name__}: {e})") from None


def restore_latest(trainer, run_dir: Path) -> tuple[Path | None, list[str]]:
    """Restore the newest checkpoint that loads; returns it and warnings about any skipped ones."""
    warnings = []
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            trainer.load_state_arrays(read_checkpoint(path))
            return path, warnings
        except (ValueError, KeyError) as e:
            warnings.append(f"skipped {path.name}: {e}")
    return None, warnings


def restore_weights_only(trainer, run_dir: Path) -> str | None:
    """A copy whose source had no checkpoint (the shipped run ships without its training state; status.json says
    resume_from 'weights'): continue from weights.npz and the epoch it is from, with a fresh Adam; returns what was
    done, None if there are no weights."""
    path = run_dir / runs.WEIGHTS_FILE
    if not path.is_file():
        return None
    cfg = trainer.config
    arrays, meta = read_weights(path, expected_shapes(cfg.latent_dim, architecture_of(cfg)))
    epoch = meta["epoch"] if meta["epoch"] is not None else runs.run_info(run_dir).epochs_done
    rows = [r for r in runs.read_metrics(run_dir / runs.METRICS_FILE).epochs if r["epoch"] == epoch]
    set_weight_arrays(trainer.model, arrays)
    trainer.epoch, trainer.step_in_epoch = epoch, 0
    trainer.global_step = meta["step"] if meta["step"] is not None else epoch * trainer.steps_per_epoch
    trainer.elapsed = float(rows[-1].get("elapsed_seconds") or 0.0) if rows else 0.0
    trainer.last_row = rows[-1] if rows else None
    return f"continued from {runs.WEIGHTS_FILE} (epoch {epoch}; no checkpoint, so Adam starts afresh)"


def load_keras_model(name_or_dir: str | os.PathLike, runs_dir: str | os.PathLike | None = None):
    """Config + latest weights -> a ready Keras CVAE."""
    model, config, _ = load_run_model(name_or_dir, runs_dir)
    return model, config


def load_run_model(name_or_dir: str | os.PathLike, runs_dir: str | os.PathLike | None = None):
    """(Keras CVAE, config, {'epoch', 'step'} of the weights loaded: read from the same file, so they describe
    exactly these weights even while the run trains and replaces weights.npz)."""
    run_dir = Path(name_or_dir) if Path(str(name_or_dir)).is_dir() else runs.run_path(str(name_or_dir), runs_dir)
    if not run_dir.is_dir():
        raise RunNotFound(f"run {Path(str(name_or_dir)).name!r} does not exist in {runs.runs_root(runs_dir)}",
                          run=run_dir.name)
    config = runs.read_config(run_dir)
    model = build_model(config.latent_dim, arch=architecture_of(config))
    try:
        arrays, meta = read_weights(run_dir / runs.WEIGHTS_FILE,
                                    expected_shapes(config.latent_dim, architecture_of(config)))
        set_weight_arrays(model, arrays)
    except ValueError as e:
        raise RunError(f"{run_dir.name}: {e}", run=run_dir.name) from None
    return model, config, meta
