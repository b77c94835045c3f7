"""`python -m cvae eval NAME --exact`: the JSON fields, the evaluations.jsonl row, and the fallback beyond 2-D."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cvae.store.evaluations import best_evaluation, best_exact, exact_row, read_evaluations
from cvae.store.schema import evaluation_row_problem
from cvae.store.weights import expected_shapes, save_weights_npz
from tests.test_cli import cli
from tests.test_posterior import TUTORIAL


@pytest.fixture()
def runs_root(tmp_path):
    shutil.copytree(TUTORIAL, tmp_path / "tutorial", ignore=shutil.ignore_patterns("evaluations.jsonl"))
    return tmp_path


def test_eval_exact_adds_exact_logpx_its_error_and_the_gaps(runs_root, mnist_dir):
    r = cli("eval", "tutorial", "--runs-dir", str(runs_root), "--data-dir", str(mnist_dir), "--exact",
            "--max-test-examples", "3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["test_examples"] == 3
    # log p(x) ≥ the exact ELBO; KL(q‖p(z|x)) is the gap and splits into its two parts.
    assert out["exact_logpx"] > out["exact_elbo"]
    assert out["exact_kl"] == pytest.approx(out["exact_logpx"] - out["exact_elbo"], abs=2e-4)
    assert out["exact_kl"] == pytest.approx(out["exact_approximation_gap"] + out["exact_amortization_gap"], abs=2e-4)
    assert 0 < out["exact_error"] < 0.05
    assert sum(c["n"] for c in out["exact_per_class"].values()) == 3
    assert [g["index"] for g in out["exact_largest_gaps"]] and len(out["exact_largest_gaps"]) == 3
    rows = read_evaluations(runs_root / "tutorial")
    assert len(rows) == 1 and rows[0]["method"] == "exact" and rows[0]["n"] == 3
    assert rows[0]["exact_logpx"] == pytest.approx(out["exact_logpx"])
    assert best_evaluation(rows) is None  # the Runs page's IWAE cell never shows an exact row
    assert best_exact(rows) == rows[0]


def test_exact_rows_are_validated_field_by_field():
    summary = {"logpx": -145.4, "error": 0.002, "elbo": -150.0, "approximation_gap": 0.05, "amortization_gap": 4.6}
    good = exact_row(summary, -150.1, 20, 3.0, epoch=10, step=100)
    assert evaluation_row_problem(good) is None
    assert "exact_logpx" in evaluation_row_problem({**good, "exact_logpx": "x"})
    assert "method" in evaluation_row_problem({**good, "method": "guess"})
    assert "exact_error" in evaluation_row_problem({k: v for k, v in good.items() if k != "exact_error"})


def test_eval_exact_on_a_3d_run_says_so_and_falls_back_to_iwae(runs_root, mnist_dir):
    run = runs_root / "tutorial"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "latent_dim": 3}))
    rng = np.random.default_rng(0)
    save_weights_npz({k: (0.05 * rng.standard_normal(s)).astype(np.float32) for k, s in expected_shapes(3).items()},
                     run / "weights.npz")
    r = cli("eval", "tutorial", "--runs-dir", str(runs_root), "--data-dir", str(mnist_dir), "--exact",
            "--max-test-examples", "2")
    assert r.returncode == 0, r.stderr
    assert "needs a 2-D latent space" in r.stderr and "k = 5000" in r.stderr
    out = json.loads(r.stdout)
    assert out["exact_logpx"] is None and out["exact_fallback"] == "iwae_5000"
    assert out["iwae_5000"] > out["test_elbo"] - 5
