"""The latent pad (cvae/explorer): the decoder in the browser, driven by real mouse, keyboard and touch input.

Unit tests of the Python side (weights packing, URL parsing and clamping), AppTest runs of the Latent plane page,
and browser tests: one real `streamlit run` server and one Chromium for the module (a copy of the shipped tutorial
run plus an 8-dimensional run of random weights), each test on its own page (its own Streamlit session). The
JS decoder is checked against NumpyCVAE.decode to 1e-5. Waits poll the page; nothing asserts on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from cvae.explorer.ui import latent_pad as lp
from cvae.explorer.maths.numpy_model import NumpyCVAE, load_numpy_model
from cvae.store import latent_means, runs
from cvae.store.arch import Architecture, architecture_of
from cvae.store.config import TrainConfig
from cvae.store.weights import expected_shapes, save_weights_npz

REPO = Path(__file__).resolve().parent.parent
LOW, HIGH = -3.09, 3.09
PAD = "canvas.lp-map"
SCREENSHOT = REPO / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                     else "test-artifacts/screenshots") / "latent_pad.png"


def random_weights(latent_dim: int, seed: int = 0, arch: Architecture | None = None) -> dict[str, np.ndarray]:
    """Every array of the architecture, random: asymmetric kernels and non-zero biases (a flipped or transposed
    kernel, or a dropped bias, would show). Other widths than the tutorial's: kernels scaled by their fan-in, so a
    512-wide network's outputs vary instead of saturating."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in expected_shapes(latent_dim, arch).items():
        scale = 0.5 if k.startswith("dec_dense") else 0.15
        if arch is not None and len(shape) == 4:
            fan_in = int(np.prod(shape[:2])) * (shape[3] if "deconv" in k or "logits" in k else shape[2])
            scale = (1.6 if "logits" not in k else 12.0 if arch.browser_mean["op"] == "sigmoid" else 1.0) / np.sqrt(fan_in)
        out[k] = rng.normal(0.1 if k.endswith("bias") else 0.0, scale, shape).astype(np.float32)
    if arch is not None and arch.browser_mean["op"] == "clip":  # logistic means around mid-grey, some clipped
        out["dec_logits/bias"][:arch.channels] = 0.5
    return out


def make_random_run(root: Path, name: str, latent_dim: int, seed: int = 0, **config) -> Path:
    """A finished-looking run of random weights (enough for the Latent plane page); `config`: other widths, a
    dataset, a likelihood."""
    run = root / name
    (run / runs.IMAGES_DIR).mkdir(parents=True)
    cfg = TrainConfig(latent_dim=latent_dim, epochs=1, **config)
    (run / runs.CONFIG_FILE).write_text(cfg.to_json())
    save_weights_npz(random_weights(latent_dim, seed, architecture_of(cfg) if config else None),
                     run / runs.WEIGHTS_FILE)
    runs.write_status(run, state="done", created=1.0, epoch=1, total_epochs=1, step=10, steps_per_epoch=10,
                      message="finished")
    return run


# ---------------------------------------------------------------------------------------------- unit tests


@pytest.mark.parametrize("d", [2, 8])
def test_model_blob_round_trips_the_decoder_weights(d):
    arrays = random_weights(d)
    blob = lp.model_blob(arrays, d)
    assert blob["latent_dim"] == d and blob["names"] == lp.decoder_keys(d)
    assert [layer["name"] for layer in blob["layers"]] == ["dec_dense", "dec_reshape", "dec_deconv1", "dec_deconv2",
                                                           "dec_logits"]
    assert blob["layers"][2] == {"name": "dec_deconv1", "part": "decoder", "kind": "deconv", "in_shape": [7, 7, 32],
                                 "out_shape": [14, 14, 64], "stride": 2, "relu": True, "output": False}
    assert blob["image"] == [28, 28, 1] and blob["mean"]["op"] == "sigmoid"
    back = lp.unpack_model_blob(json.loads(json.dumps(blob)))  # as the component data travels
    for k in lp.decoder_keys(d):
        assert back[k].dtype == np.float32 and np.array_equal(back[k], arrays[k]), k
    assert not any(k.startswith("enc_") for k in back)  # the encoder never goes to the browser
    n_params = sum(a.size for k, a in arrays.items() if k.startswith("dec_"))
    assert lp.blob_bytes(blob) == len(blob["weights"]) == 4 * ((4 * n_params + 2) // 3)
    with pytest.raises(ValueError, match="missing"):
        lp.model_blob({k: v for k, v in arrays.items() if k != "dec_logits/bias"}, d)


def test_a_big_decoder_travels_in_pieces_below_the_message_limit(monkeypatch):
    """A 512-wide decoder (~26 MB of base64) is cut into pieces the browser joins; each piece stays 10x below
    server.maxMessageSize, and the pieces put together are the blob."""
    import tomllib

    arch = Architecture(filters1=512, filters2=512)
    blob = lp.model_blob(random_weights(2, 0, arch), 2, arch)
    limit = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]["maxMessageSize"] * 1e6
    assert lp.blob_bytes(blob) > limit  # it could not go in one message
    parts = lp.blob_parts("v1", blob)
    assert [pid for pid, _ in parts] == [f"v1~{i}" for i in range(len(parts))]
    assert all(len(json.dumps(p)) * 10 <= limit for _, p in parts)
    joined = {**parts[0][1]["meta"], "weights": "".join(p["chars"] for _, p in parts)}
    assert joined == blob and all(p["count"] == len(parts) and p["of"] == "v1" for _, p in parts)
    small = lp.model_blob(random_weights(2), 2)
    assert lp.blob_parts("v2", small) == [("v2", small)]


def test_map_blob_packs_points_and_labels():
    pts = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    blob = lp.map_blob(pts, np.array([7, 1, 9]))
    import base64
    assert np.array_equal(np.frombuffer(base64.b64decode(blob["points"]), "<f4").reshape(-1, 2), pts)
    assert list(base64.b64decode(blob["labels"])) == [7, 1]


def test_parse_z_accepts_clamps_and_ignores():
    assert lp.parse_z("1.5,-2", 2, LOW, HIGH) == ([1.5, -2.0], [])
    assert lp.parse_z(None, 2, LOW, HIGH) == (None, [])
    assert lp.parse_z("  ", 2, LOW, HIGH) == (None, [])
    z, notes = lp.parse_z("abc,1e999", 2, LOW, HIGH)
    assert z == [0.0, HIGH] and any("not a number" in n for n in notes) and any("clamped" in n for n in notes)
    z, notes = lp.parse_z("-7,nan", 2, LOW, HIGH)
    assert z == [LOW, 0.0] and any("NaN" in n for n in notes)
    z, notes = lp.parse_z("1,2,3", 2, LOW, HIGH)
    assert z == [1.0, 2.0] and "extra" in notes[0]
    z, notes = lp.parse_z("1", 3, LOW, HIGH)
    assert z == [1.0, 0.0, 0.0] and "missing" in notes[0]
    z, notes = lp.parse_z("abc,def", 2, LOW, HIGH)
    assert z is None and notes
    z, notes = lp.parse_z("1," * 400, 2, LOW, HIGH)
    assert z is None and "characters" in notes[0]
    assert lp.parse_z("-inf,inf", 2, LOW, HIGH)[0] == [LOW, HIGH]


def test_format_z_and_valid_z():
    assert lp.format_z([1.5, -2.0]) == "1.5,-2"
    assert lp.format_z([0.0, -0.00001, 0.123456]) == "0,0,0.1235"
    assert lp.parse_z(lp.format_z([1.25, -0.5]), 2, LOW, HIGH)[0] == [1.25, -0.5]
    assert lp.valid_z([1, 2.5], 2, LOW, HIGH) == [1.0, 2.5]
    assert lp.valid_z([9, -9], 2, LOW, HIGH) == [HIGH, LOW]
    for bad in (None, "1,2", [1], [1, 2, 3], [1, float("nan")], [1, float("inf")], [True, 1], [1, "2"], {"z": 1}):
        assert lp.valid_z(bad, 2, LOW, HIGH) is None, bad


def test_parse_run_and_prior_centre():
    assert lp.parse_run("tutorial", ["a", "tutorial"]) == ("tutorial", [])
    assert lp.parse_run(None, ["a"]) == (None, [])
    name, notes = lp.parse_run("../etc", ["a"])
    assert name is None and "does not exist" in notes[0]
    from cvae.explorer.maths.latent import PCA2
    codes = np.random.default_rng(0).normal(1.0, 1.0, (200, 5))
    pca = PCA2(codes)
    assert lp.prior_centre(pca.mean, pca.components) == pytest.approx(pca.transform(np.zeros((1, 5)))[0], abs=1e-5)
    assert lp.prior_centre(None, None) == [0.0, 0.0]


def test_the_pad_modules_never_import_tensorflow():
    code = ("import sys; import cvae.explorer.ui.latent_pad, cvae.explorer.ui.plane_pad; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


def test_the_assets_are_package_data():
    import tomllib
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "cvae.explorer" in cfg["packages"]
    patterns = cfg["package-data"]["cvae.explorer"]
    for f in ("latent_pad.js", "latent_pad.css"):
        assert (lp.STATIC / f).is_file() and any(Path("static", f).match(p) for p in patterns)
    js = (lp.STATIC / "latent_pad.js").read_text()
    assert "http://" not in js and "https://" not in js and "import " not in js.split("export default")[0]


# ---------------------------------------------------------------------------------------------- AppTest


def plane_app(root: Path, query: dict | None = None, run: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    if run:
        at.session_state["cvae_selected_run"] = run
    at.run()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.switch_page("app_pages/2_Latent_plane.py").run()


def all_text(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "error", "warning")
                     for e in getattr(at, kind))


def pad_data(at) -> dict:
    """The data the pad component was mounted with."""
    el = next(e for e in at.get("bidi_component") if e.proto.component_name == lp.COMPONENT_NAME)
    return json.loads(el.proto.json)


def test_plane_page_mounts_the_pad_with_url_state(root):
    make_random_run(root, "two", 2)
    at = plane_app(root, {"run": "two", "z": "1.5,-2"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="lp_pad_on").value is True
    assert not [s for s in at.slider if s.key in ("lp_z0", "lp_z1")]  # no slider round trips for d = 2
    data = pad_data(at)
    assert data["z"] == [1.5, -2.0]
    assert data["models"][0]["name"] == "two" and len(data["blobs"]) == 2  # first mount: weights + map
    model_blob = data["blobs"][data["models"][0]["version"]]
    want = load_numpy_model(root / "two").w
    got = lp.unpack_model_blob(model_blob)
    assert all(np.array_equal(got[k], want[k]) for k in lp.decoder_keys(2))
    assert "Chosen z** = (1.50, -2.00)" in all_text(at)
    assert at.query_params["z"] == "1.5,-2" and at.query_params["run"] == "two"
    # A rerun (as after a report from the browser) does not send the megabytes again.
    at.button(key="lp_resample").click().run()
    assert pad_data(at)["blobs"] == {} and pad_data(at)["seed"] == 1


def test_plane_page_notes_bad_url_values(root):
    make_random_run(root, "two", 2)
    at = plane_app(root, {"run": "nope", "z": "abc,1e999"})
    assert not at.exception
    text = all_text(at)
    assert "not a number" in text and "clamped" in text and "does not exist" in text
    assert pad_data(at)["z"] == [0.0, HIGH]


def test_url_notes_follow_the_language_even_after_a_switch(root):
    """Notes about bad ?run= / ?z= / ?view= values are in the viewer's language, also when it changes later."""
    from test_i18n import EXEMPT, english_words

    make_random_run(root, "two", 2)
    at = plane_app(root, {"lang": "hi", "run": "nope", "z": "abc,1e999,3", "view": "<b>"})
    assert not at.exception
    notes = [str(c.value) for c in at.caption if str(c.value).startswith(":material/info:")]
    assert len(notes) == 5, notes  # the run, the view, the count of values, the non-number, the clamp
    assert all(re.search("[\u0900-\u097F]", n) for n in notes), notes
    assert not [w for n in notes for w in english_words(n, EXEMPT | {"material", "info", "URL", "view", "pad",
                                                                    "sliders", "nope", "abc", "e999"})], notes
    at.query_params["lang"] = "en"  # what the sidebar's language switch does
    at.run()
    notes = [str(c.value) for c in at.caption if str(c.value).startswith(":material/info:")]
    assert any("is not a number" in n for n in notes) and any("'nope'" in n for n in notes), notes


def test_the_pad_draws_the_maps_palette_and_a_marker_per_class(root):
    from cvae.explorer.figures.maps import CLASS_COLORS, CLASS_SYMBOLS

    make_random_run(root, "two", 2)
    data = pad_data(plane_app(root, run="two"))
    assert data["colors"] == list(CLASS_COLORS) and data["symbols"] == list(CLASS_SYMBOLS)
    assert len(set(data["symbols"])) == len(data["names"]) == 10  # no class differs by colour alone
    js = (REPO / "cvae" / "explorer" / "static" / "latent_pad.js").read_text()
    assert all(f'"{sym}":' in js for sym in CLASS_SYMBOLS)  # the canvas knows every symbol's outline


def test_plane_page_sliders_drive_the_pad_for_eight_dimensions(root):
    make_random_run(root, "eight", 8)
    at = plane_app(root, run="eight")
    assert not at.exception
    assert [s.key for s in at.slider] == [f"lp_z{i}" for i in range(8)]
    rev = pad_data(at)["z_rev"]
    at.slider(key="lp_z5").set_value(1.0).run()
    data = pad_data(at)
    assert data["z"][5] == 1.0 and data["z_rev"] > rev  # the pad adopts the slider's code
    assert len(data["plane"]["components"]) == 2 and len(data["plane"]["mean"]) == 8
    at.button(key="lp_reset").click().run()
    assert pad_data(at)["z"] == [0.0] * 8


def test_classic_view_is_one_toggle_away(root):
    make_random_run(root, "two", 2)
    at = plane_app(root, {"z": "1,2"})
    at.toggle(key="lp_pad_on").set_value(False).run()
    assert not at.exception
    assert (at.slider(key="lp_z0").value, at.slider(key="lp_z1").value) == (1.0, 2.0)  # same point
    at.slider(key="lp_z0").set_value(-1.0).run()
    assert at.slider(key="lp_z0").value == -1.0 and at.query_params["view"] == "sliders"
    at.toggle(key="lp_pad_on").set_value(True).run()
    assert pad_data(at)["z"] == [-1.0, 2.0]


def test_compare_runs_at_the_same_z(root):
    for i, name in enumerate(("aa", "bb", "cc")):
        make_random_run(root, name, 2, seed=i)
    make_random_run(root, "eight", 8)
    at = plane_app(root, run="aa")
    assert sorted(at.multiselect(key="lp_compare").options) == ["bb", "cc"]  # same latent size only, not itself
    at.multiselect(key="lp_compare").set_value(["cc", "bb"]).run()
    assert not at.exception
    data = pad_data(at)
    assert [m["name"] for m in data["models"]] == ["aa", "cc", "bb"]
    assert set(data["blobs"]) == {data["models"][1]["version"], data["models"][2]["version"]}  # only the new ones
    got = lp.unpack_model_blob(data["blobs"][data["models"][1]["version"]])
    assert np.array_equal(got["dec_dense/kernel"], random_weights(2, seed=2)["dec_dense/kernel"])


def test_manifold_cell_click_opens_the_code_on_the_pad(root):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_app import click_map

    from cvae.explorer.maths.latent import normal_quantiles
    make_random_run(root, "two", 2)
    at = plane_app(root, run="two").switch_page("app_pages/4_Manifold.py").run()
    assert not at.exception
    q = normal_quantiles(20, 0.05, 0.95)
    click_map(at, "mf_image", 5 * 28 + 14, 2 * 28 + 14)  # column 5, row 2
    assert not at.exception, [e.value for e in at.exception]
    # z1 by column; z2 by row, row 0 at the top = the highest z2 (the grid is oriented like the map, #13)
    assert pad_data(at)["z"] == pytest.approx([q[5], q[-3]], abs=1e-6)
    assert "Chosen z" in all_text(at)


def test_interpolate_page_mounts_a_scrubber_on_the_path(root):
    make_random_run(root, "two", 2)
    at = plane_app(root, run="two").switch_page("app_pages/6_Interpolate.py").run()
    assert not at.exception
    data = next(json.loads(e.proto.json) for e in at.get("bidi_component") if e.key == "ip_pad")
    path = np.array(data["path"])
    assert path.shape == (121, 2) and data["report"] is False and data["z"] == pytest.approx(path[0])
    at.radio(key="ip_gif_path").set_value("slerp").run()
    data2 = next(json.loads(e.proto.json) for e in at.get("bidi_component") if e.key == "ip_pad")
    assert data2["z_rev"] != data["z_rev"] and data2["blobs"] == {}  # a new path, the same weights


# ---------------------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def pad_server(tmp_path_factory, mnist_dir):
    from browser_support import tutorial_app

    def more_runs(root: Path) -> None:
        make_random_run(root, "eight", 8, seed=3)
        make_random_run(root, "other2", 2, seed=4)  # a second 2-D run to compare with
        for name, config in WIDE_RUNS.items():  # every run drags in the browser: wider networks, colour
            if config.get("dataset") == "cifar10":
                from cifar_support import make_cifar_dir

                config = {**config, "data_dir": str(make_cifar_dir(root.parent / "cifar", 20, 120))}
            run = make_random_run(root, name, 2, seed=6, **config)
            # The map as the trainer stores it: the page need not encode 2,000 images with a 512-wide encoder.
            rng = np.random.default_rng(1)
            latent_means.write_epoch(run, 1, rng.normal(0, 1, (300, 2)).astype(np.float32), rng.integers(0, 10, 300))

    with tutorial_app(tmp_path_factory.mktemp("pad"), mnist_dir, timeout=120, prepare=more_runs) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from browser_support import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, request, pad_server):
    from browser_support import page_for_test

    with page_for_test(browser, request, pad_server) as pg:
        yield pg


def open_pad(page, server, query: str = "", ready_z: list[float] | None = None) -> None:
    """Open the Latent plane page (with ?query) and wait until the pad has drawn with its decoder."""
    from browser_support import open_page, poll, wait_idle

    open_page(page, server.page_url("plane") + (f"?{query}" if query else ""), 120)
    poll(lambda: page.evaluate("() => { const p = window.__cvaeLatentPad && __cvaeLatentPad.pads()[0];"
                               " return !!(p && p.ready() && p.stats.frames > 0); }"), 60, 0.1, "the pad to draw")
    if ready_z is not None:
        poll(lambda: pad_z(page) == pytest.approx(ready_z, abs=1e-4), 30, 0.1, f"the pad at {ready_z}")
    wait_idle(page)


def pad_z(page) -> list[float]:
    return page.evaluate("() => Array.from(__cvaeLatentPad.pads()[0].z)")


def pad_pixels(page, which: str = "probs") -> list[int]:
    return page.evaluate("(w) => __cvaeLatentPad.pads()[0].pixels(0, w)", which)


def pad_frames(page) -> int:
    return page.evaluate("() => __cvaeLatentPad.pads()[0].stats.frames")


def client_of(page, p) -> tuple[float, float]:
    return tuple(page.evaluate("(p) => __cvaeLatentPad.pads()[0].clientOf(p)", list(p)))


def next_frame(page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))")


def readout(page) -> str:
    return page.locator(".st-key-lp_readout").inner_text()


def url_z(page) -> str | None:
    q = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    return q.get("z", [None])[0]


def wait_python_z(page, z, what: str) -> None:
    """Python's read-out and the URL show z (2 decimals on the page, the URL's own format)."""
    from browser_support import poll, wait_idle

    want = "(" + ", ".join(f"{v:.2f}" for v in z) + ")"
    poll(lambda: want in readout(page), 30, 0.1, f"the read-out to show {want} ({what})")
    poll(lambda: url_z(page) is not None and np.allclose([float(v) for v in url_z(page).split(",")], z, atol=1e-4),
         30, 0.1, f"the URL to carry z = {z} ({what})")
    wait_idle(page)


def assert_no_exception(page) -> None:
    from browser_support import exceptions

    errors = exceptions(page)
    assert not errors, errors


@pytest.mark.browser
@pytest.mark.parametrize("d", [2, 8])
def test_js_decoder_equals_numpy(pad_server, page, d):
    """The pad's JS decoder on random codes, for random weights with asymmetric kernels and non-zero biases,
    matches NumpyCVAE.decode(apply_sigmoid=True) to 1e-5; so does the tutorial run's decoder as the page got it."""
    open_pad(page, pad_server)
    rng = np.random.default_rng(d)
    arrays = random_weights(d, seed=10 + d)
    k = arrays["dec_deconv1/kernel"]
    assert not np.allclose(k, k[::-1, ::-1]) and not np.allclose(k, k.transpose(1, 0, 2, 3))
    assert all(np.abs(arrays[n]).min() > 0 for n in lp.decoder_keys(d) if n.endswith("bias"))
    codes = rng.normal(0, 1.5, (12, d)).astype(np.float32)
    want = NumpyCVAE(arrays, d).decode(codes, apply_sigmoid=True).reshape(len(codes), 784)
    got = np.array(page.evaluate("([b, c]) => __cvaeLatentPad.decodeWith(b, c)",
                                 [lp.model_blob(arrays, d), codes.tolist()]), np.float32)
    assert got.shape == want.shape
    assert want.std() > 0.05  # the outputs really vary (not a flat 0.5 everywhere)
    assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()
    if d == 2:  # the shipped run's weights, as they travelled in the component data
        model = load_numpy_model(REPO / "checkpoints" / "tutorial")
        version = page.evaluate("() => __cvaeLatentPad.pads()[0].data.models[0].version")
        got = np.array(page.evaluate("([v, c]) => __cvaeLatentPad.decodeVersion(v, c)", [version, codes.tolist()]))
        want = model.decode(codes, apply_sigmoid=True).reshape(len(codes), 784)
        assert np.abs(got - want).max() < 1e-5


WIDE_RUNS = {"wide128": {"filters1": 128, "filters2": 128}, "wide512": {"filters1": 512, "filters2": 512},
             "colour": {"dataset": "cifar10", "likelihood": "discretized_logistic"}}
WIDE_ARCHS = {
    "128/128": Architecture(filters1=128, filters2=128),
    "512/512": Architecture(filters1=512, filters2=512),
    "colour 32/64": Architecture(size=32, channels=3, likelihood="discretized_logistic"),
}


@pytest.mark.browser
@pytest.mark.parametrize("which", list(WIDE_ARCHS))
def test_js_decoder_equals_numpy_for_any_width_and_colour(pad_server, page, which):
    """Every run decodes in the browser: the JS decoder reads the layers the blob describes and equals
    NumpyCVAE.decode(apply_sigmoid=True) (probabilities, or the logistic's clipped mean) to 1e-5."""
    arch, d = WIDE_ARCHS[which], 3
    open_pad(page, pad_server)
    arrays = random_weights(d, seed=5, arch=arch)
    codes = np.random.default_rng(7).normal(0, 1.5, (3, d)).astype(np.float32)
    want = NumpyCVAE(arrays, d, arch).decode(codes, apply_sigmoid=True).reshape(len(codes), -1)
    blob = lp.model_blob(arrays, d, arch)
    got = np.array(page.evaluate("([b, c]) => __cvaeLatentPad.decodeWith(b, c)", [blob, codes.tolist()]), np.float32)
    assert got.shape == want.shape == (3, arch.size * arch.size * arch.channels)
    assert want.std() > 0.05 and ((want > 0.01) & (want < 0.99)).mean() > 0.3  # outputs vary, mostly unsaturated
    assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()
    # The drag preview of a wide decoder: exact at the anchor, the network's linearization near it, and no
    # preview off its plane (the pad then decodes exactly).
    z0, dirs = codes[0], np.eye(d, dtype=np.float32)[:2]
    near = [z0 + np.array([0.01, -0.02, 0.0], np.float32), z0 + np.array([0.0, 0.0, 0.5], np.float32)]
    prev = page.evaluate("([b, z0, dirs, c]) => __cvaeLatentPad.previewWith(b, z0, dirs, c)",
                         [blob, z0.tolist(), dirs.tolist(), [z0.tolist(), near[0].tolist(), near[1].tolist()]])
    assert np.abs(np.array(prev[0]) - want[0]).max() < 1e-5
    exact_near = NumpyCVAE(arrays, d, arch).decode(near[0][None], apply_sigmoid=True).reshape(-1)
    assert np.abs(np.array(prev[1]) - exact_near).max() < 0.05 and prev[2] is None


@pytest.mark.browser
@pytest.mark.parametrize("name", list(WIDE_RUNS))
def test_wide_and_colour_runs_drag_on_the_pad(pad_server, page, name):
    """A 128-wide, a 512-wide and a CIFAR-10 run drag on the pad: frames are painted while dragging (the 512-wide
    network as its linearized preview), and on release the image painted is NumPy's exact decode."""
    from browser_support import poll

    open_pad(page, pad_server, f"run={name}&z=0,0", ready_z=[0.0, 0.0])
    model = load_numpy_model(pad_server.runs_root / name)
    f0 = pad_frames(page)
    page.mouse.move(*client_of(page, (0.0, 0.0)))
    page.mouse.down()
    for p in [(0.3 * i, -0.25 * i) for i in range(1, 7)]:
        page.mouse.move(*client_of(page, p))
        next_frame(page)
    previews = page.evaluate("() => __cvaeLatentPad.pads()[0].stats.previews")
    dragging_preview = page.evaluate("() => __cvaeLatentPad.pads()[0].tiles[0].probs.dataset.preview")
    page.mouse.up()
    next_frame(page)
    assert pad_frames(page) >= f0 + 6
    # A decoder that can not paint 30 frames a second (the 512-wide one, ~80 ms here) previews while dragging.
    slow = page.evaluate("() => { const p = __cvaeLatentPad.pads()[0]; return p.slow(p.decoders()[0]); }")
    assert slow == (previews > 0) == (dragging_preview == "1")
    if name != "wide512":
        assert not slow
    assert page.evaluate("() => __cvaeLatentPad.pads()[0].tiles[0].probs.dataset.preview") == "0"
    z = pad_z(page)
    assert z == pytest.approx([1.8, -1.5], abs=0.03)
    want = model.decode(np.array([z], np.float32), apply_sigmoid=True)[0]
    version = page.evaluate("() => __cvaeLatentPad.pads()[0].data.models[0].version")
    got = np.array(page.evaluate("([v, c]) => __cvaeLatentPad.decodeVersion(v, c)", [version, [z]])[0])
    assert np.abs(got - want.reshape(-1)).max() < 1e-5
    painted = np.array(pad_pixels(page)).reshape(want.shape[:2])  # the first channel of the painted image
    assert np.abs(painted - np.rint(255 * want[..., 0])).max() <= 1
    poll(lambda: readout(page).count("1.8") or readout(page).count("1.7"), 30, 0.1, "Python to hear the release")
    assert_no_exception(page)


@pytest.mark.browser
def test_mouse_drag_paints_every_frame_and_python_hears_the_end(pad_server, page):
    from browser_support import poll

    open_pad(page, pad_server, "z=0,0", ready_z=[0.0, 0.0])
    path = [(0.25 * i, -0.2 * i) for i in range(13)]  # 0,0 -> 3,-2.4 in steps well above a pixel
    x, y = client_of(page, path[0])
    page.mouse.move(x, y)
    page.mouse.down()
    last, frames, changed = pad_pixels(page), pad_frames(page), 0
    for p in path[1:]:
        page.mouse.move(*client_of(page, p))
        next_frame(page)
        now, f = pad_pixels(page), pad_frames(page)
        assert f > frames, "no frame was painted after a pointer move"
        changed += now != last
        last, frames = now, f
        assert pad_z(page) == pytest.approx(p, abs=0.03)  # the point follows the pointer (to a pixel)
    assert changed == len(path) - 1, f"the image changed on {changed} of {len(path) - 1} frames"
    page.mouse.up()
    final = pad_z(page)
    assert final == pytest.approx(path[-1], abs=0.03)
    wait_python_z(page, final, "after the release")
    reports = page.evaluate("() => __cvaeLatentPad.pads()[0].stats.reports")
    assert 1 <= reports <= len(path)  # throttled: never a report per frame... and at least the release
    assert pad_z(page) == pytest.approx(final, abs=1e-6)  # the reruns did not move the point back
    poll(lambda: pad_pixels(page) == last, 10, 0.1, "the painted image to stay")
    assert_no_exception(page)


@pytest.mark.browser
def test_keyboard_moves_by_steps_and_fine_steps(pad_server, page):
    open_pad(page, pad_server, "z=0.5,-0.5", ready_z=[0.5, -0.5])
    before = pad_pixels(page)
    page.locator(PAD).focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    for _ in range(2):
        page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("Shift+ArrowLeft")
    next_frame(page)
    want = [0.5 + 0.3 - 0.01, -0.5 - 0.1 + 0.02]
    assert pad_z(page) == pytest.approx(want, abs=1e-5)
    assert pad_pixels(page) != before
    wait_python_z(page, want, "after the keys")
    assert_no_exception(page)


@pytest.mark.browser
def test_touch_drag_moves_the_point(pad_server, browser):
    from browser_support import VIEWPORT

    ctx = browser.new_context(viewport=VIEWPORT, has_touch=True, device_scale_factor=1)
    page = ctx.new_page()
    try:
        open_pad(page, pad_server, "z=0,0", ready_z=[0.0, 0.0])
        page.evaluate("() => { window.__touchTypes = new Set(); document.addEventListener('pointermove',"
                      " e => __touchTypes.add(e.pointerType), true); }")
        before = pad_pixels(page)
        cdp = ctx.new_cdp_session(page)
        path = [(-0.1 * i, 0.15 * i) for i in range(11)]

        def touch(kind, p):
            x, y = client_of(page, p)
            cdp.send("Input.dispatchTouchEvent",
                     {"type": kind, "touchPoints": [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1}]})

        touch("touchStart", path[0])
        for p in path[1:]:
            touch("touchMove", p)
            next_frame(page)
        touch("touchEnd", path[-1])
        assert page.evaluate("() => [...__touchTypes]") == ["touch"]
        final = pad_z(page)
        assert final == pytest.approx(path[-1], abs=0.03)
        assert pad_pixels(page) != before
        wait_python_z(page, final, "after the touch drag")
        assert_no_exception(page)
    finally:
        ctx.close()


@pytest.mark.browser
def test_url_round_trips_z_and_bad_values_get_a_note(pad_server, page):
    from browser_support import main_text

    open_pad(page, pad_server, "run=tutorial&z=1.5,-2", ready_z=[1.5, -2.0])
    wait_python_z(page, [1.5, -2.0], "from the URL")
    assert "run=tutorial" in page.url
    # Reload keeps the position (the URL is the state).
    page.locator(PAD).focus()
    page.keyboard.press("ArrowUp")
    wait_python_z(page, [1.5, -1.9], "after a key")
    open_pad(page, pad_server, page.url.split("?", 1)[1], ready_z=[1.5, -1.9])
    # Bad values: clamped or ignored, with a note, never an exception.
    open_pad(page, pad_server, "run=tutorial&z=abc,1e999", ready_z=[0.0, HIGH])
    text = main_text(page)
    assert "not a number" in text and "clamped" in text, text[:2000]
    assert_no_exception(page)
    open_pad(page, pad_server, "run=no-such-run&z=" + urllib.parse.quote("1,2,3,<b>"), ready_z=[1.0, 2.0])
    assert "does not exist" in main_text(page)
    assert_no_exception(page)


@pytest.mark.browser
def test_reruns_do_not_resend_the_weights(pad_server, page):
    """The decoder (~190 KB of float32) travels once; a release's rerun sends the pad's state and its JS module
    (~34 KB: the component's code travels with each rerun of its element), never the weights again."""
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
    open_pad(page, pad_server, "z=0,0", ready_z=[0.0, 0.0])
    first = sum(frames)
    assert first > 190_000, first  # base64 of the weights and the map arrived
    frames.clear()
    page.locator(PAD).focus()
    page.keyboard.press("ArrowRight")
    wait_python_z(page, [0.1, 0.0], "after a key")
    assert 0 < sum(frames) < 60_000, sum(frames)


@pytest.mark.browser
def test_eight_dimensions_sliders_and_pad_share_one_decoder(pad_server, page):
    from browser_support import poll, slider_thumb, slider_values

    open_pad(page, pad_server, "run=eight")
    model = load_numpy_model(pad_server.runs_root / "eight")
    version = page.evaluate("() => __cvaeLatentPad.pads()[0].data.models[0].version")
    codes = np.random.default_rng(8).normal(0, 1, (6, 8)).astype(np.float32)
    got = np.array(page.evaluate("([v, c]) => __cvaeLatentPad.decodeVersion(v, c)", [version, codes.tolist()]))
    assert np.abs(got - model.decode(codes, apply_sigmoid=True).reshape(6, 784)).max() < 1e-5
    # A slider (server round trip) moves the pad's code, and the browser decodes it.
    page.get_by_text("All 8 latent dimensions").click()
    before = pad_pixels(page)
    thumb = slider_thumb(page, ".st-key-lp_z3")
    thumb.focus()
    page.keyboard.press("End")
    poll(lambda: slider_values(page, ".st-key-lp_z3") == [3.09], 30, 0.1, "the slider at 3.09")
    poll(lambda: pad_z(page)[3] == pytest.approx(3.09, abs=1e-4), 30, 0.1, "the pad to adopt z4")
    assert pad_pixels(page) != before
    # Dragging on the PCA plane changes the code and Python's sliders follow on release.
    start = page.evaluate("() => { const p = __cvaeLatentPad.pads()[0]; return p.clientOf(p.planePoint()); }")
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 60, start[1] - 40, steps=5)
    page.mouse.up()
    z = pad_z(page)
    assert z[3] != pytest.approx(3.09, abs=1e-3) or z[0] != 0  # moved within the plane
    want = [round(min(3.09, max(-3.09, v)), 2) for v in z]
    poll(lambda: slider_values(page, ".st-key-lp_z0") == [want[0]], 30, 0.1, "z1's slider to follow the pad")
    assert_no_exception(page)


@pytest.mark.browser
def test_screenshot_of_the_pad(pad_server, browser):
    """docs/screenshots/latent_pad.png (with CVAE_UPDATE_SCREENSHOTS=1), 1280x720."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    page = ctx.new_page()
    try:
        open_pad(page, pad_server, "run=tutorial&z=0.92,0.9", ready_z=[0.92, 0.9])
        page.mouse.move(1270, 700)
        # The toggle at the top of the view: the pad and both decoded images fit in 720 px below it.
        page.locator(".st-key-lp_pad_on").evaluate("e => e.scrollIntoView({block: 'start'})")
        next_frame(page)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), animations="disabled")
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        ctx.close()


@pytest.mark.browser
def test_interpolate_scrubber_moves_along_the_path_in_the_browser(pad_server, page):
    from browser_support import open_page, poll

    open_page(page, pad_server.url + "/Interpolate", 120)
    poll(lambda: page.evaluate("() => { const p = window.__cvaeLatentPad && __cvaeLatentPad.pads()[0];"
                               " return !!(p && p.ready() && p.data.path && p.stats.frames > 0); }"), 60, 0.1,
         "the scrubber to draw")
    path = np.array(page.evaluate("() => __cvaeLatentPad.pads()[0].data.path"))
    before = pad_pixels(page)
    # Drag towards B, beside the path: the point stays on the path.
    a, b = path[0], path[-1]
    page.locator(PAD).scroll_into_view_if_needed()
    page.mouse.move(*client_of(page, a))
    page.mouse.down()
    for w in (0.2, 0.4, 0.6):
        page.mouse.move(*client_of(page, a + w * (b - a) + np.array([0.3, -0.3])))
        next_frame(page)
    page.mouse.up()
    z, t = page.evaluate("() => [Array.from(__cvaeLatentPad.pads()[0].z), __cvaeLatentPad.pads()[0].t]")
    assert 0.3 < t < 0.9
    assert np.allclose(z, a + t * (b - a), atol=1e-4)  # on the straight line
    assert pad_pixels(page) != before
    # The slider under the images, with the keyboard.
    page.locator(".lp-scrub").focus()
    page.keyboard.press("End")
    next_frame(page)
    assert np.allclose(pad_z(page), b, atol=1e-5)
    assert page.evaluate("() => __cvaeLatentPad.pads()[0].stats.reports") == 0  # the server heard nothing
    assert_no_exception(page)


@pytest.mark.browser
def test_the_pad_loads_nothing_from_the_network(pad_server, page):
    """Offline classrooms: every request of the page goes to the app's own server (or is a blob:/data: URL)."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    open_pad(page, pad_server, "z=0.5,0.5", ready_z=[0.5, 0.5])
    page.locator(PAD).focus()
    page.keyboard.press("ArrowLeft")
    wait_python_z(page, [0.4, 0.5], "after a key")
    assert urls
    foreign = [u for u in urls if not u.startswith((pad_server.url, "blob:", "data:", "ws://127.0.0.1"))]
    assert not foreign, foreign


@pytest.mark.browser
def test_one_pad_drives_two_runs_side_by_side(pad_server, page):
    from browser_support import poll

    open_pad(page, pad_server, "run=tutorial&z=0.5,-1", ready_z=[0.5, -1.0])
    page.locator(".st-key-lp_compare").click()
    page.get_by_role("option", name="other2").click()
    page.keyboard.press("Escape")
    poll(lambda: page.evaluate("() => { const p = __cvaeLatentPad.pads()[0];"
                               " return p.tiles.length === 2 && p.decoders().length === 2; }"), 60, 0.1,
         "the second run's decoder")
    version = page.evaluate("() => __cvaeLatentPad.pads()[0].data.models[1].version")
    codes = np.random.default_rng(2).normal(0, 1, (4, 2)).astype(np.float32)
    got = np.array(page.evaluate("([v, c]) => __cvaeLatentPad.decodeVersion(v, c)", [version, codes.tolist()]))
    want = load_numpy_model(pad_server.runs_root / "other2").decode(codes, apply_sigmoid=True).reshape(4, 784)
    assert np.abs(got - want).max() < 1e-5
    # One drag repaints both runs' images at the same z.
    before = [page.evaluate("(k) => __cvaeLatentPad.pads()[0].pixels(k)", k) for k in (0, 1)]
    page.mouse.move(*client_of(page, (0.5, -1.0)))
    page.mouse.down()
    page.mouse.move(*client_of(page, (-1.5, 1.0)), steps=4)
    page.mouse.up()
    next_frame(page)
    after = [page.evaluate("(k) => __cvaeLatentPad.pads()[0].pixels(k)", k) for k in (0, 1)]
    assert before[0] != after[0] and before[1] != after[1] and after[0] != after[1]
    assert_no_exception(page)
