"""Training cost of wider networks (issue #14): seconds per training image for conv widths 32/64 (the tutorial),
128/128 and 512/512 (the tutorial's "bigger network" suggestion), on MNIST, extrapolated to a 60,000-image epoch.

    .venv/bin/python -m bench.widths [--images 640] [--repeats 3]

Each width: the project's Trainer (compiled multi-step chunks, batch 32, as `cvae train`), one warm-up chunk, then
`repeats` timed chunks of `images` training images, alternating between widths; the median seconds per image.
Also the test-set evaluation (compiled ELBO) per image. Results: printed, and bench/out/widths.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .common import DEFAULT_DATA_DIR, machine_header, median, print_header, quiet_tf, write_json

quiet_tf()

from cvae.data.sources import binarize, load_dataset  # noqa: E402
from cvae.engine.trainer import TrainData, Trainer  # noqa: E402
from cvae.store.arch import architecture_of  # noqa: E402
from cvae.store.config import TrainConfig  # noqa: E402

WIDTHS = ((32, 64), (128, 128), (512, 512))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=640, help="training images per timed chunk (multiple of 32)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    a = ap.parse_args()
    info = machine_header()
    print_header("Conv widths: seconds per training image (MNIST, batch 32)", info)
    ds = load_dataset("mnist", a.data_dir)
    steps = a.images // 32
    train = binarize(ds.train_images[: a.images])
    test = binarize(ds.test_images[:500])
    trainers = {}
    for f1, f2 in WIDTHS:
        config = TrainConfig(filters1=f1, filters2=f2, max_train_examples=a.images, log_every_steps=steps)
        t = Trainer(config, TrainData(train=train, test=test))
        idx = np.arange(steps * 32, dtype=np.int32).reshape(steps, 32)
        t._train_chunk(idx[:1]).numpy()  # trace and warm up
        t.evaluate()
        trainers[(f1, f2)] = (t, idx)
    train_s = {w: [] for w in WIDTHS}
    eval_s = {w: [] for w in WIDTHS}
    for _ in range(a.repeats):
        for w in WIDTHS:  # alternating, so a busy moment on the shared cores hits every width
            t, idx = trainers[w]
            t0 = time.perf_counter()
            t._train_chunk(idx).numpy()
            train_s[w].append((time.perf_counter() - t0) / (steps * 32))
            t0 = time.perf_counter()
            t.evaluate()
            eval_s[w].append((time.perf_counter() - t0) / len(test))
    rows = []
    base = median(train_s[WIDTHS[0]])
    print(f"{'filters':>10} {'MMACs/img':>10} {'ms/img train':>13} {'x default':>10} {'ms/img eval':>12} "
          f"{'epoch (60k + 10k eval)':>24}")
    for w in WIDTHS:
        per, ev = median(train_s[w]), median(eval_s[w])
        macs = architecture_of(TrainConfig(filters1=w[0], filters2=w[1])).macs_per_image()
        epoch = 60_000 * per + 10_000 * ev
        rows.append({"filters1": w[0], "filters2": w[1], "macs_per_image": macs, "train_seconds_per_image": per,
                     "eval_seconds_per_image": ev, "epoch_seconds_estimate": epoch, "train_samples": train_s[w]})
        print(f"{w[0]:>4}/{w[1]:<5} {macs / 1e6:>10.2f} {per * 1e3:>13.3f} {per / base:>10.1f} {ev * 1e3:>12.3f} "
              f"{epoch:>20.0f} s")
    write_json("widths", {"machine": info, "images_per_chunk": steps * 32, "repeats": a.repeats, "rows": rows})


if __name__ == "__main__":
    main()
