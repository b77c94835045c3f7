"""Can the fast path use the second core? Training images/s of the compiled step under thread settings and a
two-replica MirroredStrategy over two logical CPU devices (issue #25), each case in a fresh process (TensorFlow's
thread pools and logical devices are fixed at its start).

    .venv/bin/python -m bench.step_parallelism [--batches 32,64] [--precisions float32,mixed_bfloat16]

Cases: `default` (TensorFlow's own thread pools, what the fast path runs), `intra1-inter1` (one core's worth),
`intra1-inter2`, `mirrored-intra1` (two logical CPUs, each replica half the global batch, one thread per op: the
replicas' steps run side by side; what the fast path runs on 2 cores), `mirrored` (the same with TensorFlow's
default threads), and three of oneDNN's start-up switches (`onednn-off`: TensorFlow's Eigen kernels instead;
`onednn-caller-thread`, `onednn-system-alloc`). Cases alternate in rotating order within each repetition; medians of --reps;
ratios against `default` measured in the same run. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from .common import DEFAULT_DATA_DIR, ROOT, cpu_info, median, table, write_json

CASES = ("default", "intra1-inter1", "intra1-inter2", "mirrored-intra1", "mirrored", "onednn-off", "onednn-caller-thread",
         "onednn-system-alloc")
# Cases that differ from `default` only in an environment variable TensorFlow reads at start (oneDNN's switches).
CASE_ENV = {"onednn-off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
            "onednn-caller-thread": {"TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD": "1"},
            "onednn-system-alloc": {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1"}}

CHILD = r"""
import json, sys, time
mode, bs, prec, data_dir, images = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
import tensorflow as tf
if "intra1" in mode:
    tf.config.threading.set_intra_op_parallelism_threads(1)
if "inter1" in mode:
    tf.config.threading.set_inter_op_parallelism_threads(1)
if "inter2" in mode:
    tf.config.threading.set_inter_op_parallelism_threads(2)
strategy = None
if mode.startswith("mirrored"):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
from cvae.engine.train import prepare_data
from cvae.engine.trainer import Trainer
from cvae.store.config import TrainConfig
data = prepare_data(TrainConfig(data_dir=data_dir, max_train_examples=images, max_test_examples=16))
t = Trainer(TrainConfig(batch_size=bs, precision=prec, max_train_examples=images), data, strategy=strategy)
order = t.epoch_order(1)
idx = order[: len(order) // bs * bs].reshape(-1, bs)
k = max(1, 3200 // bs)
t._train_chunk(idx[:k]).numpy()  # trace
t._train_chunk(idx[:k]).numpy()  # warm
c0, w0 = time.process_time(), time.perf_counter()
for s in range(0, len(idx), k):
    t._train_chunk(idx[s:s + k]).numpy()
print(json.dumps({"wall_ips": idx.size / (time.perf_counter() - w0), "cpu_ips": idx.size / (time.process_time() - c0)}))
"""


def run_case(mode: str, bs: int, prec: str, data_dir: str, images: int) -> dict:
    """One measurement in a fresh Python process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **CASE_ENV.get(mode, {})}
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(bs), prec, data_dir, str(images)],
                         capture_output=True, text=True, env=env, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--batches", default="32,64")
    ap.add_argument("--precisions", default="float32,mixed_bfloat16")
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cases", default=",".join(c for c in CASES if c not in CASE_ENV))
    args = ap.parse_args(argv)
    combos = [(b, p) for b in map(int, args.batches.split(",")) for p in args.precisions.split(",")]
    res: dict[tuple, list[dict]] = {}
    t0 = time.time()
    cases = [c for c in args.cases.split(",") if c in CASES]
    if "default" not in cases:
        cases.insert(0, "default")  # the baseline of every ratio
    for rep in range(args.reps):
        for j in range(len(cases)):  # rotating order
            mode = cases[(j + rep) % len(cases)]
            for b, p in combos:
                r = run_case(mode, b, p, args.data_dir, args.images)
                res.setdefault((mode, b, p), []).append(r)
                print(f"rep {rep + 1} {mode:16s} batch {b:3d} {p:15s} {r['wall_ips']:7.0f} img/s wall", flush=True)
    figures, rows = {}, []
    for b, p in combos:
        base = median([x["wall_ips"] for x in res[("default", b, p)]])
        for mode in cases:
            wall = median([x["wall_ips"] for x in res[(mode, b, p)]])
            cpu = median([x["cpu_ips"] for x in res[(mode, b, p)]])
            figures[f"{mode}/b{b}/{p}"] = {"wall_ips": round(wall, 1), "cpu_ips": round(cpu, 1),
                                           "vs_default": round(wall / base, 3)}
            rows.append([mode, b, p, round(wall), round(cpu), f"{wall / base:.2f}x"])
    print(table(rows, ["case", "batch", "precision", "img/s (wall)", "img/s per CPU s", "vs default"]))
    result = {"bench": "step_parallelism", "cases": figures, "reps": args.reps, "images": args.images,
              "seconds": round(time.time() - t0, 1), "cpu": cpu_info()}
    write_json("step_parallelism", result)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
