"""Which settings reach the tutorial's quality (test ELBO >= -157) in ONE epoch? (issue #25)

    .venv/bin/python -m bench.one_epoch_recipes --batch 16 --lr 4e-3 --kl analytic --sched linear --alpha 0 --seed 3

Trains the tutorial's model (latent_dim 2, full binarized MNIST) for --epochs passes with Adam and the given schedule,
batch, KL estimate (mc: the tutorial's sampled KL; analytic: closed form), optional Keras EMA, output-bias init, and
prints the project's test ELBO (cvae.engine.trainer.Trainer.evaluate: 10,000 digits, fixed noise) --evals times per
epoch. A quality probe, not a timing: run two at once with --threads 1. The last line printed is one JSON object.
Results: bench/RESULTS.md, "One epoch instead of two".
"""
import argparse, json, math, sys, time

from bench.common import DEFAULT_DATA_DIR
ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--epochs", type=float, default=1.0)
ap.add_argument("--kl", default="mc")
ap.add_argument("--ema", type=float, default=0.0)
ap.add_argument("--warmup", type=float, default=0.0)  # fraction of steps
ap.add_argument("--alpha", type=float, default=0.02)
ap.add_argument("--b2", type=float, default=0.999)
ap.add_argument("--b1", type=float, default=0.9)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
ap.add_argument("--evals", type=int, default=4)  # per epoch
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--prec", default="float32")
ap.add_argument("--sched", default="cosine")
ap.add_argument("--binit", type=int, default=0)
ap.add_argument("--restart", type=float, default=0.0)  # > 0: sched restarts every epoch, peak lr * restart**epoch
a = ap.parse_args()
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(a.threads)
tf.config.threading.set_inter_op_parallelism_threads(a.threads)
import numpy as np, keras
from cvae.engine.train import prepare_data
from cvae.engine.trainer import Trainer
from cvae.engine.objectives import elbo_terms
from cvae.store.config import TrainConfig
data = prepare_data(TrainConfig(data_dir=a.data_dir))
cfg = TrainConfig(batch_size=a.batch, learning_rate=a.lr, seed=a.seed, precision=a.prec)
t = Trainer(cfg, data)
model = t.model
if a.binit:
    last = model.decoder.layers[-1]
    m = float(np.clip(data.train.mean(), 1e-3, 1 - 1e-3))
    print("bias init", last.name, m, flush=True)
    last.bias.assign(tf.fill(last.bias.shape, float(np.log(m / (1 - m)))))
n = len(data.train)
spe = math.ceil(n / a.batch)
total = int(round(spe * a.epochs))
warm = int(total * a.warmup)
class Sched(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        w = tf.minimum(1.0, (step + 1) / max(warm, 1)) if warm else 1.0
        p = tf.minimum(1.0, tf.maximum(0.0, (step - warm) / max(total - warm, 1)))
        peak = a.lr
        if a.restart > 0:
            ep = tf.floor(step / spe)
            p = (step - ep * spe) / spe
            peak = a.lr * tf.pow(a.restart, ep)
        if a.sched == "cosine":
            c = 0.5 * (1 + tf.cos(math.pi * p))
        elif a.sched == "linear":
            c = 1 - p
        else:
            c = 1.0
        return peak * w * ((1 - a.alpha) * c + a.alpha)
opt = keras.optimizers.Adam(Sched(), beta_1=a.b1, beta_2=a.b2, use_ema=a.ema > 0, ema_momentum=a.ema or 0.99,
                            ema_overwrite_frequency=None)
opt.build(model.trainable_variables)
rng = tf.random.Generator.from_seed(a.seed)
x_all = tf.constant(data.train)
@tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
def chunk(bi):
    k = tf.shape(bi)[0]
    for i in tf.range(k):
        x = tf.gather(x_all, bi[i])
        eps = rng.normal(tf.stack([tf.shape(x)[0], 2]))
        with tf.GradientTape() as tape:
            tr = elbo_terms(model, x, eps)
            if a.kl == "analytic":
                obj = tr.logpx_z - tr.kl
            else:
                obj = tr.elbo
            loss = -tf.reduce_mean(obj)
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables))
    return loss
def ev():
    if a.ema > 0:
        saved = [v.numpy() for v in model.trainable_variables]
        opt.finalize_variable_values(model.trainable_variables)
    t._synced_step = -2
    r = t.evaluate()["test_elbo"]
    if a.ema > 0:
        for v, s in zip(model.trainable_variables, saved): v.assign(s)
    return r
gen = np.random.default_rng(a.seed)
done = 0; t0 = time.perf_counter(); out = []
every = spe // a.evals
while done < total:
    order = gen.permutation(n).astype(np.int32)
    idx = order[: n // a.batch * a.batch].reshape(-1, a.batch)
    for s in range(0, len(idx), every):
        kk = min(every, total - done, len(idx) - s)
        if kk <= 0: break
        chunk(idx[s:s+kk]); done += kk
        e = ev()
        out.append((round(done / spe, 3), round(float(e), 2)))
        print(f"epoch {done/spe:.2f}: test ELBO {e:.2f} ({time.perf_counter()-t0:.0f} s)", flush=True)
        if done >= total: break
print(json.dumps({"args": vars(a), "traj": out}))
