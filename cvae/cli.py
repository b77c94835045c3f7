"""Command line: `python -m cvae train|eval|sample|manifold|gif|list`. It parses and calls; errors are one line."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .config import BINARIZATIONS, DATASETS, LR_SCHEDULES, PRECISIONS, PRESETS, ConfigError, TrainConfig


class ProgressBar:
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
                f"loss {float(losses.mean()):.2f} {ips:,.0f} img/s ETA {_fmt_secs(eta)}")
        print(("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty else "\n",
              file=self.stream, flush=True)

    def on_epoch_end(self, trainer, row) -> None:
        print(("\r\x1b[K" if self.tty else "") +
              f"epoch {row['epoch']:>3}: test ELBO {row['test_elbo']:.2f} (recon {row['test_logpx_z']:.2f}, "
              f"KL {row['test_kl']:.2f}) {row['epoch_seconds']:.1f}s {row['images_per_second']:,.0f} img/s "
              f"elapsed {_fmt_secs(row['elapsed_seconds'])}", file=self.stream, flush=True)

    def on_train_end(self, trainer, state, message) -> None:
        print(f"{state}: {message}", file=self.stream, flush=True)


def _fmt_secs(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _positive_int(text: str) -> int:
    """An integer >= 0 (0 is 'off' for --iwae-k and a valid --seed; the config refuses 0 where it is invalid)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:  # e.g. --iwae-k -1 reached TensorFlow and ended in a traceback
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (the full usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up lines sent to /dev/null.

    TensorFlow's C++ start-up messages (absl "before InitializeLog" INFO lines, the CUDA probe) ignore
    TF_CPP_MIN_LOG_LEVEL, so without this every one-line CLI error came after a screenful of them.
    Python exceptions are not affected: they are raised after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe logs too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _existing_run(a) -> Path:
    """The directory of run a.name in a.runs_dir; RunError if there is none (never a path relative to cwd)."""
    from .runs import RunError, run_path

    path = run_path(a.name, a.runs_dir)
    if not path.is_dir():
        raise RunError(f"run {a.name!r} does not exist in {path.parent}")
    return path


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = _OneLineParser(prog="python -m cvae", description="Train and explore a convolutional VAE.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, data=True):
        sp.add_argument("--runs-dir", help="runs root (default: ./checkpoints or $CVAE_RUNS_DIR)")
        if data:
            sp.add_argument("--data-dir", help="directory with the four IDX files (or $CVAE_DATA_DIR)")

    t = sub.add_parser("train", help="train a new run, or continue one with --resume")
    t.add_argument("--name", required=True, help="run name: letters, digits, - _ .")
    common(t)
    t.add_argument("--preset", choices=list(PRESETS), default=None, help="named settings (default: tutorial)")
    t.add_argument("--dataset", choices=DATASETS)
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--learning-rate", type=_float)
    t.add_argument("--lr-schedule", choices=LR_SCHEDULES)
    t.add_argument("--latent-dim", type=_positive_int)
    t.add_argument("--seed", type=_positive_int)
    t.add_argument("--max-train-examples", type=_positive_int)
    t.add_argument("--max-test-examples", type=_positive_int)
    t.add_argument("--binarization", choices=BINARIZATIONS)
    t.add_argument("--precision", choices=PRECISIONS)
    t.add_argument("--log-every-steps", type=_positive_int)
    t.add_argument("--num-examples-to-generate", type=_positive_int, help="images in the per-epoch sample grid")
    t.add_argument("--eval-batch-size", type=_positive_int, help="batch size of the test-set evaluation")
    t.add_argument("--keep-checkpoints", type=_positive_int, help="how many of the newest checkpoints to keep")
    t.add_argument("--resume", action="store_true",
                   help="continue run NAME from its last checkpoint (only --epochs and --data-dir may change)")

    e = sub.add_parser("eval", help="print the test-set ELBO (and the IWAE log p(x) bound) of a run as JSON")
    e.add_argument("name")
    common(e)
    e.add_argument("--iwae-k", type=_positive_int, default=0,
                   help="also the k-sample IWAE bound on log p(x), saved to <run>/evaluations.jsonl")
    e.add_argument("--iwae-seed", type=_positive_int, default=0, help="seed of the IWAE samples")
    e.add_argument("--max-test-examples", type=_positive_int)

    s = sub.add_parser("sample", help="decode prior samples to a PNG grid")
    s.add_argument("name")
    common(s, data=False)
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=_positive_int, default=16, help="number of samples (a grid)")
    s.add_argument("--seed", type=_positive_int, default=0)

    m = sub.add_parser("manifold", help="decode an n x n grid at standard-normal quantiles to a PNG")
    m.add_argument("name")
    common(m, data=False)
    m.add_argument("--out", required=True)
    m.add_argument("--n", type=_positive_int, default=20)
    m.add_argument("--low", type=_float, default=0.05)
    m.add_argument("--high", type=_float, default=0.95)

    g = sub.add_parser("gif", help="animated GIF of the per-epoch sample grids")
    g.add_argument("name")
    common(g, data=False)
    g.add_argument("--out", required=True)

    ls = sub.add_parser("list", help="list runs")
    common(ls, data=False)
    return p


def _config_from_args(a: argparse.Namespace) -> TrainConfig:
    overrides = dict(dataset=a.dataset, data_dir=a.data_dir, epochs=a.epochs, batch_size=a.batch_size,
                     learning_rate=a.learning_rate, lr_schedule=a.lr_schedule, latent_dim=a.latent_dim, seed=a.seed,
                     max_train_examples=a.max_train_examples, max_test_examples=a.max_test_examples,
                     binarization=a.binarization, precision=a.precision, log_every_steps=a.log_every_steps,
                     num_examples_to_generate=a.num_examples_to_generate, eval_batch_size=a.eval_batch_size,
                     keep_checkpoints=a.keep_checkpoints)
    if a.data_dir:
        overrides["data_dir"] = str(Path(a.data_dir).expanduser().resolve())
    return TrainConfig.from_preset(a.preset or "tutorial", **overrides)


def _resume_ignored(a: argparse.Namespace) -> list[tuple[str, object]]:
    """(flag, value) of the train options that --resume cannot change."""
    keep = {"name", "runs_dir", "data_dir", "epochs", "resume", "command", "func"}
    return [("--" + k.replace("_", "-"), v) for k, v in vars(a).items() if k not in keep]


def cmd_train(a) -> int:
    from .config import validate_run_name

    validate_run_name(a.name)
    from .runs import RunError, read_config, run_path, start_refusal

    # Fail fast, before the slow TensorFlow import (train_run checks again, under the lock).
    refusal = start_refusal(run_path(a.name, a.runs_dir), a.resume)
    if refusal:
        raise RunError(refusal)
    if a.resume:
        # A run keeps its settings; it may train for more epochs, or find its data somewhere else now.
        fixed = [flag for flag, value in _resume_ignored(a) if value is not None]
        if fixed:
            raise RunError(f"--resume keeps run {a.name!r}'s settings; only --epochs and --data-dir may change "
                           f"(got {', '.join(fixed)})")
        config = read_config(run_path(a.name, a.runs_dir))
        if a.epochs is not None:
            config = config.replace(epochs=a.epochs)
        if a.data_dir:
            config = config.replace(data_dir=str(Path(a.data_dir).expanduser().resolve()))
    else:
        config = _config_from_args(a)
    _import_tensorflow_quietly()
    from .train import train_run  # TensorFlow loads only once the arguments are known to be good

    state = train_run(a.name, config, runs_dir=a.runs_dir, resume=a.resume, callbacks=[ProgressBar()],
                      handle_signals=True)
    return 0 if state in ("done", "stopped") else 1


def cmd_eval(a) -> int:
    from .data import binarize, load_dataset

    _, run_dir = _numpy_model(a)  # config and weights checked before the slow TensorFlow import
    from .runs import read_config

    stored = read_config(run_dir)
    ds = load_dataset(stored.dataset, a.data_dir or stored.data_dir)
    test = binarize(ds.test_images[: a.max_test_examples] if a.max_test_examples else ds.test_images)
    _import_tensorflow_quietly()
    from .runs import load_keras_model
    from .train import evaluate_elbo, make_eval_fn

    model, config = load_keras_model(run_dir)
    out = {"run": a.name, **evaluate_elbo(make_eval_fn(model), test)}
    if a.iwae_k:
        from .evaluate import append_evaluation, evaluation_row, iwae_per_example
        from .runs import read_status

        t0 = time.perf_counter()
        values = iwae_per_example(model, test, a.iwae_k, seed=a.iwae_seed, progress=_EvalProgress(a.iwae_k))
        seconds = time.perf_counter() - t0
        iwae = float(values.mean())
        out[f"iwae_{a.iwae_k}"] = iwae
        out["iwae_stderr"] = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
        out["iwae_seconds"] = round(seconds, 2)
        # Kept beside the weights, so the Runs page shows it: one appended line per evaluation.
        epoch = read_status(run_dir).get("epoch")
        append_evaluation(run_dir, evaluation_row(a.iwae_k, iwae, out["test_elbo"], len(test), seconds,
                                                  epoch=epoch if isinstance(epoch, int) else None,
                                                  seed=a.iwae_seed))
    print(json.dumps(out))
    return 0


class _EvalProgress:
    """'iwae k=1000: 3,000/10,000 images, ETA 4:10' on stderr, at most every 10 s (long evaluations only)."""

    def __init__(self, k: int, stream=sys.stderr):
        self.k, self.stream = k, stream
        self.t0 = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last < 10 and done < total:
            return
        if now - self.t0 < 10:
            return  # short evaluations print nothing
        self.last = now
        eta = (now - self.t0) / done * (total - done)
        print(f"iwae k={self.k}: {done:,}/{total:,} images, ETA {_fmt_secs(eta)}", file=self.stream, flush=True)


def _numpy_model(a):
    from .infer import load_numpy_model

    path = _existing_run(a)
    return load_numpy_model(path), path


def cmd_sample(a) -> int:
    import numpy as np
    from .images import grid_image, save_png

    model, _ = _numpy_model(a)
    eps = np.random.default_rng(a.seed).standard_normal((a.n, model.latent_dim)).astype(np.float32)
    save_png(grid_image(model.decode(eps, apply_sigmoid=True)), a.out)
    print(a.out)
    return 0


def cmd_manifold(a) -> int:
    from .images import grid_image, save_png
    from .latent import manifold_codes, normal_quantiles, normal_quantiles_tfp

    npm, run_dir = _numpy_model(a)  # arguments, config and weights checked before the TensorFlow import
    if npm.latent_dim < 2:
        raise ValueError(f"manifold: run {a.name!r} has latent_dim {npm.latent_dim}; the manifold needs 2")
    normal_quantiles(a.n, a.low, a.high)
    _import_tensorflow_quietly()
    from .runs import load_keras_model

    model, config = load_keras_model(run_dir)
    q = normal_quantiles_tfp(a.n, a.low, a.high)
    z = manifold_codes(q, q, config.latent_dim)
    probs = model.decode_fast(z, apply_sigmoid=True).numpy()  # the whole grid in one batched call
    save_png(grid_image(probs, a.n, scale=1), a.out)
    print(a.out)
    return 0


def cmd_gif(a) -> int:
    from .images import save_gif
    from .runs import RunError, epoch_images

    frames = epoch_images(_existing_run(a))
    if not frames:
        raise RunError(f"run {a.name!r} has no per-epoch images yet")
    save_gif(frames, a.out)
    print(a.out)
    return 0


def cmd_list(a) -> int:
    from .runs import list_runs

    for r in list_runs(a.runs_dir):
        best = f"{r.best_test_elbo:.2f}" if r.best_test_elbo is not None else "-"
        total = r.total_epochs if r.total_epochs is not None else "?"
        print(f"{r.name:30s} {r.state:12s} epochs {r.epochs_done}/{total}  best test ELBO {best}")
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample, "manifold": cmd_manifold,
            "gif": cmd_gif, "list": cmd_list}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known errors print one line to stderr and exit 2 (usage) or 1 (everything else)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, ValueError, OSError, RuntimeError) as e:
        msg = " ".join(str(e).split("\n")[0:1]) if not isinstance(e, OSError) else f"{e.strerror}: {e.filename}"
        full = str(e)
        # Multi-line messages (e.g. "no data found" with its list) are kept whole: they are the help.
        print(f"error: {full if chr(10) in full and 'Looked in' in full else msg}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
