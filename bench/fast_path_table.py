"""The fast path's table row for this machine: training images/s in float32 vs mixed_bfloat16 per batch size, and the
matrix-product limits (float32, bfloat16) measured in the same run.

    .venv/bin/python -m bench.fast_path_table            # measure and print (one JSON line last)
    .venv/bin/python -m bench.fast_path_table --write    # also set this machine class's row in
                                                         # cvae/assets/fast_path_table.json (precision + figures)

On a GPU (TensorFlow lists one) the same command measures float32 images/s per batch on it: compare, then edit the
"gpu" row's batch_size/learning_rate/epochs and check them with `python -m bench.time_to_quality --reps 3`.

Images/s are counted per wall second and per CPU second of this process (time.process_time): on cores shared with
other jobs the wall figures swing, the CPU-second ones much less, so the choice uses the CPU-second ratio (a GPU:
wall). Cases alternate in rotating order, medians of --reps repetitions.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .common import DEFAULT_DATA_DIR, alternate, machine_header, median, print_header, quiet_tf, table

quiet_tf()
import tensorflow as tf  # noqa: E402

from cvae.engine import machine as M  # noqa: E402
from cvae.engine.train import prepare_data  # noqa: E402
from cvae.engine.trainer import Trainer, bf16_supported  # noqa: E402
from cvae.store.arch import Architecture  # noqa: E402
from cvae.store.config import TrainConfig  # noqa: E402
from cvae.store.files import atomic_write_json  # noqa: E402

MIN_GAIN = M.PROBE_MIN_GAIN


def train_flops_per_image(latent_dim: int = 2) -> float:
    """FLOPs of one training step per image: forward + two backward products = 3 x 2 x the forward multiply-adds."""
    return 6.0 * Architecture().macs_per_image(latent_dim)


def matmul_gflops(dtype: tf.DType, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n x n matrix product in `dtype` (the best of `reps` after a warm-up)."""
    a = tf.cast(tf.random.stateless_normal([n, n], seed=[1, 2]), dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def step_cases(data, batches: list[int], precisions: list[str], images: int) -> dict:
    """One callable per (batch, precision): `images` training images in compiled chunks -> wall and CPU img/s."""
    cases = {}
    for bs in batches:
        for p in precisions:
            t = Trainer(TrainConfig(batch_size=bs, precision=p, max_train_examples=len(data.train)), data)
            order = t.epoch_order(1)
            idx = order[: min(len(order), images) // bs * bs].reshape(-1, bs)
            k = max(1, 2048 // bs)
            t._train_chunk(idx[:k]).numpy()  # trace

            def run(t=t, idx=idx, k=k):
                c0, w0 = time.process_time(), time.perf_counter()
                for s in range(0, len(idx), k):
                    t._train_chunk(idx[s:s + k]).numpy()
                return {"wall_ips": idx.size / (time.perf_counter() - w0), "cpu_ips": idx.size / (time.process_time() - c0)}

            cases[f"b{bs}-{p}"] = run
    return cases


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="measure this machine's fast-path table row")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--images", type=int, default=6144, help="training images per measurement")
    p.add_argument("--batches", default="32,64,128,256")
    p.add_argument("--write", action="store_true", help="set this machine class's row in the table file")
    args = p.parse_args(argv)
    info = machine_header()
    print_header("fast path table: images/s per precision and batch", info)
    mach = M.probe_machine()
    cls = mach.machine_class
    print(f"machine class: {cls} (CPU {mach.cpu_model}, flags {', '.join(mach.cpu_flags) or 'none'}, "
          f"GPUs {', '.join(mach.gpus) or 'none'}, {mach.cores} cores, TF {mach.tf_version})")
    bf16 = bf16_supported()[0] and cls != "gpu"
    precisions = ["float32", "mixed_bfloat16"] if bf16 else ["float32"]
    data = prepare_data(TrainConfig(data_dir=args.data_dir, max_train_examples=args.images, max_test_examples=16))
    batches = [int(b) for b in args.batches.split(",")]
    res = alternate(step_cases(data, batches, precisions, args.images), args.reps)
    limits = {"float32": matmul_gflops(tf.float32), "bfloat16": matmul_gflops(tf.bfloat16)}
    flops = train_flops_per_image()
    rows, figures = [], {}
    for bs in batches:
        fig = {}
        for prec in precisions:
            r = res[f"b{bs}-{prec}"]
            fig[prec] = {"wall_ips": median([x["wall_ips"] for x in r]), "cpu_ips": median([x["cpu_ips"] for x in r])}
        if bf16:
            fig["bf16_over_fp32_cpu"] = fig["mixed_bfloat16"]["cpu_ips"] / fig["float32"]["cpu_ips"]
            fig["bf16_over_fp32_wall"] = fig["mixed_bfloat16"]["wall_ips"] / fig["float32"]["wall_ips"]
        figures[str(bs)] = fig
        rows.append([bs, *(fig[q]["wall_ips"] for q in precisions), *(fig[q]["cpu_ips"] for q in precisions),
                     *([f"{fig['bf16_over_fp32_cpu']:.2f}x"] if bf16 else [])])
    print()
    print(table(rows, ["batch", *(f"{q} img/s" for q in precisions), *(f"{q} img/CPU-s" for q in precisions),
                       *(["bf16/fp32 (CPU-s)"] if bf16 else [])]))
    limit_ips = limits["bfloat16"] * 1e9 / flops
    print(f"\nmatrix product 2048x2048: float32 {limits['float32']:.0f} GFLOP/s, bfloat16 {limits['bfloat16']:.0f} "
          f"GFLOP/s; one training image = {flops / 1e6:.1f} MFLOP -> bf16 limit {limit_ips:,.0f} img/s")
    table_rows = M.load_table()
    row_batch = table_rows[cls]["batch_size"]
    decided = table_rows[cls]["precision"]
    if bf16 and str(row_batch) in figures:
        gain = figures[str(row_batch)]["bf16_over_fp32_cpu"]
        decided = "mixed_bfloat16" if gain >= MIN_GAIN else "float32"
        print(f"row {cls}: batch {row_batch}: bf16/fp32 = {gain:.2f}x per CPU second -> {decided} "
              f"(bf16 needs >= {MIN_GAIN:.2f}x)")
    out = {"bench": "fast_path_table", "machine_class": cls, "cpu": mach.cpu_model, "cpu_flags": list(mach.cpu_flags),
           "gpus": list(mach.gpus), "cores": mach.cores, "tf": mach.tf_version, "loadavg_at_start":
           info["loadavg_at_start"], "matmul_gflops": limits, "train_mflop_per_image": flops / 1e6,
           "bf16_limit_images_per_s": limit_ips, "per_batch": figures, "row_batch": row_batch, "precision": decided}
    if args.write:
        raw = json.loads(M.TABLE_PATH.read_text())
        row = raw["rows"][cls]
        row["precision"] = decided
        row["measured"] = {k: out[k] for k in ("cpu", "cores", "tf", "loadavg_at_start", "matmul_gflops",
                                                "per_batch")}
        atomic_write_json(M.TABLE_PATH, raw)
        M.load_table()  # still valid
        print(f"wrote row {cls} of {M.TABLE_PATH}")
    print(json.dumps(out, default=float, sort_keys=True))


if __name__ == "__main__":
    main()
