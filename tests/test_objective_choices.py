"""The training objective's KL estimate and the linear schedule: checked against tfp.distributions and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from cvae.engine.model import build_model
from cvae.engine.objectives import elbo_terms, training_objective
from cvae.engine.trainer import make_optimizer
from cvae.store.config import ConfigError, TrainConfig

tfd = tfp.distributions


@pytest.fixture(scope="module")
def terms():
    rng = np.random.default_rng(0)
    x = (rng.random((8, 28, 28, 1)) < 0.2).astype(np.float32)
    model = build_model(2, seed=1)
    return model, x, elbo_terms(model, x, tf.constant(rng.standard_normal((8, 2)), tf.float32))


@pytest.mark.parametrize("beta", [1.0, 0.5, 4.0])
def test_closed_form_objective_is_the_likelihood_minus_beta_times_tfps_kl(terms, beta):
    model, x, t = terms
    mean, logvar = model.encode(x)
    kl = tfd.kl_divergence(tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * logvar)),
                           tfd.MultivariateNormalDiag(tf.zeros(2), tf.ones(2))).numpy()
    got = training_objective(t, beta, "closed_form").numpy()
    np.testing.assert_allclose(got, t.logpx_z.numpy() - beta * kl, rtol=1e-5, atol=1e-3)
    # The tutorial's estimator is left exactly as it was.
    np.testing.assert_array_equal(training_objective(t, beta, "sample").numpy(),
                                  (t.logpx_z + beta * t.logpz - beta * t.logqz_x).numpy())


def test_the_sampled_kl_averages_to_the_closed_form():
    """Same expectation: the mean of log q(z|x) - log p(z) over many z is the closed-form KL (tfp's)."""
    mean, logvar = tf.constant([[0.7, -1.2]]), tf.constant([[-1.5, 0.3]])
    q = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * logvar))
    z = q.sample(200_000, seed=3)
    sampled = (q.log_prob(z) - tfd.MultivariateNormalDiag(tf.zeros(2), tf.ones(2)).log_prob(z)).numpy().mean()
    exact = float(tfd.kl_divergence(q, tfd.MultivariateNormalDiag(tf.zeros(2), tf.ones(2)))[0])
    assert abs(sampled - exact) < 0.01


def test_linear_schedule_falls_to_zero_over_the_run():
    opt = make_optimizer(TrainConfig(learning_rate=4e-3, lr_schedule="linear"), steps_total=100)
    sched = opt._learning_rate
    assert [round(float(sched(s)), 9) for s in (0, 50, 100, 150)] == [4e-3, 2e-3, 0.0, 0.0]


def test_config_refuses_unknown_kl_estimates_and_replicas():
    for field, bad in (("kl_estimate", "exact"), ("replicas", 0), ("replicas", 65)):
        with pytest.raises(ConfigError):
            TrainConfig(**{field: bad})
    assert TrainConfig.from_dict({**TrainConfig().to_dict(), "kl_estimate": "closed_form",
                                  "replicas": 2}).replicas == 2


def test_linear_restarts_fall_to_zero_in_every_epoch_from_a_quarter_of_the_last_peak():
    opt = make_optimizer(TrainConfig(learning_rate=4e-3, lr_schedule="linear_restarts", epochs=3), steps_total=300,
                         steps_per_epoch=100)
    sched = opt._learning_rate
    got = [float(sched(s)) for s in (0, 50, 99, 100, 150, 200)]
    want = [4e-3, 2e-3, 4e-5, 1e-3, 5e-4, 2.5e-4]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-9), got
    # without steps_per_epoch the run's steps are shared out over its epochs
    assert float(make_optimizer(TrainConfig(learning_rate=4e-3, lr_schedule="linear_restarts", epochs=2),
                                steps_total=80)._learning_rate(40)) == pytest.approx(1e-3)
