"""Every page with a colour run (issue #14): CIFAR-10-format test data generated here, weights written directly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from cifar_support import make_cifar_dir
from test_app import PAGES, app_test, array, charts, no_exceptions, texts

from cvae.store import runs
from cvae.store.arch import architecture_of
from cvae.store.config import TrainConfig
from cvae.store.files import append_jsonl
from cvae.store.images import gif_bytes, grid_image, save_png
from cvae.store.weights import expected_shapes, save_weights_npz

ALL_PAGES = (*PAGES, "app_pages/6_Interpolate.py")


def make_colour_run(root: Path, data_dir: Path, name: str = "colour", likelihood: str = "discretized_logistic",
                    latent_dim: int = 2, seed: int = 0) -> Path:
    """A finished-looking CIFAR-10 run from random weights (config, status, metrics, weights, RGB grids, GIF)."""
    run = root / name
    (run / runs.IMAGES_DIR).mkdir(parents=True)
    config = TrainConfig(dataset="cifar10", data_dir=str(data_dir), likelihood=likelihood, latent_dim=latent_dim,
                         epochs=2, filters1=8, filters2=16)
    (run / runs.CONFIG_FILE).write_text(config.to_json())
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(0.0, 0.3 if k.startswith("dec_dense") else 0.08, shape)
              for k, shape in expected_shapes(latent_dim, architecture_of(config)).items()}
    arrays["dec_logits/bias"][:3] = 0.5  # mean colours mid-grey, so the images are neither black nor white
    save_weights_npz(arrays, run / runs.WEIGHTS_FILE)
    t0 = time.time()
    frames = []
    for e in range(3):
        frames.append(grid_image(rng.random((16, 32, 32, 3)), 4))
        save_png(frames[-1], runs.image_path(run, e))
        if e:
            append_jsonl(run / runs.METRICS_FILE, {"kind": "step", "epoch": e, "step": e * 10, "loss": 9000.0 - e,
                                                   "time": t0 + e})
            append_jsonl(run / runs.METRICS_FILE, {
                "kind": "epoch", "epoch": e, "step": e * 10, "test_elbo": -9000.0 + 100 * e,
                "test_logpx_z": -8990.0 + 100 * e, "test_kl": 10.0, "elapsed_seconds": 5.0 * e, "time": t0 + e})
    (run / runs.GIF_FILE).write_bytes(gif_bytes(frames))
    runs.write_status(run, state="done", created=t0, epoch=2, total_epochs=2, step=20, steps_per_epoch=10,
                      message="finished")
    return run


@pytest.fixture
def colour_root(root, tmp_path):
    data = make_cifar_dir(tmp_path / "cifar", per_train_file=20, n_test=120)
    make_colour_run(root, data)
    make_colour_run(root, data, "binarized", likelihood="bernoulli", latent_dim=3, seed=1)
    return root


def _rgb_images(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t.get("type") == "image"]


@pytest.mark.parametrize("run", ["colour", "binarized"])
def test_every_page_shows_a_colour_run(colour_root, run):
    at = app_test()
    at.session_state["cvae_selected_run"] = run
    at.run()
    no_exceptions(at)
    for page in ALL_PAGES:
        at.switch_page(page).run()
        no_exceptions(at)
        assert not at.error, (page, [e.value for e in at.error])


def test_latent_plane_decodes_rgb_and_the_legend_names_the_classes(colour_root):
    at = app_test()
    at.session_state["cvae_selected_run"] = "colour"
    at.run()
    at.switch_page("app_pages/2_Latent_plane.py").run()
    no_exceptions(at)
    # The colour run drags on the latent pad: its decoder goes to the browser, 32x32x3 with the logistic's mean.
    pad = next(json.loads(e.proto.json) for e in at.get("bidi_component") if e.key == "lp_pad")
    blob = pad["blobs"][pad["models"][0]["version"]]
    assert blob["image"] == [32, 32, 3] and blob["mean"]["op"] == "clip" and blob["layers"][-1]["out_shape"] == [32, 32, 6]
    # The classic server-side view, one toggle away.
    at.toggle(key="lp_pad_on").set_value(False).run()
    no_exceptions(at)
    figs = charts(at)
    decoded = _rgb_images(figs["lp_decoded"])
    assert decoded, "the decoded image is an RGB image trace"
    z = array(decoded[0]["z"])
    assert z.size == 32 * 32 * 3 and len(np.unique(z)) > 10  # a 32x32 RGB image with more than a few colours
    sample = _rgb_images(figs["lp_sample"])
    assert sample
    legend = {t.get("name") for t in figs["lp_map"]["data"]}
    assert {"airplane", "truck", "cat"} <= legend, legend
    assert "32×32 colour images" in texts(at)
    before = json.dumps(figs["lp_decoded"]["data"][0]["z"])
    at.slider(key="lp_z0").set_value(2.5).run()
    assert json.dumps(charts(at)["lp_decoded"]["data"][0]["z"]) != before  # the slider changes the colours


def test_reconstruct_shows_rgb_originals_inputs_and_reconstructions(colour_root):
    at = app_test()
    at.session_state["cvae_selected_run"] = "colour"
    at.run()
    at.switch_page("app_pages/3_Reconstruct.py").run()
    no_exceptions(at)
    figs = charts(at)
    assert len(_rgb_images(figs["rc_images_0"])) == 4 and len(_rgb_images(figs["rc_grid"])) == 2
    assert "ELBO (1 sample)" in [m.label for m in at.metric]


def test_manifold_and_interpolation_are_colour_pngs_and_gifs(colour_root):
    import base64
    import io

    from PIL import Image

    at = app_test()
    at.session_state["cvae_selected_run"] = "colour"
    at.run()
    at.switch_page("app_pages/4_Manifold.py").run()
    no_exceptions(at)
    src = next(t for t in charts(at).values() for t in t["data"] if t.get("type") == "image")["source"]
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
        assert im.mode == "RGB" and im.size == (2 * 32 * 20, 2 * 32 * 20)
        assert len(set(im.getdata())) > 50  # colours, not a uniform or grey grid
    at.switch_page("app_pages/6_Interpolate.py").run()
    no_exceptions(at)
    assert any("GIF" in b.label for b in at.get("download_button"))
    # The page's builders on the same run: RGB frames, an RGB strip and an animated colour GIF.
    from cvae.explorer.maths.interpolate import decode_paths, gif_of, strip_image
    from cvae.explorer.maths.numpy_model import load_numpy_model

    model = load_numpy_model(colour_root / "colour")
    paths = decode_paths(model, np.array([-2.0, -2.0]), np.array([2.0, 2.0]), 6)
    frames = paths["slerp"][1]
    assert frames.shape == (6, 32, 32, 3) and np.abs(frames[0] - frames[-1]).max() > 0.05
    assert strip_image(frames, scale=1).size == (6 * 32, 32) and strip_image(frames, scale=1).mode == "RGB"
    with Image.open(io.BytesIO(gif_of(frames, duration_ms=100))) as gif:
        assert gif.n_frames == 6 + 4  # forwards, then back (bounce)
        gif.seek(5)
        rgb = np.asarray(gif.convert("RGB"), np.int16)
    # GIF frames are palette images: the last frame is the last decoded image up to quantization.
    expected = np.clip(np.rint(frames[-1] * 255), 0, 255)
    scale = rgb.shape[0] // 32
    assert np.abs(rgb[::scale, ::scale][:32, :32] - expected).mean() < 12
