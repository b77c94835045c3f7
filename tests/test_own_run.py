"""Your own data end to end (#22, "What it must show"): a generated folder of three classes of shapes (PNG, mixed
sizes, one corrupt file, one non-image) trains for 2 epochs from the CLI, its test ELBO improves, the corrupt file
is reported, `cvae encode` returns a code, the other commands work, resume refuses a changed folder, and the pages
load the run (the Latent plane with the three class names)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("circle", "square", "triangle")
PER_CLASS = 20
TINY = ["--epochs", "2", "--batch-size", "16", "--image-size", "16", "--filters1", "4", "--filters2", "8",
        "--learning-rate", "0.01"]


def shape_png(kind: str, side: int, extra: int, mode: str = "L") -> bytes:
    """One white shape on black, side x (side + extra) pixels (not square: the centre-crop has work to do)."""
    w = side + extra
    im = Image.new(mode, (w, side), 0)
    d, m, x0 = ImageDraw.Draw(im), side * 0.2, extra / 2
    fill = 255 if mode == "L" else (255, 200, 40)
    if kind == "circle":
        d.ellipse([x0 + m, m, x0 + side - m, side - m], fill=fill)
    elif kind == "square":
        d.rectangle([x0 + m, m, x0 + side - m, side - m], fill=fill)
    else:
        d.polygon([(x0 + side / 2, m), (x0 + m, side - m), (x0 + side - m, side - m)], fill=fill)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def make_shapes(root: Path, seed: int = 0) -> Path:
    """Three class folders of PNGs of mixed sizes, one corrupt PNG and one non-image."""
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True)
        for i in range(PER_CLASS):
            (root / kind / f"{i:02d}.png").write_bytes(
                shape_png(kind, int(rng.choice([20, 28, 40, 57])), int(rng.integers(0, 12))))
    (root / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    (root / "square" / "notes.txt").write_text("not an image")
    return root


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cvae", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained from the CLI on the shapes folder: (runs root, shapes folder, env, the train command's result)."""
    tmp = tmp_path_factory.mktemp("own_run")
    shapes = make_shapes(tmp / "shapes")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVAE_CACHE_DIR": str(tmp / "cache"),
           "CVAE_RUNS_DIR": str(tmp / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = cli("train", "--name", "shapes", "--dataset", "folder", "--data-dir", str(shapes), *TINY, env=env)
    return tmp / "runs", shapes, env, done


def test_a_folder_of_shapes_trains_from_the_cli_and_reports_the_corrupt_file(trained):
    runs, shapes, env, done = trained
    assert done.returncode == 0, done.stderr[-2000:]
    skipped = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "2 skipped" in skipped[0], done.stderr[-2000:]
    assert "circle/broken.png: unreadable or truncated" in skipped[0] and "square/notes.txt" in skipped[0]
    assert "3 classes (circle, square, triangle)" in skipped[0]
    epochs = [json.loads(line) for line in (runs / "shapes" / "metrics.jsonl").read_text().splitlines()
              if '"kind": "epoch"' in line]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[1]["test_elbo"] > epochs[0]["test_elbo"]
    config = json.loads((runs / "shapes" / "config.json").read_text())
    assert config["class_names"] == list(CLASSES) and config["data_dir"] == str(shapes.resolve())
    assert config["data_train_images"] + config["data_test_images"] == 3 * PER_CLASS
    assert len(config["data_fingerprint"]) == 64 and config["image_size"] == 16


def test_the_cli_commands_work_on_the_run(trained, tmp_path):
    runs, shapes, env, done = trained
    assert done.returncode == 0
    enc = cli("encode", "shapes", str(shapes / "square" / "03.png"), "--iwae-k", "5", env=env)
    assert enc.returncode == 0, enc.stderr[-2000:]
    out = json.loads(enc.stdout)
    assert len(out["mu"]) == 2 and all(np.isfinite(out["mu"])) and np.isfinite(out["elbo"])
    ev = cli("eval", "shapes", env=env)
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads(ev.stdout)["test_examples"] == json.loads((runs / "shapes" / "config.json").read_text())[
        "data_test_images"]
    for cmd in (["sample", "--n", "4"], ["manifold", "--n", "3"], ["gif"]):
        out_file = tmp_path / f"{cmd[0]}.{'gif' if cmd[0] == 'gif' else 'png'}"
        r = cli(cmd[0], "shapes", *cmd[1:], "--out", str(out_file), env=env)
        assert r.returncode == 0 and out_file.stat().st_size > 0, (cmd, r.stderr[-2000:])
    with Image.open(tmp_path / "sample.png") as im:
        assert im.size[0] >= 2 * 16  # a 2x2 grid of 16x16 images


def test_resume_refuses_a_folder_that_changed(trained):
    runs, shapes, env, done = trained
    assert done.returncode == 0
    extra = shapes / "triangle" / "new.png"
    extra.write_bytes(shape_png("triangle", 30, 3))
    try:
        r = cli("train", "--name", "shapes", "--resume", "--epochs", "3", env=env)
    finally:
        extra.unlink()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("error: ") and "the data changed since this run recorded it" in lines[0]
    assert json.loads((runs / "shapes" / "status.json").read_text())["state"] == "done"  # the run is untouched


def _app(runs: Path, env: dict, page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["cvae_selected_run"] = "shapes"
    at.run()
    return at.switch_page(page).run()


@pytest.fixture
def app_env(trained, monkeypatch):
    runs, shapes, env, done = trained
    assert done.returncode == 0
    monkeypatch.setenv("CVAE_RUNS_DIR", str(runs))
    monkeypatch.setenv("CVAE_CACHE_DIR", env["CVAE_CACHE_DIR"])
    return runs, env


def test_the_latent_plane_shows_the_three_class_names(app_env):
    from cvae.explorer.ui import latent_pad as lp

    at = _app(*app_env, "app_pages/2_Latent_plane.py")
    assert not at.exception, [e.value for e in at.exception]
    el = next(e for e in at.get("bidi_component") if e.proto.component_name == lp.COMPONENT_NAME)
    data = json.loads(el.proto.json)
    assert data["names"] == list(CLASSES)


@pytest.mark.parametrize("page", ["app_pages/3_Reconstruct.py", "app_pages/4_Manifold.py", "app_pages/6_Interpolate.py",
                                  "app_pages/8_Diagnostics.py", "app_pages/7_Your_digit.py"])
def test_the_pages_load_the_run(app_env, page):
    at = _app(*app_env, page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_your_image_is_prepared_like_the_training_images():
    from cvae.explorer.maths import own_image
    from cvae.store.arch import Architecture

    grey = own_image.prepare(shape_png("circle", 40, 20), Architecture(16, 1))
    assert grey.image.shape == (16, 16) and grey.x.shape == (1, 16, 16, 1)
    assert set(np.unique(grey.x)) <= {0.0, 1.0} and grey.image[8, 8] == 255 and grey.image[0, 0] == 0
    colour = own_image.prepare(shape_png("square", 33, 0, "RGB"),
                               Architecture(32, 3, likelihood="discretized_logistic"))
    assert colour.image.shape == (32, 32, 3) and colour.x.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(colour.x[0], colour.image / 255.0, atol=1e-6)  # the 8-bit values, not 0/1
    with pytest.raises(ValueError, match="not a PNG, JPEG, GIF, BMP or WebP image"):
        own_image.prepare(b"hello", Architecture(16, 1))


def test_an_npz_of_arrays_trains_at_its_own_size(tmp_path):
    """`--dataset npz`: the arrays' size and channels are the run's (recorded), their class names too."""
    rng = np.random.default_rng(0)
    x = (rng.random((120, 12, 12)) > 0.5).astype(np.float32)  # float in [0, 1]
    np.savez(tmp_path / "arr.npz", x_train=x[:100], x_test=x[100:], y_train=np.arange(100) % 2,
             y_test=np.arange(20) % 2, class_names=np.array(["odd", "even"]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVAE_CACHE_DIR": str(tmp_path / "cache"),
           "CVAE_RUNS_DIR": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = cli("train", "--name", "arr", "--dataset", "npz", "--data-dir", str(tmp_path / "arr.npz"),
               "--epochs", "1", "--batch-size", "16", "--filters1", "4", "--filters2", "8", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((tmp_path / "runs" / "arr" / "config.json").read_text())
    assert (config["image_size"], config["channels"], config["class_names"]) == (12, 1, ["odd", "even"])
    wrong = cli("train", "--name", "arr16", "--dataset", "npz", "--data-dir", str(tmp_path / "arr.npz"),
                "--image-size", "16", env=env)
    assert wrong.returncode == 1 and "holds 12x12 images" in wrong.stderr and len(wrong.stderr.splitlines()) == 1
