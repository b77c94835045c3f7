"""AppTest of the Diagnostics and Your digit pages (the browser test draws and uploads: test_browser_digit.py)."""

from __future__ import annotations

import json

import numpy as np

from test_app import classic_plane, app_test, charts, make_run, no_exceptions, texts


def test_diagnostics_page_shows_kl_per_dimension_active_units_and_ellipses(root):
    make_run(root, "r3", latent_dim=3)
    at = app_test().run()
    at.switch_page("app_pages/8_Diagnostics.py").run()
    no_exceptions(at)
    figs = charts(at)
    assert set(figs) >= {"dg_kl", "dg_split"}
    bars = figs["dg_kl"]["data"][0]
    assert bars["type"] == "bar" and bars["x"] == ["z1", "z2", "z3"]
    assert [m.label for m in at.metric][0] == "Active units"
    strips = [e for e in at.get("image")]
    assert len(strips) == 3  # one traversal strip per dimension
    # 3-D: the σ-ellipse map in a chosen plane (default the two dimensions with the most KL), and the table
    assert "dg_map" in figs
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 3


def test_diagnostics_page_plots_kl_per_dimension_epoch_by_epoch(root):
    """The trainer's per-epoch KL per dimension as a heatmap (dimensions × epochs); a collapsing dimension shows;
    a row with a broken per-dimension list is skipped like any bad row; an old run without them gets a caption."""
    from cvae.store import runs
    from cvae.store.files import append_jsonl

    run = make_run(root, "r3", latent_dim=3, epochs=2)
    for e, kl in ((3, [3.0, 1.0, 0.2]), (4, [3.5, 1.2, 0.001])):
        append_jsonl(run / runs.METRICS_FILE, {
            "kind": "epoch", "epoch": e, "step": e * 150, "test_elbo": -180.0, "test_logpx_z": -175.0,
            "test_kl": sum(kl), "test_kl_per_dim": kl, "test_activity": [1.0, 0.5, 0.02 if e == 3 else 0.001],
            "test_active_units": 3 if e == 3 else 2, "time": 1.7e9 + e})
    append_jsonl(run / runs.METRICS_FILE, {"kind": "epoch", "epoch": 5, "step": 750, "test_elbo": -170.0,
                                           "test_kl_per_dim": ["x", 1.0, 2.0], "time": 1.7e9 + 5})
    at = app_test()
    at.session_state["cvae_selected_run"] = "r3"
    at.run().switch_page("app_pages/8_Diagnostics.py").run()
    no_exceptions(at)
    heat = charts(at)["dg_kl_epochs"]["data"][0]
    from test_app import array

    assert heat["type"] == "heatmap" and list(heat["x"]) == [3, 4] and list(heat["y"]) == ["z1", "z2", "z3"]
    z = array(heat["z"])
    assert z.shape == (3, 2) and z[2, 1] == 0.001 and z[0, 1] == 3.5
    assert heat["customdata"][2][1] == "inactive" and heat["customdata"][2][0] == "active"
    assert heat["zmin"] == 0 and heat["zmax"] == 3.5  # the colour scale starts at 0: a collapsed row is dark
    assert "Active units per epoch: 3 → 2" in texts(at)

    make_run(root, "old", latent_dim=2)
    at.session_state["cvae_selected_run"] = "old"
    at.run()
    no_exceptions(at)
    assert "dg_kl_epochs" not in charts(at) and "no per-dimension figures" in texts(at)


def test_diagnostics_ellipses_toggle_on_a_2d_run(root):
    make_run(root, "r2", latent_dim=2)
    at = app_test().run()
    at.switch_page("app_pages/8_Diagnostics.py").run()
    no_exceptions(at)
    n_with = len(charts(at)["dg_map"]["data"])
    at.toggle(key="dg_ellipses").set_value(False).run()
    n_without = len(charts(at)["dg_map"]["data"])
    assert n_with > n_without  # one ellipse trace per class


def test_your_digit_page_waits_for_a_digit(root):
    make_run(root, "r2", latent_dim=2)
    at = app_test().run()
    at.switch_page("app_pages/7_Your_digit.py").run()
    no_exceptions(at)
    assert "Draw, upload or photograph a digit" in texts(at)
    at.radio(key="yd_source").set_value("Upload").run()
    no_exceptions(at)


def _stored_map(run, epochs=(1, 2, 3), n=2000, d=2):
    from cvae.store import latent_means as lm

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    for e in epochs:
        lm.write_epoch(run, e, rng.normal(0, 1, (n, d)).astype(np.float32), labels)
    return lm.read_latent_means(run)


def _map_points(spec) -> np.ndarray:
    from test_app import array

    pts = [np.stack([array(t["x"]), array(t["y"])], axis=1) for t in spec["data"]
           if t.get("mode") == "markers" and t.get("name") not in ("click target", "current z")]
    return np.concatenate(pts)


def test_latent_plane_reads_the_stored_means_of_the_current_weights(root):
    run = make_run(root, "r2", latent_dim=2)
    stored = _stored_map(run)
    at = app_test().run()
    at.switch_page("app_pages/2_Latent_plane.py").run()
    classic_plane(at)  # the classic view draws the map with plotly (the pad draws the same points in the browser)
    no_exceptions(at)
    pts = _map_points(charts(at)["lp_map"])
    assert len(pts) == 2000
    want = np.round(stored.latest()[1], 3)
    assert sorted(map(tuple, pts)) == sorted(map(tuple, want.astype(np.float64)))
    assert "stored by the trainer" in texts(at)


def test_stale_stored_means_are_not_used(root):
    run = make_run(root, "r2", latent_dim=2)  # 3 epochs done
    _stored_map(run, epochs=(1, 2))  # the newest stored map is of epoch 2: not these weights
    at = app_test().run()
    at.switch_page("app_pages/2_Latent_plane.py").run()
    classic_plane(at)
    no_exceptions(at)
    assert "stored by the trainer" not in texts(at)
    assert len(_map_points(charts(at)["lp_map"])) == 1000  # the bundled sample, encoded


def test_train_page_animates_the_map_of_a_finished_run(root):
    run = make_run(root, "r2", latent_dim=2)
    stored = _stored_map(run)
    at = app_test().run()
    at.switch_page("app_pages/1_Train.py").run()
    no_exceptions(at)
    spec = charts(at)["tr_map_anim_r2"]
    assert [f["name"] for f in spec["frames"]] == ["1", "2", "3"]
    assert spec["layout"]["sliders"][0]["active"] == 2 and spec["layout"]["updatemenus"][0]["buttons"]
    from test_app import array

    frame1 = np.concatenate([np.stack([array(t["x"]), array(t["y"])], axis=1) for t in spec["frames"][0]["data"]])
    assert sorted(map(tuple, frame1)) == sorted(map(tuple, np.round(stored.means[0], 3).astype(np.float64)))
    labels = [b.label for b in at.get("download_button")]
    assert any("map's animation" in lbl for lbl in labels)


def test_map_gif_has_one_frame_per_epoch():
    from cvae.explorer.figures import map_animation
    from cvae.store.images import gif_bytes
    from PIL import Image
    import io

    rng = np.random.default_rng(0)
    means = rng.normal(0, 1, (4, 300, 2)).astype(np.float32)
    frames = map_animation.map_gif_frames([1, 2, 3, 4], means, rng.integers(0, 10, 300))
    assert len(frames) == 4 and frames[0].tobytes() != frames[1].tobytes()
    with Image.open(io.BytesIO(gif_bytes(frames))) as im:
        assert im.n_frames == 4
    xy = map_animation.project_epochs(rng.normal(0, 1, (3, 50, 5)).astype(np.float32))
    assert xy.shape == (3, 50, 2)
