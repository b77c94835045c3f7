"""Command line: `python -m cvae train|eval|sample|manifold|encode|gif|list`; it parses and calls; errors: one line."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import first_run
from .store import faults
from .cli_args import MAX_IWAE_K, MAX_MANIFOLD_N, MAX_SAMPLES, OneLineParser, at_most, count_arg, float_arg
from .store.config import FIELD_SPECS, PRESETS, TrainConfig, flag_of, format_value, settable_fields
from .store.errors import ConfigError, CvaeError, DataNotFound, RunError, RunNotFound
from .store.fmt import EvalProgress, bits_per_dim


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
    """The directory of run a.name in a.runs_dir; RunNotFound if there is none (never a path relative to cwd)."""
    from .store.runs import run_path

    path = run_path(a.name, a.runs_dir)
    if not path.is_dir():
        raise RunNotFound(f"run {a.name!r} does not exist in {path.parent}", run=a.name)
    return path


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per settable TrainConfig field, from its FieldSpec (default None: 'not given')."""
    for name in settable_fields():
        spec = FIELD_SPECS[name]
        # argparse %-formats help strings: a literal % in a field's help (e.g. "2%") must be doubled.
        help_text = f"{spec.help} Allowed: {spec.allowed}.".replace("%", "%%")
        kw: dict[str, Any] = {"help": help_text, "dest": name}
        if spec.choices:
            kw["choices"] = spec.choices
        elif spec.kind is int:
            kw["type"], kw["metavar"] = count_arg, "N"
        elif spec.kind is float:
            kw["type"], kw["metavar"] = float_arg, "X"
        else:
            kw["metavar"] = "DIR"
        parser.add_argument(flag_of(name), **kw)


RUNS_DIR_HELP = ("runs root (default: $CVAE_RUNS_DIR, else the checkout's checkpoints/ folder, or for an installed "
                 "package ~/.local/share/cvae-explorer/runs, which starts with a copy of the shipped tutorial run)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = OneLineParser(prog="python -m cvae", description="Train and explore a convolutional VAE.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, data=True):
        sp.add_argument("--runs-dir", help=RUNS_DIR_HELP)
        if data:
            sp.add_argument("--data-dir", help="directory with the four IDX files (or $CVAE_DATA_DIR; your own "
                            "data: the folder of images or the .npz file)")

    t = sub.add_parser("train", help="train a new run, or continue one with --resume")
    t.add_argument("--name", required=True, help="run name: letters, digits, - _ .")
    t.add_argument("--runs-dir", help=RUNS_DIR_HELP)
    t.add_argument("--preset", choices=list(PRESETS), default=None, help="named settings (default: tutorial)")
    add_config_flags(t)
    t.add_argument("--resume", action="store_true",
                   help="continue run NAME from its last checkpoint (--epochs and --data-dir may change; other "
                        "flags must equal the run's own)")

    e = sub.add_parser("eval", help="print the test-set ELBO (and the IWAE log p(x) bound) of a run as JSON")
    e.add_argument("name")
    common(e)
    e.add_argument("--iwae-k", type=at_most(MAX_IWAE_K, 0), default=0,
                   help=f"also the k-sample IWAE bound on log p(x) (k <= {MAX_IWAE_K:,}), saved to "
                        "<run>/evaluations.jsonl")
    e.add_argument("--iwae-seed", type=count_arg, default=0, help="seed of the IWAE samples")
    e.add_argument("--max-test-examples", type=count_arg)
    e.add_argument("--exact", action="store_true", help="also log p(x) by quadrature over the 2-D latent plane, its "
                   "error and the inference gaps (to evaluations.jsonl); other latent sizes: IWAE with k = 5000")
    e.add_argument("--diagnostics", action="store_true",
                   help="also kl_per_dim (one value per latent dimension, summing to test_kl), activity and "
                        "active_units (Burda et al. 2015: Var over x of E_q[z_i] > 0.01)")

    s = sub.add_parser("sample", help="decode prior samples to a PNG grid")
    s.add_argument("name")
    common(s, data=False)
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=at_most(MAX_SAMPLES), default=16, help=f"number of samples (a grid; <= {MAX_SAMPLES:,})")
    s.add_argument("--seed", type=count_arg, default=0)

    m = sub.add_parser("manifold", help="decode an n x n grid at standard-normal quantiles to a PNG")
    m.add_argument("name")
    common(m, data=False)
    m.add_argument("--out", required=True)
    m.add_argument("--n", type=at_most(MAX_MANIFOLD_N), default=20, help=f"codes per side (<= {MAX_MANIFOLD_N})")
    m.add_argument("--low", type=float_arg, default=0.05)
    m.add_argument("--high", type=float_arg, default=0.95)

    en = sub.add_parser("encode", help="encode your own digit images (PNG/JPEG): one JSON object per image")
    en.add_argument("name")
    common(en, data=False)
    en.add_argument("images", nargs="+", metavar="IMAGE")
    en.add_argument("--iwae-k", type=at_most(MAX_IWAE_K), default=100,
                    help=f"importance samples of the IWAE estimate (1 to {MAX_IWAE_K:,})")
    en.add_argument("--seed", type=count_arg, default=0)

    g = sub.add_parser("gif", help="animated GIF of the per-epoch sample grids")
    g.add_argument("name")
    common(g, data=False)
    g.add_argument("--out", required=True)

    st = sub.add_parser("stop", help="ask a run's trainer to stop after its current steps (--force: kill it now)")
    st.add_argument("name")
    common(st, data=False)
    st.add_argument("--force", action="store_true",
                    help="SIGKILL the run's verified trainer (for one that is not responding); its last checkpoint "
                         "stays and the run can be resumed")

    ls = sub.add_parser("list", help="list runs")
    common(ls, data=False)

    first_run.add_parsers(sub)
    return p


def _given(a: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (data_dir made absolute)."""
    values = {name: getattr(a, name) for name in settable_fields() if getattr(a, name, None) is not None}
    if values.get("data_dir"):
        values["data_dir"] = str(Path(values["data_dir"]).expanduser().resolve())
    return values


def _config_from_args(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_preset(a.preset or "tutorial", **_given(a))


RESUME_MAY_CHANGE = ("epochs", "data_dir")


def resume_config(name: str, stored: TrainConfig, given: dict[str, Any], preset: str | None) -> TrainConfig:
    """The run's own config with --epochs / --data-dir applied; any other flag must equal the run's value."""
    differ = [f"{flag_of(k)}: run has {format_value(getattr(stored, k))}, got {format_value(v)}"
              for k, v in given.items() if k not in RESUME_MAY_CHANGE and v != getattr(stored, k)]
    if preset is not None and preset != stored.preset:
        differ.insert(0, f"--preset: run has {stored.preset}, got {preset}")
    if differ:
        raise RunError(f"--resume keeps run {name!r}'s settings; only --epochs and --data-dir may change "
                       f"({'; '.join(differ)})", run=name)
    return stored.replace(**{k: v for k, v in given.items() if k in RESUME_MAY_CHANGE})


def cmd_train(a) -> int:
    from .store.config import validate_run_name
    from .store.runs import acquire_run_lock, check_can_start, check_resume_epochs, read_config, run_path
    validate_run_name(a.name)
    # Fail fast, before the slow TensorFlow import (train_run checks again, under the lock).
    check_can_start(run_path(a.name, a.runs_dir), a.resume)
    if a.resume:
        config = resume_config(a.name, read_config(run_path(a.name, a.runs_dir)), _given(a), a.preset)
        check_resume_epochs(run_path(a.name, a.runs_dir), config.epochs)
    else:
        config = _config_from_args(a)
    _check_own_data(config)
    # The run's lock before the slow TensorFlow import: nothing (a delete, a second trainer) sees a starting run idle.
    lock = acquire_run_lock(run_path(a.name, a.runs_dir))
    try:
        faults.failpoint("train:locked")  # a test pauses here to look at the locked process before TensorFlow loads
        _import_tensorflow_quietly()
        from .engine.callbacks import ProgressBar
        from .engine.train import train_run  # TensorFlow loads only once the arguments are known to be good

        state = train_run(a.name, config, runs_dir=a.runs_dir, resume=a.resume, callbacks=[ProgressBar()],
                          handle_signals=True, lock=lock,
                          fixed=_given(a))  # fixed: flags the fast path's choice leaves alone
    finally:
        lock.release()
    return 0 if state in ("done", "stopped") else 1


def _check_own_data(config) -> None:
    """Your own data: loaded before TensorFlow (decoded once, then cached): a bad or changed folder is one line."""
    from .data.datasets import is_own
    from .data.loading import config_data, summary_line

    if is_own(config.dataset):
        print(summary_line(config_data(config)), file=sys.stderr, flush=True)


def cmd_eval(a) -> int:
    from .data.loading import config_data
    from .data.sources import model_input
    from .store import runs
    from .store.runs import read_config

    _, run_dir = _numpy_model(a)  # config and weights checked before the slow TensorFlow import

    stored = read_config(run_dir)
    ds = config_data(stored, data_dir=a.data_dir)
    test = model_input(ds.test_images[: a.max_test_examples] if a.max_test_examples else ds.test_images,
                       stored.likelihood)
    _import_tensorflow_quietly()
    from .engine.checkpoints import load_run_model
    from .engine.evaluate import evaluate_elbo, make_eval_fn

    model, config, meta = load_run_model(run_dir)  # meta: the epoch/step of exactly these weights
    out = {"run": a.name, **evaluate_elbo(make_eval_fn(model), test)}
    # Nats per image -> bits per dimension (sub-pixel): the unit colour-image likelihoods are compared in.
    out["test_elbo_bpd"] = bits_per_dim(out["test_elbo"], test[0].size)
    if a.diagnostics:
        import numpy as np

        from .explorer.maths.diagnostics import summarize

        parts = [model.encode(test[i:i + 1000]) for i in range(0, len(test), 1000)]
        mean, logvar = (np.concatenate([p[j].numpy() for p in parts]) for j in range(2))
        diag = summarize(mean, logvar)
        out.update(kl_per_dim=diag["kl_per_dim"], activity=diag["activity"], active_units=diag["active_units"])
    if a.exact and config.latent_dim != 2:  # falls back to IWAE with large k (5,000 unless --iwae-k says)
        a.iwae_k = a.iwae_k or 5000
        print(f"exact log p(x) needs a 2-D latent space and this run has {config.latent_dim} dimensions: "
              f"falling back to the IWAE bound with k = {a.iwae_k}", file=sys.stderr)
        out.update(exact_logpx=None, exact_fallback=f"iwae_{a.iwae_k}")
    elif a.exact:
        out.update(_exact(run_dir, model, test, ds.test_labels[:len(test)], meta, out["test_elbo"]))
    if a.iwae_k:
        from .engine.evaluate import iwae_per_example
        from .store.evaluations import append_evaluation, evaluation_row

        t0 = time.perf_counter()
        values = iwae_per_example(model, test, a.iwae_k, seed=a.iwae_seed, progress=EvalProgress(a.iwae_k))
        seconds = time.perf_counter() - t0
        iwae = float(values.mean())
        out[f"iwae_{a.iwae_k}"] = iwae
        out["iwae_stderr"] = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
        out["iwae_seconds"] = round(seconds, 2)
        out[f"iwae_{a.iwae_k}_bpd"] = bits_per_dim(iwae, test[0].size)
        # Kept beside the weights, so the Runs page shows it: one appended line per evaluation. Its epoch is the
        # one stored in the weights file it loaded (status.json may already be epochs ahead while the run trains);
        # weights from before that was stored say nothing: epoch null.
        if runs.read_only_reason(run_dir) is not None:  # the shipped run is not written to; its copies are
            print(f"{a.name}: read-only run; this evaluation is not recorded in it", file=sys.stderr)
        else:
            append_evaluation(run_dir, evaluation_row(a.iwae_k, iwae, out["test_elbo"], len(test), seconds,
                                                      epoch=meta["epoch"], step=meta["step"], seed=a.iwae_seed))
    print(json.dumps(out))
    return 0


def _exact(run_dir, model, test, labels, meta, elbo: float) -> dict:
    """exact_* fields (the Keras decoder's integrand fed to cvae.explorer.maths.gaps) and their evaluations.jsonl row."""
    import numpy as np
    from .engine.evaluate import make_log_joint_fn
    from .explorer.maths.gaps import exact_test_set
    from .explorer.maths.numpy_model import load_numpy_model
    from .store.evaluations import append_evaluation, exact_row

    fn = make_log_joint_fn(model)
    s = exact_test_set(load_numpy_model(run_dir), test, labels, lambda x: lambda z: fn(x, z.astype(np.float32)).numpy(),
                       decode=lambda z: model.decode_fast(z).numpy(), progress=EvalProgress("exact", every=10))
    append_evaluation(run_dir, exact_row(s, elbo, len(test), s["seconds"], epoch=meta["epoch"], step=meta["step"]))
    return {f"exact_{k}": s[k] for k in ("logpx", "error", "elbo", "kl", "approximation_gap", "amortization_gap",
                                         "per_class", "largest_gaps", "seconds")}


def _numpy_model(a):
    from .explorer.maths.numpy_model import load_numpy_model

    path = _existing_run(a)
    return load_numpy_model(path), path


def cmd_sample(a) -> int:
    import numpy as np
    from .store.images import grid_image, save_png

    model, _ = _numpy_model(a)
    eps = np.random.default_rng(a.seed).standard_normal((a.n, model.latent_dim)).astype(np.float32)
    save_png(grid_image(model.decode(eps, apply_sigmoid=True)), a.out)
    print(a.out)
    return 0


def cmd_manifold(a) -> int:
    from .explorer.maths.latent import manifold_codes, normal_quantiles
    from .store.images import grid_image, save_png

    npm, run_dir = _numpy_model(a)  # arguments, config and weights checked before the TensorFlow import
    if npm.latent_dim < 2:
        raise ValueError(f"manifold: run {a.name!r} has latent_dim {npm.latent_dim}; the manifold needs 2")
    q = normal_quantiles(a.n, a.low, a.high)  # equal to tfp's Normal.quantile (tests/test_latent.py)
    _import_tensorflow_quietly()
    from .engine.checkpoints import load_keras_model

    model, config = load_keras_model(run_dir)
    z = manifold_codes(q, q, config.latent_dim)
    probs = model.decode_fast(z, apply_sigmoid=True).numpy()  # the whole grid in one batched call
    save_png(grid_image(probs, a.n, scale=1), a.out)
    print(a.out)
    return 0


def cmd_encode(a) -> int:
    from .explorer.maths import own_digit as od, own_image
    from .store.runs import read_config

    model, run_dir = _numpy_model(a)
    # A run on your own images: each image centre-cropped and resized as its training images were.
    own = own_image.needs_own_preprocessing(read_config(run_dir))
    for path in a.images:
        try:
            with open(path, "rb") as f:
                data = f.read(od.MAX_UPLOAD_BYTES + 1)
            if own:
                x, extra = own_image.prepare(data, model.arch).x, {}
            else:
                steps = od.preprocess(od.decode_image(data))
                x, extra = steps.binary, {"inverted": steps.inverted}
        except (od.ImageRejected, OSError) as e:
            raise ValueError(f"{path}: {e.strerror if isinstance(e, OSError) and e.strerror else e}") from None
        out = od.describe(model, x, a.iwae_k, a.seed)
        del out["reconstruction"], out["sample"]
        print(json.dumps({"image": path, **out, **extra}), flush=True)
    return 0


def cmd_gif(a) -> int:
    from .store.images import save_gif
    from .store.runs import epoch_images

    frames = epoch_images(_existing_run(a))
    if not frames:
        raise RunError(f"run {a.name!r} has no per-epoch images yet", run=a.name)
    save_gif(frames, a.out)
    print(a.out)
    return 0


def cmd_list(a) -> int:
    from .store.runs import list_runs, runs_root

    found = list_runs(a.runs_dir)
    if not found:
        print(f"no runs in {runs_root(a.runs_dir)}", file=sys.stderr)
    for r in found:
        best = f"{r.best_test_elbo:.2f}" if r.best_test_elbo is not None else "-"
        total = r.total_epochs if r.total_epochs is not None else "?"
        print(f"{r.name:30s} {r.state:12s} epochs {r.epochs_done}/{total}  best test ELBO {best}")
    return 0


def cmd_stop(a) -> int:
    from .store.errors import NotTraining
    from .store.runs import force_stop, is_locked, request_stop

    path = _existing_run(a)
    if a.force:
        pids = force_stop(a.name, a.runs_dir)
        print(f"{a.name}: killed trainer pid {', '.join(map(str, pids))}; resume with --resume")
        return 0
    if not is_locked(path):
        raise NotTraining(f"run {a.name!r} is not training", run=a.name)
    request_stop(a.name, a.runs_dir)
    print(f"{a.name}: stop requested (it checkpoints after its current steps); --force if it does not respond")
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample, "manifold": cmd_manifold,
            "encode": cmd_encode, "gif": cmd_gif, "stop": cmd_stop, "list": cmd_list,
            "data": first_run.cmd_data, "app": first_run.cmd_app}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; known errors print one line to stderr and exit 2 (usage) or 1 (everything else)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "app":  # `cvae app --server.port 8502`: Streamlit's own options pass through
        args.streamlit_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except DataNotFound as e:  # its few lines are the help: where it looked and the three ways to provide data
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (CvaeError, ValueError, OSError, RuntimeError) as e:
        msg = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror else str(e).split("\n")[0]
        print(f"error: {msg}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
