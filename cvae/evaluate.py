"""Held-out likelihood estimates beyond the ELBO."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .objectives import iwae_bound


def iwae_estimate(model, images: np.ndarray, k: int, batch_size: int | None = None, seed: int = 0) -> float:
    """Mean k-sample importance-weighted bound on log p(x) over images (Burda, Grosse & Salakhutdinov 2016)."""
    tf.random.set_seed(seed)
    # Keep batch * min(k, 100) decodes per call: ~100k images of 28x28 at most.
    batch_size = batch_size or max(1, 100_000 // min(k, 100) // 10)
    values = [iwae_bound(model, tf.constant(images[i:i + batch_size]), k).numpy()
              for i in range(0, len(images), batch_size)]
    return float(np.concatenate(values).astype(np.float64).mean())
