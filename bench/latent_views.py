"""Latent-view latency: the tutorial's per-image decoding and evaluation vs batched, compiled calls.

    .venv/bin/python -m bench.latent_views [--reps 5] [--run checkpoints/tutorial]

Uses the trained weights of a run directory (default: the shipped checkpoints/tutorial) so the
ELBO figures are meaningful; timings do not depend on the weights.
  manifold   20x20 grid: the tutorial's plot_latent_images (400 calls of a @tf.function sample on one
             z each) vs one batched call: (a) the Keras decoder compiled with
             input_signature [None, latent_dim] (no retracing: checked with the tracing count),
             (b) cvae.explorer.maths.numpy_model.NumpyCVAE.decode (what the app uses)
  test ELBO  10,000 test digits: the tutorial's loop (batch 32, eager compute_loss, keras Mean of batch
             means) vs cvae.engine.evaluate.evaluate_elbo (compiled, batch 1000, per-example mean) vs
             NumpyCVAE.elbo_terms
  slider     one decode for a slider move: NumpyCVAE.decode of one z, p50/p95 in ms
             (plus the page's figure building when it can be imported without Streamlit)
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import numpy as np

from .common import (DEFAULT_DATA_DIR, ROOT, alternate, machine_header, median, percentile, print_header,
                     quiet_tf, table, verdict, write_json)

quiet_tf()
import tensorflow as tf  # noqa: E402

from cvae.explorer.maths.numpy_model import load_numpy_model  # noqa: E402
from cvae.explorer.maths.latent import manifold_codes, normal_quantiles  # noqa: E402
from cvae.engine.model import build_model, set_weight_arrays  # noqa: E402
from cvae.store.runs import read_config  # noqa: E402
from cvae.engine.evaluate import eval_noise, evaluate_elbo, make_eval_fn  # noqa: E402

from . import baseline as B  # noqa: E402

N_GRID = 20
DIGIT = 28


def tutorial_manifold(sample_fn, grid_x, grid_y) -> np.ndarray:
    """The tutorial's plot_latent_images loop (without matplotlib): one sample() call per image."""
    n = len(grid_x)
    image_width = image_height = DIGIT * n
    image = np.zeros((image_height, image_width))
    for i, yi in enumerate(grid_x):
        for j, xi in enumerate(grid_y):
            z = np.array([[xi, yi]], np.float32)
            x_decoded = sample_fn(z)
            digit = tf.reshape(x_decoded[0], (DIGIT, DIGIT))
            image[i * DIGIT: (i + 1) * DIGIT, j * DIGIT: (j + 1) * DIGIT] = digit.numpy()
    return image


def batched_manifold(decode, grid_x, grid_y) -> np.ndarray:
    """All codes in one call, then one reshape/transpose into the same tiled image."""
    n = len(grid_x)
    z = manifold_codes(grid_y, grid_x)  # row i <-> grid_x[i] on dim 1, column j <-> grid_y[j] on dim 0
    probs = np.asarray(decode(z)).reshape(n, n, DIGIT, DIGIT)
    return probs.transpose(0, 2, 1, 3).reshape(n * DIGIT, n * DIGIT)


def find_figure_builder():
    """The latent page's figure function, if some module provides one importable without Streamlit."""
    import sys

    candidates = [("cvae.explorer.figures.maps", ("decode_figure", "slider_figure", "digit_figure", "image_figure"))]
    for mod_name, attrs in candidates:
        before = "streamlit" in sys.modules
        try:
            mod = importlib.import_module(mod_name)
        except Exception as e:
            return None, f"{mod_name} not importable ({type(e).__name__}: {e})"
        if "streamlit" in sys.modules and not before:
            return None, f"{mod_name} imports streamlit"
        for a in attrs:
            if callable(getattr(mod, a, None)):
                return getattr(mod, a), f"{mod_name}.{a}"
    return None, "no figure builder found in cvae.explorer.figures.maps"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="latent-view latency")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--run", default=str(ROOT / "checkpoints" / "tutorial"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--slider-calls", type=int, default=300)
    args = p.parse_args(argv)
    info = machine_header()
    print_header("latent views", info)
    run_dir = Path(args.run)
    config = read_config(run_dir)
    if config.latent_dim != 2:
        raise SystemExit("the manifold benchmark needs a latent_dim 2 run")
    npm = load_numpy_model(run_dir, config)
    model = build_model(config.latent_dim)
    set_weight_arrays(model, npm.w)
    _, test = B.load_mnist(args.data_dir)
    result: dict = {"machine": info, "run": str(run_dir), "reps": args.reps}

    # ---------------------------------------------------------------- manifold
    grid = normal_quantiles(N_GRID)  # = tfp Normal(0,1).quantile(linspace(.05,.95,20)), as the tutorial
    tutorial_sample = tf.function(model.sample)  # the tutorial decorates CVAE.sample with @tf.function
    keras_decode = tf.function(lambda z: model.decode(z, apply_sigmoid=True),
                               input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32)])
    keras_decode_fast = tf.function(lambda z: model.decode_fast(z, apply_sigmoid=True),
                                    input_signature=[tf.TensorSpec([None, config.latent_dim], tf.float32)])
    ref = tutorial_manifold(tutorial_sample, grid, grid)  # warm-up + reference
    for fn in (keras_decode, keras_decode_fast, lambda z: npm.decode(z, apply_sigmoid=True)):
        img = batched_manifold(fn, grid, grid)
        assert np.abs(img - ref).max() < 1e-4, "batched manifold differs from the tutorial's"
    keras_decode(np.zeros((1, 2), np.float32))
    traces_before = keras_decode.experimental_get_tracing_count()

    def t(fn):
        def run():
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return run

    res = alternate({
        "tutorial: 400 x sample(z)": t(lambda: tutorial_manifold(tutorial_sample, grid, grid)),
        "Keras decode, 1 batched call": t(lambda: batched_manifold(keras_decode, grid, grid)),
        "Keras decode_fast, 1 batched call": t(lambda: batched_manifold(keras_decode_fast, grid, grid)),
        "NumpyCVAE.decode, 1 batched call": t(lambda: batched_manifold(lambda z: npm.decode(z, True), grid, grid)),
    }, args.reps)
    retraces = keras_decode.experimental_get_tracing_count() - traces_before
    base = median(res["tutorial: 400 x sample(z)"])
    man = {k: {"ms": median(v) * 1e3, "speedup": base / median(v), "reps_s": v} for k, v in res.items()}
    man["retraces_during_timing"] = retraces
    result["manifold"] = man
    print()
    print(table([[k, r["ms"], f"{r['speedup']:.1f}x"] for k, r in man.items() if isinstance(r, dict)],
                ["20x20 manifold", "median ms", "speedup vs tutorial"]))
    best = max(r["speedup"] for k, r in man.items() if isinstance(r, dict) and not k.startswith("tutorial"))
    print(f"Keras decode retraces while timing (batch 1 and 400 mixed): {retraces}")
    print(f"target: 20x20 manifold >= 50x faster than 400 single decodes: "
          f"Keras {man['Keras decode, 1 batched call']['speedup']:.0f}x, "
          f"Keras decode_fast {man['Keras decode_fast, 1 batched call']['speedup']:.0f}x, "
          f"NumPy {man['NumpyCVAE.decode, 1 batched call']['speedup']:.0f}x {verdict(best, 50)}")
    print()

    # ---------------------------------------------------------------- test-set ELBO
    test_dataset = tf.data.Dataset.from_tensor_slices(test).shuffle(len(test)).batch(32)

    def tutorial_elbo():
        loss = tf.keras.metrics.Mean()
        for test_x in test_dataset:
            loss(B.compute_loss(model, test_x))
        return float(-loss.result())

    eval_fn = make_eval_fn(model)
    eps = eval_noise(len(test), config.latent_dim)
    values = {}

    def timed_value(name, fn):
        def run():
            t0 = time.perf_counter()
            values[name] = fn()
            return time.perf_counter() - t0
        return run

    tutorial_elbo()
    evaluate_elbo(eval_fn, test[:2000], 1000, eps[:2000])
    res = alternate({
        "tutorial: batch 32, eager, Mean of batch means": timed_value("tutorial", tutorial_elbo),
        "evaluate_elbo: compiled, batch 1000": timed_value(
            "evaluate_elbo", lambda: evaluate_elbo(eval_fn, test, 1000, eps)["test_elbo"]),
        "NumpyCVAE.elbo_terms (encode 256, decode 16 per pass)": timed_value(
            "numpy", lambda: float(np.mean(npm.elbo_terms(test, eps)["elbo"].astype(np.float64)))),
    }, args.reps)
    base = median(res["tutorial: batch 32, eager, Mean of batch means"])
    ev = {k: {"s": median(v), "speedup": base / median(v), "reps_s": v} for k, v in res.items()}
    ev["elbo_values"] = values
    result["test_elbo"] = ev
    print()
    print(table([[k, r["s"], f"{r['speedup']:.1f}x"] for k, r in ev.items() if "speedup" in r],
                ["test ELBO, 10,000 digits", "median s", "speedup vs tutorial"]))
    print("ELBO values (last repetition; the tutorial draws fresh eps, the others use the fixed EVAL_SEED eps): "
          + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    sp = ev["evaluate_elbo: compiled, batch 1000"]["speedup"]
    print(f"target: test-set ELBO >= 5x faster than the tutorial's evaluation: evaluate_elbo {sp:.1f}x {verdict(sp, 5)}")
    print()

    # ---------------------------------------------------------------- slider
    rng = np.random.default_rng(0)
    zs = rng.standard_normal((args.slider_calls, config.latent_dim)).astype(np.float32)
    figure, where = find_figure_builder()
    lat: dict = {}
    for rep in range(args.reps):
        for name, fn in [("NumpyCVAE.decode(1 z)", lambda z: npm.decode(z[None], apply_sigmoid=True)),
                         ("Keras compiled decode(1 z)", lambda z: keras_decode(z[None]).numpy())]:
            times = lat.setdefault(name, [])
            for z in zs:
                t0 = time.perf_counter()
                fn(z)
                times.append((time.perf_counter() - t0) * 1e3)
    sl = {k: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95), "calls": len(v)} for k, v in lat.items()}
    sl["figure_builder"] = where
    result["slider"] = sl
    print(table([[k, r["p50_ms"], r["p95_ms"], r["calls"]] for k, r in sl.items() if isinstance(r, dict)],
                ["one slider move", "p50 ms", "p95 ms", "calls"]))
    print(f"page figure building: {'measured via ' + where if figure else 'skipped: ' + where}")
    p50 = sl["NumpyCVAE.decode(1 z)"]["p50_ms"]
    print(f"target: one decode for a slider move p50 <= 5 ms: NumpyCVAE {p50:.2f} ms {verdict(p50, 5, False)}")
    write_json("latent_views", result)


if __name__ == "__main__":
    main()
