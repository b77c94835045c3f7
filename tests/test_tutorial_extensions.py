"""Issue 6, "Beyond the tutorial": the IWAE log-likelihood (tfp), interpolation, Fashion-MNIST and dynamic
binarization, any latent size in training and in the app, and TensorBoard summaries.

tf.distribute has its own module (tests/test_distribute.py: it needs a fresh interpreter). Everything here is
small: random or 64-image data, a few steps, AppTest on runs made from random weights.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from cvae import cli
from cvae.engine import evaluate
from cvae.store import evaluations
from cvae.explorer.maths import interpolate
from cvae.engine import objectives
import reference
from cvae.store import runs
from cvae.engine import trainer
from cvae.explorer.ui import run_data
from cvae.store.config import TrainConfig
from cvae.data.sources import binarize, load_dataset
from cvae.data.likelihoods import bernoulli_log_likelihood
from cvae.explorer.maths.numpy_model import NumpyCVAE, log_normal_pdf
from cvae.store.weights import expected_shapes
from cvae.engine.model import build_model, get_weight_arrays, set_weight_arrays
from cvae.engine.callbacks import Callback
from cvae.engine.trainer import Trainer, TrainData
from cvae.engine.train import prepare_data, train_run
from cvae.engine.trainer import dynamic_binarize

sys.path.insert(0, str(Path(__file__).parent))
from test_app import (app_test, charts, classic_plane, click_map, make_run,  # noqa: E402  (root: conftest.py)
                      no_exceptions, run_pages_script, texts)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits(mnist_dir) -> np.ndarray:
    """Eight real binarized MNIST test digits."""
    return binarize(load_dataset("mnist", mnist_dir).test_images[:8])


def wide_q_model(latent_dim: int = 2, seed: int = 0):
    """A random CVAE whose q(z|x) is far too wide, so the ELBO is clearly loose and IWAE has room to tighten."""
    model = build_model(latent_dim, seed=seed)
    arrays = get_weight_arrays(model)
    arrays["enc_dense/bias"] = np.concatenate([np.full(latent_dim, 0.3), np.full(latent_dim, 2.0)]).astype(np.float32)
    arrays["dec_logits/bias"] = np.full((1,), -1.0, np.float32)
    set_weight_arrays(model, arrays)
    return model


def tiny_data(n: int = 64, seed: int = 0, dynamic: bool = False) -> TrainData:
    """Digit-like random images: intensities mostly near 0 or 1 (beta(0.3, 0.3)); binary unless dynamic."""
    grey = np.random.default_rng(seed).beta(0.3, 0.3, (n, 28, 28, 1)).astype(np.float32)
    binary = (grey > 0.5).astype(np.float32)
    return TrainData(train=grey if dynamic else binary, test=binary[:16], source="random")


# ---------------------------------------------------------------------------------------------- IWAE (tfp)


def test_tfp_iwae_equals_the_plain_bound_with_the_same_eps(digits):
    model = wide_q_model()
    x = digits[:5]
    k = 30
    eps = np.random.default_rng(0).standard_normal((k, len(x), 2)).astype(np.float32)
    plain = reference.iwae_bound(model, tf.constant(x), k, eps=tf.constant(eps)).numpy()
    # Any layout of images per call and samples per call: the same numbers.
    for batch_size, chunk in ((None, 100), (2, 7), (1, 30)):
        tfp_version = evaluate.iwae_per_example(model, x, k, batch_size=batch_size, chunk=chunk, eps=eps)
        assert tfp_version.shape == (len(x),) and tfp_version.dtype == np.float64
        np.testing.assert_allclose(tfp_version, plain, rtol=2e-5)
    with pytest.raises(ValueError, match="eps has shape"):
        evaluate.iwae_per_example(model, x, k, eps=eps[:, :2])
    for bad in (0, -3):
        with pytest.raises(ValueError, match="k and chunk must be >= 1"):
            evaluate.iwae_per_example(model, x, bad)


def test_k1_is_the_elbo_on_the_same_eps(digits):
    model = wide_q_model()
    eps = np.random.default_rng(1).standard_normal((1, len(digits), 2)).astype(np.float32)
    iwae1 = evaluate.iwae_per_example(model, digits, 1, eps=eps)
    elbo = objectives.elbo_terms(model, digits, eps[0]).elbo.numpy()
    np.testing.assert_allclose(iwae1, elbo, rtol=2e-5)


def test_tfp_iwae_statistics(digits):
    """k = 1 equals the ELBO in expectation; the bound is above the ELBO and does not decrease with k."""
    model = wide_q_model()
    x = digits[:4]
    reps = {"elbo": 100, 1: 100, 10: 20, 100: 4}
    fn = evaluate.make_iwae_logw_fn(model)  # traced once for every k and layout
    values = {"elbo": objectives.elbo_terms(
        model, np.tile(x, (100, 1, 1, 1)), np.random.default_rng(9).standard_normal((400, 2)).astype(np.float32)
    ).elbo.numpy()}
    for k in (1, 10, 100):
        values[k] = evaluate.iwae_per_example(model, np.tile(x, (reps[k], 1, 1, 1)), k, seed=k, logw_fn=fn)
    stats = {}
    for key, v in values.items():
        m = np.asarray(v, np.float64).reshape(reps[key], -1).mean(axis=1)  # the batch mean per repetition
        stats[key] = (m.mean(), m.std(ddof=1) / np.sqrt(len(m)))
    (me, se), (m1, s1), (m10, s10), (m100, s100) = (stats[k] for k in ("elbo", 1, 10, 100))
    assert abs(m1 - me) < 4 * np.hypot(s1, se), stats
    assert m10 >= m1 - 3 * np.hypot(s10, s1), stats
    assert m100 >= m10 - 3 * np.hypot(s100, s10), stats
    assert m10 - me > 3 * np.hypot(s10, se) and m100 - me > 5 * np.hypot(s100, se), stats  # a real gain


def test_iwae_estimate_is_reproducible(digits):
    model = wide_q_model()
    a = reference.iwae_estimate(model, digits[:3], 20, seed=3)
    assert a == reference.iwae_estimate(model, digits[:3], 20, seed=3)
    b = reference.iwae_estimate(model, digits[:3], 20, seed=4)
    assert a != b and abs(a - b) < 3.0  # other noise, same quantity
    assert evaluate.plan(1000) == (20, 100) and evaluate.plan(1) == (2000, 1) and evaluate.plan(10) == (200, 10)


def test_numpy_iwae_matches_a_per_example_reference(monkeypatch):
    """NumpyCVAE.iwae (the Reconstruct page's, vectorised over digits and samples) = the plain per-digit loop."""
    from cvae import cli
    from cvae.engine import evaluate
    from cvae.store import evaluations
    from cvae.explorer.maths import interpolate
    from cvae.engine import objectives
    import reference
    from cvae.store import runs
    pass
    from cvae.engine import trainer
    from cvae.explorer.maths import numpy_model

    monkeypatch.setattr(numpy_model, "_IWAE_BLOCK", 64)  # small blocks, so that they straddle digits
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(0.0, 0.3 if k.startswith("dec_dense") else 0.08, s) for k, s in expected_shapes(3).items()}
    model = NumpyCVAE(arrays, 3)
    x = (rng.random((3, 28, 28, 1)) > 0.6).astype(np.float32)
    k = 50
    got = model.iwae(x, k, rng=np.random.default_rng(5))
    ref_rng = np.random.default_rng(5)
    mean, logvar = model.encode(x)
    for i in range(len(x)):
        z = ref_rng.standard_normal((k, 3)).astype(np.float32) * np.exp(0.5 * logvar[i]) + mean[i]
        logw = (bernoulli_log_likelihood(np.broadcast_to(x[i], (k, 28, 28, 1)), model.decode(z))
                + log_normal_pdf(z, 0.0, 0.0) - log_normal_pdf(z, mean[i], logvar[i])).astype(np.float64)
        ref = logw.max() + np.log(np.mean(np.exp(logw - logw.max())))
        assert got[i] == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ValueError, match="k must be"):
        model.iwae(x, 0)


def test_evaluations_log(tmp_path):
    assert evaluations.read_evaluations(tmp_path) == []
    evaluations.append_evaluation(tmp_path, evaluations.evaluation_row(10, -150.0, -155.0, 10_000, 3.0, epoch=10))
    with open(tmp_path / evaluations.EVALUATIONS_FILE, "ab") as f:
        f.write(b'{"k": 100, "iwae": -14')  # a crash tore the last line
    evaluations.append_evaluation(tmp_path, evaluations.evaluation_row(100, -149.0, -155.0, 10_000, 30.0, epoch=10))
    evaluations.append_evaluation(tmp_path, evaluations.evaluation_row(1000, -148.5, -155.0, 1000, 90.0, epoch=10))
    evaluations.append_evaluation(tmp_path, evaluations.evaluation_row(5000, -140.0, -150.0, 10_000, 9.0, epoch=3))
    rows = evaluations.read_evaluations(tmp_path)
    assert [r["k"] for r in rows] == [10, 100, 1000, 5000]  # the torn line is gone, the next row intact
    best = evaluations.best_evaluation(rows, epoch=10)  # most images, then largest k, for the current weights
    assert best["k"] == 100 and evaluations.format_evaluation(best) == "-149.00 (k = 100, 10,000 images)"
    assert evaluations.best_evaluation(rows, epoch=11) is None and evaluations.format_evaluation(None) is None


def test_cli_eval_reports_and_saves_the_iwae(tmp_path, mnist_dir, capsys):
    from cvae import cli
    from cvae.engine import evaluate
    from cvae.store import evaluations
    from cvae.explorer.maths import interpolate
    from cvae.engine import objectives
    import reference
    from cvae.store import runs
    pass
    from cvae.engine import trainer
    from cvae.explorer.ui import run_data

    make_run(tmp_path, "r", latent_dim=2, epochs=3)
    argv = ["eval", "r", "--runs-dir", str(tmp_path), "--data-dir", str(mnist_dir), "--max-test-examples", "24"]
    assert cli.main([*argv, "--iwae-k", "3"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["test_examples"] == 24 and np.isfinite(out["iwae_3"]) and out["iwae_seconds"] >= 0
    rows = evaluations.read_evaluations(tmp_path / "r")
    assert len(rows) == 1
    # make_run's weights.npz does not say its epoch (as before issue #10): null, not status.json's epoch
    assert rows[0]["k"] == 3 and rows[0]["n"] == 24 and rows[0]["epoch"] is None
    assert rows[0]["iwae"] == pytest.approx(out["iwae_3"]) and rows[0]["elbo"] == pytest.approx(out["test_elbo"])
    assert cli.main(argv) == 0  # without --iwae-k nothing is appended
    assert len(evaluations.read_evaluations(tmp_path / "r")) == 1


def test_runs_page_shows_the_iwae_column(root):
    make_run(root, "plain", created=1.0)
    at = app_test().run().switch_page("app_pages/5_Runs.py").run()
    assert "log p(x) (IWAE k)" not in at.dataframe[0].value.columns  # no evaluation anywhere: no column
    run = make_run(root, "evaluated", created=2.0)
    evaluations.append_evaluation(run, evaluations.evaluation_row(1000, -151.234, -155.0, 10_000, 60.0, epoch=3))
    at.run()
    no_exceptions(at)
    table = at.dataframe[0].value
    assert table[table["run"] == "evaluated"].iloc[0]["log p(x) (IWAE k)"] == \
        "-151.23 (k = 1000, 10,000 images) · ELBO -155.00, epoch 3"  # the ELBO of the same weights, named
    import pandas as pd

    assert table[table["run"] == "plain"].iloc[0]["log p(x) (IWAE k)"] == "–"  # an empty cell, not "None"


def test_reconstruct_iwae_k_selector(root):
    make_run(root, "r")
    at = app_test().run().switch_page("app_pages/3_Reconstruct.py").run()
    at.slider(key="rc_count").set_value(1).run()
    first = [m.value for m in at.metric if m.label == "IWAE bound, k = 100"]
    at.selectbox(key="rc_iwae_k").set_value(10).run()
    no_exceptions(at)
    again = [m.value for m in at.metric if m.label == "IWAE bound, k = 10"]
    assert len(first) == len(again) == 1 and not [m for m in at.metric if m.label == "IWAE bound, k = 100"]


# ---------------------------------------------------------------------------------------------- interpolation


def test_paths_gif_and_class_endpoints():
    z0, z1 = np.array([2.0, 0.0, 0.0]), np.array([0.0, -2.0, 0.0])
    line, arc = interpolate.path_codes(z0, z1, 9, "lerp"), interpolate.path_codes(z0, z1, 9, "slerp")
    for p in (line, arc):
        assert p.shape == (9, 3) and np.allclose(p[0], z0) and np.allclose(p[-1], z1, atol=1e-6)
    assert np.linalg.norm(line[4]) == pytest.approx(np.sqrt(2)) and np.allclose(np.linalg.norm(arc, axis=1), 2.0)
    assert interpolate.angle_degrees(z0, z1) == pytest.approx(90.0)
    for bad in ({"frames": 1}, {"frames": 61}, {"kind": "cubic"}):
        with pytest.raises(ValueError):
            interpolate.path_codes(z0, z1, **{"frames": 5, "kind": "lerp", **bad})
    rng = np.random.default_rng(0)
    model = NumpyCVAE({k: rng.normal(0, 0.1, s) for k, s in expected_shapes(3).items()}, 3)
    paths = interpolate.decode_paths(model, z0, z1, 6)
    assert set(paths) == {"lerp", "slerp"} and paths["lerp"][1].shape == (6, 28, 28)
    gif = interpolate.gif_of(paths["lerp"][1])
    assert gif.startswith(b"GIF8")
    from PIL import Image
    import io

    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 6 + 4 and im.size == (112, 112)  # forwards, then back (bounce), 4x scale
    assert interpolate.strip_image(paths["slerp"][1], scale=2).size == (6 * 56, 56)
    labels = np.array([3, 1, 3, 7, 1, 3])
    assert interpolate.endpoints_by_class(labels, 3, 1) == (0, 1)
    assert interpolate.endpoints_by_class(labels, 3, 1, nth=2) == (5, 1)  # wraps around class 1
    with pytest.raises(ValueError, match="class 9"):
        interpolate.endpoints_by_class(labels, 3, 9)


@pytest.fixture
def media(monkeypatch) -> list[tuple[str, bytes]]:
    """Every file the app hands to Streamlit's media storage (images, download buttons), in order."""
    import streamlit.runtime.memory_media_file_storage as mm

    saved: list[tuple[str, bytes]] = []
    original = mm.MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        saved.append((mimetype, data if isinstance(data, bytes) else b""))
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(mm.MemoryMediaFileStorage, "load_and_get_id", record)
    return saved


def gifs(media) -> list[bytes]:
    return [data for mime, data in media if mime == "image/gif"]


def pngs(media) -> list[bytes]:
    return [data for mime, data in media if mime == "image/png"]


def test_interpolate_page(root, media):
    make_run(root, "r")
    at = app_test().run().switch_page("app_pages/6_Interpolate.py").run()
    no_exceptions(at)
    assert not at.error
    gif = gifs(media)[-1]
    assert gif.startswith(b"GIF8")
    assert any("Download the GIF" in b.label for b in at.get("download_button"))
    strips = pngs(media)[-3:]  # the lerp strip, the slerp strip, both strips for download
    del media[:]
    at.number_input(key="ip_index_b").set_value(5).run()  # another endpoint: other frames
    no_exceptions(at)
    assert pngs(media)[-3:] != strips and gifs(media)[-1] != gif
    del media[:]
    at.slider(key="ip_frames").set_value(4).run()
    from PIL import Image
    import io

    with Image.open(io.BytesIO(gifs(media)[-1])) as im:
        assert im.n_frames == 4 + 2
    map_traces = {t.get("name") for t in charts(at)["ip_map_view"]["data"]}
    assert {"straight line (lerp)", "spherical path (slerp)", "endpoints"} <= map_traces
    at.radio(key="ip_mode").set_value("Two classes").run()
    at.selectbox(key="ip_class_b").set_value(3).run()
    no_exceptions(at)
    captions = at.get("image")[0].captions  # the two endpoint digits
    assert captions[0].endswith("(0)") and captions[1].endswith("(3)"), captions


def test_interpolate_page_map_clicks_set_the_endpoints(root, media):
    make_run(root, "eight", latent_dim=8)
    at = app_test().run().switch_page("app_pages/6_Interpolate.py").run()
    at.radio(key="ip_mode").set_value("Two points on the map").run()
    no_exceptions(at)
    a0, b0 = list(at.session_state["ip_map_a"]), list(at.session_state["ip_map_b"])
    click_map(at, "ip_map", 0.4, -0.3)  # endpoint A (the default target)
    no_exceptions(at)
    a1 = at.session_state["ip_map_a"]
    assert len(a1) == 8 and a1 != a0 and at.session_state["ip_map_b"] == b0
    at.radio(key="ip_click_target").set_value("B").run()
    del media[:]
    click_map(at, "ip_map", -0.5, 0.2)
    no_exceptions(at)
    assert at.session_state["ip_map_b"] != b0 and at.session_state["ip_map_a"] == a1
    assert gifs(media) and gifs(media)[-1].startswith(b"GIF8")


def test_new_page_and_any_latent_size_without_tensorflow(tmp_path):
    """Every page (Interpolate included) with 8- and 64-dimensional runs, in a fresh interpreter: no exception,
    no error, and TensorFlow never imported."""
    script = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from test_app import make_run, app_test, PAGES
        from cvae.data import sources
        sources.SYSTEM_DIRS = {{n: () for n in sources.DATASETS}}
        root = Path({str(tmp_path / 'runs')!r})
        make_run(root, "eight", 8, created=1.0)
        make_run(root, "sixtyfour", 64, created=2.0)
        problems = []
        for run in ("eight", "sixtyfour"):
            at = app_test()
            at.session_state["cvae_selected_run"] = run
            at.run()
            for page in (*PAGES, "app_pages/6_Interpolate.py"):
                at.switch_page(page).run()
                problems += [(run, page, str(e.value)) for e in (*at.exception, *at.error)]
        print(json.dumps({{"problems": problems, "tf": "tensorflow" in sys.modules}}))
    """)
    result = run_pages_script(script, tmp_path, timeout=400)
    assert result["problems"] == [] and result["tf"] is False


# ---------------------------------------------------------------------------------------------- latent size


@pytest.mark.parametrize("d", [8, 64])
def test_latent_plane_and_manifold_for_any_latent_size(root, d):
    make_run(root, "big", latent_dim=d)
    at = classic_plane(app_test().run().switch_page("app_pages/2_Latent_plane.py").run())
    no_exceptions(at)
    assert [s.key for s in at.slider] == [f"lp_z{i}" for i in range(d)]  # a slider per dimension
    at.slider(key=f"lp_z{d - 1}").set_value(1.5).run()
    at.slider(key="lp_z1").set_value(-2.0).run()
    assert at.slider(key=f"lp_z{d - 1}").value == 1.5
    at.button(key="lp_reset").click().run()
    assert all(s.value == 0.0 for s in at.slider)  # back to the prior mean
    assert "principal components" in texts(at)
    click_map(at, "lp_map", 0.3, -0.2)
    no_exceptions(at)
    z = np.array([s.value for s in at.slider])
    # The click is decoded back through the principal plane of the encoded test digits (the bundled sample here).
    from cvae import cli
    from cvae.engine import evaluate
    from cvae.store import evaluations
    from cvae.explorer.maths import interpolate
    from cvae.engine import objectives
    import reference
    from cvae.store import runs
    pass
    from cvae.engine import trainer
    from cvae.explorer.ui import run_data
    from cvae.data.sample import load_test_split
    from cvae.explorer.maths.numpy_model import load_numpy_model
    from cvae.explorer.figures import maps
    from cvae.explorer.maths.latent import PCA2

    images = load_test_split("mnist", None, allow_download=False)[0][:run_data.MAP_POINTS]
    pca = PCA2(load_numpy_model(root / "big").encode((images > 127).astype(np.float32))[0])
    expected = np.round(np.clip(pca.inverse(np.array([[0.3, -0.2]]))[0], maps.SLIDER_LOW, maps.SLIDER_HIGH), 2)
    np.testing.assert_allclose(z, expected, atol=0.011)
    assert np.count_nonzero(z) >= min(d, 8) // 2
    at.switch_page("app_pages/4_Manifold.py").run()
    no_exceptions(at)
    at.selectbox(key="mf_dx").set_value(d - 1).run()
    at.selectbox(key="mf_dy").set_value(d // 2).run()
    no_exceptions(at)
    assert f"z{d}" in json.dumps(charts(at)["mf_image"]["layout"]["xaxis"]["title"])
    assert f"z{d // 2 + 1}" in json.dumps(charts(at)["mf_image"]["layout"]["yaxis"]["title"])


def test_training_works_for_latent_dim_64(tmp_path):
    cfg = TrainConfig(latent_dim=64, batch_size=16, max_train_examples=64, max_test_examples=16, epochs=1,
                      log_every_steps=2)
    assert train_run("d64", cfg, runs_dir=tmp_path, data=tiny_data()) == "done"
    info = runs.run_info(tmp_path / "d64")
    assert info.has_weights and info.best_test_elbo is not None and np.isfinite(info.best_test_elbo)
    from cvae.explorer.maths.numpy_model import load_numpy_model

    assert load_numpy_model(tmp_path / "d64").latent_dim == 64


# ---------------------------------------------------------------------------------------------- data options


def test_dynamic_binarize_draws_bernoulli_x():
    rng = tf.random.Generator.from_seed(0)
    x = tf.constant(np.linspace(0.0, 1.0, 28 * 28, dtype=np.float32).reshape(1, 28, 28, 1))
    fn = tf.function(lambda v: dynamic_binarize(rng, v))
    draws = np.stack([fn(x).numpy() for _ in range(400)])
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert np.all(draws[:, 0, 0, 0, 0] == 0.0) and np.all(draws[:, 0, -1, -1, 0] == 1.0)  # p = 0 and p = 1
    assert not np.array_equal(draws[0], draws[1])  # a fresh draw every call
    p = x.numpy()[0]
    se = np.sqrt(p * (1 - p) / len(draws)) + 1e-6
    z = (draws.mean(axis=0)[0] - p) / se
    assert np.mean(np.abs(z) < 4) > 0.999, np.abs(z).max()  # the mean of many draws is x
    assert abs(draws.mean() - p.mean()) < 0.01


def test_dynamic_training_sees_a_new_binary_image_every_epoch(mnist_dir, monkeypatch):
    """Through the real training loop: the batches of two epochs binarize the same image differently, while a
    static run sees identical batches; the data kept for dynamic runs are the grey levels x / 255."""
    from cvae import cli
    from cvae.engine import evaluate
    from cvae.store import evaluations
    from cvae.explorer.maths import interpolate
    from cvae.engine import objectives
    import reference
    from cvae.store import runs
    pass
    from cvae.engine import trainer
    from cvae.explorer.ui import run_data

    cfg = TrainConfig(dataset="mnist", data_dir=str(mnist_dir), batch_size=8, max_train_examples=8,
                      max_test_examples=16, epochs=2, binarization="dynamic")
    data = prepare_data(cfg)
    raw = load_dataset("mnist", mnist_dir).train_images[:8]
    np.testing.assert_allclose(data.train[..., 0], raw / 255.0, atol=1e-6)
    np.testing.assert_array_equal(data.test, binarize(load_dataset("mnist", mnist_dir).test_images[:16]))
    seen: list[np.ndarray] = []
    real = trainer.dynamic_binarize

    def spy(rng, x):
        out = real(rng, x)
        token = tf.py_function(lambda t: seen.append(t.numpy()) or 0, [out], tf.int32)
        with tf.control_dependencies([token]):
            return tf.identity(out)

    monkeypatch.setattr(trainer, "dynamic_binarize", spy)
    trainer = Trainer(cfg, data)
    trainer.run_epochs()
    assert len(seen) == 2  # one batch of all 8 images per epoch
    by_image = [seen[e][np.argsort(trainer.epoch_order(e + 1))] for e in range(2)]  # back to image order
    for e in range(2):
        assert set(np.unique(by_image[e])) <= {0.0, 1.0}
        assert np.all(by_image[e][data.train == 0.0] == 0.0) and np.all(by_image[e][data.train == 1.0] == 1.0)
    differs = [not np.array_equal(by_image[0][i], by_image[1][i]) for i in range(8)]
    assert all(differs)  # every digit has grey edge pixels: a new binary image each epoch


def fashion_dir(tmp_path: Path) -> Path:
    """Tiny Fashion-MNIST-shaped IDX files (random pixels, every class)."""
    from test_data import write_idx_dir

    d = tmp_path / "fashion"
    write_idx_dir(d)
    return d


def test_fashion_mnist_in_the_cli_and_the_train_page(root, tmp_path):
    from cvae.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["train", "--name", "f", "--dataset", "fashion_mnist",
                                      "--binarization", "dynamic"])
    cfg = _config_from_args(args)
    assert cfg.dataset == "fashion_mnist" and cfg.binarization == "dynamic"
    at = app_test().run().switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    assert "fashion_mnist" in at.selectbox(key="tr_dataset").options
    assert set(at.selectbox(key="tr_binarization").options) == {"static", "dynamic"}


def test_fashion_class_names_on_the_map_and_reconstruct(root, tmp_path):
    run = make_run(root, "fashion")
    cfg = TrainConfig(dataset="fashion_mnist", data_dir=str(fashion_dir(tmp_path)), epochs=3)
    (run / runs.CONFIG_FILE).write_text(cfg.to_json())
    at = classic_plane(app_test().run().switch_page("app_pages/2_Latent_plane.py").run())
    no_exceptions(at)
    legend = {t.get("name") for t in charts(at)["lp_map"]["data"]}
    assert {"Trouser", "Ankle boot", "Sneaker"} <= legend
    at.switch_page("app_pages/3_Reconstruct.py").run()
    no_exceptions(at)
    assert "label **T-shirt/top**" in texts(at)
    at.switch_page("app_pages/6_Interpolate.py").run()
    no_exceptions(at)
    assert "Trouser" in {t.get("name") for t in charts(at)["ip_map_view"]["data"]}


# ---------------------------------------------------------------------------------------------- TensorBoard


class _CountSampleGrids(Callback):
    """Counts how often the trainer really decodes its sample grid (after the epoch-0 frame)."""

    def __init__(self):
        self.decodes = 0

    def on_train_begin(self, trainer) -> None:
        inner = trainer._encode_fn

        def counting(x):
            self.decodes += 1
            return inner(x)

        trainer._encode_fn = counting


def test_train_run_writes_tensorboard_summaries(tmp_path):
    counter = _CountSampleGrids()
    cfg = TrainConfig(batch_size=16, max_train_examples=64, max_test_examples=16, epochs=2, log_every_steps=2)
    assert train_run("tb", cfg, runs_dir=tmp_path, data=tiny_data(), callbacks=[counter]) == "done"
    assert counter.decodes == 2  # once per epoch: the run writer's PNG and TensorBoard share the grid
    files = list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(files) == 1
    tags: dict[str, list] = {}
    plugins = {}
    for event in tf.compat.v1.train.summary_iterator(str(files[0])):
        for v in event.summary.value:
            tags.setdefault(v.tag, []).append((event.step, v))
            plugins[v.tag] = v.metadata.plugin_data.plugin_name or plugins.get(v.tag)
    for tag in ("train/loss", "epoch/test_elbo", "epoch/test_logpx_z", "epoch/test_kl", "epoch/images_per_second"):
        assert tag in tags and plugins[tag] == "scalars", (tag, sorted(tags))
    assert [s for s, _ in tags["epoch/test_elbo"]] == [1, 2]
    assert [s for s, _ in tags["train/loss"]] == [2, 4, 6, 8]  # 4 steps per epoch, logged every 2
    rows = runs.run_info(tmp_path / "tb").epoch_rows
    logged = [float(tf.make_ndarray(v.tensor)) for _, v in tags["epoch/test_elbo"]]
    np.testing.assert_allclose(logged, [r["test_elbo"] for r in rows], rtol=1e-6)
    for i in (1, 2):  # KL per latent dimension, per epoch, summing to the test KL
        assert [s for s, _ in tags[f"kl_per_dim/z{i}"]] == [1, 2]
    per_dim = sum(np.array([float(tf.make_ndarray(v.tensor)) for _, v in tags[f"kl_per_dim/z{i}"]]) for i in (1, 2))
    np.testing.assert_allclose(per_dim, [r["test_kl"] for r in rows], rtol=1e-4)
    assert "epoch/test_active_units" in tags
    assert plugins["samples"] == "images"
    width, height, png = tf.make_ndarray(tags["samples"][-1][1].tensor)
    assert png.startswith(b"\x89PNG") and (int(width), int(height)) == (4 * 28, 4 * 28)


def test_sample_grid_is_cached_per_step():
    trainer = Trainer(TrainConfig(batch_size=16, max_train_examples=64, max_test_examples=16, epochs=1),
                      tiny_data())
    first = trainer.sample_probs()
    assert trainer.sample_probs() is first
    trainer._train_chunk(np.arange(16, dtype=np.int32)[None])
    trainer.global_step += 1
    assert not np.allclose(trainer.sample_probs(), first)
