"""Can the training step be made faster by writing the decoder's transposed convolutions another way? (#25)

    PYTHONPATH=. .venv/bin/python -m bench.conv_forms [--batch 32] [--reps 3]

Each of the tutorial decoder's three transposed convolutions, forward + backward (gradients of input, kernel and
bias) at one batch, compiled, in three forms that compute the same numbers (checked here to 1e-5):
  native        tf.nn.conv2d_transpose (what Keras' Conv2DTranspose runs; oneDNN on x86)
  subpixel-conv a stride-2 3x3 transposed conv as one stride-1 2x2 conv to 4x the channels + depth_to_space
                (a 1x1 / 3x3 stride-1 one as the equivalent flipped-kernel conv)
  im2col        the same as one matmul over explicitly gathered patches (autodiff through the slices)
  tap-matmul    one matmul to a map per kernel tap, the nine maps added at their offsets (stride 2: per output
                parity, interleaved) -- the form CVAE.decode_fast uses for the last layer at inference
and the whole training step compiled with and without XLA (jit_compile). Ratios are against the native form of the
same run; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from .common import machine_header, median, print_header, quiet_tf, table

quiet_tf()
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

KIDX = {(0, 0): 2, (0, 1): 0, (1, 1): 1}  # (output parity, tap over x padded by one in front) -> kernel row


def subpixel_weight(k: tf.Tensor) -> tf.Tensor:
    """Kernel (3, 3, out, in) of a stride-2 'same' transposed conv -> (4 in, 4 out): rows (ti, tj, c), cols (a, b, o)."""
    cout, cin = k.shape[2], k.shape[3]
    zero = tf.zeros([cin, cout], k.dtype)
    rows = []
    for ti in range(2):
        for tj in range(2):
            row = [zero if KIDX.get((a, ti)) is None or KIDX.get((b, tj)) is None
                   else tf.transpose(k[KIDX[(a, ti)], KIDX[(b, tj)]]) for a in range(2) for b in range(2)]
            rows.append(tf.concat(row, 1))
    return tf.concat(rows, 0)


def native(x, k, b, stride):
    n = x.shape[1]
    return tf.nn.conv2d_transpose(x, k, [tf.shape(x)[0], n * stride, n * stride, k.shape[2]], stride, "SAME") + b


def subpixel_conv(x, k, b, stride):
    if stride == 1:
        return tf.nn.conv2d(x, tf.transpose(k[::-1, ::-1], [0, 1, 3, 2]), 1, "SAME") + b
    xp = tf.pad(x, [[0, 0], [1, 0], [1, 0], [0, 0]])
    w = tf.reshape(subpixel_weight(k), [2, 2, x.shape[3], 4 * k.shape[2]])
    return tf.nn.depth_to_space(tf.nn.conv2d(xp, w, 1, "VALID"), 2) + b


def im2col(x, k, b, stride):
    n, cin, cout = x.shape[1], x.shape[3], k.shape[2]
    if stride == 1:
        xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        p = tf.concat([xp[:, 2 - i:2 - i + n, 2 - j:2 - j + n] for i in range(3) for j in range(3)], -1)
        w = tf.reshape(tf.transpose(k, [0, 1, 3, 2]), [9 * cin, cout])
        return tf.reshape(tf.matmul(tf.reshape(p, [-1, 9 * cin]), w), [-1, n, n, cout]) + b
    xp = tf.pad(x, [[0, 0], [1, 0], [1, 0], [0, 0]])
    p = tf.concat([xp[:, ti:ti + n, tj:tj + n] for ti in range(2) for tj in range(2)], -1)
    y = tf.matmul(tf.reshape(p, [-1, 4 * cin]), subpixel_weight(k))
    return tf.nn.depth_to_space(tf.reshape(y, [-1, n, n, 4 * cout]), 2) + b


def _shift(t, axis: int):
    """t[m - 1] along rows (axis 1) or columns (axis 2), zero at m = 0."""
    pad = [[0, 0]] * 4
    pad[axis] = [1, 0]
    return tf.pad(t[:, :-1] if axis == 1 else t[:, :, :-1], pad)


def tap_matmul(x, k, b, stride):
    n, cin, cout = x.shape[1], x.shape[3], k.shape[2]
    w = tf.reshape(tf.transpose(k, [3, 0, 1, 2]), [cin, 9 * cout])
    t = tf.reshape(tf.matmul(tf.reshape(x, [-1, cin]), w), [-1, n, n, 9, cout])
    if stride == 1:
        p, e = tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0]]), n + 2
        return tf.add_n([p[:, 2 - i:e - i, 2 - j:e - j, 3 * i + j] for i in range(3) for j in range(3)]) + b
    # Stride 2, 'same': output 2m + k gets input m's tap k, so even rows take taps 0 (at m) and 2 (at m - 1), odd
    # rows tap 1 (at m); columns likewise.
    taps = {0: ((0, False), (2, True)), 1: ((1, False),)}

    def phase(a, c):
        terms = []
        for i, si in taps[a]:
            for j, sj in taps[c]:
                v = t[:, :, :, 3 * i + j]
                v = _shift(v, 1) if si else v
                terms.append(_shift(v, 2) if sj else v)
        return tf.add_n(terms)
    rows = [tf.stack([phase(a, 0), phase(a, 1)], 3) for a in (0, 1)]
    return tf.reshape(tf.stack(rows, 2), [-1, 2 * n, 2 * n, cout]) + b


FORMS = {"native": native, "subpixel-conv": subpixel_conv, "im2col": im2col, "tap-matmul": tap_matmul}
LAYERS = {"dec_deconv1 7x7x32 -> 14x14x64": (7, 32, 64, 2), "dec_deconv2 14x14x64 -> 28x28x32": (14, 64, 32, 2),
          "dec_logits 28x28x32 -> 28x28x1": (28, 32, 1, 1)}


def forward_backward(form, stride):
    @tf.function
    def f(x, k, b):
        with tf.GradientTape() as tape:
            tape.watch([x, k, b])
            y = form(x, k, b, stride)
            s = tf.reduce_sum(y * y)
        return tape.gradient(s, [x, k, b])
    return f


def timed(f, args, steps: int) -> float:
    f(*args)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = f(*args)
    [o.numpy() for o in tf.nest.flatten(out)]
    return (time.perf_counter() - t0) / steps


def whole_step(batch: int, jit: bool):
    import keras

    from cvae.engine.model import build_model

    model, opt = build_model(2, seed=0), keras.optimizers.Adam(1e-4)
    x = tf.constant((np.random.default_rng(0).random((batch, 28, 28, 1)) > .5).astype("float32"))

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            mean, logvar = model.encode(x)
            eps = tf.random.normal(tf.shape(mean))
            z = eps * tf.exp(logvar * .5) + mean
            ce = tf.nn.sigmoid_cross_entropy_with_logits(logits=model.decode(z), labels=x)
            loss = tf.reduce_mean(tf.reduce_sum(ce, [1, 2, 3]) + tf.reduce_sum(.5 * z * z, 1)
                                  - tf.reduce_sum(.5 * eps * eps + .5 * logvar, 1))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step, (x,)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="transposed convolutions written three ways, and XLA, vs native")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args(argv)
    info = machine_header()
    print_header(f"transposed-convolution forms, forward + backward at batch {args.batch}", info)
    rng = np.random.default_rng(0)
    rows, result = [], {}
    for name, (n, cin, cout, stride) in LAYERS.items():
        x = tf.constant(rng.normal(size=(args.batch, n, n, cin)).astype("float32"))
        k = tf.constant(rng.normal(0, .05, (3, 3, cout, cin)).astype("float32"))
        b = tf.constant(rng.normal(0, .05, cout).astype("float32"))
        ref = native(x, k, b, stride)
        for form in ("subpixel-conv", "im2col", "tap-matmul"):
            err = float(tf.reduce_max(tf.abs(FORMS[form](x, k, b, stride) - ref)))
            assert err < 1e-5 * max(1.0, float(tf.reduce_max(tf.abs(ref)))), (name, form, err)
        fns = {form: forward_backward(f, stride) for form, f in FORMS.items()}
        ms = {form: [] for form in FORMS}
        for _ in range(args.reps):  # alternating
            for form, f in fns.items():
                ms[form].append(1e3 * timed(f, (x, k, b), args.steps))
        base = median(ms["native"])
        result[name] = {form: {"ms": median(v), "vs_native": median(v) / base} for form, v in ms.items()}
        rows += [[name, form, median(v), f"{median(v) / base:.2f}x"] for form, v in ms.items()]
    print(table(rows, ["layer", "form", "ms per forward+backward", "time vs native (>1: slower)"]))
    steps = {jit: whole_step(args.batch, jit) for jit in (False, True)}
    ms = {False: [], True: []}
    for _ in range(args.reps):
        for jit, (f, a) in steps.items():
            ms[jit].append(1e3 * timed(f, a, max(args.steps // 4, 20)))
    step = {"compiled": median(ms[False]), "xla": median(ms[True])}
    print(f"\nwhole training step at batch {args.batch}: compiled {step['compiled']:.2f} ms, XLA {step['xla']:.2f} ms "
          f"(XLA at {step['compiled'] / step['xla']:.2f}x the speed)")
    print(json.dumps({"bench": "conv_forms", "cpu": info["cpu_model"], "batch": args.batch, "layers": result,
                      "step_ms": step, "xla_speedup": step["compiled"] / step["xla"]}))


if __name__ == "__main__":
    main()
