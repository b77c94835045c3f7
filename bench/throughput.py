"""Training throughput (images/s): the project's Trainer vs the tutorial loop (bench/baseline.py).

    .venv/bin/python -m bench.throughput            # full: 1 epoch of 60,000 images per measurement
    .venv/bin/python -m bench.throughput --quick    # 12,800 images per measurement

Sections (all alternating, >= 3 repetitions, medians, ratios against the baseline of the same run):
  main       one training epoch per repetition of
               baseline   the tutorial loop (tf.data, per-step @tf.function, batch 32, fp32)
               tutorial   project Trainer at the tutorial preset, with the RunWriter callback
                          (metrics.jsonl + status.json every log_every_steps, epoch image, weights,
                          checkpoint), i.e. everything `cvae train` does
               tutorial-threads  the same at the tutorial's settings (batch 32, fp32, Adam 1e-4) with the
                          replicas and threads the fast path chooses for this machine
               fast       project Trainer on the fast path this machine chooses (the 'fast' preset resolved
                          by cvae/engine/machine.py, as train_run does), same callbacks
             The two cases with the machine's replicas/threads run in a fresh Python process each (TensorFlow's
             thread pools and replica devices are fixed when it starts, as in train_run), which sits idle while
             the other cases run.
             'train img/s' = images / training seconds (per-chunk logging included, test
             evaluation excluded, as the tutorial's own timer); 'epoch img/s' = images / whole epoch
             (test ELBO over 10,000 digits and the epoch-end writes included).
  precision  compiled training steps only, float32 vs mixed_bfloat16 at batch 32/128/256.
  chunk      steps per compiled call (log_every_steps) 1 / 10 / 50 / 200 at batch 32.
  limit      the bfloat16 and float32 2048x2048 matrix-product rates of this run, and the fast path's training
             images/s (from 'main') as a fraction of the bfloat16 limit (32.8 MFLOP per training image).
Targets (issue #25): tutorial-settings Trainer >= 2x the tutorial step's train img/s. The last line printed is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import (DEFAULT_DATA_DIR, ROOT, alternate, machine_header, median, print_header, quiet_tf, table,
                     verdict, write_json)

quiet_tf()
import tensorflow as tf  # noqa: E402

from cvae.engine.callbacks import RunWriter  # noqa: E402
from cvae.engine.machine import apply_threads, cpu_replica_strategy, probe_machine, resolve_fast_config  # noqa: E402
from cvae.engine.train import prepare_data  # noqa: E402
from cvae.engine.trainer import TrainData, Trainer, bf16_supported  # noqa: E402
from cvae.store.config import TrainConfig  # noqa: E402

from . import baseline as B  # noqa: E402
from .fast_path_table import matmul_gflops, train_flops_per_image  # noqa: E402


def _subset(data: TrainData, n: int | None) -> TrainData:
    return data if not n else TrainData(train=data.train[:n], test=data.test, source=data.source)


class TrainerEpoch:
    """One more epoch of a persistent Trainer per call, with the RunWriter writing a temp run dir."""

    def __init__(self, config: TrainConfig, data: TrainData, run_dir: Path, strategy=None):
        self.trainer = Trainer(config, data, strategy=strategy)
        self.writer = RunWriter(run_dir, background=True)  # as train_run uses it
        run_dir.mkdir(parents=True, exist_ok=True)
        self.writer.on_train_begin(self.trainer)
        # Warm-up: trace the step chunk (full and tail shapes) and the evaluation once, untimed.
        t = self.trainer
        bs = config.batch_size
        t._train_chunk(np.zeros((2, bs), np.int32)).numpy()
        if len(data.train) % bs:
            t._train_chunk(np.zeros((1, len(data.train) % bs), np.int32)).numpy()
        t.evaluate()

    def __call__(self) -> dict:
        t = self.trainer
        t.config = t.config.replace(epochs=t.epoch + 1)  # run exactly one more epoch
        t0 = time.perf_counter()
        t.run_epochs([self.writer])
        wall = time.perf_counter() - t0
        n = len(t.data.train)
        return {"train_ips": n / t.last_row["train_seconds"], "epoch_ips": n / wall,
                "test_elbo": t.last_row["test_elbo"]}


class ChildTrainerEpoch:
    """A TrainerEpoch in a fresh Python process that sets the config's threads and replica devices before TensorFlow
    starts, as train_run does; one epoch per call, idle in between."""

    def __init__(self, name: str, config: TrainConfig, n_train: int | None, run_dir: Path):
        cmd = [sys.executable, "-m", "bench.throughput", "--worker-config", json.dumps(config.to_dict()),
               "--worker-dir", str(run_dir), "--worker-images", str(n_train or 0)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
        self.ready = self._reply()
        print(f"  {name} in a child process: {self.ready['replicas']} replica(s), threads "
              f"{config.threads or 'default'}", flush=True)

    def _reply(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"throughput worker exited with {self.proc.wait()}")

    def __call__(self) -> dict:
        self.proc.stdin.write("epoch\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def worker(config_json: str, run_dir: str, n_train: int) -> None:
    """The child of ChildTrainerEpoch: threads and replicas first, then one epoch per 'epoch' line on stdin."""
    cfg = TrainConfig.from_dict(json.loads(config_json))
    apply_threads(cfg.threads)
    strategy, _ = cpu_replica_strategy(cfg.replicas)
    data = _subset(prepare_data(cfg), n_train)
    ep = TrainerEpoch(cfg, data, Path(run_dir), strategy)
    print(json.dumps({"replicas": ep.trainer.strategy.num_replicas_in_sync}), flush=True)
    for line in sys.stdin:
        if line.strip() == "epoch":
            print(json.dumps(ep(), default=float), flush=True)


class BaselineEpoch:
    """One tutorial epoch per call: train loop, the tutorial's test ELBO, the epoch image."""

    def __init__(self, train: np.ndarray, test: np.ndarray, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.run = B.TutorialRun(train, test, out_dir=out_dir)
        self.run.warm_up(train)  # trace the very step function the epochs time (full and tail batch), untimed
        self.run.generate_and_save_images(0)
        self.epoch = 0

    def __call__(self) -> dict:
        self.epoch += 1
        t0 = time.perf_counter()
        n = self.run.train_epoch()
        t1 = time.perf_counter()
        elbo = self.run.evaluate()
        self.run.generate_and_save_images(self.epoch)
        t2 = time.perf_counter()
        return {"train_ips": n / (t1 - t0), "epoch_ips": n / (t2 - t0), "test_elbo": elbo}


def fast_config(data_dir: str, n_train: int) -> TrainConfig:
    """The fast preset as train_run resolves it on this machine (its choice printed)."""
    cfg = resolve_fast_config(TrainConfig.from_preset("fast", data_dir=data_dir,
                                                      max_train_examples=n_train if n_train < 60_000 else None))
    print(f"  fast path: {cfg.fast_path}")
    return cfg


def section_main(data: TrainData, n_train: int | None, reps: int, tmp: Path, data_dir: str) -> dict:
    sub = _subset(data, n_train)
    fast = fast_config(data_dir, len(sub.train))
    machine_threads = TrainConfig.from_preset("tutorial", data_dir=data_dir, replicas=fast.replicas,
                                              threads=fast.threads)
    children = {name: ChildTrainerEpoch(name, cfg, n_train, tmp / name)
                for name, cfg in (("tutorial-threads", machine_threads), ("fast", fast))}
    cases = {
        "baseline": BaselineEpoch(sub.train, sub.test, tmp / "baseline"),
        "tutorial": TrainerEpoch(TrainConfig.from_preset("tutorial", data_dir=data_dir), sub, tmp / "tutorial"),
        **children,
    }
    try:
        res = alternate(cases, reps)
    finally:
        for child in children.values():
            child.close()
    out = {}
    base_train = median([r["train_ips"] for r in res["baseline"]])
    base_epoch = median([r["epoch_ips"] for r in res["baseline"]])
    for name, rows in res.items():
        tr, ep = median([r["train_ips"] for r in rows]), median([r["epoch_ips"] for r in rows])
        out[name] = {"train_ips": tr, "epoch_ips": ep, "train_ratio": tr / base_train, "epoch_ratio": ep / base_epoch,
                     "reps": rows}
    return out


def section_precision(data: TrainData, reps: int, n_images: int) -> dict:
    ok, why = bf16_supported()
    if not ok:
        print(f"  precision: skipped, {why}")
        return {"skipped": why}
    sub = _subset(data, n_images)
    cases, trainers = {}, {}
    for bs in (32, 128, 256):
        for p in ("float32", "mixed_bfloat16"):
            t = Trainer(TrainConfig(batch_size=bs, precision=p, log_every_steps=50), sub)
            order = t.epoch_order(1)
            batches = order[: len(order) // bs * bs].reshape(-1, bs)
            t._train_chunk(batches[:2]).numpy()

            def run(t=t, batches=batches):
                t0 = time.perf_counter()
                for s in range(0, len(batches), 50):
                    losses = t._train_chunk(batches[s:s + 50]).numpy()
                    assert np.all(np.isfinite(losses)), "non-finite loss"
                return batches.size / (time.perf_counter() - t0)

            cases[f"b{bs}-{p}"] = run
    res = alternate(cases, reps)
    out = {}
    for bs in (32, 128, 256):
        f32, b16 = median(res[f"b{bs}-float32"]), median(res[f"b{bs}-mixed_bfloat16"])
        out[bs] = {"float32_ips": f32, "bf16_ips": b16, "bf16_over_fp32": b16 / f32,
                   "reps_f32": res[f"b{bs}-float32"], "reps_bf16": res[f"b{bs}-mixed_bfloat16"]}
    return out


def section_chunk(data: TrainData, reps: int, n_images: int) -> dict:
    sub = _subset(data, n_images)
    cases = {}
    for k in (1, 10, 50, 200):
        t = Trainer(TrainConfig(log_every_steps=k), sub)
        batches = t.epoch_order(1).reshape(-1, 32)
        t._train_chunk(batches[:2]).numpy()

        def run(t=t, batches=batches, k=k):
            t0 = time.perf_counter()
            for s in range(0, len(batches), k):
                t._train_chunk(batches[s:s + k]).numpy()
            return batches.size / (time.perf_counter() - t0)

        cases[f"steps/call {k}"] = run
    res = alternate(cases, reps)
    ref = median(res["steps/call 50"])
    return {k: {"ips": median(v), "vs_50": median(v) / ref, "reps": v} for k, v in res.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="training throughput vs the tutorial loop")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="12,800 training images per measurement")
    p.add_argument("--sections", default="main,precision,chunk,limit")
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--worker-dir", help=argparse.SUPPRESS)
    p.add_argument("--worker-images", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_config:
        worker(args.worker_config, args.worker_dir, args.worker_images)
        return
    if args.reps < 3:
        print("note: the project rule is >= 3 repetitions; fewer are for smoke tests only")
    info = machine_header()
    print_header("training throughput (images/s)", info)
    data = prepare_data(TrainConfig(data_dir=args.data_dir))
    n_train = 12_800 if args.quick else None
    sections = args.sections.split(",")
    result: dict = {"machine": info, "quick": args.quick, "reps": args.reps,
                    "train_images_per_measurement": n_train or len(data.train)}
    with tempfile.TemporaryDirectory(prefix="cvae-bench-") as d:
        if "main" in sections:
            print(f"main: one epoch of {n_train or len(data.train)} images per repetition")
            result["main"] = m = section_main(data, n_train, args.reps, Path(d), args.data_dir)
            print()
            print(table([[n, r["train_ips"], f"{r['train_ratio']:.2f}x", r["epoch_ips"], f"{r['epoch_ratio']:.2f}x"]
                         for n, r in m.items()],
                        ["run", "train img/s", "vs baseline", "epoch img/s (incl. eval+writes)", "vs baseline"]))
            print(f"target: tutorial-preset Trainer >= 2.0x the tutorial step's train img/s: "
                  f"{m['tutorial']['train_ratio']:.2f}x {verdict(m['tutorial']['train_ratio'], 2.0)}")
            print(f"tutorial settings with the machine's replicas/threads: {m['tutorial-threads']['train_ratio']:.2f}x "
                  f"{verdict(m['tutorial-threads']['train_ratio'], 2.0)}")
            print(f"fast path: {m['fast']['train_ratio']:.2f}x the tutorial step's train img/s")
            print()
        if "precision" in sections:
            n = 6_400 if args.quick else 12_800
            print(f"precision: compiled steps only, {n} images per repetition")
            result["precision"] = pr = section_precision(data, args.reps, n)
            if "skipped" not in pr:
                print()
                print(table([[bs, r["float32_ips"], r["bf16_ips"], f"{r['bf16_over_fp32']:.2f}x"] for bs, r in pr.items()],
                            ["batch", "float32 img/s", "mixed_bfloat16 img/s", "bf16 / fp32"]))
            print()
        if "chunk" in sections:
            n = 6_400 if args.quick else 12_800
            print(f"chunk: steps per compiled call at batch 32, {n} images per repetition")
            result["chunk"] = ch = section_chunk(data, args.reps, n)
            print()
            print(table([[k, r["ips"], f"{r['vs_50']:.2f}x"] for k, r in ch.items()], ["", "img/s", "vs 50 (default)"]))
        if "limit" in sections:
            import tensorflow as tf

            limits = {"float32": matmul_gflops(tf.float32), "bfloat16": matmul_gflops(tf.bfloat16)}
            flops = train_flops_per_image()
            limit_ips = limits["bfloat16"] * 1e9 / flops
            result["limit"] = {"matmul_gflops": limits, "train_mflop_per_image": flops / 1e6,
                               "bf16_limit_ips": limit_ips}
            print(f"\nlimit: 2048x2048 matrix product float32 {limits['float32']:.0f} GFLOP/s, bfloat16 "
                  f"{limits['bfloat16']:.0f} GFLOP/s -> {limit_ips:,.0f} training img/s at {flops / 1e6:.1f} MFLOP "
                  f"per image")
            if "main" in result:
                frac = result["main"]["fast"]["train_ips"] / limit_ips
                # Without bf16 instructions bfloat16 is emulated and slower than float32: the float32 product is then
                # the machine's real ceiling, so both fractions are printed.
                frac32 = result["main"]["fast"]["train_ips"] / (limits["float32"] * 1e9 / flops)
                result["limit"]["fast_fraction"] = frac
                result["limit"]["fast_fraction_of_float32"] = frac32
                print(f"fast path: {result['main']['fast']['train_ips']:,.0f} train img/s = {100 * frac:.1f}% of the "
                      f"bfloat16 limit, {100 * frac32:.1f}% of the float32 one")
    write_json("throughput" + ("_quick" if args.quick else ""), result)
    m, lim = result.get("main", {}), result.get("limit", {})
    print(json.dumps({"bench": "throughput", "cpu": info["cpu_model"], "bf16_flags": info["bf16_flags"],
                      "cpu_class": probe_machine().cpu_class, "loadavg_at_start": info["loadavg_at_start"],
                      "quick": args.quick, **({"tutorial_step_ips": m["baseline"]["train_ips"],
                                               "tutorial_settings_ips": m["tutorial"]["train_ips"],
                                               "tutorial_settings_ratio": m["tutorial"]["train_ratio"],
                                               "tutorial_settings_machine_threads_ips":
                                                   m["tutorial-threads"]["train_ips"],
                                               "tutorial_settings_machine_threads_ratio":
                                                   m["tutorial-threads"]["train_ratio"],
                                               "fast_path_ips": m["fast"]["train_ips"],
                                               "fast_path_ratio": m["fast"]["train_ratio"]} if m else {}),
                      **({"matmul_gflops": lim["matmul_gflops"], "bf16_limit_ips": lim["bf16_limit_ips"],
                          "fast_fraction_of_bf16_limit": lim.get("fast_fraction"),
                          "fast_fraction_of_float32_limit": lim.get("fast_fraction_of_float32")} if lim else {})}, default=float))


if __name__ == "__main__":
    main()
