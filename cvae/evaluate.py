"""Held-out log-likelihood beyond the ELBO: the importance-weighted estimate of log p(x), and a run's log of it.

The IWAE estimate (Burda, Grosse & Salakhutdinov 2016) with k samples z_i ~ q(z|x):

    log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)

k = 1 is the single-sample ELBO; the bound tightens (never loosens, in expectation) as k grows and tends
to log p(x). The densities are tfp.distributions objects; the computation is one compiled function
(tf.function with an input signature, so it is traced once for any batch and chunk size), fed chunks of
samples so that memory stays at `decodes_per_call` decoder passes however large k and the test set are.

TensorFlow is imported only inside the functions that need it: the app reads evaluations.jsonl through
this module, and the app process never imports TensorFlow.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from .io import append_jsonl, read_jsonl, repair_jsonl

EVALUATIONS_FILE = "evaluations.jsonl"  # one JSON row per `python -m cvae eval --iwae-k K` in the run dir
DECODES_PER_CALL = 2000  # images x samples decoded per compiled call (~0.5 GB of activations at most)
DEFAULT_CHUNK = 100  # samples per image per call


def make_iwae_logw_fn(model):
    """A compiled fn(x (b,28,28,1), eps (c,b,d)) -> log importance weights (c,b) for z = mu + sigma*eps.

    log w = log p(x|z) + log p(z) - log q(z|x) with p(x|z) = Independent(Bernoulli(logits), 3),
    p(z) = MultivariateNormalDiag(0, I) and q(z|x) = MultivariateNormalDiag(mu, sigma).
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    d = int(model.latent_dim)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32),
                                  tf.TensorSpec([None, None, d], tf.float32)])
    def logw_fn(x, eps):
        mean, logvar = model.encode(x)
        scale = tf.exp(0.5 * logvar)
        z = mean[None] + scale[None] * eps  # (c, b, d)
        logits = model.decode_fast(tf.reshape(z, [-1, d]))
        logits = tf.reshape(logits, tf.concat([tf.shape(eps)[:2], [28, 28, 1]], axis=0))
        px_z = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=3)
        pz = tfd.MultivariateNormalDiag(loc=tf.zeros([d]), scale_diag=tf.ones([d]))
        qz_x = tfd.MultivariateNormalDiag(loc=mean, scale_diag=scale)  # batch shape (b,)
        return px_z.log_prob(x[None]) + pz.log_prob(z) - qz_x.log_prob(z)

    return logw_fn


def _logmeanexp(logw: np.ndarray, axis: int = 0) -> np.ndarray:
    logw = np.asarray(logw, np.float64)
    m = np.max(logw, axis=axis, keepdims=True)
    return (m + np.log(np.mean(np.exp(logw - m), axis=axis, keepdims=True))).squeeze(axis)


def plan(k: int, chunk: int = DEFAULT_CHUNK, decodes_per_call: int = DECODES_PER_CALL) -> tuple[int, int]:
    """(images per batch, samples per call) so that one call decodes about `decodes_per_call` codes."""
    if not (isinstance(k, (int, np.integer)) and k >= 1) or chunk < 1 or decodes_per_call < 1:
        raise ValueError(f"iwae: k and chunk must be >= 1, got k={k}, chunk={chunk}")
    c = min(int(k), int(chunk))
    return max(1, decodes_per_call // c), c


def iwae_per_example(model, images: np.ndarray, k: int, batch_size: int | None = None, seed: int = 0,
                     chunk: int = DEFAULT_CHUNK, eps: np.ndarray | None = None, logw_fn=None,
                     progress=None) -> np.ndarray:
    """The k-sample IWAE estimate of log p(x) for every image, float64, shape (N,).

    eps: optional standard-normal noise (k, N, d) to use instead of fresh draws (tests pass the same eps to
    objectives.iwae_bound). Otherwise the noise comes from numpy's default_rng(seed), drawn batch by batch.
    progress: optional callable(done_images, total_images).
    """
    x_all = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
    per_batch, c = plan(k, chunk)
    batch_size = int(batch_size or per_batch)
    d = int(model.latent_dim)
    if eps is not None:
        eps = np.asarray(eps, np.float32)
        if eps.shape != (k, len(x_all), d):
            raise ValueError(f"iwae: eps has shape {eps.shape}, expected {(k, len(x_all), d)}")
    logw_fn = logw_fn or make_iwae_logw_fn(model)
    rng = np.random.default_rng(seed)
    out = np.empty(len(x_all), np.float64)
    for i in range(0, len(x_all), batch_size):
        x = x_all[i:i + batch_size]
        parts = []
        for j in range(0, k, c):
            n = min(c, k - j)
            e = eps[j:j + n, i:i + len(x)] if eps is not None else rng.standard_normal((n, len(x), d), np.float32)
            parts.append(logw_fn(x, e).numpy())
        out[i:i + len(x)] = _logmeanexp(np.concatenate(parts, axis=0), axis=0)
        if progress is not None:
            progress(i + len(x), len(x_all))
    return out


def iwae_estimate(model, images: np.ndarray, k: int, batch_size: int | None = None, seed: int = 0,
                  chunk: int = DEFAULT_CHUNK) -> float:
    """Mean k-sample importance-weighted bound on log p(x) over images (Burda, Grosse & Salakhutdinov 2016)."""
    return float(iwae_per_example(model, images, k, batch_size, seed, chunk).mean())


# ---------------------------------------------------------------------------------------------- the run's log


def evaluation_row(k: int, iwae: float, elbo: float, n: int, seconds: float, epoch: int | None = None,
                   seed: int = 0) -> dict[str, Any]:
    """One line of evaluations.jsonl."""
    return {"k": int(k), "iwae": float(iwae), "elbo": float(elbo), "n": int(n), "seconds": round(float(seconds), 2),
            "epoch": epoch, "seed": int(seed), "time": time.time()}


def append_evaluation(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one row to <run>/evaluations.jsonl (one write + fsync: a crash can only tear that line, and a
    torn last line from an earlier crash is dropped first so the new row starts on a line of its own)."""
    path = Path(run_dir) / EVALUATIONS_FILE
    repair_jsonl(path)
    append_jsonl(path, row)


def read_evaluations(run_dir: str | Path) -> list[dict[str, Any]]:
    """The valid rows of <run>/evaluations.jsonl, oldest first (a torn or foreign line is skipped)."""
    rows = []
    for r in read_jsonl(Path(run_dir) / EVALUATIONS_FILE):
        if (isinstance(r, dict) and isinstance(r.get("k"), int) and not isinstance(r.get("k"), bool)
                and isinstance(r.get("iwae"), (int, float)) and math.isfinite(r["iwae"])):
            rows.append(r)
    return rows


def best_evaluation(rows: list[dict[str, Any]], epoch: int | None = None) -> dict[str, Any] | None:
    """The evaluation to show for a run: of the given epoch's weights if any say so, most images, then
    largest k, then newest."""
    if epoch is not None:
        rows = [r for r in rows if r.get("epoch") in (None, epoch)]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.get("n") or 0, r["k"], r.get("time") or 0.0))


def format_evaluation(row: dict[str, Any] | None) -> str | None:
    """'-152.31 (k = 1000, 10,000 images)' for a table cell."""
    if row is None:
        return None
    n = row.get("n")
    return f"{row['iwae']:.2f} (k = {row['k']}" + (f", {n:,} images)" if isinstance(n, int) else ")")
