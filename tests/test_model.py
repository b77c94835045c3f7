"""Tests for cvae.engine.model: the tutorial's architecture, shapes, parameter counts, names, weights I/O, precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cvae.engine.model import WEIGHT_LAYERS, build_model, get_weight_arrays, set_weight_arrays


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def dense_params(nin: int, nout: int) -> int:
    return nin * nout + nout


def conv_valid_size(n: int, k: int = 3, s: int = 2) -> int:
    return (n - k) // s + 1


def expected_params(d: int) -> dict[str, int]:
    # Encoder: 28 -> 13 -> 6 with 3x3 stride-2 valid convolutions, so the dense layer sees 6*6*64 features.
    side = conv_valid_size(conv_valid_size(28))
    return {
        "enc_conv1": conv_params(3, 1, 32),
        "enc_conv2": conv_params(3, 32, 64),
        "enc_dense": dense_params(side * side * 64, 2 * d),
        "dec_dense": dense_params(d, 7 * 7 * 32),
        "dec_deconv1": conv_params(3, 32, 64),
        "dec_deconv2": conv_params(3, 64, 32),
        "dec_logits": conv_params(3, 32, 1),
    }


def test_parameter_counts_latent_2():
    model = build_model(2)
    expected = expected_params(2)
    # Independent arithmetic, and the numbers of the issue.
    assert conv_valid_size(28) == 13 and conv_valid_size(13) == 6
    assert expected == {"enc_conv1": 320, "enc_conv2": 18496, "enc_dense": 9220, "dec_dense": 4704,
                        "dec_deconv1": 18496, "dec_deconv2": 18464, "dec_logits": 289}
    got = {layer.name: layer.count_params() for part in (model.encoder, model.decoder) for layer in part.layers}
    assert {k: got[k] for k in expected} == expected
    # Flatten and reshape have no weights; nothing else does either.
    assert all(got[k] == 0 for k in got if k not in expected)
    assert sum(expected.values()) == 69989
    assert model.count_params() == 69989
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == 69989
    assert len(model.non_trainable_variables) == 0


@pytest.mark.parametrize("d", [1, 64])
def test_other_latent_dims(d):
    model = build_model(d)
    assert model.count_params() == sum(expected_params(d).values())
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    mean, logvar = model.encode(x)
    assert mean.shape == (3, d) and logvar.shape == (3, d)
    assert model.decode(tf.zeros((5, d))).shape == (5, 28, 28, 1)
    assert model.sample().shape == (100, 28, 28, 1)


def test_every_layer_output_shape():
    d = 2
    model = build_model(d)
    b = 7
    h = tf.zeros((b, 28, 28, 1))
    shapes = {}
    for layer in model.encoder.layers:
        h = layer(h)
        shapes[layer.name] = tuple(h.shape)
    h = tf.zeros((b, d))
    for layer in model.decoder.layers:
        h = layer(h)
        shapes[layer.name] = tuple(h.shape)
    assert shapes == {
        "enc_conv1": (b, 13, 13, 32), "enc_conv2": (b, 6, 6, 64), "enc_flatten": (b, 2304), "enc_dense": (b, 2 * d),
        "dec_dense": (b, 1568), "dec_reshape": (b, 7, 7, 32), "dec_deconv1": (b, 14, 14, 64),
        "dec_deconv2": (b, 28, 28, 32), "dec_logits": (b, 28, 28, 1),
    }
    # Keras' own static shapes agree.
    assert model.encoder.output_shape == (None, 2 * d)
    assert model.decoder.output_shape == (None, 28, 28, 1)


def test_any_batch_size_without_retracing():
    model = build_model(2)
    traces = {"encode": 0, "decode": 0}

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def encode(x):
        traces["encode"] += 1  # Python side effect: runs only while tracing
        return model.encode(x)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def roundtrip(z):
        traces["decode"] += 1
        return model.decode(z, apply_sigmoid=True)

    rng = np.random.default_rng(0)
    for b in (1, 7, 100):
        mean, logvar = encode(rng.random((b, 28, 28, 1), dtype=np.float32))
        assert mean.shape == (b, 2) and logvar.shape == (b, 2)
        assert roundtrip(rng.standard_normal((b, 2)).astype(np.float32)).shape == (b, 28, 28, 1)
        # reparameterize uses the dynamic batch size too
        assert model.reparameterize(mean, logvar).shape == (b, 2)
    assert traces == {"encode": 1, "decode": 1}
    assert encode.experimental_get_tracing_count() == 1 and roundtrip.experimental_get_tracing_count() == 1


def test_decode_returns_logits_and_apply_sigmoid_is_sigmoid_of_them():
    model = build_model(2, seed=0)
    z = np.random.default_rng(1).standard_normal((6, 2)).astype(np.float32) * 3
    logits = model.decode(z).numpy()
    probs = model.decode(z, apply_sigmoid=True).numpy()
    assert logits.dtype == np.float32 and logits.shape == (6, 28, 28, 1)
    assert logits.min() < 0.0  # logits, not probabilities
    np.testing.assert_allclose(probs, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-5, atol=1e-7)
    assert ((probs > 0) & (probs < 1)).all()


@pytest.mark.parametrize("latent_dim,precision", [(2, "float32"), (8, "float32"), (2, "mixed_bfloat16")])
def test_decode_fast_equals_decode(latent_dim, precision):
    """The inference formulation of the last layer (taps by matmul, shifted by a 0/1 conv) = the Keras layer,
    with non-zero biases and an asymmetric kernel (a flipped or transposed tap would show), any batch size."""
    model = build_model(latent_dim, precision, seed=2)
    rng = np.random.default_rng(3)
    set_weight_arrays(model, {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32)
                              for k, v in get_weight_arrays(model).items()})
    spec = [tf.TensorSpec([None, latent_dim], tf.float32)]
    fast = tf.function(model.decode_fast, input_signature=spec)
    slow = tf.function(model.decode, input_signature=spec)  # both compiled: eager bf16 kernels round differently
    for n in (0, 1, 37):
        z = rng.standard_normal((n, latent_dim)).astype(np.float32) * 2
        want = slow(z).numpy()
        got = fast(z).numpy()
        assert got.shape == want.shape == (n, 28, 28, 1) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    probs = model.decode_fast(z, apply_sigmoid=True).numpy()
    np.testing.assert_allclose(probs, tf.sigmoid(model.decode_fast(z)).numpy(), rtol=1e-5, atol=1e-6)
    assert fast.experimental_get_tracing_count() == 1


def test_reparameterize_formula():
    model = build_model(2)
    mean = tf.constant([[1.0, -2.0], [0.5, 0.0]])
    logvar = tf.constant([[0.0, 2.0], [-1.0, 1.0]])
    eps = tf.constant([[0.3, -1.0], [2.0, 0.1]])
    z = model.reparameterize(mean, logvar, eps).numpy()
    np.testing.assert_allclose(z, mean.numpy() + np.exp(0.5 * logvar.numpy()) * eps.numpy(), rtol=1e-6)


def _layer_names(model) -> list[str]:
    return [layer.name for part in (model.encoder, model.decoder) for layer in part.layers]


def test_layer_names_explicit_and_stable_across_builds():
    a = build_model(2)
    names_a, paths_a = _layer_names(a), [v.path for v in a.weights]
    b = build_model(2)  # a second model in the same session: Keras must not rename to enc_conv1_1
    keras.backend.clear_session()
    c = build_model(2)
    expected = ["enc_conv1", "enc_conv2", "enc_flatten", "enc_dense",
                "dec_dense", "dec_reshape", "dec_deconv1", "dec_deconv2", "dec_logits"]
    assert names_a == expected
    for m in (b, c):
        assert _layer_names(m) == names_a
        assert [v.path for v in m.weights] == paths_a
        assert list(get_weight_arrays(m)) == list(get_weight_arrays(a))
    assert (a.encoder.name, a.decoder.name) == ("encoder", "decoder")
    assert list(get_weight_arrays(a)) == [f"{n}/{k}" for n in WEIGHT_LAYERS for k in ("kernel", "bias")]


def test_seeded_initial_weights_are_reproducible():
    a, b, c = build_model(2, seed=5), build_model(2, seed=5), build_model(2, seed=6)
    wa, wb, wc = get_weight_arrays(a), get_weight_arrays(b), get_weight_arrays(c)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert not np.array_equal(wa["enc_conv1/kernel"], wc["enc_conv1/kernel"])
    # Layers do not share one draw (these two kernels have the same size and Glorot limit).
    assert not np.array_equal(wa["dec_deconv1/kernel"].ravel(), wa["enc_conv2/kernel"].ravel())
    # Unseeded builds still differ (Keras' default, for the app and tests that want fresh weights).
    u1, u2 = get_weight_arrays(build_model(2)), get_weight_arrays(build_model(2))
    assert not np.array_equal(u1["enc_conv1/kernel"], u2["enc_conv1/kernel"])


def test_weight_arrays_round_trip():
    src, dst = build_model(2), build_model(2)
    arrays = get_weight_arrays(src)
    assert all(v.dtype == np.float32 for v in arrays.values())
    # Non-zero biases too, so a swapped kernel/bias or layer could not pass.
    rng = np.random.default_rng(0)
    arrays = {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in arrays.items()}
    set_weight_arrays(src, arrays)
    set_weight_arrays(dst, get_weight_arrays(src))
    back = get_weight_arrays(dst)
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    for s, d in zip(src.encode(x), dst.encode(x)):
        np.testing.assert_array_equal(s.numpy(), d.numpy())
    z = rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_array_equal(src.decode(z).numpy(), dst.decode(z).numpy())


def test_set_weight_arrays_errors_and_changes_nothing_on_error():
    model = build_model(2)
    before = get_weight_arrays(model)
    other = get_weight_arrays(build_model(3))
    with pytest.raises(ValueError, match=r"enc_dense/kernel has shape \(2304, 6\), model expects \(2304, 4\)"):
        set_weight_arrays(model, other)
    # enc_conv1/enc_conv2 of the other model have matching shapes but must not have been loaded.
    after = get_weight_arrays(model)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    missing = dict(before)
    del missing["dec_logits/bias"]
    with pytest.raises(ValueError, match="missing array 'dec_logits/bias'"):
        set_weight_arrays(model, missing)


def test_mixed_bfloat16_outputs_float32():
    fp32 = build_model(2, seed=1)
    bf16 = build_model(2, "mixed_bfloat16", seed=1)
    assert bf16.encoder.get_layer("enc_conv1").compute_dtype == "bfloat16"
    assert bf16.decoder.get_layer("dec_deconv1").compute_dtype == "bfloat16"
    # Variables stay float32 and the output layers compute in float32.
    assert all(v.dtype == "float32" for v in bf16.weights)
    assert bf16.encoder.get_layer("enc_dense").compute_dtype == "float32"
    assert bf16.decoder.get_layer("dec_logits").compute_dtype == "float32"
    x = (np.random.default_rng(0).random((5, 28, 28, 1)) > 0.5).astype(np.float32)
    mean, logvar = bf16.encode(x)
    logits = bf16.decode(mean)
    probs = bf16.decode(mean, apply_sigmoid=True)
    assert mean.dtype == tf.float32 and logvar.dtype == tf.float32
    assert logits.dtype == tf.float32 and probs.dtype == tf.float32
    assert logits.shape == (5, 28, 28, 1)
    # Same weights: bf16 results are close to the float32 model's (bf16 has ~3 significant digits).
    m32, _ = fp32.encode(x)
    np.testing.assert_allclose(mean.numpy(), m32.numpy(), atol=0.05)
    np.testing.assert_allclose(probs.numpy(), fp32.decode(m32, apply_sigmoid=True).numpy(), atol=0.02)
