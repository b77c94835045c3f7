"""Issue #10 with TensorFlow: the trainer stamps weights.npz with its epoch and step, `eval --iwae-k` records the
epoch of the weights it loaded (not status.json's), a resume survives malformed metrics rows, and the data
directory found through $CVAE_DATA_DIR is stored in the run so a resume without the variable finds it."""

from __future__ import annotations

import json

import numpy as np

from cvae.data import sources
from cvae.store import evaluations, runs
from cvae.store.config import TrainConfig
from cvae.store.files import append_jsonl, read_jsonl
from cvae.store.weights import read_weights, save_weights_npz
from test_app import make_run


def test_eval_stamps_the_epoch_of_the_weights_it_loaded(tmp_path, mnist_dir, capsys):
    """Finding: eval read the epoch from status.json at the end; while the run trained it stamped epoch 8 on
    epoch-2 weights. Here the weights say epoch 2 and the status says 8."""
    from cvae import cli

    run = make_run(tmp_path, "r", epochs=8)
    arrays, _ = read_weights(run / runs.WEIGHTS_FILE)
    save_weights_npz(arrays, run / runs.WEIGHTS_FILE, epoch=2, step=3750)
    assert runs.read_status(run)["epoch"] == 8
    assert cli.main(["eval", "r", "--runs-dir", str(tmp_path), "--data-dir", str(mnist_dir),
                     "--max-test-examples", "16", "--iwae-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = evaluations.read_evaluations(run)
    assert row["epoch"] == 2 and row["step"] == 3750 and row["elbo"] == out["test_elbo"]
    # ... so the Runs page, whose run is at epoch 8, does not put it beside epoch 8's ELBO.
    assert evaluations.best_evaluation([row], epoch=8) is None and evaluations.best_evaluation([row], epoch=2)


def test_weights_stamped_resume_survives_bad_rows_and_finds_data_without_the_variable(tmp_path, mnist_dir,
                                                                                      monkeypatch):
    from cvae.engine.train import train_run

    sources.clear_cache()
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(mnist_dir))
    config = TrainConfig(max_train_examples=64, max_test_examples=32, batch_size=32, epochs=1, log_every_steps=1,
                         num_examples_to_generate=4)
    assert config.data_dir is None
    assert train_run("r", config, runs_dir=tmp_path) == "done"
    run = tmp_path / "r"
    assert read_weights(run / runs.WEIGHTS_FILE)[1] == {"epoch": 1, "step": 2}
    stored = runs.read_config(run).data_dir  # found through $CVAE_DATA_DIR, kept in the run
    assert stored is not None and sources.load_dataset("mnist", stored, allow_download=False).data_dir == stored

    # Finding: a metrics row with a string or null step made --resume crash (reconcile).
    append_jsonl(run / runs.METRICS_FILE, {"kind": "step", "epoch": 1, "step": "2", "loss": 1.0})
    append_jsonl(run / runs.METRICS_FILE, {"kind": "step", "epoch": 1, "step": None, "loss": 1.0})
    monkeypatch.delenv(sources.DATA_DIR_ENV)  # the resume finds the data through the run's own config
    sources.clear_cache()
    assert train_run("r", config.replace(epochs=2), runs_dir=tmp_path, resume=True) == "done"
    rows = read_jsonl(run / runs.METRICS_FILE)
    assert [r["step"] for r in rows if r["kind"] == "step"] == [1, 2, 3, 4]
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == [1, 2]
    assert read_weights(run / runs.WEIGHTS_FILE)[1] == {"epoch": 2, "step": 4}
    assert np.isfinite(runs.run_info(run).best_test_elbo) and runs.run_info(run).bad_rows == 0
    sources.clear_cache()
