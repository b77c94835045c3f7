"""Each page's own selection travels in its address (#26 item 4): written when the user changes it, restored from
the address in a fresh session, and a bad value is ignored with a one-line note."""

from __future__ import annotations

import pytest

from cvae.explorer.ui import page_state
from test_addresses import open_with, qp
from test_app import make_run, no_exceptions


def notes(at) -> list[str]:
    return [c.value for c in at.caption if "not a valid choice here" in c.value]


def test_parsers_refuse_what_they_do_not_know():
    assert page_state.int_in(0, 9)("7") == 7
    for bad in ("10", "-1", "x", "1e3", ""):
        with pytest.raises(ValueError):
            page_state.int_in(0, 9)(bad)
    parse, fmt = page_state.dim_of(8)
    assert parse("8") == 7 and fmt(7) == "8"
    with pytest.raises(ValueError):
        parse("0")
    assert page_state.names_in(["a", "b"])("b,a,b") == ["b", "a"]
    with pytest.raises(ValueError):
        page_state.names_in(["a"])("a,c")
    assert page_state.floats_in(2, -4, 4)("1.5,-2") == [1.5, -2.0]
    for bad in ("nan,0", "1", "9,0", "inf,0"):
        with pytest.raises(ValueError):
            page_state.floats_in(2, -4, 4)(bad)
    assert page_state.join_floats([1.5, -2.0, 0.25]) == "1.5,-2,0.25"


def test_reconstruct_restores_mode_index_count_and_k(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/3_Reconstruct.py", run="r", digits="index", i="42", n="2", k="1000")
    no_exceptions(at)
    assert at.radio(key="rc_mode").value == "By index"
    assert at.number_input(key="rc_index").value == 42
    assert at.slider(key="rc_count").value == 2 and at.selectbox(key="rc_iwae_k").value == 1000
    assert not notes(at)
    at.number_input(key="rc_index").set_value(7).run()
    assert qp(at, "i") == "7" and at.number_input(key="rc_index").value == 7


def test_reconstruct_by_class_writes_class_and_seed_and_drops_the_index(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/3_Reconstruct.py", run="r", digits="class", **{"class": "3"}, seed="5", i="9")
    no_exceptions(at)
    assert at.radio(key="rc_mode").value == "By class" and at.selectbox(key="rc_class").value == 3
    assert qp(at, "seed") == "5" and qp(at, "class") == "3" and qp(at, "i") is None


def test_reconstruct_ignores_bad_values_with_a_note(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/3_Reconstruct.py", run="r", digits="index", i="99999", k="7")
    no_exceptions(at)
    assert at.number_input(key="rc_index").value == 0 and at.selectbox(key="rc_iwae_k").value == 100
    assert len(notes(at)) == 2 and "'99999'" in notes(at)[0]
    assert qp(at, "i") == "0" and qp(at, "k") == "100"  # the address follows the page


def test_manifold_restores_grid_and_plane(root):
    make_run(root, "r8", latent_dim=8, created=100.0)
    at = open_with("app_pages/4_Manifold.py", run="r8", n="7", q="0.1,0.9", dx="5", dy="3")
    no_exceptions(at)
    assert at.slider(key="mf_n").value == 7 and tuple(at.slider(key="mf_range").value) == (0.1, 0.9)
    assert at.selectbox(key="mf_dx").value == 4 and at.selectbox(key="mf_dy").value == 2
    at.slider(key="mf_n").set_value(12).run()
    assert qp(at, "n") == "12" and qp(at, "dx") == "5" and qp(at, "q") == "0.1,0.9"


def test_manifold_ignores_bad_values_with_a_note(root):
    make_run(root, "r8", latent_dim=8, created=100.0)
    at = open_with("app_pages/4_Manifold.py", run="r8", n="300", q="nan,1", dx="9")
    no_exceptions(at)
    assert at.slider(key="mf_n").value == 20 and len(notes(at)) == 3
    assert qp(at, "n") == "20"


def test_interpolate_restores_the_endpoints(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/6_Interpolate.py", run="r", ends="digits", a="12", b="34", frames="5", path="slerp")
    no_exceptions(at)
    assert at.radio(key="ip_mode").value == "Two test digits"
    assert (at.number_input(key="ip_index_a").value, at.number_input(key="ip_index_b").value) == (12, 34)
    assert at.slider(key="ip_frames").value == 5 and at.radio(key="ip_gif_path").value == "slerp"
    at = open_with("app_pages/6_Interpolate.py", run="r", ends="map", za="1.5,-2", zb="0,0.25")
    no_exceptions(at)
    assert at.radio(key="ip_mode").value == "Two points on the map"
    assert at.session_state["ip_map_a"] == [1.5, -2.0] and qp(at, "zb") == "0,0.25" and qp(at, "a") is None
    at = open_with("app_pages/6_Interpolate.py", run="r", ends="classes", ca="2", cb="9", nth="3", za="1,x")
    no_exceptions(at)
    assert (at.selectbox(key="ip_class_a").value, at.selectbox(key="ip_class_b").value) == (2, 9)
    assert at.number_input(key="ip_nth").value == 3 and len(notes(at)) == 1


def test_diagnostics_restores_plane_and_layer(root):
    make_run(root, "r8", latent_dim=8, created=100.0)
    at = open_with("app_pages/8_Diagnostics.py", run="r8", dx="8", dy="1", ellipses="0")
    no_exceptions(at)
    assert (at.selectbox(key="dg_dim_x").value, at.selectbox(key="dg_dim_y").value) == (7, 0)
    assert at.toggle(key="dg_ellipses").value is False
    make_run(root, "r2", created=200.0)
    at = open_with("app_pages/8_Diagnostics.py", run="r2", layer="holes", ellipses="maybe")
    no_exceptions(at)
    assert at.radio(key="dg_layer").value == "holes" and len(notes(at)) == 1
    at.radio(key="dg_layer").set_value("none").run()
    assert qp(at, "layer") == "none" and qp(at, "ellipses") == "1"


def test_lesson_restores_the_step(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/0_Lesson.py", run="r", step="4")
    no_exceptions(at)
    assert at.get("button_group")[0].value == 3 or at.session_state["ls_step"] == 3
    at = open_with("app_pages/0_Lesson.py", run="r", step="99")
    assert at.session_state["ls_step"] == 0 and len(notes(at)) == 1 and qp(at, "step") == "1"


def test_runs_restores_the_compared_runs(root):
    for i, name in enumerate(("a", "b", "c")):
        make_run(root, name, created=100.0 + i)
    at = open_with("app_pages/5_Runs.py", compare="c,a", figure="test_kl")
    no_exceptions(at)
    assert at.multiselect(key="rn_compare").value == ["c", "a"]
    assert at.selectbox(key="rn_figure").value == "test_kl"
    at = open_with("app_pages/5_Runs.py", compare="a,nope")
    assert len(notes(at)) == 1 and "nope" not in (qp(at, "compare") or "")


def test_your_digit_restores_only_the_source(root):
    make_run(root, "r", created=100.0)
    at = open_with("app_pages/7_Your_digit.py", run="r", source="upload")
    no_exceptions(at)
    assert at.radio(key="yd_source").value == "Upload" and qp(at, "source") == "upload"


@pytest.mark.browser
def test_a_changed_selection_survives_a_fresh_browser(tmp_path, mnist_dir):
    """In a real browser: change Reconstruct's test index, then open the address in a fresh browser context — the
    same index is chosen there."""
    import urllib.parse

    from browser_support import chromium, open_page, poll, tutorial_app, wait_idle

    with tutorial_app(tmp_path, mnist_dir) as server, chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(30_000)
        open_page(page, server.url + "/Reconstruct?run=tutorial&digits=index", 120)
        box = page.locator('[data-testid="stNumberInput"] input').first
        box.fill("42")
        box.press("Enter")
        wait_idle(page, 120)

        def params():
            return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query).items()}

        poll(lambda: params().get("i") == "42", 60, 0.2, "i=42 in the address")
        address = page.url
        fresh = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        open_page(fresh, address, 120)
        poll(lambda: fresh.locator('[data-testid="stNumberInput"] input').first.input_value() == "42", 60, 0.2,
             "the index restored in a fresh browser")
        assert "/Reconstruct" in fresh.url and params()["run"] == "tutorial"
