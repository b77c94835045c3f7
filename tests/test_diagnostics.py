"""Diagnostics: KL per dimension (against tfp.distributions), active units, `eval --diagnostics`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow_probability as tfp

from cvae.data.sources import binarize, load_dataset
from cvae.explorer.maths import diagnostics
from cvae.store import metrics
from cvae.explorer.maths.numpy_model import load_numpy_model

tfd = tfp.distributions
REPO_ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = REPO_ROOT / "checkpoints" / "tutorial"


def test_kl_per_dim_matches_tfp_kl_divergence_per_dimension_and_sums_to_the_kl():
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1.5, (50, 4)).astype(np.float32)
    logvar = rng.normal(-1, 1.0, (50, 4)).astype(np.float32)
    mean[:, 3], logvar[:, 3] = 0.0, 0.0  # a collapsed dimension: q = p, KL 0
    q = tfd.Normal(mean.astype(np.float64), np.exp(0.5 * logvar.astype(np.float64)))
    want = tfd.kl_divergence(q, tfd.Normal(np.float64(0), np.float64(1))).numpy().mean(axis=0)
    got = diagnostics.kl_per_dim(mean, logvar)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert got[3] == 0.0 and (got[:3] > 0).all()
    q_all = tfd.MultivariateNormalDiag(mean.astype(np.float64), np.exp(0.5 * logvar.astype(np.float64)))
    total = tfd.kl_divergence(q_all, tfd.MultivariateNormalDiag(np.zeros(4), np.ones(4))).numpy().mean()
    assert got.sum() == pytest.approx(total, rel=1e-10)
    assert list(diagnostics.kl_order(got)) == list(np.argsort(-want, kind="stable"))


def test_active_units_counts_dimensions_whose_mean_varies_over_x():
    rng = np.random.default_rng(1)
    mean = np.stack([rng.normal(0, 1.0, 2000), rng.normal(0, 0.05, 2000),  # var 1 and 0.0025
                     rng.normal(0, 0.2, 2000), np.full(2000, 0.7)], axis=1)  # var 0.04 and 0
    want = np.diag(np.cov(mean, rowvar=False, bias=True))
    np.testing.assert_allclose(diagnostics.activity(mean), want, rtol=1e-12)
    assert diagnostics.active_units(mean) == int((want > 0.01).sum()) == 2


def test_summary_of_the_shipped_run_splits_the_elbo(mnist_dir):
    model = load_numpy_model(TUTORIAL)
    x = binarize(load_dataset("mnist", mnist_dir).test_images[:300])
    terms = model.elbo_terms(x, eps=np.random.default_rng(0).standard_normal((300, 2)).astype(np.float32))
    s = diagnostics.summarize(terms["mean"], terms["logvar"], terms["logpx_z"])
    assert s["kl"] == pytest.approx(float(np.mean(terms["kl"].astype(np.float64))), rel=1e-5)
    assert s["elbo_analytic"] == pytest.approx(s["logpx_z"] - s["kl"])
    assert s["active_units"] == 2 and len(s["kl_per_dim"]) == 2  # a 2-D code that works uses both dimensions


def test_traversal_codes_and_ellipse():
    codes = diagnostics.traversal_codes(3, 1, np.array([-2.0, 0.0, 2.0]))
    np.testing.assert_array_equal(codes, [[0, -2, 0], [0, 0, 0], [0, 2, 0]])
    path = diagnostics.ellipse_path(np.array([1.0, -1.0]), np.array([0.5, 0.2]))
    np.testing.assert_allclose(((path[:, 0] - 1) / 0.5) ** 2 + ((path[:, 1] + 1) / 0.2) ** 2, 1.0, rtol=1e-12)


def test_cli_eval_diagnostics_adds_kl_per_dim_summing_to_the_test_kl(tmp_path, mnist_dir):
    run = tmp_path / "tutorial"
    run.mkdir()
    for name in ("config.json", "status.json", "weights.npz"):
        shutil.copy(TUTORIAL / name, run / name)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    r = subprocess.run([sys.executable, "-m", "cvae", "eval", "tutorial", "--runs-dir", str(tmp_path),
                        "--data-dir", str(mnist_dir), "--max-test-examples", "500", "--diagnostics"],
                       cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["kl_per_dim"]) == 2 and out["active_units"] == 2 and len(out["activity"]) == 2
    assert sum(out["kl_per_dim"]) == pytest.approx(out["test_kl"], rel=1e-5)
    # the app's NumPy encodings give the same figures
    x = binarize(load_dataset("mnist", mnist_dir).test_images[:500])
    mean, logvar = load_numpy_model(run).encode(x)
    np.testing.assert_allclose(diagnostics.kl_per_dim(mean, logvar), out["kl_per_dim"], rtol=1e-4)
    np.testing.assert_allclose(diagnostics.activity(mean), out["activity"], rtol=1e-4)


def test_the_dimension_table_names_collapsed_and_low_activity_dimensions():
    """A dimension under the activity threshold that still carries KL (issue #26: z7 of an 8-D β 4 run, 0.51 nats,
    Var μ 0.0088) is not called collapsed; one whose posterior is the prior is; the CSV carries the figures."""
    rng = np.random.default_rng(0)
    n = 4000
    mean = np.zeros((n, 3))
    logvar = np.zeros((n, 3))
    mean[:, 0] = rng.normal(0, 1.0, n)            # active
    logvar[:, 0] = np.log(0.05 ** 2)
    mean[:, 1] = rng.normal(0, 0.09, n)           # Var μ ≈ 0.0081 < 0.01, but σ = 0.5: KL ≈ 0.32
    logvar[:, 1] = np.log(0.5 ** 2)
    mean[:, 2] = rng.normal(0, 0.001, n)          # the prior: collapsed
    summary = diagnostics.summarize(mean, logvar)
    table = diagnostics.dimension_table(summary, logvar)
    by_dim = {r["dim"]: r for r in table}
    assert [r["dim"] for r in table] == [1, 2, 3]  # ordered by KL
    assert by_dim[1]["status"] == "active"
    assert by_dim[2]["status"] == "low_activity" and by_dim[2]["activity"] < metrics.ACTIVE_THRESHOLD
    assert by_dim[2]["kl"] == pytest.approx(0.5 * (0.25 + 0.0081 - 1 - np.log(0.25)), abs=0.01)
    assert by_dim[3]["status"] == "collapsed" and by_dim[3]["kl"] < diagnostics.COLLAPSED_KL
    assert by_dim[2]["mean_sigma"] == pytest.approx(0.5)
    csv = diagnostics.table_csv(table).splitlines()
    assert csv[0].startswith("dimension,kl_nats,activity_var_mu,mean_sigma,status")
    assert csv[2].startswith("z2,") and csv[2].split(",")[4] == "low_activity"
    assert float(csv[2].split(",")[1]) == pytest.approx(by_dim[2]["kl"], rel=1e-5)
