"""The live classroom's export before a class ends: a CSV of codes and guesses, a zip of the drawings as PNGs."""

from __future__ import annotations

import csv
import io
import time
import zipfile

import numpy as np

from .class_records import GUESS_NOT_A_DIGIT


def export_csv(store, class_id: int) -> str:
    """CSV of the class's codes and guesses: one row per submission, then one per guess."""
    buf = io.StringIO()
    w = csv.writer(buf)
    subs = store.submissions(class_id)
    d = max((len(s.code) for s in subs), default=2)
    w.writerow(["kind", "id", "student", "time_utc", "activity", "round", "guess"] + [f"z{i + 1}" for i in range(d)])
    for s in subs:
        w.writerow(["submission", s.id, s.name, _iso(s.created), s.activity, s.round, ""]
                   + [f"{v:.5f}" for v in s.code])
    for rnd, name, guess, t in store.guesses(class_id):
        w.writerow(["guess", "", name, _iso(t), "predict", rnd,
                    "not a digit" if guess == GUESS_NOT_A_DIGIT else guess] + [""] * d)
    return buf.getvalue()


def export_zip(store, class_id: int) -> bytes:
    """A zip of every drawing as a 28×28 PNG (white ink on black, as the model saw it)."""
    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for s in store.submissions(class_id, with_pixels=True):
            png = io.BytesIO()
            Image.fromarray((s.pixels * 255).astype(np.uint8)).save(png, format="PNG")
            safe = s.name.replace(" ", "_")
            z.writestr(f"drawing_{s.id:05d}_{safe}.png", png.getvalue())
    return buf.getvalue()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
