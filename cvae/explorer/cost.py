"""How long a configuration's epoch will take, before it starts: measured costs per image, scaled by the network's
multiply-adds. Honest about its basis: a few widths measured on this project's machine (bench/widths.py,
docs/widths.md), linearly interpolated in multiply-adds per image; other machines, batch sizes and a busy CPU differ.
"""

from __future__ import annotations

import numpy as np

from ..data.datasets import dataset_spec
from ..store.arch import architecture_of
from ..store.config import TrainConfig

# (multiply-adds per image, training seconds per image, evaluation seconds per image), from
# `python -m bench.widths --images 320 --repeats 3` (docs/widths.md): filters 32/64, 128/128, 512/512 on MNIST, batch
# 32, float32, on the project's 2 cores while other jobs shared them (load average ~12): pessimistic for a quiet
# machine, where the tutorial's network trains ~4x faster (README, Performance).
MEASURED: tuple[tuple[float, float, float], ...] = (
    (5_466_208, 0.001412, 0.0006606),
    (42_563_968, 0.01005, 0.003403),
    (667_477_504, 0.1966, 0.04867),
)
SLOW_EPOCH_SECONDS = 300.0  # above this, the Train page asks for a second click before starting


def estimated_epoch_seconds(config: TrainConfig) -> float:
    """Estimated seconds of one epoch (training + the test-set evaluation) on the measured machine."""
    macs = architecture_of(config).macs_per_image(config.latent_dim)
    m = np.array(MEASURED, np.float64)
    order = np.argsort(m[:, 0])
    m = m[order]

    def per_image(col: int) -> float:
        # Piecewise linear through the measurements; beyond them, proportional to the multiply-adds.
        if macs >= m[-1, 0]:
            return float(m[-1, col] * macs / m[-1, 0])
        return float(np.interp(macs, m[:, 0], m[:, col]))

    spec = dataset_spec(config.dataset)
    n_train = config.max_train_examples or spec.train_images
    n_test = config.max_test_examples or spec.test_images
    return n_train * per_image(1) + n_test * per_image(2)


def slow_warning(config: TrainConfig) -> str | None:
    """A one-paragraph warning when an epoch is estimated above SLOW_EPOCH_SECONDS, else None."""
    seconds = estimated_epoch_seconds(config)
    if seconds < SLOW_EPOCH_SECONDS:
        return None
    total = seconds * config.epochs
    return (f"Slow configuration: filters {config.filters1}/{config.filters2} on {config.dataset} take an "
            f"estimated {_fmt(seconds)} per epoch, {_fmt(total)} for {config.epochs} epochs (measured on this "
            f"project's 2-core machine and scaled by the network's multiply-adds; see docs/widths.md). "
            f"Fewer training images or narrower layers are quicker. Press Start again to start it anyway.")


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"~{seconds:.0f} s"
    if seconds < 7200:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"
