"""The fast path: what this machine offers (CPU flags, GPUs) and the training settings chosen for it.

`probe_machine` reads the CPU model and flags from /proc/cpuinfo and the GPUs TensorFlow lists; `choose_fast_path`
looks the machine's class up in the measured table (cvae/assets/fast_path_table.json, made by
`python -m bench.fast_path_table`); where the table says "probe" (bfloat16 may or may not pay on this CPU), a short
measurement (<= 10 s, cached per machine in the user's cache directory) decides. `resolve_fast_config` applies the
choice to a `fast`-preset config and records it, with its reason, in the config's `fast_path` field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..store.config import KL_ESTIMATES, PRECISIONS, PRESETS, LR_SCHEDULES, TrainConfig
from ..store.files import atomic_write_json

TABLE_PATH = Path(__file__).resolve().parent.parent / "assets" / "fast_path_table.json"
CPU_CLASSES = ("amx_bf16", "avx512_bf16", "none")  # best first; "gpu" when TensorFlow lists a GPU
MACHINE_CLASSES = ("gpu", *CPU_CLASSES)
CHOSEN_FIELDS = ("precision", "batch_size", "learning_rate", "lr_schedule", "epochs", "kl_estimate", "replicas",
                 "threads")
PROBE_BUDGET_SECONDS = 10.0
# bfloat16 must train >= 25% more images per CPU second than float32 to be chosen: it also costs ELBO (at batch 32,
# 2 epochs: -156.8 vs -155.9 for float32, seed 0, bench/RESULTS.md), so a small gain would eat the quality margin.
PROBE_MIN_GAIN = 1.25
PROBE_CACHE_FILE = "fast_path_probe.json"


@dataclass(frozen=True)
class Machine:
    """What the fast path depends on: CPU model and bf16 flags, usable cores, visible GPUs, TensorFlow version."""

    cpu_model: str
    cpu_flags: tuple[str, ...]  # only the ones that matter here (amx_bf16, avx512_bf16), sorted
    cores: int
    gpus: tuple[str, ...] = ()
    tf_version: str = ""

    @property
    def cpu_class(self) -> str:
        """amx_bf16, avx512_bf16 or none: the best bfloat16 support of the CPU."""
        return next((c for c in CPU_CLASSES[:-1] if c in self.cpu_flags), "none")

    @property
    def machine_class(self) -> str:
        """gpu when TensorFlow sees one, else the CPU's class."""
        return "gpu" if self.gpus else self.cpu_class

    @property
    def key(self) -> str:
        """Identifies the machine for the probe cache: CPU model + flags + TensorFlow version."""
        text = f"{self.cpu_model}|{','.join(self.cpu_flags)}|{self.cores}|{self.tf_version}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FastPath:
    """The settings chosen for a machine, and why (one line)."""

    machine_class: str
    precision: str
    batch_size: int
    learning_rate: float
    lr_schedule: str
    epochs: int
    kl_estimate: str
    replicas: int
    threads: int
    because: str
    device: str = "CPU"

    def values(self) -> dict[str, Any]:
        """The config fields this choice sets."""
        return {k: getattr(self, k) for k in CHOSEN_FIELDS}

    def line(self) -> str:
        """'bf16, batch 128, cosine 3e-3 over 3 epochs, 2 threads on CPU because …' (stored in config.fast_path)."""
        prec = "bf16" if self.precision == "mixed_bfloat16" else "fp32"
        kl = ", closed-form KL" if self.kl_estimate == "closed_form" else ""
        copies = f"{self.replicas} replicas x " if self.replicas > 1 else ""
        return (f"{prec}, batch {self.batch_size}, {self.lr_schedule} {self.learning_rate:g} over {self.epochs} "
                f"epoch{'s' if self.epochs != 1 else ''}{kl}, {copies}{self.threads} thread"
                f"{'s' if self.threads != 1 else ''} on {self.device} because {self.because}")


def read_cpu(text: str) -> tuple[str, tuple[str, ...]]:
    """(model name, the bf16 flags of interest) from /proc/cpuinfo text."""
    model, flags = "unknown CPU", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip() or model
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, tuple(sorted(flags & {"amx_bf16", "avx512_bf16"}))


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def probe_machine(cpuinfo: str | os.PathLike = "/proc/cpuinfo",
                  list_gpus: Callable[[], Sequence[Any]] | None = None) -> Machine:
    """This machine: CPU from `cpuinfo`, GPUs from tf.config.list_physical_devices('GPU') (or `list_gpus`)."""
    import tensorflow as tf

    try:
        model, flags = read_cpu(Path(cpuinfo).read_text(errors="replace"))
    except OSError:
        model, flags = "unknown CPU", ()
    devices = (list_gpus or (lambda: tf.config.list_physical_devices("GPU")))()
    gpus = tuple(str(getattr(d, "name", d)) for d in devices)
    return Machine(model, flags, usable_cores(), gpus, tf.__version__)


# ---------------------------------------------------------------------------------------------- the table


def _check_row(name: str, row: Any) -> dict[str, Any]:
    """One table row, field by field; ValueError names what is wrong."""
    if not isinstance(row, Mapping):
        raise ValueError(f"fast path table: row {name!r} is not an object")
    out = dict(row)
    checks = {
        "precision": lambda v: v in (*PRECISIONS, "probe"),
        "batch_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 60_000,
        "learning_rate": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
        "lr_schedule": lambda v: v in LR_SCHEDULES,
        "epochs": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000,
        "kl_estimate": lambda v: v in KL_ESTIMATES,
        "replicas": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64,
        "because": lambda v: isinstance(v, str) and 0 < len(v) <= 400,
    }
    for key, ok in checks.items():
        if key not in out or not ok(out[key]):
            raise ValueError(f"fast path table: row {name!r} has a bad or missing {key!r}: {out.get(key)!r}")
    out["learning_rate"] = float(out["learning_rate"])
    return out


def load_table(path: str | os.PathLike = TABLE_PATH) -> dict[str, dict[str, Any]]:
    """The measured table: {machine class: row}; every class must be there and every row valid."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"fast path table {path}: {e}") from None
    rows = data.get("rows") if isinstance(data, Mapping) else None
    if not isinstance(rows, Mapping):
        raise ValueError(f"fast path table {path}: no 'rows' object")
    missing = [c for c in MACHINE_CLASSES if c not in rows]
    if missing:
        raise ValueError(f"fast path table {path}: no row for {', '.join(missing)}")
    return {c: _check_row(c, rows[c]) for c in MACHINE_CLASSES}


# ---------------------------------------------------------------------------------------------- the probe


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/cvae-explorer, else ~/.cache/cvae-explorer."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cvae-explorer"


def read_probe_cache(machine: Machine, batch_size: int, directory: Path | None = None) -> dict[str, Any] | None:
    """A cached probe result for this machine and batch size, or None (missing, other machine, malformed)."""
    path = (directory or cache_dir()) / PROBE_CACHE_FILE
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1_000_000:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    entry = data.get(f"{machine.key}/b{batch_size}") if isinstance(data, dict) else None
    if not isinstance(entry, dict) or entry.get("precision") not in PRECISIONS:
        return None
    ratio = entry.get("bf16_over_fp32")
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not math.isfinite(ratio) or ratio <= 0:
        return None
    return entry


def write_probe_cache(machine: Machine, batch_size: int, entry: dict[str, Any], directory: Path | None = None) -> None:
    """Add this machine's probe result to the cache file (atomically; other machines' entries kept)."""
    d = directory or cache_dir()
    path = d / PROBE_CACHE_FILE
    try:
        d.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.is_file() and not path.is_symlink() else {}
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[f"{machine.key}/b{batch_size}"] = {**entry, "cpu_model": machine.cpu_model, "tf_version": machine.tf_version}
    try:
        atomic_write_json(path, data)
    except OSError:
        pass  # a read-only home: the next run probes again


def measure_bf16_gain(batch_size: int, budget: float = PROBE_BUDGET_SECONDS, latent_dim: int = 2) -> dict[str, Any]:
    """Training images per CPU second of float32 and mixed_bfloat16 at `batch_size` on random binary images,
    alternating, within `budget` seconds (tracing included); {'precision', 'bf16_over_fp32', 'fp32_ips', 'bf16_ips',
    'seconds'}. CPU seconds of this process, not wall time: other jobs on the cores sway them far less."""
    import numpy as np

    from .trainer import TrainData, Trainer

    t_start = time.perf_counter()
    steps = 4
    rng = np.random.default_rng(0)
    n = batch_size * steps
    train = (rng.random((n, 28, 28, 1)) < 0.13).astype(np.float32)  # MNIST's share of ink
    data = TrainData(train=train, test=train[:16])
    idx = np.arange(n, dtype=np.int32).reshape(steps, batch_size)
    trainers = {}
    for p in PRECISIONS:
        cfg = TrainConfig(batch_size=batch_size, precision=p, latent_dim=latent_dim, max_test_examples=16,
                          num_examples_to_generate=16)
        trainers[p] = Trainer(cfg, data)
        trainers[p]._train_chunk(idx[:1]).numpy()  # trace
    best = {p: 0.0 for p in PRECISIONS}
    for rep in range(5):
        for p in (PRECISIONS if rep % 2 == 0 else PRECISIONS[::-1]):
            t0 = time.process_time()
            trainers[p]._train_chunk(idx).numpy()
            best[p] = max(best[p], idx.size / max(time.process_time() - t0, 1e-9))
        if time.perf_counter() - t_start > budget * 0.8 and rep >= 1:
            break
    ratio = best["mixed_bfloat16"] / best["float32"]
    return {"precision": "mixed_bfloat16" if ratio >= PROBE_MIN_GAIN else "float32", "bf16_over_fp32": ratio,
            "fp32_ips": best["float32"], "bf16_ips": best["mixed_bfloat16"],
            "seconds": time.perf_counter() - t_start}


# ---------------------------------------------------------------------------------------------- the choice


def choose_fast_path(machine: Machine, table: Mapping[str, Mapping[str, Any]] | None = None,
                     probe: Callable[[Machine, int], dict[str, Any]] | None = None) -> FastPath:
    """The fast path for `machine`: its table row; a 'probe' precision is settled by `probe(machine, batch)`
    (default: the cached short measurement) and never on a CPU without bf16 instructions."""
    table = table if table is not None else load_table()
    cls = machine.machine_class
    row = table[cls]
    precision, because = row["precision"], row["because"]
    if cls == "gpu":
        because = f"TensorFlow sees {len(machine.gpus)} GPU{'s' if len(machine.gpus) > 1 else ''}: {because}"
    elif precision == "probe":
        found = (probe or cached_probe)(machine, row["batch_size"])
        precision = found["precision"]
        because = (f"{because}; bf16/fp32 measured {found['bf16_over_fp32']:.2f}x at batch {row['batch_size']}"
                   f"{' (cached probe)' if found.get('cached') else ' (probe)'}")
    if precision == "mixed_bfloat16" and cls in ("none", "gpu"):
        precision = "float32"  # the trainer refuses bf16 where the CPU has no bf16 instructions
    # Replicas: at most the row's (measured) count and one per core; the cores are shared out among them.
    replicas = 1 if cls == "gpu" else max(1, min(int(row["replicas"]), machine.cores))
    return FastPath(cls, precision, int(row["batch_size"]), float(row["learning_rate"]), row["lr_schedule"],
                    int(row["epochs"]), row["kl_estimate"], replicas, max(1, machine.cores // replicas), because,
                    device="GPU" if cls == "gpu" else "CPU")


def cached_probe(machine: Machine, batch_size: int) -> dict[str, Any]:
    """The short bf16-vs-fp32 probe, read from the per-machine cache or measured (<= 10 s) and cached."""
    entry = read_probe_cache(machine, batch_size)
    if entry is not None:
        return {**entry, "cached": True}
    entry = measure_bf16_gain(batch_size)
    write_probe_cache(machine, batch_size, entry)
    return entry


def resolve_fast_config(config: TrainConfig, fixed: Iterable[str] = (), machine: Machine | None = None,
                        table: Mapping[str, Mapping[str, Any]] | None = None,
                        probe: Callable[[Machine, int], dict[str, Any]] | None = None) -> TrainConfig:
    """A `fast`-preset config with the machine's choices applied and recorded in `fast_path`.

    A field keeps its value when it is in `fixed` (given explicitly, e.g. on the command line) or differs from the
    preset's own value (changed in the Train form); any other config is returned unchanged."""
    if config.preset != "fast" or config.fast_path is not None:
        return config
    base = TrainConfig.from_preset("fast")
    fixed = set(fixed)
    path = choose_fast_path(machine or probe_machine(), table, probe)
    chosen = {k: v for k, v in path.values().items()
              if k not in fixed and getattr(config, k) == getattr(base, k)}
    if config.max_train_examples is not None and "batch_size" in chosen:
        chosen["batch_size"] = min(chosen["batch_size"], config.max_train_examples)
    kept = sorted(k for k in CHOSEN_FIELDS if k not in chosen)
    final = config.replace(**chosen)
    shown = dataclasses.replace(path, **{k: getattr(final, k) for k in CHOSEN_FIELDS if getattr(final, k) is not None})
    line = shown.line() + (f" (kept yours: {', '.join(kept)})" if kept else "")
    return final.replace(fast_path=line)


def apply_threads(threads: int | None) -> str:
    """Set TensorFlow's intra-op threads (None: leave its default); what happened, in words."""
    import tensorflow as tf

    if threads is None:
        return f"TensorFlow's default threads ({tf.config.threading.get_intra_op_parallelism_threads() or 'all cores'})"
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    except RuntimeError:  # the runtime already started in this process (tests, benchmarks): it keeps its pool
        return f"{threads} threads requested; TensorFlow had already started, so it keeps its own"
    return f"{threads} intra-op threads"


def cpu_replica_strategy(replicas: int) -> tuple[Any, str]:
    """(a MirroredStrategy over `replicas` logical CPU devices, or None; what happened, in words).

    The logical devices must exist before TensorFlow starts its runtime: a trainer process sets them first thing.
    None (one copy, the plain path) for one replica, when TensorFlow sees a GPU (its own strategy decides) or when
    the runtime started earlier with fewer CPU devices (in-process callers: tests, notebooks)."""
    import tensorflow as tf

    if replicas <= 1:
        return None, "one replica"
    if tf.config.list_physical_devices("GPU"):
        return None, "a GPU is visible: the GPU strategy decides"
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        if len(tf.config.get_logical_device_configuration(cpu) or ()) != replicas:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:  # the runtime already started: use its CPU devices if there are enough
        pass
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < replicas:
        return None, (f"{replicas} replicas requested; TensorFlow had already started with {len(devices)} CPU "
                      f"device{'s' if len(devices) != 1 else ''}, so one replica")
    return tf.distribute.MirroredStrategy(devices[:replicas]), f"{replicas} replicas on {replicas} logical CPUs"
