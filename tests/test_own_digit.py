"""Your own digit: MNIST-style preprocessing (a large, inverted, shifted test digit comes back close), uploads,
nearest neighbours, and `python -m cvae encode`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvae.data.sources import binarize, load_dataset
from cvae.explorer.maths import own_digit as od
from cvae.explorer.maths.numpy_model import load_numpy_model

REPO_ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = REPO_ROOT / "checkpoints" / "tutorial"
MU_DISTANCE = 0.6  # in latent units (the prior's sd is 1)


@pytest.fixture(scope="module")
def digits(mnist_dir) -> np.ndarray:
    return load_dataset("mnist", mnist_dir).test_images[:100]


def render_on_paper(img: np.ndarray, rng: np.random.Generator, scale: int = 8, paper: float = 0.92) -> np.ndarray:
    """A 28x28 MNIST digit drawn x8 (bilinear), dark ink on light paper, at a random place on a larger sheet."""
    big = np.asarray(Image.fromarray(img).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR), np.float32)
    sheet = np.full((28 * scale + 96, 28 * scale + 96), paper, np.float32)
    oy, ox = rng.integers(0, 96, 2)
    sheet[oy:oy + 28 * scale, ox:ox + 28 * scale] = paper * (1.0 - big / 255.0)
    return sheet


def test_large_inverted_shifted_digits_come_back_close_in_latent_space(digits):
    model = load_numpy_model(TUTORIAL)
    mu0, _ = model.encode(binarize(digits))
    rng = np.random.default_rng(0)
    back = []
    for img in digits:
        steps = od.preprocess(render_on_paper(img, rng))
        assert steps.inverted and steps.binary.shape == (28, 28)
        back.append(steps.binary)
    mu1, _ = model.encode(np.stack(back))
    dist = np.linalg.norm(mu1 - mu0, axis=1)
    assert (dist < MU_DISTANCE).mean() >= 0.8, np.percentile(dist, [50, 80, 90])
    # and "close" means much closer than another digit's code is
    other = np.linalg.norm(mu1 - np.roll(mu0, 1, axis=0), axis=1)
    assert np.median(dist) < np.median(other) / 3


def test_steps_follow_the_mnist_recipe():
    sheet = np.ones((200, 300), np.float32)
    sheet[50:150, 100:130] = 0.0  # a dark bar 100 tall, 30 wide, off centre
    s = od.preprocess(sheet)
    assert s.inverted and s.crop.shape == (100, 30)
    assert max(s.scaled.shape) == 20 and s.scaled.shape == (20, 6)
    ys, xs = np.nonzero(s.centred > 0.5)
    assert abs(ys.mean() - 13.5) <= 0.5 and abs(xs.mean() - 13.5) <= 0.5
    np.testing.assert_array_equal(s.binary, (s.centred > 0.5).astype(np.float32))
    dark = np.zeros((40, 40), np.float32)
    dark[10:30, 18:22] = 1.0  # white ink on black: not inverted
    assert not od.preprocess(dark).inverted
    with pytest.raises(od.ImageRejected, match="no ink"):
        od.preprocess(np.ones((30, 30), np.float32))


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_uploads_are_decoded_in_memory_and_bad_ones_get_one_line():
    grey = od.decode_image(_png(np.full((10, 12, 3), 255, np.uint8)))
    assert grey.shape == (10, 12) and grey.max() == 1.0
    assert od.decode_image(_png(np.zeros((9, 9), np.uint8), "JPEG")).shape == (9, 9)
    cases = [(b"%PDF-1.4 not an image", "not an image"), (_png(np.zeros((8, 8), np.uint8), "BMP"), "not a PNG"),
             (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image")]
    for data, words in cases:
        with pytest.raises(od.ImageRejected, match=words) as e:
            od.decode_image(data)
        assert "\n" not in str(e.value)
    with pytest.raises(od.ImageRejected, match="at most"):
        od.decode_image(_png(np.zeros((8, 8), np.uint8)), max_bytes=10)
    with pytest.raises(od.ImageRejected, match="pixels"):
        od.decode_image(_png(np.zeros((100, 100), np.uint8)), max_pixels=99 * 100)


def test_nearest_matches_a_full_sort():
    rng = np.random.default_rng(3)
    codes = rng.normal(size=(500, 2))
    q = np.array([0.3, -0.2])
    want = np.argsort(np.linalg.norm(codes - q, axis=1))[:5]
    np.testing.assert_array_equal(od.nearest(codes, q, 5), want)


def test_cli_encode_prints_one_json_object_per_image(tmp_path, digits):
    paths = []
    rng = np.random.default_rng(1)
    for i in range(2):
        p = tmp_path / f"d{i}.png"
        p.write_bytes(_png((render_on_paper(digits[i], rng) * 255).astype(np.uint8)))
        paths.append(str(p))
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    base = [sys.executable, "-m", "cvae", "encode", "tutorial", "--runs-dir", str(TUTORIAL.parent)]
    r = subprocess.run([*base, *paths, "--iwae-k", "10"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["image"] for row in rows] == paths
    model = load_numpy_model(TUTORIAL)
    for row, img in zip(rows, digits[:2]):
        assert len(row["mu"]) == 2 and all(s > 0 for s in row["sigma"])
        assert np.isfinite([row["elbo"], row["iwae_10"], row["logpx_z"], row["kl"]]).all() and row["kl"] > 0
        mu0 = model.encode(binarize(img[None]))[0][0]
        assert np.linalg.norm(np.array(row["mu"]) - mu0) < 1.0
    r = subprocess.run([*base, str(bad)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {bad}: not an image Pillow can read (PNG or JPEG expected)"]


def test_pad_square_keeps_the_image_centred():
    img = np.zeros((4, 2), np.float32)
    img[:, :] = 1.0
    out = od.pad_square(img, 0.0)
    assert out.shape == (4, 4) and out[:, 1:3].min() == 1.0 and out[:, [0, 3]].max() == 0.0
