"""Tests for `python -m cvae`: every command end to end as a subprocess, and one-line errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cvae.store import runs
from cvae.store.files import read_jsonl

REPO_ROOT = Path(__file__).resolve().parent.parent
# Named like a directory of the working tree (./tests): a run name must never resolve against the cwd.
RUN = "tests"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("CVAE_RUNS_DIR", None)
    return subprocess.run([sys.executable, "-m", "cvae", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(r: subprocess.CompletedProcess, *words: str, code: int | None = None) -> str:
    assert r.returncode != 0, (r.stdout, r.stderr)
    if code is not None:
        assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """A tiny run trained through the CLI: 256 images, 2 epochs."""
    root = tmp_path_factory.mktemp("runs")
    r = cli("train", "--name", RUN, "--runs-dir", str(root), "--data-dir", str(mnist_dir),
            "--max-train-examples", "256", "--max-test-examples", "32", "--epochs", "2", "--batch-size", "32",
            "--learning-rate", "1e-3", "--log-every-steps", "4", "--seed", "3")
    assert r.returncode == 0, r.stderr
    return root, r


def test_train(trained, mnist_dir):
    root, r = trained
    run = root / RUN
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("training 2 epochs x 8 steps (batch 32, lr 0.001, latent_dim 2, float32, preset tutorial)")
    assert any(line.startswith("epoch   1: test ELBO") for line in lines)
    assert any(line.startswith("epoch   2: test ELBO") for line in lines)
    assert lines[-1].startswith("done: finished 2 epochs; test ELBO")
    assert not any(line.startswith(("I0000", "E0000", "W0000", "WARNING: All log")) for line in lines), r.stderr
    config = runs.read_config(run)
    assert (config.epochs, config.batch_size, config.learning_rate, config.seed, config.max_train_examples,
            config.max_test_examples, config.log_every_steps) == (2, 32, 1e-3, 3, 256, 32, 4)
    assert config.data_dir == str(mnist_dir.resolve())  # stored absolute, so eval works from anywhere
    assert runs.run_info(run).state == "done"


def test_eval_prints_one_json_object(trained):
    root, _ = trained
    r = cli("eval", RUN, "--runs-dir", str(root), "--max-test-examples", "32", "--iwae-k", "5")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["run"] == RUN and out["test_examples"] == 32
    for key in ("test_elbo", "test_logpx_z", "test_kl", "test_elbo_analytic", "iwae_5"):
        assert isinstance(out[key], float) and math.isfinite(out[key]), key
    # Same 32 images, same fixed evaluation noise, same weights: the trainer's last number.
    last = runs.epoch_rows(read_jsonl(root / RUN / runs.METRICS_FILE))[-1]
    assert out["test_elbo"] == pytest.approx(last["test_elbo"], rel=1e-5)
    assert out["test_elbo_analytic"] == pytest.approx(out["test_logpx_z"] - out["test_kl"], rel=1e-9)
    assert -450 < out["test_elbo"] < -100
    assert out["test_elbo"] - 2 < out["iwae_5"] < 0  # a tighter bound on log p(x), on average


def test_sample_manifold_gif_write_valid_images(trained, tmp_path):
    root, _ = trained
    out = tmp_path / "sample.png"
    r = cli("sample", RUN, "--runs-dir", str(root), "--out", str(out), "--n", "9", "--seed", "1")
    assert r.returncode == 0 and r.stdout.strip() == str(out), r.stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (3 * 28 * 2, 3 * 28 * 2)
        im.load()
    first = out.read_bytes()
    cli("sample", RUN, "--runs-dir", str(root), "--out", str(out), "--n", "9", "--seed", "1")
    assert out.read_bytes() == first  # a seed is a seed

    man = tmp_path / "manifold.png"
    r = cli("manifold", RUN, "--runs-dir", str(root), "--out", str(man), "--n", "5")
    assert r.returncode == 0 and r.stdout.strip() == str(man), r.stderr
    assert r.stderr == ""
    with Image.open(man) as im:
        assert im.format == "PNG" and im.size == (140, 140)
        px = list(im.getdata())
    assert max(px) > min(px)  # not a blank image

    gif = tmp_path / "train.gif"
    r = cli("gif", RUN, "--runs-dir", str(root), "--out", str(gif))
    assert r.returncode == 0 and r.stdout.strip() == str(gif), r.stderr
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 3  # before training + 2 epochs
        assert im.size == (4 * 28 * 2, 4 * 28 * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifold.png", "sample.png", "train.gif"]


def test_list(trained):
    root, _ = trained
    r = cli("list", "--runs-dir", str(root))
    assert r.returncode == 0 and r.stderr == ""
    (line,) = r.stdout.splitlines()
    best = runs.run_info(root / RUN).best_test_elbo
    assert line.split() == [RUN, "done", "epochs", "2/2", "best", "test", "ELBO", f"{best:.2f}"]
    empty = cli("list", "--runs-dir", str(root / "nothing-here"))
    assert empty.returncode == 0 and empty.stdout == ""


@pytest.mark.parametrize("args,words,code", [
    (["train", "--name", "x", "--epochs", "0"], ["epochs", "1 to 10000"], 2),
    (["train", "--name", "x", "--epochs", "2.5"], ["--epochs", "integer"], 2),
    (["train", "--name", "x", "--batch-size", "-5"], ["--batch-size", "integer >= 0", "'-5'"], 2),
    (["eval", "x", "--iwae-k", "-1"], ["--iwae-k", "integer >= 0"], 2),
    (["sample", "x", "--out", "OUT", "--n", "-3"], ["--n", "integer >= 0"], 2),
    (["train", "--name", "x", "--learning-rate", "abc"], ["--learning-rate", "'abc'"], 2),
    (["train", "--name", "x", "--learning-rate", "nan"], ["learning_rate"], 2),
    (["train", "--name", "x", "--latent-dim", "65"], ["latent_dim", "1 to 64"], 2),
    (["train", "--name", "x", "--batch-size", "64", "--max-train-examples", "32"], ["batch_size"], 2),
    (["train", "--name", "x", "--precision", "float16"], ["--precision", "invalid choice"], 2),
    (["train", "--name", "../x"], ["run name"], 2),
    (["train", "--name", ""], ["run name"], 2),
    (["train", "--epochs", "3"], ["--name"], 2),
    (["train", "--name", "x", "--bogus"], ["--bogus"], 2),
    ([], ["command"], 2),
    (["eval", "nosuch"], ["run 'nosuch' does not exist"], 1),
    (["eval", "../x"], ["run name"], 1),  # a RunError here (exit 1), a ConfigError in train (exit 2)
    (["eval", "/etc"], ["run name"], 1),
    (["sample", "nosuch", "--out", "OUT"], ["does not exist"], 1),
    (["manifold", "nosuch", "--out", "OUT"], ["does not exist"], 1),
    (["gif", "nosuch", "--out", "OUT"], ["does not exist"], 1),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_usage_errors_are_one_line(tmp_path, args, words, code):
    args = [str(tmp_path / "out.png") if a == "OUT" else a for a in args]
    r = cli(*args, "--runs-dir", str(tmp_path)) if args else cli()
    assert_one_line_error(r, *words, code=code)
    assert list(tmp_path.iterdir()) == []  # no run directory, no output file


def test_missing_data_is_one_line(tmp_path, isolated_data_env):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("train", "--name", "nodata", "--runs-dir", str(tmp_path / "runs"), "--data-dir", str(empty),
            "--max-train-examples", "64", "--max-test-examples", "16", "--epochs", "1")
    assert_one_line_error(r, "--data-dir", str(empty), "no mnist data", code=1)
    assert runs.read_status(tmp_path / "runs" / "nodata")["state"] == "failed"


def test_a_run_that_failed_before_training_can_be_started_again_or_resumed_elsewhere(tmp_path, isolated_data_env,
                                                                                   mnist_dir):
    """Missing data leaves a failed run with nothing trained: the same command with the right --data-dir starts it
    afresh (the failed attempt's files are replaced), and --resume may point a run at its data's new place."""
    root, empty = tmp_path / "runs", tmp_path / "empty"
    empty.mkdir()
    args = ["--runs-dir", str(root), "--max-train-examples", "64", "--max-test-examples", "16", "--epochs", "1",
            "--log-every-steps", "2"]
    assert cli("train", "--name", "retry", *args, "--data-dir", str(empty)).returncode == 1
    assert runs.read_config(root / "retry").data_dir == str(empty.resolve())
    r = cli("train", "--name", "retry", *args, "--data-dir", str(mnist_dir), "--epochs", "2")
    assert r.returncode == 0, r.stderr
    config, status = runs.read_config(root / "retry"), runs.read_status(root / "retry")
    assert (config.data_dir, config.epochs, status["state"], status["epoch"]) == (str(mnist_dir.resolve()), 2, "done", 2)
    # A run with weights is never replaced that way.
    again = cli("train", "--name", "retry", *args, "--data-dir", str(mnist_dir))
    assert_one_line_error(again, "already exists; use --resume", code=1)

    assert cli("train", "--name", "moved", *args, "--data-dir", str(empty)).returncode == 1
    fixed = cli("train", "--name", "moved", "--resume", "--runs-dir", str(root), "--batch-size", "16",
                "--max-test-examples", "32")
    err = assert_one_line_error(fixed, "--resume keeps run 'moved'", code=1)
    # Each differing flag is named with both values; equal ones are not complained about.
    assert "--batch-size: run has 32, got 16" in err and "--max-test-examples: run has 16, got 32" in err, err
    # The same command again with --resume appended (flags equal to the run's own) is accepted.
    r = cli("train", "--name", "moved", *args, "--resume", "--data-dir", str(mnist_dir))
    assert r.returncode == 0, r.stderr
    assert runs.read_config(root / "moved").data_dir == str(mnist_dir.resolve())
    assert runs.read_status(root / "moved")["state"] == "done"


def test_eval_missing_data_is_one_line(trained, tmp_path):
    root, _ = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("eval", RUN, "--runs-dir", str(root), "--data-dir", str(empty))
    assert_one_line_error(r, "no mnist data", code=1)


def test_corrupt_weights_are_one_line(trained, tmp_path):
    root, _ = trained
    shutil.copytree(root / RUN, tmp_path / "broken")
    w = tmp_path / "broken" / runs.WEIGHTS_FILE
    w.write_bytes(w.read_bytes()[:1000])
    for cmd in (["eval", "broken"], ["sample", "broken", "--out", str(tmp_path / "s.png")],
                ["manifold", "broken", "--out", str(tmp_path / "m.png")]):
        r = cli(*cmd, "--runs-dir", str(tmp_path))
        assert_one_line_error(r, "weights.npz", "not a readable weights file", code=1)
    w.unlink()
    assert_one_line_error(cli("eval", "broken", "--runs-dir", str(tmp_path)), "weights file not found", code=1)
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "m.png").exists()


def test_resume_of_unknown_and_restart_of_existing_run(trained, tmp_path):
    root, _ = trained
    r = cli("train", "--name", "ghost", "--runs-dir", str(tmp_path), "--resume")
    assert_one_line_error(r, "run 'ghost' does not exist", "nothing to resume", code=1)
    # Restarting a finished run by name is refused; the run is untouched.
    before = (root / RUN / runs.STATUS_FILE).read_bytes()
    r = cli("train", "--name", RUN, "--runs-dir", str(root), "--max-train-examples", "64", "--epochs", "1")
    assert_one_line_error(r, f"run '{RUN}' already exists; use --resume", code=1)
    assert (root / RUN / runs.STATUS_FILE).read_bytes() == before
