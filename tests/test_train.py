"""Tests for cvae.engine.train: real training, the run directory, stop/resume (bit-for-bit), crashes, NaN, refusals."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cvae.store import runs
from cvae.store.config import TrainConfig
from cvae.data.sources import binarize, load_dataset
from cvae.explorer.maths.numpy_model import NumpyCVAE
from cvae.store.weights import load_weights_npz
from cvae.store.files import append_jsonl, read_jsonl
from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays
from cvae.engine.callbacks import Callback, StopFlag
from cvae.engine.trainer import NonFiniteLoss, TrainData, Trainer
from cvae.store import errors
from cvae.store.errors import AlreadyTraining, TrainingError
from cvae.engine.train import train_run
from cvae.store.metrics import reconcile
from cvae.engine.checkpoints import checkpoint_paths, read_checkpoint
from cvae.engine.evaluate import eval_noise, evaluate_elbo, make_eval_fn
from cvae.engine.trainer import steps_per_epoch

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_dataset("mnist", mnist_dir)


def tiny_data(mnist, n_train=256, n_test=32) -> TrainData:
    return TrainData(train=binarize(mnist.train_images[:n_train]), test=binarize(mnist.test_images[:n_test]),
                     source="test subset")


def tiny_config(**kw) -> TrainConfig:
    base = dict(max_train_examples=256, max_test_examples=32, batch_size=32, epochs=3, learning_rate=1e-3,
                log_every_steps=3, num_examples_to_generate=4)
    return TrainConfig(**{**base, **kw})


def epoch_numbers(run_dir: Path) -> list[int]:
    return [r["epoch"] for r in read_jsonl(run_dir / runs.METRICS_FILE) if r.get("kind") == "epoch"]


def step_numbers(run_dir: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(run_dir / runs.METRICS_FILE) if r.get("kind") == "step"]


def assert_all_lines_json(path: Path) -> None:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    for line in data.decode().splitlines():
        assert isinstance(json.loads(line), dict), line


def weights(run_dir: Path) -> dict[str, np.ndarray]:
    return load_weights_npz(run_dir / runs.WEIGHTS_FILE)


class OnStep(Callback):
    """Calls `action` once, after the first chunk that reaches global step `at`."""

    def __init__(self, at: int, action):
        self.at, self.action, self.fired = at, action, False

    def on_steps(self, trainer, epoch, step, losses):
        if step >= self.at and not self.fired:
            self.fired = True
            self.action()


# ------------------------------------------------------------------------------------------- (a) end to end


@pytest.mark.slow
def test_end_to_end_real_mnist(tmp_path, mnist_dir):
    config = TrainConfig(data_dir=str(mnist_dir), max_train_examples=2000, max_test_examples=500, batch_size=32,
                         epochs=3, learning_rate=1e-3, log_every_steps=21)
    t0 = time.perf_counter()
    assert train_run("e2e", config, runs_dir=tmp_path) == "done"
    seconds = time.perf_counter() - t0
    run = tmp_path / "e2e"

    rows = runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))
    elbos = [r["test_elbo"] for r in rows]
    print(f"\ne2e: test ELBO per epoch {[round(e, 2) for e in elbos]} in {seconds:.1f}s")
    assert epoch_numbers(run) == [1, 2, 3]  # every epoch exactly once
    spe = steps_per_epoch(2000, 32)
    assert spe == 63 and [r["step"] for r in rows] == [63, 126, 189]
    assert step_numbers(run) == sorted(set(step_numbers(run))) and step_numbers(run)[-1] == 189
    # Learning: a random model scores about -543 nats; the ELBO improves epoch over epoch.
    assert all(-300 < e < -100 for e in elbos), elbos
    assert elbos[1] > elbos[0] and elbos[2] > elbos[1], elbos
    for r in rows:
        assert r["test_examples"] == 500
        assert r["test_elbo_analytic"] == pytest.approx(r["test_logpx_z"] - r["test_kl"], rel=1e-9)
        assert r["test_kl"] > 0 and r["images_per_second"] > 0
        assert len(r["test_kl_per_dim"]) == len(r["test_activity"]) == 2  # one per latent dimension
        assert sum(r["test_kl_per_dim"]) == pytest.approx(r["test_kl"], rel=1e-4)
        assert r["test_active_units"] == sum(a > 0.01 for a in r["test_activity"])

    # Files of the run.
    assert runs.read_config(run) == config
    frames = runs.epoch_images(run)
    assert [p.name for p in frames] == [f"epoch_{e:04d}.png" for e in range(4)]
    for p in frames:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size == (4 * 28 * 2, 4 * 28 * 2)  # 16 samples, scale 2
    with Image.open(run / runs.GIF_FILE) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    status = runs.read_status(run)
    assert status["state"] == "done" and status["epoch"] == 3 and status["source"]
    info = runs.run_info(run)
    assert info.state == "done" and info.epochs_done == 3 and info.best_test_elbo == max(elbos)
    assert not runs.is_locked(run)
    ckpts = checkpoint_paths(run)
    assert len(ckpts) == config.keep_checkpoints and ckpts[-1].name == "ckpt-00000189.npz"

    # weights.npz is the final model: the NumPy model reproduces the last test ELBO on the same noise.
    npm = NumpyCVAE(weights(run), config.latent_dim)
    test = binarize(load_dataset("mnist", mnist_dir).test_images[:500])
    terms = npm.elbo_terms(test, eval_noise(500, 2))
    assert float(np.mean(terms["elbo"])) == pytest.approx(elbos[-1], rel=1e-4)
    assert float(np.mean(terms["kl"])) == pytest.approx(rows[-1]["test_kl"], rel=1e-3)
    # ... and matches the checkpoint's weights.
    state = read_checkpoint(ckpts[-1])
    for k, v in weights(run).items():
        np.testing.assert_array_equal(state[f"model/{k}"], v)
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") and p.name != runs.LOCK_FILE) == []


# ------------------------------------------------------------------------------------------- evaluation


def test_evaluate_elbo_weights_every_example_equally():
    model = build_model(2, seed=0)
    arrays = get_weight_arrays(model)
    arrays["dec_logits/bias"][:] = -3.0  # a model that expects mostly black pixels
    set_weight_arrays(model, arrays)
    rng = np.random.default_rng(0)
    # Ten examples with very different ELBOs (empty, dense, random), so batch sizes matter to a mean of means.
    x = np.zeros((10, 28, 28, 1), np.float32)
    x[3:6] = 1.0
    x[6:] = (rng.random((4, 28, 28, 1)) > 0.5).astype(np.float32)
    eval_fn = make_eval_fn(model)
    eps = eval_noise(10, 2)
    elbo, logpx_z, kl, kl_dims, mean = (t.numpy().astype(np.float64) for t in eval_fn(x, eps))
    per_example_mean = elbo.mean()
    batch_means = [elbo[i:i + 3].mean() for i in range(0, 10, 3)]  # sizes 3, 3, 3, 1
    assert abs(np.mean(batch_means) - per_example_mean) > 1.0  # the tutorial's estimate is biased here
    for bs in (1, 3, 4, 7, 10, 1000):
        out = evaluate_elbo(eval_fn, x, batch_size=bs)  # default eps = eval_noise
        assert out["test_examples"] == 10
        assert out["test_elbo"] == pytest.approx(per_example_mean, rel=1e-6), bs
        assert out["test_logpx_z"] == pytest.approx(logpx_z.mean(), rel=1e-6)
        assert out["test_kl"] == pytest.approx(kl.mean(), rel=1e-5)
        assert out["test_elbo_analytic"] == pytest.approx((logpx_z - kl).mean(), rel=1e-6)
        # Per dimension: sums to the KL; activity is the variance of μ over the examples (Burda et al. 2015).
        assert sum(out["test_kl_per_dim"]) == pytest.approx(out["test_kl"], rel=1e-4)
        assert out["test_activity"] == pytest.approx(mean.var(axis=0), rel=1e-4, abs=1e-6)
        assert out["test_active_units"] == int((mean.var(axis=0) > 0.01).sum())
    # The per-dimension KL is the closed-form KL of each coordinate (tfp's Normal KL as the reference).
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    m, lv = model.encode(tf.constant(x))
    ref = tfd.kl_divergence(tfd.Normal(m, tf.exp(0.5 * lv)), tfd.Normal(0.0, 1.0)).numpy()
    np.testing.assert_allclose(kl_dims, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(kl_dims.sum(axis=1), kl, rtol=1e-5, atol=1e-4)
    # Different noise gives a different single-sample estimate: eps is really used.
    other = evaluate_elbo(eval_fn, x, 3, eps=np.random.default_rng(9).standard_normal((10, 2)).astype(np.float32))
    assert other["test_elbo"] != pytest.approx(per_example_mean, rel=1e-6)


def test_epoch_order_and_steps_per_epoch(mnist):
    assert steps_per_epoch(256, 32) == 8 and steps_per_epoch(257, 32) == 9 and steps_per_epoch(1, 32) == 1
    t = Trainer(tiny_config(max_train_examples=100, batch_size=30), tiny_data(mnist, 100))
    assert t.steps_per_epoch == 4
    o1, o1b, o2 = t.epoch_order(1), t.epoch_order(1), t.epoch_order(2)
    assert sorted(o1.tolist()) == list(range(100)) and o1.dtype == np.int32
    np.testing.assert_array_equal(o1, o1b)
    assert not np.array_equal(o1, o2)


# ------------------------------------------------------------------------------------------- (b) stop / resume


def test_stop_and_resume_is_bit_for_bit_the_uninterrupted_run(tmp_path, mnist):
    data = tiny_data(mnist)
    config = tiny_config()  # 8 steps per epoch, chunks of 3, 3, 2
    assert train_run("straight", config, runs_dir=tmp_path, data=data) == "done"
    straight = tmp_path / "straight"

    run = tmp_path / "interrupted"
    # 1) Stopped by a STOP file (how the app and `request_stop` do it) after global step 11 = epoch 2, step 3.
    stop_file = OnStep(11, lambda: (run / runs.STOP_FILE).touch())
    assert train_run("interrupted", config, runs_dir=tmp_path, data=data, callbacks=[stop_file]) == "stopped"
    status = runs.read_status(run)
    assert status["state"] == "stopped" and "epoch 1 + 3 steps" in status["message"]
    assert status["code"] == "stopped_on_request" and status["params"] == {"epoch": 1, "steps": 3}  # #26: as a code
    assert runs.run_info(run).state == "stopped" and runs.run_info(run).resumable
    assert epoch_numbers(run) == [1]
    assert not runs.is_locked(run) and not (run / runs.STOP_FILE).exists()
    newest = checkpoint_paths(run)[-1]
    assert newest.name == "ckpt-00000011.npz"
    meta = json.loads(str(read_checkpoint(newest)["meta"]))
    assert (meta["epoch"], meta["global_step"], meta["step_in_epoch"]) == (1, 11, 3)

    # 2) Resumed, then stopped by a StopFlag event (SIGTERM's path) in epoch 3.
    event = threading.Event()
    assert train_run("interrupted", None, runs_dir=tmp_path, resume=True, data=data, stop=StopFlag(run, event),
                     callbacks=[OnStep(19, event.set)]) == "stopped"
    assert epoch_numbers(run) == [1, 2]
    assert checkpoint_paths(run)[-1].name == "ckpt-00000019.npz"

    # 3) Resumed to the end.
    assert train_run("interrupted", None, runs_dir=tmp_path, resume=True, data=data) == "done"
    assert epoch_numbers(run) == [1, 2, 3]
    assert runs.read_status(run)["state"] == "done"

    # Same seed, same data: the interruptions changed nothing, to the last bit.
    w_straight, w_run = weights(straight), weights(run)
    for k in w_straight:
        np.testing.assert_array_equal(w_run[k], w_straight[k], err_msg=k)
    s_ckpt, r_ckpt = read_checkpoint(checkpoint_paths(straight)[-1]), read_checkpoint(checkpoint_paths(run)[-1])
    for k in s_ckpt:
        if k != "meta":
            np.testing.assert_array_equal(r_ckpt[k], s_ckpt[k], err_msg=k)  # Adam slots and RNG state too
    # The logged losses and test ELBOs are the same, step for step.
    def losses(d):
        return [(r["step"], r["loss"]) for r in read_jsonl(d / runs.METRICS_FILE) if r["kind"] == "step"]

    assert losses(run) == losses(straight)
    assert [r["test_elbo"] for r in runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))] == \
        [r["test_elbo"] for r in runs.epoch_rows(read_jsonl(straight / runs.METRICS_FILE))]


def test_stop_flag_signals_and_stop_file(tmp_path):
    flag = StopFlag(tmp_path)
    assert not flag()
    (tmp_path / runs.STOP_FILE).touch()
    assert flag() and flag.event.is_set()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for sig in saved:
            flag = StopFlag()
            flag.install_signal_handlers()
            assert not flag()
            os.kill(os.getpid(), sig)  # what `kill PID` / Ctrl-C do to the CLI trainer
            deadline = time.monotonic() + 5
            while not flag() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert flag(), sig
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_resume_extends_epochs_and_skips_a_corrupt_checkpoint(tmp_path, mnist):
    data = tiny_data(mnist, n_train=64)
    config = tiny_config(max_train_examples=64, epochs=2, log_every_steps=2)  # 2 steps per epoch
    assert train_run("r", config, runs_dir=tmp_path, data=data) == "done"
    run = tmp_path / "r"
    ckpts = checkpoint_paths(run)
    assert [p.name for p in ckpts] == ["ckpt-00000002.npz", "ckpt-00000004.npz"]
    epoch2_row = runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))[-1]
    data_bytes = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data_bytes[: len(data_bytes) // 3])  # a torn newest checkpoint
    assert train_run("r", config.replace(epochs=3), runs_dir=tmp_path, resume=True, data=data) == "done"
    status = runs.read_status(run)
    assert status["state"] == "done" and status["epoch"] == 3
    assert runs.read_config(run).epochs == 3
    assert epoch_numbers(run) == [1, 2, 3]
    # Epoch 2 was redone from the epoch-1 checkpoint: the same numbers as the first time.
    assert runs.epoch_rows(read_jsonl(run / runs.METRICS_FILE))[1]["test_elbo"] == epoch2_row["test_elbo"]
    assert step_numbers(run) == [2, 4, 6]


def test_reconcile_after_a_crash(tmp_path):
    path = tmp_path / runs.METRICS_FILE
    rows = [{"kind": "step", "epoch": 1, "step": 2, "loss": 9.0}, {"kind": "step", "epoch": 1, "step": 4, "loss": 8.0},
            {"kind": "epoch", "epoch": 1, "step": 4, "test_elbo": -300.0},
            {"kind": "step", "epoch": 2, "step": 6, "loss": 7.0},
            {"kind": "epoch", "epoch": 1, "step": 4, "test_elbo": -1.0},
            {"kind": "step", "epoch": 2, "step": 8, "loss": 6.0}]  # (a step row without a loss is malformed now)
    for r in rows:
        append_jsonl(path, r)
    with open(path, "ab") as f:
        f.write(b'{"kind": "epoch", "epo')
    # The checkpoint is the end of epoch 1 (step 4): later rows and the duplicate epoch row go.
    trainer = SimpleNamespace(epoch=1, global_step=4, last_row=rows[2])
    reconcile(path, trainer.epoch, trainer.global_step, trainer.last_row)
    assert read_jsonl(path) == rows[:3]
    assert_all_lines_json(path)
    # A crash between the checkpoint and its metrics row: the row is restored from the checkpoint.
    path.write_text("")
    append_jsonl(path, rows[0])
    reconcile(path, 1, 4, rows[2])
    assert read_jsonl(path) == [rows[0], rows[2]]


# ------------------------------------------------------------------------------------------- (c) SIGKILL


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cvae", *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(pred, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"trainer exited early ({proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("timed out waiting for the trainer")


def _mid_epoch(run: Path, min_epoch: int):
    """True while the trainer is inside an epoch >= min_epoch: its last row is a step row after that epoch began."""
    def pred():
        rows = read_jsonl(run / runs.METRICS_FILE)
        done = [r["epoch"] for r in rows if r.get("kind") == "epoch"]
        last = rows[-1] if rows else {}
        return (last.get("kind") == "step" and last.get("epoch", 0) >= min_epoch
                and bool(done) and done[-1] == last["epoch"] - 1)
    return pred


def _check_readable_after_kill(run: Path, epochs_done: int):
    status = runs.read_status(run)
    assert status["state"] == "running"  # what the killed process left...
    info = runs.run_info(run)
    assert info.state == "interrupted" and info.resumable  # ...but nobody holds the lock
    assert runs.read_config(run).epochs == 5
    assert epoch_numbers(run) == list(range(1, epochs_done + 1))
    NumpyCVAE(weights(run), 2)
    for p in checkpoint_paths(run):
        read_checkpoint(p)
    for p in runs.epoch_images(run):
        with Image.open(p) as im:
            im.load()
    assert not runs.is_locked(run)


def test_sigkill_mid_epoch_then_resume(tmp_path, mnist_dir):
    args = ["--runs-dir", str(tmp_path), "--data-dir", str(mnist_dir), "--max-train-examples", "512",
            "--max-test-examples", "16", "--batch-size", "32", "--epochs", "5", "--learning-rate", "1e-3",
            "--log-every-steps", "2"]  # 16 steps per epoch in chunks of 2
    run = tmp_path / "k"
    p = _cli("train", "--name", "k", *args)
    try:
        _wait_for(lambda: runs.is_locked(run), p)
        # While it trains, a second start of the same run is refused at once (before TensorFlow even loads).
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for extra in ([], ["--resume"]):
            second = subprocess.run([sys.executable, "-m", "cvae", "train", "--name", "k", *args, *extra],
                                    cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert second.returncode == 1 and second.stderr == "error: run 'k' is already training\n", second
        _wait_for(_mid_epoch(run, 2), p)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
    assert p.returncode == -signal.SIGKILL
    done1 = epoch_numbers(run)[-1]
    assert 1 <= done1 <= 3
    last_step1 = step_numbers(run)[-1]
    _check_readable_after_kill(run, done1)
    with open(run / runs.METRICS_FILE, "ab") as f:  # what a kill in the middle of an append leaves
        f.write(b'{"kind": "step", "epoch": 9, "step": 99')

    # Resume, and kill again later on.
    p = _cli("train", "--name", "k", "--runs-dir", str(tmp_path), "--resume")
    try:
        _wait_for(_mid_epoch(run, done1 + 2), p)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()
    done2 = epoch_numbers(run)[-1]
    assert done1 < done2 < 5 and step_numbers(run)[-1] > last_step1
    _check_readable_after_kill(run, done2)
    assert_all_lines_json(run / runs.METRICS_FILE)  # the torn line was repaired on resume
    with open(run / runs.METRICS_FILE, "ab") as f:
        f.write(b'{"kind": "epoch", "ep')

    p = _cli("train", "--name", "k", "--runs-dir", str(tmp_path), "--resume")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "done: finished 5 epochs" in err
    assert runs.run_info(run).state == "done"
    assert epoch_numbers(run) == [1, 2, 3, 4, 5]  # every epoch exactly once
    steps = step_numbers(run)
    assert steps == list(range(2, 81, 2))  # every chunk once: no replayed or lost steps
    assert_all_lines_json(run / runs.METRICS_FILE)
    assert [p.name for p in runs.epoch_images(run)] == [f"epoch_{e:04d}.png" for e in range(6)]
    assert (run / runs.GIF_FILE).is_file()


# ------------------------------------------------------------------------------------------- (d) NaN


class PoisonAfterEpoch(Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, trainer, row):
        if row["epoch"] == self.epoch:
            bias = trainer.model.decoder.get_layer("dec_logits").bias
            bias.assign(np.full(bias.shape, np.nan, np.float32))


def test_nan_loss_fails_the_run_and_keeps_the_last_good_checkpoint(tmp_path, mnist):
    data = tiny_data(mnist, n_train=128)
    config = tiny_config(max_train_examples=128, log_every_steps=4)  # 4 steps per epoch, one chunk
    with pytest.raises(NonFiniteLoss) as e:
        train_run("nan", config, runs_dir=tmp_path, data=data, callbacks=[PoisonAfterEpoch(1)])
    assert (e.value.step, e.value.epoch) == (5, 2) and math.isnan(e.value.value)
    run = tmp_path / "nan"
    status = runs.read_status(run)
    assert status["state"] == "failed" and status["failed_step"] == 5 and status["failed_value"] == "nan"
    json.loads((run / runs.STATUS_FILE).read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON: {c}"))
    assert "non-finite loss nan at step 5 (epoch 2)" in status["message"]
    info = runs.run_info(run)
    assert info.state == "failed" and info.resumable
    assert epoch_numbers(run) == [1]
    # weights.npz and the newest checkpoint are epoch 1's, finite, and the same.
    assert [p.name for p in checkpoint_paths(run)] == ["ckpt-00000004.npz"]
    w = weights(run)
    assert all(np.isfinite(v).all() for v in w.values())
    state = read_checkpoint(checkpoint_paths(run)[-1])
    assert json.loads(str(state["meta"]))["epoch"] == 1
    for k, v in w.items():
        np.testing.assert_array_equal(state[f"model/{k}"], v)
    assert all(np.isfinite(v).all() for k, v in state.items() if k != "meta")
    NumpyCVAE(w, 2)
    # Resuming from the good checkpoint finishes the run.
    assert train_run("nan", None, runs_dir=tmp_path, resume=True, data=data) == "done"
    assert epoch_numbers(run) == [1, 2, 3]


# ------------------------------------------------------------------------------------------- (e) refusals


def test_refusals(tmp_path, mnist):
    data = tiny_data(mnist, n_train=64)
    config = tiny_config(max_train_examples=64, epochs=1)
    with pytest.raises(errors.RunNotFound, match="run 'ghost' does not exist .*nothing to resume"):
        train_run("ghost", None, runs_dir=tmp_path, resume=True, data=data)
    assert not (tmp_path / "ghost").exists()
    with pytest.raises(TrainingError, match="needs a config"):
        train_run("new", None, runs_dir=tmp_path, data=data)
    with pytest.raises(runs.RunError, match="run name"):
        train_run("../escape", config, runs_dir=tmp_path, data=data)
    assert train_run("once", config, runs_dir=tmp_path, data=data) == "done"
    before = (tmp_path / "once" / runs.STATUS_FILE).read_bytes()
    with pytest.raises(errors.RunExists, match="run 'once' already exists; use --resume"):
        train_run("once", config, runs_dir=tmp_path, data=data)
    assert (tmp_path / "once" / runs.STATUS_FILE).read_bytes() == before  # the refused start changed nothing


def test_missing_data_fails_the_run_with_its_message(tmp_path, isolated_data_env):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tiny_config(data_dir=str(empty))
    with pytest.raises(ValueError, match="no mnist data"):
        train_run("nodata", config, runs_dir=tmp_path / "runs")
    run = tmp_path / "runs" / "nodata"
    status = runs.read_status(run)
    assert status["state"] == "failed" and "no mnist data" in status["message"]
    assert not runs.is_locked(run)


def test_concurrent_start_of_the_same_run_exactly_one_trains(tmp_path, mnist):
    data = tiny_data(mnist, n_train=64)
    config = tiny_config(max_train_examples=64, epochs=1)
    entered, release = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_train_begin(self, trainer):
            entered.set()
            release.wait(60)

    results, errors = [], []

    def first():
        try:
            results.append(train_run("same", config, runs_dir=tmp_path, data=data, callbacks=[Hold()]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert entered.wait(60)
        for resume in (False, True):
            with pytest.raises(AlreadyTraining, match="already training"):
                train_run("same", config, runs_dir=tmp_path, resume=resume, data=data)
        assert runs.run_info(tmp_path / "same").state == "running"
    finally:
        release.set()
        t.join(120)
    assert errors == [] and results == ["done"]
    assert epoch_numbers(tmp_path / "same") == [1]
    assert runs.read_status(tmp_path / "same")["state"] == "done"


def test_state_from_another_model_is_refused(tmp_path, mnist):
    data = tiny_data(mnist, n_train=64)
    a = Trainer(tiny_config(max_train_examples=64), data)
    b = Trainer(tiny_config(max_train_examples=64, latent_dim=3), data)
    with pytest.raises(ValueError, match="enc_dense/kernel"):
        b.load_state_arrays(a.state_arrays())
    # A trainer restores another's state exactly (weights, Adam, RNG, counters).
    a.global_step, a.epoch, a.step_in_epoch = 7, 1, 3
    c = Trainer(tiny_config(max_train_examples=64, seed=1), data)
    c.load_state_arrays(a.state_arrays())
    assert (c.global_step, c.epoch, c.step_in_epoch) == (7, 1, 3)
    np.testing.assert_array_equal(c.rng.state.numpy(), a.rng.state.numpy())
    for k, v in get_weight_arrays(a.model).items():
        np.testing.assert_array_equal(get_weight_arrays(c.model)[k], v)
