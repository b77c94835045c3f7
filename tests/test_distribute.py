"""Training under tf.distribute: one step on two replicas equals one step on one device.

Two logical CPU devices stand in for two GPUs. They must be configured before TensorFlow initialises its
devices, so the check runs in a fresh interpreter. The comparison covers the weights and Adam's moments
(after one Adam step the weights alone would hide a wrongly scaled gradient: Adam's first update is
~lr * sign(g)); the noise comes from the same seeded generator in both trainers, so it is the same eps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from cvae.store.config import TrainConfig
    from cvae.engine.trainer import Trainer, TrainData
    from cvae.engine.train import train_run, runs
    from cvae.engine.trainer import default_strategy

    out = {"devices": len(tf.config.list_logical_devices("CPU")), "cases": []}
    rng = np.random.default_rng(0)
    intensities = rng.beta(0.3, 0.3, (64, 28, 28, 1)).astype(np.float32)  # mostly near 0 or 1, like digits
    binary = (intensities > 0.5).astype(np.float32)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out["replicas"] = mirrored.num_replicas_in_sync
    out["default_is_plain"] = not Trainer(TrainConfig(batch_size=32, max_train_examples=64, max_test_examples=16,
                                                      epochs=1), TrainData(binary, binary[:16])).distributed
    for binarization, batch in (("static", 32), ("dynamic", 32), ("static", 31)):
        cfg = TrainConfig(batch_size=batch, max_train_examples=64, max_test_examples=16, epochs=1, seed=3,
                          binarization=binarization, learning_rate=1e-3)
        data = TrainData(train=intensities if binarization == "dynamic" else binary, test=binary[:16])
        one = Trainer(cfg, data)
        two = Trainer(cfg, data, strategy=mirrored)
        start = one.state_arrays()
        idx = np.arange(batch, dtype=np.int32)[None]  # one step on one global batch (31: an uneven split)
        l1, l2 = one._train_chunk(idx).numpy(), two._train_chunk(idx).numpy()
        a, b = one.state_arrays(), two.state_arrays()
        worst = max(float(np.max(np.abs(a[k] - b[k]) / (np.abs(a[k]) + 1e-3))) for k in a if k != "meta")
        moved = max(float(np.max(np.abs(a[k] - start[k]))) for k in a if k.startswith("model/"))
        out["cases"].append({"binarization": binarization, "batch": batch, "loss1": float(l1[0]),
                             "loss2": float(l2[0]), "worst_rel": worst, "moved": moved,
                             "keys": sorted(k for k in a if k != "meta") == sorted(k for k in b if k != "meta")})
    # The whole run loop (steps, evaluation, checkpoint, TensorBoard) on two replicas.
    root = tempfile.mkdtemp()
    cfg = TrainConfig(batch_size=16, max_train_examples=64, max_test_examples=16, epochs=1, log_every_steps=2)
    state = train_run("two", cfg, runs_dir=root, data=TrainData(binary, binary[:16]), strategy=mirrored)
    info = runs.run_info(runs.run_path("two", root))
    out["run"] = {"state": state, "epochs": info.epochs_done, "elbo": info.best_test_elbo}
    print(json.dumps(out))
""")


def test_two_replicas_take_the_single_device_step():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2 and out["replicas"] == 2
    assert out["default_is_plain"]  # no GPU here: the default strategy, the plain code path
    for case in out["cases"]:
        assert case["keys"], case
        assert case["moved"] > 1e-4, case  # the step did something
        assert abs(case["loss1"] - case["loss2"]) < 1e-3 * abs(case["loss1"]), case
        assert case["worst_rel"] < 1e-3, case  # weights and Adam's m and v: gradients add up to the mean's
    assert out["run"]["state"] == "done" and out["run"]["epochs"] == 1
    assert out["run"]["elbo"] is not None and out["run"]["elbo"] < 0


REPLICAS_SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    import numpy as np
    from cvae.engine.train import train_run, runs
    from cvae.engine.trainer import TrainData
    from cvae.store.config import TrainConfig

    rng = np.random.default_rng(0)
    binary = (rng.random((64, 28, 28, 1)) < 0.2).astype(np.float32)
    out = {}
    for name in ("first", "second"):  # the second: TensorFlow has started, the devices are there
        root = tempfile.mkdtemp()
        cfg = TrainConfig(batch_size=16, max_train_examples=64, max_test_examples=16, epochs=1, replicas=2,
                          threads=1, kl_estimate="closed_form", log_every_steps=2)
        state = train_run(name, cfg, runs_dir=root, data=TrainData(binary, binary[:16]))
        status = runs.read_status(runs.run_path(name, root))
        out[name] = {"state": state, "replicas": status.get("replicas"), "note": status.get("replicas_note")}
    import tensorflow as tf
    out["devices"] = len(tf.config.list_logical_devices("CPU"))
    from cvae.engine.machine import cpu_replica_strategy
    strategy, note = cpu_replica_strategy(3)  # more than the runtime started with: one replica, and why
    out["three"] = {"strategy": strategy is None, "note": note}
    print(json.dumps(out))
""")


def test_a_config_with_two_replicas_trains_on_two_logical_cpus():
    """`replicas: 2` in a fresh trainer process: two logical CPUs and a MirroredStrategy, recorded in status.json;
    asking for more devices than a started runtime has falls back to one replica and says why."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", REPLICAS_SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] == {"state": "done", "replicas": 2, "note": "2 replicas on 2 logical CPUs"}
    assert out["second"]["replicas"] == 2 and out["devices"] == 2
    assert out["three"]["strategy"] and "had already started with 2 CPU devices" in out["three"]["note"]
