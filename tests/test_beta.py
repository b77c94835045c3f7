"""β-VAE (Higgins et al. 2017): the training objective E[log p(x|z)] − β·KL; β = 1 is today's loss bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from cvae.data.sources import binarize, load_dataset
from cvae.engine import objectives
from cvae.engine.model import build_model, get_weight_arrays
from cvae.engine.trainer import TrainData, Trainer, make_optimizer
from cvae.store.config import TrainConfig
from cvae.store.errors import ConfigError

tfd = tfp.distributions


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_dataset("mnist", mnist_dir)


def _loss_and_grads(model, x, eps, objective):
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(objective(objectives.elbo_terms(model, x, eps)))
    return loss.numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def test_beta_one_is_todays_loss_and_gradients_bit_for_bit(mnist):
    model = build_model(2, seed=3)
    x = tf.constant(binarize(mnist.test_images[:64]))
    eps = tf.constant(np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32))
    terms = objectives.elbo_terms(model, x, eps)
    assert np.array_equal(objectives.beta_objective(terms, 1.0).numpy(), terms.elbo.numpy())
    old_loss, old_grads = _loss_and_grads(model, x, eps, lambda t: t.elbo)
    new_loss, new_grads = _loss_and_grads(model, x, eps, lambda t: objectives.beta_objective(t, 1.0))
    assert old_loss == new_loss
    for a, b in zip(old_grads, new_grads):
        assert np.array_equal(a, b)
    # and β changes it: the objective is not the ELBO any more
    assert not np.array_equal(objectives.beta_objective(terms, 2.0).numpy(), terms.elbo.numpy())


def test_beta_objective_matches_tfp_on_the_same_z(mnist):
    model = build_model(2, seed=1)
    x = tf.constant(binarize(mnist.test_images[:8]))
    eps = tf.constant(np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32))
    mean, logvar = model.encode(x)
    z = mean + tf.exp(0.5 * logvar) * eps
    px_z = tfd.Independent(tfd.Bernoulli(logits=model.decode(z), dtype=tf.float32), reinterpreted_batch_ndims=3)
    pz = tfd.MultivariateNormalDiag(tf.zeros_like(z), tf.ones_like(z))
    qz_x = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * logvar))
    for beta in (0.5, 4.0):
        want = px_z.log_prob(x) - beta * (qz_x.log_prob(z) - pz.log_prob(z))
        got = objectives.beta_objective(objectives.elbo_terms(model, x, eps), beta)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4)


def _todays_chunk(model, optimizer, rng, x_all, latent_dim):
    """The training chunk as it was before β (the loss is the negative ELBO)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def train_chunk(batch_indices):
        k = tf.shape(batch_indices)[0]
        losses = tf.TensorArray(tf.float32, size=k)
        for i in tf.range(k):
            x = tf.gather(x_all, batch_indices[i])
            eps = rng.normal(tf.stack([tf.shape(x)[0], latent_dim]))
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(objectives.elbo_terms(model, x, eps).elbo)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses = losses.write(i, loss)
        return losses.stack()

    return train_chunk


def test_trainer_with_beta_one_takes_todays_steps_bit_for_bit(mnist):
    config = TrainConfig(max_train_examples=128, max_test_examples=16, batch_size=32, epochs=1,
                         learning_rate=1e-3, log_every_steps=4, num_examples_to_generate=4)
    assert config.beta == 1.0  # the default is the tutorial's ELBO
    data = TrainData(train=binarize(mnist.train_images[:128]), test=binarize(mnist.test_images[:16]))
    trainer = Trainer(config, data)
    idx = trainer.epoch_order(1).reshape(4, 32)
    losses = trainer._train_chunk(idx).numpy()  # noqa: SLF001

    model = build_model(2, seed=config.seed)
    optimizer = make_optimizer(config, 4)
    optimizer.build(model.trainable_variables)
    rng = tf.random.Generator.from_seed(config.seed)
    ref_losses = _todays_chunk(model, optimizer, rng, tf.constant(data.train), 2)(idx).numpy()
    assert np.array_equal(losses, ref_losses)
    got, want = get_weight_arrays(trainer.model), get_weight_arrays(model)
    assert all(np.array_equal(got[k], want[k]) for k in want)


def test_epoch_row_reports_the_true_elbo_and_the_objective_beside_it(mnist):
    config = TrainConfig(max_train_examples=64, max_test_examples=16, batch_size=32, epochs=1,
                         learning_rate=1e-3, log_every_steps=2, num_examples_to_generate=4, beta=4.0)
    data = TrainData(train=binarize(mnist.train_images[:64]), test=binarize(mnist.test_images[:16]))
    trainer = Trainer(config, data)
    trainer.run_epochs()
    row = trainer.last_row
    assert row["beta"] == 4.0
    # the ELBO is log p(x|z) - KL_mc; the objective weighs the same KL estimate by beta
    kl_mc = row["test_logpx_z"] - row["test_elbo"]
    assert row["test_objective"] == pytest.approx(row["test_logpx_z"] - 4.0 * kl_mc, rel=1e-9)
    assert row["test_objective"] < row["test_elbo"]  # KL > 0 on average, weighted 4x


@pytest.mark.parametrize("bad", [0, -1.0, 20.5, float("nan"), "2"])
def test_beta_out_of_range_is_refused_with_the_field(bad):
    with pytest.raises(ConfigError) as e:
        TrainConfig(beta=bad)
    assert e.value.field == "beta"


def test_beta_is_a_flag_and_a_form_slider():
    from cvae.cli import _config_from_args, build_parser
    from cvae.explorer.ui import train_form

    a = build_parser().parse_args(["train", "--name", "b", "--beta", "2"])
    assert _config_from_args(a).beta == 2.0
    assert train_form.widget_values(TrainConfig(beta=2.5))["beta"] == 2.5
    config, errors = train_form.build_config("tutorial", train_form.widget_values(TrainConfig(beta=0.5)))
    assert errors == {} and config.beta == 0.5
