"""The classroom's rough edges (issue #13), each pinned by a test that fails on the code before the fix: ETA with
evaluation, the previous process's speed after Resume, the short last batch in the loss curve, the data check
before launch, the log's command line, the Runs table, data paths shown to students, the maps and the Manifold."""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cvae.explorer.figures import maps
from cvae.explorer.jobs import launcher, progress
from cvae.store import access
from cvae.explorer.maths.latent import normal_quantiles, separated_range
from cvae.store import runs
from cvae.store.config import TrainConfig
from cvae.store.weights import expected_shapes

from test_app import app_test, charts, make_run, no_exceptions, run_page, texts


def fake_info(status: dict, batch: int = 32, max_test: int | None = None, state: str = "running"):
    config = TrainConfig(batch_size=batch, max_test_examples=max_test, epochs=status.get("total_epochs", 1))
    return SimpleNamespace(status=status, total_epochs=status.get("total_epochs"), state=state, config=config)


def step_rows(times_steps):
    return [{"kind": "step", "step": s, "time": t, "loss": 1.0} for t, s in times_steps]


# ---------------------------------------------------------------------------------------------- progress and ETA


def test_eta_counts_the_evaluations_still_to_come():
    """3,000 training images (94 steps) in ~4 s, a 10,000-image evaluation ~10 s: at the end of training steps
    the old ETA said 0:00 while the evaluation still had ~10 s to run."""
    status = {"total_epochs": 1, "steps_per_epoch": 94, "epoch": 0, "step": 94, "started": 0.0}
    steps = step_rows([(1.0, 50), (3.0, 94)])  # 44 steps in 2 s
    p = progress.progress(fake_info(status), steps, [], now=3.0)
    per_image = 2.0 / (44 * 32)
    assert p["eta_seconds"] == pytest.approx(10_000 * per_image * progress.EVAL_COST, rel=1e-6)
    assert p["eta_seconds"] > 4
    # Once an epoch has been evaluated, its measured evaluation time is used (epoch − training seconds).
    status.update(total_epochs=2, epoch=1, step=94)
    epochs = [{"kind": "epoch", "epoch": 1, "epoch_seconds": 14.0, "train_seconds": 4.0}]
    p = progress.progress(fake_info(status), steps, epochs, now=3.0)
    assert p["eta_seconds"] == pytest.approx(94 * 2.0 / 44 + 10.0, rel=1e-6)


def test_after_resume_speed_and_eta_come_from_the_new_process_only():
    old = step_rows([(100.0, 50), (101.0, 100)])  # the previous process: 50 steps/s
    status = {"total_epochs": 2, "steps_per_epoch": 200, "epoch": 0, "step": 100, "started": 500.0}
    p = progress.progress(fake_info(status), old, [], now=501.0)
    assert p["images_per_second"] is None and p["eta_seconds"] is None  # "measuring speed", not stale numbers
    new = old + step_rows([(510.0, 150), (515.0, 200)])  # the resumed process: 10 steps/s
    p = progress.progress(fake_info(status), new, [], now=515.0)
    assert p["images_per_second"] == pytest.approx(50 * 32 / 5.0)


# ---------------------------------------------------------------------------------------------- loss curve


@pytest.mark.slow
def test_the_short_last_batch_is_logged_with_its_chunk(tmp_path, mnist_dir):
    """100 images in batches of 32 = 3 full steps + a 4-image step; logging every 2 steps. The last batch used
    to be a logged point of its own (a dip at every epoch end); now it is part of the epoch's last chunk, and
    the chunk's loss is the mean per image."""
    from cvae.data.sources import binarize, load_dataset
    from cvae.engine.callbacks import chunk_loss
    from cvae.engine.train import train_run
    from cvae.engine.trainer import TrainData
    from cvae.store.files import read_jsonl

    ds = load_dataset("mnist", mnist_dir)
    data = TrainData(train=binarize(ds.train_images[:100]), test=binarize(ds.test_images[:16]), source="subset")
    config = TrainConfig(max_train_examples=100, max_test_examples=16, batch_size=32, epochs=2,
                         log_every_steps=2, num_examples_to_generate=4)
    assert train_run("tail", config, runs_dir=tmp_path, data=data) == "done"
    rows = read_jsonl(tmp_path / "tail" / runs.METRICS_FILE)
    assert [r["step"] for r in rows if r["kind"] == "step"] == [2, 4, 6, 8]  # not [2, 3, 4, 6, 7, 8]
    # The weighting itself: batch means 10 (32 images) and 1 (4 images) -> 290/36 per image.
    t = SimpleNamespace(chunk_weights=np.array([32, 4], np.float32))
    assert chunk_loss(t, np.array([10.0, 1.0])) == pytest.approx((320 + 4) / 36)


# ---------------------------------------------------------------------------------------------- Train page


def test_train_form_checks_for_data_before_launching(root, monkeypatch):
    """No data on the server: the form says so at once, on its own Data directory field, and launches nothing
    (it used to start a trainer that sat in 'starting' for 40 s and then failed)."""
    calls = []
    monkeypatch.setattr(launcher, "launch_training", lambda *a, **k: calls.append(a))
    at = run_page("app_pages/1_Train.py")
    at.text_input(key="tr_name").input("nodata")
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    assert calls == []
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "**Data directory**" in errors[0] and "Resume" not in errors[0], errors
    assert "CVAE_DATA_DIR" not in errors[0] and "--data-dir" not in errors[0]


def test_the_training_log_starts_with_the_whole_command(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(launcher, "train_argv", lambda name, *a, **kw: [
        sys.executable, "-c", "import time; time.sleep(30)", "-m", "cvae", "train", f"--name={name}"])
    rec = launcher.launch_training("logged", TrainConfig(), tmp_path)
    try:
        first = Path(rec.log if hasattr(rec, "log") else access.log_path("logged")).read_text().splitlines()[0]
    finally:
        os.killpg(rec.pid, 9)
    assert first.startswith("$ python -c") and "-m cvae train --name=logged" in first, first
    assert sys.executable not in first  # the interpreter's name, not the server's path to it


# ---------------------------------------------------------------------------------------------- Runs and captions


def test_runs_table_has_no_none_and_a_failed_run_says_why(root):
    make_run(root, "good")
    bad = root / "nodata"
    bad.mkdir()
    (bad / runs.CONFIG_FILE).write_text(TrainConfig().to_json())
    runs.write_status(bad, state="failed", message="no mnist data found", epoch=0)
    at = run_page("app_pages/5_Runs.py")
    no_exceptions(at)
    table = at.dataframe[0].value
    assert not table.isna().any().any() and "None" not in table.astype(str).to_numpy().ravel().tolist()
    assert table[table["run"] == "nodata"].iloc[0]["problem"] == "no mnist data found"
    assert str(root) not in texts(at)  # the server's runs path is not shown to students


def test_captions_name_the_source_once_and_no_server_path(root, mnist_dir, monkeypatch):
    make_run(root, "r")
    at = run_page("app_pages/2_Latent_plane.py")
    no_exceptions(at)
    assert "1,000 test digits (the bundled sample)" in texts(at)
    assert "bundled sample (1000" not in texts(at)
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))
    from cvae.explorer.ui import run_data

    run_data.load_test_data.clear()
    at = run_page("app_pages/2_Latent_plane.py")
    assert "mnist IDX files" in texts(at) and str(mnist_dir) not in texts(at)


# ---------------------------------------------------------------------------------------------- maps


def test_latent_maps_are_accessible():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(300, 2)).astype(np.float32)
    labels = np.arange(300) % 10
    fig = maps.latent_map_figure(xy, labels, [str(i) for i in range(10)], current=[0, 0],
                                 axis_titles=("z₁", "z₂"), ranges=((-3, 3), (-3, 3)))
    classes = [t for t in fig.data if t.name in {str(i) for i in range(10)}]
    assert len({t.marker.symbol for t in classes}) == 10 and len({t.marker.color for t in classes}) == 10
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1  # equal aspect
    assert fig.layout.uirevision  # legend clicks survive reruns
    hi = maps.latent_map_figure(xy, labels, [str(i) for i in range(10)], current=[0, 0],
                                axis_titles=("z₁", "z₂"), ranges=((-3, 3), (-3, 3)), lang="hi")
    assert hi.layout.legend.title.text.strip() == "वर्ग"


def test_manifold_range_cannot_collapse_and_z2_grows_upwards(root):
    make_run(root, "r")
    at = run_page("app_pages/4_Manifold.py")
    at.slider(key="mf_n").set_value(3).run()
    at.slider(key="mf_range").set_value((0.5, 0.5)).run()
    no_exceptions(at)
    assert not at.warning and "mf_image" in charts(at)
    low, high = at.slider(key="mf_range").value
    assert high - low >= 0.05 - 1e-9
    assert separated_range(0.99, 0.99) == (0.94, 0.99) and separated_range(0.7, 0.2) == (0.2, 0.7)
    # Top-left cell = (lowest z₁, highest z₂), as on the map; compare with the model's own decode.
    at.slider(key="mf_range").set_value((0.1, 0.9)).run()
    src = charts(at)["mf_image"]["data"][0]["source"]
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"), np.float32)
    from cvae.explorer.maths.numpy_model import load_numpy_model

    model = load_numpy_model(root / "r")
    q = normal_quantiles(3, 0.1, 0.9)
    top_left = model.decode(np.array([[q[0], q[-1]]]), apply_sigmoid=True)[0, :, :, 0]
    bottom_left = model.decode(np.array([[q[0], q[0]]]), apply_sigmoid=True)[0, :, :, 0]
    shown = img[:56:2, :56:2] / 255.0
    assert np.abs(shown - top_left).mean() < np.abs(shown - bottom_left).mean()
    assert np.abs(shown - top_left).max() < 0.02


# ---------------------------------------------------------------------------------------------- presenter mode


def test_presenter_mode_hides_runs_but_shows_train(root):
    """The latent map forming is a lesson highlight: Train stays on the projector; Runs (deletion) does not."""
    make_run(root, "r")
    at = app_test()
    at.query_params["mode"] = "present"
    at.run()
    no_exceptions(at)
    links = [p.proto.label for p in at.get("page_link")]
    assert "Train" in links and "Runs" not in links and "Latent plane" in links
    at.switch_page("app_pages/5_Runs.py").run()
    assert "hidden in presenter mode" in texts(at)
    at.toggle(key="cl_present").set_value(False).run()
    assert "Runs" in [p.proto.label for p in at.get("page_link")]


def test_training_charts_are_three_figures_that_can_stack():
    """Phone: the Train page's three charts are separate figures (Streamlit columns stack them under 640 px), each
    with its own title; β ≠ 1 adds the objective trained on and says so in the loss title."""
    from cvae.explorer.figures import train_figures

    epochs = [{"epoch": e, "test_elbo": -200.0 + e, "test_logpx_z": -190.0 + e, "test_kl": 10.0 - e,
               "test_objective": -195.0 + e} for e in (1, 2, 3)]
    assert train_figures.progress_figures(None, []) == {}
    only_steps = train_figures.progress_figures(([1, 2, 3], [300.0, 250.0, 220.0]), [])
    assert list(only_steps) == ["loss"] and list(only_steps["loss"].data[0].y) == [300.0, 250.0, 220.0]
    figs = train_figures.progress_figures(([1, 2], [300.0, 250.0]), epochs, beta=1.0)
    assert list(figs) == list(train_figures.CHART_PARTS)
    assert [t.name for t in figs["elbo"].data] == ["test ELBO", "reconstruction E[log p(x|z)]"]
    assert list(figs["kl"].data[0].y) == [9.0, 8.0, 7.0] and figs["kl"].layout.yaxis.rangemode == "tozero"
    assert all(f.layout.title.text for f in figs.values())
    weighted = train_figures.progress_figures(([1, 2], [300.0, 250.0]), epochs, beta=4.0, lang="hi")
    assert "4·KL" in weighted["loss"].layout.title.text and "प्रशिक्षण" in weighted["loss"].layout.title.text
    assert list(weighted["elbo"].data[1].y) == [-194.0, -193.0, -192.0]  # the β-objective, dashed


def test_the_map_animation_is_accessible_too():
    """The Train page's latent-map animation: a marker per class, equal units, translated controls."""
    from cvae.explorer.figures import map_animation

    rng = np.random.default_rng(1)
    means = rng.normal(size=(3, 200, 2)).astype(np.float32)
    fig = map_animation.map_animation_figure([1, 2, 3], means, np.arange(200) % 10, [str(i) for i in range(10)],
                                             lang="hi")
    assert len({t.marker.symbol for t in fig.data}) == 10 and len({t.marker.color for t in fig.data}) == 10
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert "चलाएँ" in fig.layout.updatemenus[0].buttons[0].label and fig.layout.legend.title.text.strip() == "वर्ग"
    wide = means * 3  # a later epoch spread past the prior's box: the animation's axes still hold it
    spec = map_animation.map_animation_figure([1, 2, 3], wide, np.arange(200) % 10, [str(i) for i in range(10)])
    (x0, x1), (y0, y1) = spec.layout.xaxis.range, spec.layout.yaxis.range
    assert x0 <= np.percentile(wide[..., 0], 1) and x1 >= np.percentile(wide[..., 0], 99) and y0 <= -3.09 <= 3.09 <= y1
    frame = np.asarray(map_animation.map_gif_frames([1], means[:1], np.full(200, 3), size=120)[0])
    yellow = np.all(np.abs(frame.astype(int) - [0xF0, 0xE4, 0x42]) < 8, axis=2)  # class 3's colour, its cross
    assert 0 < yellow.sum() < frame.shape[0] * frame.shape[1] / 4


def test_no_emoji_in_the_app():
    """Icons and labels use Streamlit's Material icons (its own font): an emoji is an empty box on a classroom
    machine without an emoji font. ★ and ▶ (Unicode symbols every text font has) are allowed."""
    import re

    repo = Path(__file__).resolve().parent.parent
    emoji = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u23E9-\u23FA\uFE0F]")
    allowed = {"★"}
    found = []
    for path in [repo / "app.py", repo / "home.py", *(repo / "app_pages").glob("*.py"), *(repo / "cvae" / "explorer").rglob("*.py"),
                 *(repo / "cvae" / "explorer").rglob("*.js"), *(repo / "cvae" / "explorer" / "locales").glob("*.json")]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix == ".py" else line
            found += [f"{path.name}:{n}: {ch!r}" for ch in emoji.findall(code) if ch not in allowed]
    assert not found, found
