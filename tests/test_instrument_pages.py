"""AppTest of the Diagnostics and Your digit pages (the browser test draws and uploads: test_browser_digit.py)."""

from __future__ import annotations

import json

from test_app import app_test, charts, make_run, no_exceptions, texts


def test_diagnostics_page_shows_kl_per_dimension_active_units_and_ellipses(root):
    make_run(root, "r3", latent_dim=3)
    at = app_test().run()
    at.switch_page("pages/8_Diagnostics.py").run()
    no_exceptions(at)
    figs = charts(at)
    assert set(figs) >= {"dg_kl", "dg_split"}
    bars = figs["dg_kl"]["data"][0]
    assert bars["type"] == "bar" and bars["x"] == ["z1", "z2", "z3"]
    assert [m.label for m in at.metric][0] == "Active units"
    strips = [e for e in at.get("image")]
    assert len(strips) == 3  # one traversal strip per dimension
    assert "σ ellipses are drawn on 2-D codes" in texts(at)


def test_diagnostics_ellipses_toggle_on_a_2d_run(root):
    make_run(root, "r2", latent_dim=2)
    at = app_test().run()
    at.switch_page("pages/8_Diagnostics.py").run()
    no_exceptions(at)
    n_with = len(charts(at)["dg_map"]["data"])
    at.toggle(key="dg_ellipses").set_value(False).run()
    n_without = len(charts(at)["dg_map"]["data"])
    assert n_with > n_without  # one ellipse trace per class


def test_your_digit_page_waits_for_a_digit(root):
    make_run(root, "r2", latent_dim=2)
    at = app_test().run()
    at.switch_page("pages/7_Your_digit.py").run()
    no_exceptions(at)
    assert "Draw, upload or photograph a digit" in texts(at)
    at.radio(key="yd_source").set_value("Upload").run()
    no_exceptions(at)
