"""The Streamlit app, driven by streamlit.testing.v1.AppTest, plus the training launcher (cvae.explorer.jobs.launcher).

Runs are made on the fly in a temporary runs root ($CVAE_RUNS_DIR) from random weights (no TensorFlow); the
test set is the bundled 1000-digit sample. One test launches a real (tiny) training subprocess.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cvae.explorer.jobs import launcher, launches
from cvae.store import access
from cvae.store import errors, procs
from cvae.store import runs
from cvae.data import sources
from cvae.store.config import TrainConfig
from cvae.store.images import gif_bytes, grid_image, save_png
from cvae.store.weights import expected_shapes
from cvae.store.weights import save_weights_npz
from cvae.store.files import append_jsonl

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
PAGES = ("app_pages/1_Train.py", "app_pages/2_Latent_plane.py", "app_pages/3_Reconstruct.py", "app_pages/4_Manifold.py",
         "app_pages/5_Runs.py")
TIMEOUT = 60


# ---------------------------------------------------------------------------------------------- helpers


def make_run(root: Path, name: str, latent_dim: int = 2, epochs: int = 3, state: str = "done",
             seed: int = 0, created: float | None = None) -> Path:
    """A finished-looking run from random weights: config, status, metrics, weights, images, GIF."""
    run = root / name
    (run / runs.IMAGES_DIR).mkdir(parents=True)
    (run / runs.CONFIG_FILE).write_text(TrainConfig(latent_dim=latent_dim, epochs=epochs).to_json())
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(0.0, 0.3 if k.startswith("dec_dense") else 0.08, shape)
              for k, shape in expected_shapes(latent_dim).items()}
    save_weights_npz(arrays, run / runs.WEIGHTS_FILE)
    t0 = created or time.time()
    frames = []
    for e in range(epochs + 1):
        img = grid_image(rng.random((16, 28, 28)), 4)
        save_png(img, runs.image_path(run, e))
        frames.append(img)
        if e == 0:
            continue
        for s in range(1, 4):
            append_jsonl(run / runs.METRICS_FILE, {"kind": "step", "epoch": e, "step": (e - 1) * 150 + s * 50,
                                                   "loss": 300.0 - 10 * e - s, "time": t0 + e * 10 + s})
        append_jsonl(run / runs.METRICS_FILE, {
            "kind": "epoch", "epoch": e, "step": e * 150, "test_elbo": -200.0 + 5 * e,
            "test_logpx_z": -195.0 + 5 * e, "test_kl": 5.0, "elapsed_seconds": 10.0 * e, "time": t0 + e * 10})
    (run / runs.GIF_FILE).write_bytes(gif_bytes(frames))
    runs.write_status(run, state=state, created=t0, epoch=epochs, total_epochs=epochs, step=epochs * 150,
                      steps_per_epoch=150, message="finished" if state == "done" else "training")
    return run


def app_test():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def run_page(page: str | None = None):
    at = app_test().run()
    if page:
        at.switch_page(page).run()
    return at


def no_exceptions(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "error", "warning", "success", "title", "header", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def charts(at) -> dict[str, dict]:
    """plotly charts by user key -> parsed figure spec."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[el.key or el.proto.id] = spec
    return out


def array(value) -> np.ndarray:
    """A plotly array from figure JSON (plain list or a base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
        if "shape" in value:
            shape = value["shape"]
            arr = arr.reshape([int(s) for s in (shape if isinstance(shape, list) else str(shape).split(","))])
        return arr
    return np.asarray(value, dtype=float)


def classic_plane(at):
    """Switch the Latent plane page to its classic slider view (the latent pad, decoded in the browser, is the
    default for latent_dim >= 2; tests/test_latent_pad.py covers it)."""
    at.toggle(key="lp_pad_on").set_value(False).run()
    return at


def drawn(at) -> list:
    """Everything drawn from a model: plotly charts and latent pads."""
    return list(charts(at).values()) + [e for e in at.get("bidi_component")]


def heatmap(at, key: str) -> np.ndarray:
    return array(charts(at)[key]["data"][0]["z"])


def click_map(at, key: str, x: float, y: float):
    """What the browser sends when a point of a selectable plotly chart is clicked."""
    chart = next(el for el in at.get("plotly_chart") if el.key == key)
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = chart.proto.id
    w.string_value = json.dumps({"selection": {
        "points": [{"x": x, "y": y, "curve_number": 0, "point_number": 0, "point_index": 0}],
        "point_indices": [0], "box": [], "lasso": []}})
    return at._run(states)


@pytest.fixture
def no_launch(monkeypatch) -> list:
    """Record launch_training calls instead of starting processes."""
    calls = []

    def fake(name, config=None, runs_dir=None, resume=False, epochs=None, env=None):
        calls.append({"name": name, "config": config, "resume": resume, "epochs": epochs})
        return launches.Launch(name=name, pid=0, started=time.time(), start_ticks=0, argv=[], resume=resume,
                               root=Path("/nonexistent"))

    monkeypatch.setattr(launcher, "launch_training", fake)
    return calls


# ---------------------------------------------------------------------------------------------- every page


def run_pages_script(script: str, tmp_path: Path, timeout: float) -> dict:
    """Run `script` in a fresh interpreter (runs root in tmp_path, no dataset configured); its last line's JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("CVAE_DATA_DIR", "KERAS_HOME")}
    env.update({runs.RUNS_DIR_ENV: str(tmp_path / "runs"), "HOME": str(tmp_path / "home")})
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_page_runs_without_tensorflow(tmp_path):
    """All pages with a 2-D, an 8-D and a 1-D run in a fresh interpreter: no exception, and neither
    TensorFlow nor Keras is ever imported (Streamlit would clear Keras' session after every rerun)."""
    script = textwrap.dedent(f"""
        import os, sys, json
        sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_app import make_run, app_test, PAGES
        from cvae.explorer.jobs import launcher
        from cvae.store import runs
        from cvae.data import sources
        sources.SYSTEM_DIRS = {{n: () for n in sources.DATASETS}}
        root = {str(tmp_path / 'runs')!r}
        from pathlib import Path
        make_run(Path(root), "two", 2, created=1.0)
        make_run(Path(root), "eight", 8, created=2.0)
        make_run(Path(root), "one", 1, created=3.0)
        problems = []
        for run in ("two", "eight", "one"):
            at = app_test()
            at.session_state["cvae_selected_run"] = run
            at.run()
            problems += [(run, "home", e.value) for e in at.exception]
            for page in PAGES:
                at.switch_page(page).run()
                problems += [(run, page, str(e.value)) for e in at.exception]
                problems += [(run, page, str(e.value)) for e in at.error]
        print(json.dumps({{"problems": problems, "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
    """)
    result = run_pages_script(script, tmp_path, timeout=300)
    assert result["problems"] == []
    assert result["tf"] is False and result["keras"] is False


def test_home_shows_the_selected_run(root):
    make_run(root, "alpha", epochs=3)
    at = run_page()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs"] == "3 / 3"
    assert metrics["Test ELBO (nats)"] == "-185.0"
    assert "alpha" in texts(at)
    assert len(at.get("page_link")) >= 10  # the sidebar list and the Explore links


def test_default_run_prefers_tutorial_then_newest_with_weights(root):
    make_run(root, "old", created=1.0)
    make_run(root, "newer", created=2.0)
    at = run_page()
    assert at.session_state["cvae_selected_run"] == "newer"
    make_run(root, "tutorial", created=0.5)
    at = run_page()
    assert at.session_state["cvae_selected_run"] == "tutorial"


def test_selected_run_persists_across_pages(root):
    make_run(root, "a", created=1.0)
    make_run(root, "b", created=2.0)
    at = run_page()
    at.selectbox(key="run_picker").set_value("a").run()
    at.switch_page("app_pages/4_Manifold.py").run()
    assert at.selectbox(key="run_picker").value == "a"
    at.switch_page("app_pages/5_Runs.py").run()
    assert at.selectbox(key="run_picker").value == "a"
    no_exceptions(at)


def test_no_runs_every_page_is_friendly(root):
    at = app_test().run()
    assert "no trained model yet" in texts(at)
    for page in PAGES:
        at.switch_page(page).run()
        no_exceptions(at)
        assert not at.error
        if page != "app_pages/1_Train.py":
            assert "no trained model yet" in texts(at), page
    at.switch_page("app_pages/1_Train.py").run()
    assert at.button(key="tr_start") is not None


def test_broken_run_shows_an_error_not_a_traceback(root):
    make_run(root, "good", created=1.0)
    bad = make_run(root, "bad", created=2.0)
    (bad / runs.WEIGHTS_FILE).write_bytes(b"this is not a zip file")
    at = app_test()
    at.session_state["cvae_selected_run"] = "bad"
    at.run()
    at.switch_page("app_pages/5_Runs.py").run()
    table = at.dataframe[0].value
    assert "not a readable" in table[table["run"] == "bad"].iloc[0]["problem"]
    for page in ("app_pages/2_Latent_plane.py", "app_pages/3_Reconstruct.py", "app_pages/4_Manifold.py"):
        at.switch_page(page).run()
        no_exceptions(at)
        assert at.error and "not a readable weights file" in at.error[0].value, page
        assert "Traceback" not in at.error[0].value
        assert at.selectbox(key="run_picker").options  # the sidebar still works
    # switching to the good run makes the page work again
    at.selectbox(key="run_picker").set_value("good").run()
    assert not at.error and charts(at)


def test_run_with_broken_config_is_listed_with_its_error(root):
    make_run(root, "good", created=1.0)
    broken = make_run(root, "mangled", created=2.0)
    (broken / runs.CONFIG_FILE).write_text("{not json")
    at = run_page("app_pages/5_Runs.py")
    no_exceptions(at)
    table = at.dataframe[0].value
    row = table[table["run"] == "mangled"].iloc[0]
    assert "broken" in row["state"] and "config.json" in row["problem"]
    at = app_test()
    at.session_state["cvae_selected_run"] = "mangled"
    at.run().switch_page("app_pages/2_Latent_plane.py").run()
    no_exceptions(at)
    assert at.error and "mangled" in at.error[0].value


# ---------------------------------------------------------------------------------------------- latent plane


def test_latent_plane_slider_changes_the_decoded_image(root):
    make_run(root, "r")
    at = classic_plane(run_page("app_pages/2_Latent_plane.py"))
    no_exceptions(at)
    assert [s.key for s in at.slider] == ["lp_z0", "lp_z1"]
    lo, hi = at.slider(key="lp_z0").min, at.slider(key="lp_z0").max
    assert (lo, hi) == (-3.09, 3.09)
    before = heatmap(at, "lp_decoded")
    assert before.shape == (28, 28) and 0.0 <= before.min() and before.max() <= 1.0
    spec = charts(at)["lp_decoded"]["data"][0]
    assert spec["zmin"] == 0 and spec["zmax"] == 1 and spec["colorscale"][0][1].replace(" ", "") in ("rgb(0,0,0)", "#000000")
    at.slider(key="lp_z0").set_value(2.5).run()
    after = heatmap(at, "lp_decoded")
    assert not np.allclose(before, after)
    # the star on the map follows the sliders
    star = [t for t in charts(at)["lp_map"]["data"] if t.get("name") == "current z"][0]
    assert array(star["x"])[0] == pytest.approx(2.5)


def test_latent_plane_resample_changes_only_the_sample(root):
    make_run(root, "r")
    at = classic_plane(run_page("app_pages/2_Latent_plane.py"))
    probs, sample = heatmap(at, "lp_decoded"), heatmap(at, "lp_sample")
    assert set(np.unique(sample)) <= {0.0, 1.0}
    at.button(key="lp_resample").click().run()
    assert np.allclose(probs, heatmap(at, "lp_decoded"))
    assert not np.array_equal(sample, heatmap(at, "lp_sample"))


def test_latent_plane_map_has_1000_points_and_a_click_grid(root):
    make_run(root, "r")
    at = classic_plane(run_page("app_pages/2_Latent_plane.py"))
    traces = charts(at)["lp_map"]["data"]
    grid = traces[0]
    assert grid["name"] == "click target" and len(array(grid["x"])) == 60 * 60
    dots = sum(len(array(t["x"])) for t in traces[1:] if t.get("name") not in ("current z",))
    assert dots == 1000  # the bundled sample; 2000 (figures.MAP_POINTS) with the full test set
    chart = next(el for el in at.get("plotly_chart") if el.key == "lp_map")
    assert list(chart.proto.selection_mode)  # selectable: clicks come back to the app


def test_clicking_the_map_moves_the_sliders(root):
    make_run(root, "r")
    at = classic_plane(run_page("app_pages/2_Latent_plane.py"))
    before = heatmap(at, "lp_decoded")
    click_map(at, "lp_map", 1.234, -0.5)
    no_exceptions(at)
    assert not at.warning  # no "created with a default value but also set via Session State"
    assert at.slider(key="lp_z0").value == pytest.approx(1.23)
    assert at.slider(key="lp_z1").value == pytest.approx(-0.5)
    assert not np.allclose(before, heatmap(at, "lp_decoded"))
    # a point beyond the slider range is clipped to it
    click_map(at, "lp_map", 9.0, -9.0)
    assert (at.slider(key="lp_z0").value, at.slider(key="lp_z1").value) == (3.09, -3.09)
    # and the sliders still work afterwards
    at.slider(key="lp_z0").set_value(0.0).run()
    no_exceptions(at)
    assert at.slider(key="lp_z0").value == 0.0


def test_latent_dim_8_has_a_slider_per_dimension_and_a_pca_map(root):
    make_run(root, "eight", latent_dim=8)
    at = classic_plane(run_page("app_pages/2_Latent_plane.py"))
    no_exceptions(at)
    assert [s.key for s in at.slider] == [f"lp_z{i}" for i in range(8)]
    assert "principal components" in texts(at)
    at.slider(key="lp_z5").set_value(1.0).run()
    at.slider(key="lp_z2").set_value(-2.0).run()
    at.button(key="lp_reset").click().run()
    assert all(s.value == 0.0 for s in at.slider)
    click_map(at, "lp_map", 0.3, -0.2)
    no_exceptions(at)
    values = np.array([s.value for s in at.slider])
    assert np.count_nonzero(values) >= 2  # decoded back through the principal plane: several dims move


def test_latent_dim_1_has_one_slider_and_a_strip(root):
    make_run(root, "one", latent_dim=1)
    at = run_page("app_pages/2_Latent_plane.py")
    no_exceptions(at)
    assert [s.key for s in at.slider] == ["lp_z0"]
    assert "one latent dimension" in texts(at)
    click_map(at, "lp_map", -1.5, 3.0)
    assert at.slider(key="lp_z0").value == -1.5


# ---------------------------------------------------------------------------------------------- reconstruct


def test_reconstruct_index_change_changes_the_digits(root):
    make_run(root, "r")
    at = run_page("app_pages/3_Reconstruct.py")
    no_exceptions(at)
    first = array(charts(at)["rc_images_0"]["data"][0]["z"])
    elbo = at.metric[0].value
    assert len([m for m in at.metric if m.label.startswith("IWAE")]) == 3
    at.number_input(key="rc_index").set_value(5).run()
    no_exceptions(at)
    assert not np.allclose(first, array(charts(at)["rc_images_0"]["data"][0]["z"]))
    assert at.metric[0].value != elbo
    assert "#5" in texts(at)
    grid = charts(at)["rc_grid"]["data"]
    assert len(grid) == 2 and array(grid[0]["z"]).shape == (4 * 28 + 3, 4 * 28 + 3)


def test_reconstruct_by_class_and_random(root):
    make_run(root, "r")
    at = run_page("app_pages/3_Reconstruct.py")
    at.radio(key="rc_mode").set_value("By class").run()
    at.selectbox(key="rc_class").set_value(3).run()
    no_exceptions(at)
    assert "label **3**" in texts(at)
    at.radio(key="rc_mode").set_value("Random").run()
    shown = texts(at)
    at.button(key="rc_random").click().run()
    no_exceptions(at)
    assert texts(at) != shown


# ---------------------------------------------------------------------------------------------- manifold


def manifold_png_size(at) -> tuple[int, int]:
    src = charts(at)["mf_image"]["data"][0]["source"]
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


def test_manifold_n_changes_the_image_size(root):
    make_run(root, "r")
    at = run_page("app_pages/4_Manifold.py")
    no_exceptions(at)
    assert manifold_png_size(at) == (20 * 56, 20 * 56)  # shown at 2x
    at.slider(key="mf_n").set_value(5).run()
    assert manifold_png_size(at) == (5 * 56, 5 * 56)
    at.slider(key="mf_range").set_value((0.2, 0.8)).run()
    no_exceptions(at)
    assert at.get("download_button")


def test_manifold_latent_dim_8_picks_dimensions(root):
    make_run(root, "eight", latent_dim=8)
    at = run_page("app_pages/4_Manifold.py")
    no_exceptions(at)
    a = manifold_png_size(at)
    src = charts(at)["mf_image"]["data"][0]["source"]
    at.selectbox(key="mf_dx").set_value(3).run()
    no_exceptions(at)
    assert manifold_png_size(at) == a and charts(at)["mf_image"]["data"][0]["source"] != src
    assert "fixed at 0" in texts(at)


# ---------------------------------------------------------------------------------------------- runs


def test_runs_table_curves_and_downloads(root):
    make_run(root, "a", created=1.0)
    make_run(root, "b", created=2.0, state="running")  # no live process: shown as interrupted
    at = run_page("app_pages/5_Runs.py")
    no_exceptions(at)
    table = at.dataframe[0].value
    assert list(table["run"]) == ["b", "a"]
    assert "interrupted" in table[table["run"] == "b"].iloc[0]["state"]
    assert table.iloc[0]["epochs"] == "3/3" and table.iloc[0]["best test ELBO"] == "-185.00"
    at.multiselect(key="rn_compare").set_value(["a", "b"]).run()
    assert len(charts(at)["rn_curves"]["data"]) == 2
    labels = [b.label for b in at.get("download_button")]
    assert any("weights.npz" in label for label in labels) and any("metrics.jsonl" in label for label in labels)


def test_runs_delete_needs_confirmation(root):
    make_run(root, "keep", created=1.0)
    make_run(root, "victim", created=2.0)
    at = run_page("app_pages/5_Runs.py")
    at.selectbox(key="rn_target").set_value("victim").run()
    assert at.button(key="rn_delete").disabled
    at.checkbox(key="rn_confirm_victim").check().run()
    assert not at.button(key="rn_delete").disabled
    at.button(key="rn_delete").click().run()
    no_exceptions(at)
    assert not (root / "victim").exists() and (root / "keep").exists()
    assert any("Deleted victim" in s.value for s in at.success)
    assert list(at.dataframe[0].value["run"]) == ["keep"]


def test_runs_refuses_to_delete_a_training_run(root):
    run = make_run(root, "busy", state="running")
    with runs.RunLock(run) as lock:
        assert lock.acquire()
        at = run_page("app_pages/5_Runs.py")
        no_exceptions(at)
        assert at.checkbox(key="rn_confirm_busy").disabled and at.button(key="rn_delete").disabled
        assert "is training" in texts(at)
    assert run.exists()


# ---------------------------------------------------------------------------------------------- train page


def test_train_form_shows_every_error_and_launches_nothing(root, no_launch):
    at = run_page("app_pages/1_Train.py")
    no_exceptions(at)
    at.text_input(key="tr_name").input("../x")
    at.number_input(key="tr_epochs").set_value(0)
    at.text_input(key="tr_learning_rate").input("abc")
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    errors = " | ".join(e.value for e in at.error)
    assert "run name" in errors and "epochs" in errors and "learning_rate" in errors, errors
    assert no_launch == []
    assert not (root / launches.LAUNCH_DIR).exists() or not list((root / launches.LAUNCH_DIR).glob("*.json"))


def test_train_form_refuses_an_existing_name(root, no_launch):
    make_run(root, "taken")
    at = run_page("app_pages/1_Train.py")
    at.text_input(key="tr_name").input("taken")
    at.button(key="tr_start").click().run()
    assert any("already exists" in e.value and "Resume" in e.value for e in at.error)
    assert no_launch == []


def test_train_form_replaces_a_run_that_failed_before_training(root, no_launch, mnist_dir, monkeypatch):
    """E.g. its data directory was wrong: nothing was trained, so Start with the same name (and a corrected
    setting) is allowed; a run with weights keeps its name."""
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(mnist_dir))  # the corrected setting: the form checks for data
    run = root / "nodata"
    run.mkdir()
    (run / runs.CONFIG_FILE).write_text(TrainConfig(data_dir="/nowhere").to_json())
    runs.write_status(run, state="failed", message="no mnist data found", epoch=0)
    at = run_page("app_pages/1_Train.py")
    at.text_input(key="tr_name").input("nodata")
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    assert [c["name"] for c in no_launch] == ["nodata"]


def test_train_page_state_follows_the_launched_process(root):
    """'starting' while a launched trainer has not written the run's status yet; once it has, the status rules
    (a finished trainer still lives a second or two while TensorFlow shuts down: that is 'done', not 'starting')."""
    run = make_run(root, "after", state="done")
    # A stand-in trainer: its command line names the run, so the record verifies (pid + start time + argv).
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "cvae", "train", "--name=after"])
    try:
        (root / launches.LAUNCH_DIR).mkdir()
        launches.write_record(launches.Launch(name="after", pid=sleeper.pid, started=time.time(),
                                              start_ticks=procs.start_ticks(sleeper.pid), argv=[], resume=True,
                                              root=root), root)
        for pid, badge in [(sleeper.pid, ":material/check_circle: done"),
                           (sleeper.pid + 100000, ":material/hourglass_top: starting")]:
            runs.write_status(run, pid=pid)
            at = app_test()
            at.session_state["cvae_selected_run"] = "after"
            at.run().switch_page("app_pages/1_Train.py").run()
            no_exceptions(at)
            shown = [m.value for m in at.markdown if m.value.startswith("**:material/")]
            assert shown and shown[0].startswith(f"**{badge}**"), (pid, shown)
            # One state per status line: while starting, the previous process's "finished" is not shown.
            assert ("finished" in shown[0]) == badge.endswith("done"), shown
    finally:
        sleeper.kill()
        sleeper.wait()


def test_train_form_preset_fills_the_fields_and_start_launches(root, no_launch, mnist_dir, monkeypatch):
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(mnist_dir))  # the form checks for data before it launches
    at = run_page("app_pages/1_Train.py")
    assert at.number_input(key="tr_epochs").value == 10 and at.text_input(key="tr_learning_rate").value == "0.0001"
    at.selectbox(key="tr_preset").set_value("fast").run()
    fast = TrainConfig.from_preset("fast")
    assert at.number_input(key="tr_epochs").value == fast.epochs
    assert at.number_input(key="tr_batch_size").value == fast.batch_size
    assert "falls to 0 within each of 2 epochs" in texts(at)
    assert at.selectbox(key="tr_lr_schedule").value == "linear_restarts"
    at.text_input(key="tr_name").input("demo")
    at.number_input(key="tr_latent_dim").set_value(3)
    at.number_input(key="tr_max_train_examples").set_value(640)
    at.button(key="tr_start").click().run()
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    assert len(no_launch) == 1
    cfg = no_launch[0]["config"]
    assert no_launch[0]["name"] == "demo" and cfg.preset == "fast" and cfg.epochs == fast.epochs and cfg.latent_dim == 3
    assert cfg.max_train_examples == 640 and cfg.max_test_examples is None and cfg.lr_schedule == "linear_restarts"
    assert any("Started demo" in m.value for m in at.success)


def test_train_page_watches_a_running_run_and_stops_it(root):
    run = make_run(root, "live", state="running", epochs=5)
    runs.write_status(run, epoch=2, step=350, total_epochs=5)
    with runs.RunLock(run) as lock:
        assert lock.acquire()
        at = app_test()
        at.session_state["cvae_selected_run"] = "live"
        at.run().switch_page("app_pages/1_Train.py").run()
        no_exceptions(at)
        bar = at.get("progress")[0].proto
        assert "Epoch 3/5" in bar.text and "images/s" in bar.text and "ETA" in bar.text
        assert {"train_loss_live", "train_elbo_live", "train_kl_live"} <= set(charts(at))
        at.button(key="tr_stop").click().run()
        no_exceptions(at)
        assert (run / runs.STOP_FILE).exists()
    # the trainer is gone: the page leaves live mode and offers Resume
    at.run()
    assert at.button(key="tr_resume") is not None


def test_train_page_done_run_shows_the_gif(root):
    make_run(root, "done-run")
    at = run_page("app_pages/1_Train.py")
    no_exceptions(at)
    assert any("GIF" in b.label for b in at.get("download_button"))
    assert at.number_input(key="tr_more_epochs").value == 8


def test_train_page_failed_run_shows_its_log_and_resume(root, no_launch):
    run = make_run(root, "crashed", state="failed")
    (run / runs.LOG_FILE).write_text("training 3 epochs\nerror: loss became NaN at step 120\n")
    at = run_page("app_pages/1_Train.py")
    no_exceptions(at)
    assert any("loss became NaN" in c.value for c in at.code)
    at.button(key="tr_resume").click().run()
    assert no_launch == [{"name": "crashed", "config": None, "resume": True, "epochs": None}]


def test_train_page_busy_server(root, monkeypatch):
    run = make_run(root, "hog", state="running")
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "1")
    with runs.RunLock(run) as lock:
        assert lock.acquire()
        at = run_page("app_pages/1_Train.py")
        assert "server is busy" in texts(at) and "hog" in texts(at)
        with pytest.raises(errors.ServerBusy, match="hog"):
            launcher.launch_training("other", TrainConfig())
        with pytest.raises(errors.RunError, match="already training"):
            launcher.launch_training("hog", resume=True)
    assert not (root / "other").exists()


# ---------------------------------------------------------------------------------------------- appstate


def test_train_argv_passes_every_field_the_cli_takes(tmp_path):
    cfg = TrainConfig.from_preset("fast", latent_dim=4, max_train_examples=512, seed=7)
    argv = launcher.train_argv("x", cfg, tmp_path)
    assert argv[1:4] == ["-m", "cvae", "train"]
    assert all(a.startswith("--") and "=" in a for a in argv[4:])  # --flag=value: a value is never read as a flag
    flags = dict(a.split("=", 1) for a in argv[4:])
    assert flags["--name"] == "x" and flags["--runs-dir"] == str(tmp_path.resolve())
    assert flags["--preset"] == "fast" and flags["--latent-dim"] == "4" and flags["--seed"] == "7"
    assert flags["--max-train-examples"] == "512" and "--max-test-examples" not in flags
    from cvae.cli import _config_from_args, build_parser

    assert _config_from_args(build_parser().parse_args(argv[3:])) == cfg  # the CLI rebuilds the same config
    assert launcher.train_argv("x", None, tmp_path, resume=True, epochs=12)[-2:] == ["--resume", "--epochs=12"]
    assert launcher.train_argv("x-1", cfg, tmp_path)[4] == "--name=x-1"


def test_max_training(monkeypatch):
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "3")
    assert launcher.max_training() == 3
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "zero")
    with pytest.raises(errors.ConfigError):
        launcher.max_training()
    monkeypatch.delenv(launcher.MAX_TRAINING_ENV)
    assert launcher.max_training() == (1 if (os.cpu_count() or 1) <= 4 else 2)


def test_z_from_click():
    from cvae.explorer.maths.latent import PCA2
    from cvae.explorer.figures.maps import z_from_click

    assert z_from_click({"x": 0.123, "y": 5}, 2, None).tolist() == [0.12, 3.09]
    assert z_from_click({"x": -0.5, "y": 7}, 1, None).tolist() == [-0.5]
    codes = np.random.default_rng(0).normal(size=(200, 5)) * [3, 1, 0.1, 0.1, 0.1]
    pca = PCA2(codes)
    z = z_from_click({"x": 1.0, "y": 0.5}, 5, pca)
    assert z.shape == (5,) and np.allclose(pca.transform(z[None])[0], [1.0, 0.5], atol=0.05)


@pytest.mark.slow
def test_launch_real_training_once(tmp_path, mnist_dir, monkeypatch):
    """A tiny real training in a subprocess; a second Start while it runs is refused (one process)."""
    root = tmp_path / "runs"
    monkeypatch.setenv(launcher.MAX_TRAINING_ENV, "2")  # the refusal below must come from the name, not the cap
    cfg = TrainConfig(max_train_examples=64, max_test_examples=16, epochs=1, batch_size=32)
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))
    launch = launcher.launch_training("tiny", cfg, root)
    assert launches.pid_alive(launch.pid) and launcher.active_names(root) == ["tiny"]
    with pytest.raises(errors.RunError, match="already training"):
        launcher.launch_training("tiny", cfg, root)
    with pytest.raises(errors.RunError, match="already training"):
        launcher.launch_training("tiny", runs_dir=root, resume=True)
    assert [r.pid for r in launches.read_launches(root)] == [launch.pid]
    assert launcher.wait(launch, timeout=240) == 0, access.log_tail(access.log_path("tiny", root))
    assert launches.sweep(root) == []
    info = runs.run_info(root / "tiny")
    assert info.state == "done" and info.has_weights and info.epochs_done == 1
    log = (root / "tiny" / runs.LOG_FILE).read_text()
    assert "train --name=tiny" in log and "done" in log
    assert not (root / launches.LAUNCH_DIR / "tiny.log").exists() and launches.read_launches(root) == []
    with pytest.raises(errors.RunError, match="is done"):
        launcher.launch_training("tiny", runs_dir=root, resume=True)
    with pytest.raises(errors.RunError, match="already exists"):
        launcher.launch_training("tiny", cfg, root)


def test_runs_are_listed_once_per_page_run_and_afresh_on_the_next(root, monkeypatch):
    """Listing the runs root costs a few stats per run (1,000 runs: milliseconds): once per page run, not once per
    widget that needs it; the next run sees a run created meanwhile."""
    calls = []
    real = runs.list_runs
    monkeypatch.setattr(runs, "list_runs", lambda *a, **k: calls.append(1) or real(*a, **k))
    make_run(root, "a1")
    make_run(root, "a2")  # a second 2-D run: the pad's "compare with" list needs the listing too
    at = app_test()
    at.session_state["cvae_selected_run"] = "a1"
    at.run().switch_page("app_pages/2_Latent_plane.py").run()
    no_exceptions(at)
    calls.clear()
    at.run()
    assert len(calls) == 1
    make_run(root, "a3")
    at.run()
    no_exceptions(at)
    assert len(calls) == 2 and any("a3" in option for option in at.selectbox(key="run_picker").options)
