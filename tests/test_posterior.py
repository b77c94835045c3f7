"""The true posterior: quadrature of log p(x) against closed forms, q* against the mean-field optimum, and the shipped
run's gaps (cvae/explorer/maths/posterior.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvae.explorer.maths import gaps as G
from cvae.explorer.maths import posterior as P
from cvae.explorer.maths.numpy_model import load_numpy_model

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "checkpoints" / "tutorial"


def mvn_logpdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) for rows of x (written out with a Cholesky factor)."""
    x = np.atleast_2d(x) - mean
    chol = np.linalg.cholesky(cov)
    sol = np.linalg.solve(chol, x.T)
    return -0.5 * np.sum(sol ** 2, axis=0) - np.log(np.diag(chol)).sum() - 0.5 * len(mean) * np.log(2 * np.pi)


class LinearGaussian:
    """x | z ~ N(Wz + b, s² I), z ~ N(0, I): p(x) = N(b, WWᵀ + s² I) and p(z|x) = N(m, P⁻¹), P = I + WᵀW / s²."""

    def __init__(self, seed: int = 0, dim: int = 30, s: float = 0.15):
        rng = np.random.default_rng(seed)
        self.w = rng.normal(size=(dim, 2)) * np.array([1.0, 0.6])
        self.w[:, 1] += 0.8 * self.w[:, 0]  # correlated posterior: its axes are not z₁, z₂
        self.b = rng.normal(size=dim)
        self.s = s
        self.x = self.w @ np.array([0.7, -1.1]) + self.b + s * rng.normal(size=dim)
        self.precision = np.eye(2) + self.w.T @ self.w / s ** 2
        self.post_cov = np.linalg.inv(self.precision)
        self.post_mean = self.post_cov @ self.w.T @ (self.x - self.b) / s ** 2

    def log_joint(self, z: np.ndarray) -> np.ndarray:
        r = self.x - (np.asarray(z, np.float64) @ self.w.T + self.b)
        return (-0.5 * np.sum(r ** 2, axis=1) / self.s ** 2 - len(self.x) * (np.log(self.s) + 0.5 * np.log(2 * np.pi))
                + P.log_prior(z))

    def logpx(self) -> float:
        return float(mvn_logpdf(self.x, self.b, self.w @ self.w.T + self.s ** 2 * np.eye(len(self.x)))[0])

    def elbo(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """log p(x) − KL(N(μ, diag σ²) ‖ p(z|x)), in closed form."""
        d = mu - self.post_mean
        kl = 0.5 * (np.trace(self.precision @ np.diag(sigma ** 2)) + d @ self.precision @ d - 2
                    + np.log(np.linalg.det(self.post_cov)) - 2 * np.log(sigma).sum())
        return self.logpx() - kl


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_marginal_of_a_linear_gaussian_decoder_matches_its_closed_form(seed):
    lg = LinearGaussian(seed)
    sd = np.sqrt(np.diag(lg.post_cov))
    assert sd.max() < 0.1  # as narrow as the shipped run's posteriors
    # The encoder's guess is off: shifted by two posterior sds and twice too narrow.
    res = P.exact_log_marginal(lg.log_joint, lg.post_mean + 2 * sd, sd / 2)
    assert res.logpx == pytest.approx(lg.logpx(), abs=1e-3)
    assert abs(res.logpx - lg.logpx()) <= res.error + 1e-9  # the error estimate covers the error
    np.testing.assert_allclose(res.post_mean, lg.post_mean, atol=1e-3 * sd.max())
    np.testing.assert_allclose(res.post_cov, lg.post_cov, rtol=1e-3, atol=1e-9)


def test_a_guess_far_too_wide_or_narrow_still_finds_the_posterior():
    lg = LinearGaussian(3)
    for sigma in (np.array([1.0, 1.0]), np.array([0.001, 0.002])):
        assert P.exact_log_marginal(lg.log_joint, lg.post_mean, sigma).logpx == pytest.approx(lg.logpx(), abs=1e-3)


def test_a_second_mode_away_from_the_encoder_is_found_by_the_plane_scan():
    """p(x|z) = 0.6 N(z; a, A) + 0.4 N(z; b, B): p(x) = 0.6 N(a; 0, A + I) + 0.4 N(b; 0, B + I)."""
    a, b = np.array([0.5, -0.3]), np.array([-1.0, 0.7])
    ca, cb = np.diag([0.05, 0.08]) ** 2, np.array([[0.06, 0.02], [0.02, 0.05]]) ** 2 * 4

    def log_joint(z):
        return np.logaddexp(np.log(0.6) + mvn_logpdf(z, a, ca), np.log(0.4) + mvn_logpdf(z, b, cb)) + P.log_prior(z)

    truth = np.logaddexp(np.log(0.6) + mvn_logpdf(a, np.zeros(2), ca + np.eye(2))[0],
                         np.log(0.4) + mvn_logpdf(b, np.zeros(2), cb + np.eye(2))[0])
    guess = (a, np.array([0.05, 0.08]))
    alone = P.exact_log_marginal(log_joint, *guess)
    assert alone.logpx < truth - 0.2  # the encoder's region alone misses the other mode's mass
    res = P.exact_log_marginal(log_joint, *guess, scan=P.grid_scan(log_joint))
    assert len(res.windows) == 2
    assert res.logpx == pytest.approx(truth, abs=1e-3)


def test_the_elbo_on_the_grid_and_q_star_match_the_closed_form_mean_field_optimum():
    lg = LinearGaussian(4)
    mu, sigma = lg.post_mean + np.array([0.02, -0.01]), np.sqrt(np.diag(lg.post_cov)) * 0.8  # the encoder's q
    res = P.exact_log_marginal(lg.log_joint, mu, sigma)
    grid = res.windows[0]
    assert G.elbo_exact(res, mu, np.log(sigma)) == pytest.approx(lg.elbo(mu, sigma), abs=1e-4)
    g = G.gaps_from(res, mu, np.log(sigma))
    assert g.elbo == pytest.approx(lg.elbo(mu, sigma), abs=1e-4)
    assert g.logpx == pytest.approx(lg.logpx(), abs=1e-3)
    # Mean field: the best diagonal Gaussian for N(m, P⁻¹) has mean m and variances 1 / P_jj.
    mu_s, ls_s, trace = G.optimise_q(grid, mu, np.log(sigma), steps=400)
    np.testing.assert_allclose(mu_s, lg.post_mean, atol=2e-3 * sigma.max())
    np.testing.assert_allclose(np.exp(2 * ls_s), 1 / np.diag(lg.precision), rtol=5e-3)
    best = lg.elbo(lg.post_mean, 1 / np.sqrt(np.diag(lg.precision)))
    assert max(trace) == pytest.approx(best, abs=1e-4)
    assert best < lg.logpx() - 0.05  # correlated posterior: a real approximation gap remains


def test_three_latent_dimensions_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="2-D"):
        P.exact_log_marginal(lambda z: P.log_prior(z), np.zeros(3), np.ones(3))


# --- the shipped run -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    from cvae.data.sample import load_bundled_sample
    from cvae.data.sources import model_input

    images, labels, _idx = load_bundled_sample()
    return load_numpy_model(TUTORIAL), model_input(images[:40]), labels[:40]


def test_the_plane_scan_equals_the_decoder_integrand(shipped):
    model, x, _ = shipped
    scan = P.PlaneScan(model, points=5, half=2.0)
    np.testing.assert_allclose(scan(x[:1]).log_f, P.model_log_joint(model, x[:1])(scan.z), rtol=1e-6)


def test_the_gap_decomposition_sums_and_q_star_beats_the_encoder_on_95_percent_of_digits(shipped):
    model, x, _ = shipped
    improved, rows = 0, []
    for i in range(20):
        g = G.gaps(model, x[i:i + 1])
        rows.append(g)
        assert g.kl == pytest.approx(g.approximation + g.amortization, abs=1e-9)
        assert g.logpx == pytest.approx(g.elbo + g.kl, abs=1e-9)
        assert g.kl > 0 and g.approximation > -g.error and g.amortization >= 0
        improved += g.elbo_star > g.elbo + 1e-6
    assert improved >= 0.95 * 20
    # The shipped run has a real gap: several nats of ELBO below log p(x) on average.
    assert np.mean([g.kl for g in rows]) > 1.0


def test_the_exact_elbo_of_the_encoder_equals_the_monte_carlo_average(shipped):
    model, x, _ = shipped
    g = G.gaps(model, x[3:4])
    terms = model.elbo_terms(np.repeat(x[3:4], 4000, axis=0), rng=np.random.default_rng(0))
    mc, se = terms["elbo"].mean(), terms["elbo"].std() / np.sqrt(4000)
    assert abs(g.elbo - mc) < 4 * se + 1e-3, (g.elbo, mc, se)


@pytest.mark.slow
def test_exact_log_px_agrees_with_an_independent_keras_uniform_grid_and_beats_iwae(shipped):
    from cvae.engine.evaluate import iwae_per_example
    from tests.reference import log_marginal_uniform_grid
    from cvae.engine.checkpoints import load_run_model

    model, x, _ = shipped
    tf_model = load_run_model(TUTORIAL)[0]
    scan = P.PlaneScan(model)
    exact = np.array([P.exact_logpx(model, x[i:i + 1], scan).logpx for i in range(3)])
    app = np.array([P.exact_logpx(model, x[i:i + 1], P.PlaneScan(model, points=41), refine_above=0.05).logpx
                    for i in range(3)])  # the app's settings (cvae/explorer/ui/posterior_ui.py)
    mean, _lv = model.encode(x[:3])
    ref = np.array([log_marginal_uniform_grid(tf_model, x[i:i + 1], mean[i]) for i in range(3)])
    np.testing.assert_allclose(exact, ref, atol=0.05)
    np.testing.assert_allclose(app, ref, atol=0.05)
    iwae = iwae_per_example(tf_model, x[:3], 5000, seed=1)
    assert exact.mean() >= iwae.mean() - 0.01
    assert exact.mean() - iwae.mean() < 1.0  # and IWAE is a tight bound there: the two are near


def test_gap_summary_means_per_class_and_largest_gaps():
    rows = [{"logpx": -100.0 - i, "error": 0.001, "elbo": -105.0 - 2 * i, "elbo_star": -100.5 - i, "kl": 5.0 + i,
             "approximation_gap": 0.5, "amortization_gap": 4.5 + i} for i in range(4)]
    s = G.gap_summary(rows, np.array([1, 0, 1, 0]), largest=2)
    assert s["examples"] == 4 and s["logpx"] == pytest.approx(-101.5) and s["kl"] == pytest.approx(6.5)
    assert s["per_class"]["1"] == {**{k: pytest.approx(v) for k, v in s["per_class"]["1"].items()}, "n": 2}
    assert s["per_class"]["0"]["amortization_gap"] == pytest.approx(6.5)  # digits 1 and 3
    assert [r["index"] for r in s["largest_gaps"]] == [3, 2] and s["largest_gaps"][0]["label"] == 0


# --- map layers ----------------------------------------------------------------------------------------------------

def test_aggregate_posterior_equal_to_the_prior_has_zero_kl_and_ratio():
    from cvae.explorer.maths import latent_layers as L

    layer = L.aggregate_layer(np.zeros((5, 2)), np.zeros((5, 2)), samples=500)
    assert layer.kl == pytest.approx(0.0, abs=1e-12) and np.abs(layer.log_ratio).max() < 1e-12


def test_aggregate_kl_of_one_gaussian_matches_the_closed_form_within_its_standard_error():
    from cvae.explorer.maths import latent_layers as L

    mu, sigma = np.array([[0.8, -0.5]]), np.array([[0.3, 0.6]])
    layer = L.aggregate_layer(mu, 2 * np.log(sigma), samples=4000, seed=1)
    closed = 0.5 * float(np.sum(sigma ** 2 + mu ** 2 - 1 - 2 * np.log(sigma)))
    assert abs(layer.kl - closed) < 4 * layer.kl_stderr + 1e-9
    # A mixture that uses only part of the plane leaves holes: log q/p far below 0 where the prior has mass.
    assert layer.log_ratio[len(layer.axis) // 2, 0] < -5


class _LinearDecoder:
    latent_dim = 2

    def __init__(self):
        self.a = np.random.default_rng(0).normal(size=(784, 2))

    def decode(self, z, apply_sigmoid=False):
        return (np.asarray(z, np.float64) @ self.a.T).reshape(-1, 28, 28, 1)


def test_magnification_of_a_linear_decoder_is_sqrt_det_ata_everywhere():
    from cvae.explorer.maths import latent_layers as L

    dec = _LinearDecoder()
    axis, mag = L.magnification_layer(dec, points=9)
    np.testing.assert_allclose(mag, np.sqrt(np.linalg.det(dec.a.T @ dec.a)), rtol=1e-5)  # z passes as float32
    assert mag.shape == (9, 9) and axis[0] == -L.LAYER_HALF
