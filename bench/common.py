"""Shared benchmark helpers: machine info, timing, medians, alternating repetitions, JSON output.

Project rule: other processes share these cores, so a figure alone means little. Every benchmark
measures its baseline and its candidate(s) in the same process, alternating (A B A B ...), at least
three repetitions each, and reports medians and the ratio of medians.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = Path(__file__).resolve().parent / "out"
DEFAULT_DATA_DIR = os.environ.get("CVAE_BENCH_DATA_DIR") or str(ROOT.parent / "shared" / "data" / "mnist")


def quiet_tf() -> None:
    """Silence TensorFlow's C++ info logs before it is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cpu_info() -> dict[str, Any]:
    """CPU model, logical cores available to this process, bf16/AMX flags, load average."""
    model, flags = platform.processor() or "unknown", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "cpu_model": model, "logical_cores": cores, "os_cpu_count": os.cpu_count(),
        "bf16_flags": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def library_versions() -> dict[str, str]:
    """Versions of the libraries the figures depend on (imports TensorFlow)."""
    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "tensorflow", "keras", "tensorflow_probability"):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, "__version__", "?")
        except Exception as e:  # pragma: no cover - informational only
            out[name] = f"unavailable ({type(e).__name__})"
    try:
        import tensorflow as tf

        out["onednn_enabled"] = str(tf.sysconfig.get_build_info().get("is_mkl", "n/a")) + \
            f" / TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default(on)')}"
        out["intra_op_threads"] = str(tf.config.threading.get_intra_op_parallelism_threads())
        out["inter_op_threads"] = str(tf.config.threading.get_inter_op_parallelism_threads())
    except Exception:
        pass
    return out


def machine_header() -> dict[str, Any]:
    return {**cpu_info(), "versions": library_versions()}


def print_header(title: str, info: dict[str, Any]) -> None:
    print(f"== {title}")
    v = info["versions"]
    print(f"CPU: {info['cpu_model']} | cores: {info['logical_cores']} | bf16 flags: "
          f"{', '.join(info['bf16_flags']) or 'none'} | load avg at start: "
          f"{' '.join(f'{x:.2f}' for x in info['loadavg_at_start'] or [])}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print()


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def percentile(xs: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def alternate(cases: dict[str, Callable[[], Any]], reps: int, verbose: bool = True) -> dict[str, list[Any]]:
    """Run every case once per repetition, in rotating order (A B C, B C A, ...), `reps` times.

    Each case returns either a number (seconds) or a dict of figures; results are collected per case.
    Rotating the order spreads any slow phase of the shared machine over all cases.
    """
    names = list(cases)
    results: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            out = cases[n]()
            results[n].append(out)
            if verbose:
                shown = out if not isinstance(out, dict) else {k: v for k, v in out.items() if not isinstance(v, list)}
                print(f"  rep {r + 1}/{reps} {n}: {_fmt(shown)}", flush=True)
    return results


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in x.items()) + "}"
    return str(x)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write bench/out/<name>.json (the directory is gitignored)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain Markdown table (printed, and pasteable into bench/RESULTS.md)."""
    cells = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def _cell(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:,.1f}" if abs(c) >= 100 else f"{c:.3g}"
    return str(c)


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "MET" if ok else "NOT MET"
