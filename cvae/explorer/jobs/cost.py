"""How long a configuration's epoch will take, before it starts: measured costs per image, scaled by the network's
multiply-adds. Honest about its basis: a few widths measured on this project's machine (bench/widths.py,
docs/widths.md), linearly interpolated in multiply-adds per image; other machines, batch sizes and a busy CPU differ.
"""

from __future__ import annotations

import numpy as np

from ...data.datasets import dataset_spec
from ...store.arch import architecture_of
from ...store.config import TrainConfig

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

    n_train, n_test = split_sizes(config)
    return n_train * per_image(1) + n_test * per_image(2)


def split_sizes(config: TrainConfig) -> tuple[int, int]:
    """Training and test images of a config: its limits, else the data's (your own data: the counts recorded when
    it was loaded, 0 before), else the registry's."""
    spec = dataset_spec(config.dataset)
    n_train = config.max_train_examples or getattr(config, "data_train_images", None) or spec.train_images
    n_test = config.max_test_examples or getattr(config, "data_test_images", None) or spec.test_images
    return n_train, n_test


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


# ---------------------------------------------------------------------------------------------- memory

TRAINER_BASE_BYTES = 1_000_000_000  # a trainer's TensorFlow, Python and NumPy before any data (README: ~1 GB)
TRAIN_ACTIVATION_FACTOR = 3  # activations kept for the backward pass, their gradients, and temporaries
EVAL_ACTIVATION_FACTOR = 2  # the test ELBO: forward only, the layer being computed and the one before


def activations_per_image(config: TrainConfig) -> int:
    """Numbers one image produces through the network: input, every layer's output (encoder and decoder)."""
    a = architecture_of(config)
    e1, e2, s = (a.size - 3) // 2 + 1, a.enc_size, a.dec_size
    return (a.size * a.size * a.channels + e1 * e1 * a.filters1 + e2 * e2 * a.filters2 + 2 * config.latent_dim
            + s * s * a.filters1 + (2 * s) ** 2 * a.filters2 + (4 * s) ** 2 * a.filters1
            + (4 * s) ** 2 * a.out_channels)


def estimated_memory_bytes(config: TrainConfig) -> int:
    """A lower estimate of a trainer's peak memory: TensorFlow itself, the dataset as float32, weights with their
    gradients and Adam's two moments, and the activations of one training batch (or one evaluation batch)."""
    from ...store.weights import expected_shapes

    a = architecture_of(config)
    pixels = a.size * a.size * a.channels
    n_train, n_test = split_sizes(config)
    params = sum(int(np.prod(s)) for s in expected_shapes(config.latent_dim, a).values())
    per_image = activations_per_image(config) * 4
    batch = max(config.batch_size * per_image * TRAIN_ACTIVATION_FACTOR,
                config.eval_batch_size * per_image * EVAL_ACTIVATION_FACTOR)
    return TRAINER_BASE_BYTES + (n_train + n_test) * pixels * 4 + params * 4 * 4 + batch


def machine_memory_bytes() -> int | None:
    """This machine's memory (MemTotal of /proc/meminfo); None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_shortfall(config: TrainConfig, total: int | None = None) -> tuple[int, int] | None:
    """(bytes needed, bytes this machine has) when a configuration cannot fit in memory; None if it can (or the
    machine's memory is unknown)."""
    total = machine_memory_bytes() if total is None else total
    need = estimated_memory_bytes(config)
    return None if total is None or need <= total else (need, total)
