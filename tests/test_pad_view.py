"""What the Latent plane's pad draws: a view that always holds the star and the prior's box (latent_dim > 2), and the
optional map layers (holes, decoder magnification) sent once as a small image and drawn under the points.

Unit tests of the view and the layer image, AppTest runs of the page, and browser runs (the shipped run and an
8-dimensional run of random weights) at 1280×720, in English and Hindi.
"""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from cvae.explorer.ui import latent_pad as lp
from cvae.explorer.ui import pad_layers
from cvae.explorer.maths.latent import PCA2
from test_latent_pad import make_random_run, pad_data, plane_app

HIGH = 3.09


def contains(ranges, x: float, y: float, tol: float = 1e-9) -> bool:
    (x0, x1), (y0, y1) = ranges
    return x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol


def side(ranges) -> tuple[float, float]:
    (x0, x1), (y0, y1) = ranges
    return x1 - x0, y1 - y0


# ---------------------------------------------------------------------------------------------- unit


def test_the_view_holds_the_prior_box_the_data_and_the_star_on_a_square():
    rng = np.random.default_rng(0)
    xy = np.stack([rng.uniform(-6, 8, 2000), rng.uniform(-0.5, 0.5, 2000)], axis=1)  # a long thin band
    centre = [-1.0, 2.0]
    r = lp.view_ranges(xy, centre, star=[0.0, -4.5], half=HIGH)
    w, h = side(r)
    assert w == pytest.approx(h)  # equal scales and a square: the whole canvas is used
    for x, y in [(centre[0] - HIGH, centre[1] - HIGH), (centre[0] + HIGH, centre[1] + HIGH), (0.0, -4.5)]:
        assert contains(r, x, y)
    lo, hi = np.percentile(xy, 0.5, axis=0), np.percentile(xy, 99.5, axis=0)
    assert contains(r, *lo) and contains(r, *hi)
    # The data's long side fills most of the view (not a band of it): only the margin is left over.
    assert (hi[0] - lo[0]) / w > 0.8


def test_the_star_at_z0_is_the_prior_centre_and_inside_the_view():
    rng = np.random.default_rng(1)
    means = rng.normal(0, 0.2, (500, 8)) + np.r_[4.0, -3.0, np.zeros(6)]  # data far from the prior's mean
    pca = PCA2(means)
    xy = pca.transform(means)
    centre = lp.prior_centre(pca.mean, pca.components)
    star = pca.transform(np.zeros((1, 8)))[0]  # "Reset to z = 0"
    assert star == pytest.approx(centre, abs=1e-5)
    r = lp.view_ranges(xy, centre, star=star, half=HIGH)
    assert contains(r, *star) and contains(r, centre[0] + HIGH, centre[1] - HIGH)
    assert side(r)[0] == pytest.approx(side(r)[1])
    # A star anywhere the sliders can put it is inside too.
    far = pca.transform(np.full((1, 8), HIGH))[0]
    assert contains(lp.view_ranges(xy, centre, star=far, half=HIGH), *far)


def test_the_layer_image_puts_high_z2_at_the_top_and_red_in_the_holes():
    axis = np.linspace(-HIGH, HIGH, 5)
    values = np.zeros((5, 5))
    values[-1, :] = -10.0  # the top row of the lattice (z2 largest) is a hole
    values[0, :] = 10.0  # the bottom row crowds
    blob = pad_layers.layer_blob(axis, values, "holes")
    w, h = blob["size"]
    rgba = np.frombuffer(base64.b64decode(blob["rgba"]), np.uint8).reshape(h, w, 4)
    assert (w, h) == (5, 5)
    assert rgba[0, 0, 0] > 90 and rgba[0, 0, 2] < 40  # image row 0 (top): red
    assert rgba[-1, 0, 2] > 90 and rgba[-1, 0, 0] < 10  # bottom: blue
    assert (rgba[..., 3] == round(255 * pad_layers.ALPHA)).all()
    step = axis[1] - axis[0]
    assert blob["extent"] == pytest.approx([-HIGH - step / 2, HIGH + step / 2] * 2)
    t, lo, hi = pad_layers.scaled(np.array([[1e-3, 1.0], [10.0, 100.0]]), "magnification")
    assert (lo, hi) == pytest.approx((-3, 2)) and t.min() == 0 and t.max() == 1
    assert pad_layers.colour_bar("holes").shape[1:] == (240, 3)


# ---------------------------------------------------------------------------------------------- AppTest


def test_eight_dimensions_the_pad_view_holds_star_and_box_and_reset_keeps_it(root):
    make_random_run(root, "eight", 8)
    at = plane_app(root, run="eight")
    assert not at.exception, [e.value for e in at.exception]

    def check():
        data = pad_data(at)
        pca_mean, comps = np.array(data["plane"]["mean"]), np.array(data["plane"]["components"])
        star = (np.array(data["z"]) - pca_mean) @ comps.T
        cx, cy = data["prior_centre"]
        r = data["ranges"]
        assert contains(r, *star), (star, r)
        assert contains(r, cx - HIGH, cy - HIGH) and contains(r, cx + HIGH, cy + HIGH), (data["prior_centre"], r)
        assert side(r)[0] == pytest.approx(side(r)[1])

    check()  # z = 0
    for k in ("lp_z0", "lp_z3", "lp_z5"):
        at.slider(key=k).set_value(HIGH).run()
    check()  # far out
    at.button(key="lp_reset").click().run()
    assert pad_data(at)["z"] == [0.0] * 8
    check()
    assert "2-D runs only" in "\n".join(str(c.value) for c in at.caption)  # the layers say why they are absent


def test_the_two_layers_go_to_the_pad_once_with_a_legend(root):
    make_random_run(root, "two", 2)
    at = plane_app(root, run="two")
    assert not at.exception
    assert pad_data(at)["layer"] is None
    at.radio(key=pad_layers.LAYER_KEY).set_value("holes").run()
    assert not at.exception, [e.value for e in at.exception]
    data = pad_data(at)
    blob = data["blobs"][data["layer"]["version"]]
    assert blob["kind"] == "layer" and blob["size"] == [41, 41]
    text = "\n".join(str(c.value) for c in at.caption)
    assert "KL(q(z) ‖ p(z)) ≈" in text and "Monte Carlo" in text
    at.button(key="lp_resample").click().run()  # a rerun does not send the layer again
    assert pad_data(at)["blobs"] == {} and pad_data(at)["layer"] == data["layer"]
    at.radio(key=pad_layers.LAYER_KEY).set_value("magnification").run()
    data = pad_data(at)
    assert data["blobs"][data["layer"]["version"]]["kind"] == "layer"
    assert "√det(JᵀJ)" in "\n".join(str(c.value) for c in at.caption)


# ---------------------------------------------------------------------------------------------- the browser

PROJECTOR = {"width": 1280, "height": 720}


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_dir):
    from browser_support import tutorial_app

    with tutorial_app(tmp_path_factory.mktemp("pad_view"), mnist_dir, timeout=120,
                      prepare=lambda root: make_random_run(root, "eight", 8, seed=3)) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from browser_support import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, request, server):
    from browser_support import page_for_test

    with page_for_test(browser, request, server, viewport=PROJECTOR) as pg:
        yield pg


def open_pad(page, server, query: str) -> None:
    from browser_support import open_page, poll, wait_idle

    open_page(page, server.page_url("plane") + f"?{query}", 120)
    poll(lambda: page.evaluate("() => { const p = window.__cvaeLatentPad && __cvaeLatentPad.pads()[0];"
                               " return !!(p && p.ready() && p.stats.frames > 0); }"), 60, 0.1, "the pad to draw")
    wait_idle(page)


def star_in_view(page) -> bool:
    return page.evaluate("""() => { const p = __cvaeLatentPad.pads()[0], q = p.planePoint(), d = p.data;
        const [cx, cy] = d.prior_centre, [[x0, x1], [y0, y1]] = d.ranges, c = p.clientOf(q),
              r = p.map.getBoundingClientRect();
        return x0 <= q[0] && q[0] <= x1 && y0 <= q[1] && q[1] <= y1 && x0 <= cx - 3 && cx + 3 <= x1
               && y0 <= cy - 3 && cy + 3 <= y1 && r.left <= c[0] && c[0] <= r.right && r.top <= c[1] && c[1] <= r.bottom; }""")


@pytest.mark.browser
def test_eight_dimensions_star_and_box_on_the_map_and_reset_keeps_it(server, page):
    from browser_support import exceptions, poll, wait_idle

    open_pad(page, server, "run=eight&z=3,3,-3,3,0,0,3,-3")
    assert star_in_view(page)
    page.locator(".st-key-lp_reset button").click()
    poll(lambda: page.evaluate("() => Array.from(__cvaeLatentPad.pads()[0].z).every(v => v === 0)"), 30, 0.1,
         "the pad at z = 0")
    wait_idle(page)
    assert star_in_view(page)
    shot = REPO_SHOTS / "latent_plane_d8_pad.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.locator("canvas.lp-map").screenshot(path=str(shot))
    assert not exceptions(page)


REPO_SHOTS = lp.STATIC.parent.parent.parent / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                                               else "test-artifacts/screenshots")


def map_pixels(page) -> np.ndarray:
    from browser_support import screenshot_array

    return screenshot_array(page.locator("canvas.lp-map"))


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "hi"])
def test_both_layers_render_under_the_points_and_the_pad_still_drags(server, page, lang):
    from browser_support import exceptions, main_text, poll, wait_idle

    open_pad(page, server, "run=tutorial&z=0,0" + ("&lang=hi" if lang == "hi" else ""))
    plain = map_pixels(page)
    labels = {"en": ("holes: aggregate posterior vs prior", "decoder magnification"),
              "hi": ("छेद: समग्र पश्च बनाम पूर्व वितरण", "डिकोडर का आवर्धन")}[lang]
    for label, kind in zip(labels, ("holes", "magnification")):
        page.locator(".st-key-lp_layer").get_by_text(label, exact=True).click()
        poll(lambda: page.evaluate("(k) => { const p = __cvaeLatentPad.pads()[0], l = p.data.layer;"
                                   " return !!(l && l.version && __cvaeLatentPad.BLOBS.has(l.version)); }", kind),
             120, 0.2, f"the {kind} layer to arrive")
        wait_idle(page)
        shot = map_pixels(page)
        page.locator("canvas.lp-map").screenshot(path=str(REPO_SHOTS / f"latent_pad_{kind}_{lang}.png"))
        changed = (np.abs(shot - plain).max(axis=2) > 0.1).mean()
        assert changed > 0.3, (kind, changed)  # the layer covers the map, under the points
        if kind == "holes":
            red = ((shot[..., 0] - shot[..., 2]) > 0.12).mean()
            assert red > 0.05, red  # the prior's unused mass at the edges
        else:
            viridis = ((shot[..., 1] - shot[..., 0]) > 0.1).mean()
            assert viridis > 0.2, viridis
        text = main_text(page)
        assert ("KL(q(z) ‖ p(z)) ≈" in text) if kind == "holes" else ("√det(JᵀJ)" in text)
        # The pad still drags with the layer on: z follows the mouse, frames are painted.
        page.locator("canvas.lp-map").evaluate("e => e.scrollIntoView({block: 'center'})")  # the ★ on screen
        frames = page.evaluate("() => __cvaeLatentPad.pads()[0].stats.frames")
        start = page.evaluate("() => { const p = __cvaeLatentPad.pads()[0]; return p.clientOf(p.planePoint()); }")
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0] + 80, start[1] - 50, steps=8)
        page.mouse.up()
        z = page.evaluate("() => Array.from(__cvaeLatentPad.pads()[0].z)")
        assert z[0] > 0.3 and z[1] > 0.2, z
        assert page.evaluate("() => __cvaeLatentPad.pads()[0].stats.frames") >= frames + 5
        wait_idle(page)
        page.locator(".st-key-lp_reset button").click()
        wait_idle(page)
    assert not exceptions(page)
