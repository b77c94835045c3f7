"""The transposed-convolution rewrites bench/conv_forms.py times compute the tutorial decoder's layers exactly:
forward and all three gradients against tf.nn.conv2d_transpose (what Keras' Conv2DTranspose runs)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bench.conv_forms import FORMS, LAYERS, native


@pytest.mark.parametrize("form", [f for f in FORMS if f != "native"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_form_matches_native_forward_and_gradients(form, layer):
    n, cin, cout, stride = LAYERS[layer]
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, n, n, cin)).astype("float32"))
    k = tf.constant(rng.normal(0, .1, (3, 3, cout, cin)).astype("float32"))
    b = tf.constant(rng.normal(0, .1, cout).astype("float32"))
    probe = tf.constant(rng.normal(size=(3, n * stride, n * stride, cout)).astype("float32"))

    def run(f):
        with tf.GradientTape() as tape:
            tape.watch([x, k, b])
            y = f(x, k, b, stride)
            s = tf.reduce_sum(y * probe)  # a random cotangent, so every output pixel's gradient path counts
        return [y, *tape.gradient(s, [x, k, b])]

    for want, got in zip(run(native), run(FORMS[form])):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
