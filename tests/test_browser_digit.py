"""Your digit and Diagnostics in a real browser: draw a stroke on the canvas, upload an image (and a non-image).

Its own server (module scope) with a copy of the shipped run; screenshots go to test-artifacts/screenshots/
(docs/screenshots/ with CVAE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from browser_support import (REPO, VIEWPORT, chromium, exceptions, full_page_screenshot, keyed, main_text,
                             open_page, page_for_test, plotly_trace_xy, poll, tutorial_app, wait_idle, wait_images,
                             wait_plotly_charts)

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                      else "test-artifacts/screenshots")
LOAD_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_dir):
    with tutorial_app(tmp_path_factory.mktemp("browser_digit"), mnist_dir, timeout=LOAD_TIMEOUT) as srv:
        yield srv


@pytest.fixture(scope="module")
def context():
    with chromium() as browser:
        yield browser.new_context(viewport=VIEWPORT, device_scale_factor=1)


@pytest.fixture
def page(context, request, server):
    with page_for_test(context, request, server) as pg:
        yield pg


def your_digit_marker(page) -> list[list[float]] | None:
    return plotly_trace_xy(page, keyed("yd_map"), "current z")


def wait_result(page) -> list[list[float]]:
    poll(lambda: your_digit_marker(page) is not None, LOAD_TIMEOUT, 0.2, "your digit on the map")
    wait_idle(page, LOAD_TIMEOUT)
    poll(lambda: page.locator(keyed("yd_recon") + " .js-plotly-plot").count() == 1, 30, 0.2, "the reconstruction")
    assert not exceptions(page)
    return your_digit_marker(page)


def test_draw_a_stroke_and_see_a_reconstruction_and_a_point_on_the_map(server, page):
    open_page(page, server.page_url("Your_digit"), LOAD_TIMEOUT)
    canvas = page.locator(keyed("yd_canvas") + " canvas")
    poll(lambda: canvas.count() == 1, 30, 0.2, "the canvas")
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15
    page.mouse.move(x0, y0)
    page.mouse.down()
    for t in np.linspace(0, 1, 15):  # a "1": one vertical stroke
        page.mouse.move(x0 + 4 * t, y0 + box["height"] * 0.7 * t)
    page.mouse.up()
    xy = wait_result(page)
    assert len(xy[0]) == 1 and all(np.isfinite(v[0]) for v in xy)
    text = main_text(page)
    assert "ELBO (single sample)" in text and "IWAE log p(x)" in text and "nearest test digits" in text
    wait_images(page)
    full_page_screenshot(page, SCREENSHOTS / "your_digit.png")


def _png_bytes(mnist_dir) -> bytes:
    from cvae.data.sources import load_dataset

    img = load_dataset("mnist", mnist_dir).test_images[0]  # a 7
    big = np.asarray(Image.fromarray(255 - img).resize((224, 224), Image.Resampling.BILINEAR))
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    return buf.getvalue()


def test_upload_an_image_and_a_non_image(server, page, mnist_dir):
    open_page(page, server.page_url("Your_digit"), LOAD_TIMEOUT)
    page.locator(keyed("yd_source")).get_by_text("Upload").click()
    wait_idle(page, LOAD_TIMEOUT)
    upload = page.locator(keyed("yd_upload") + " input[type=file]")
    upload.set_input_files({"name": "seven.png", "mimeType": "image/png", "buffer": _png_bytes(mnist_dir)})
    xy = wait_result(page)
    assert len(xy[0]) == 1
    assert "inverted" in main_text(page)
    upload.set_input_files({"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text"})
    poll(lambda: "This image can't be used" in main_text(page), LOAD_TIMEOUT, 0.2, "the one-line refusal")
    assert not exceptions(page)


def test_diagnostics_page(server, page):
    open_page(page, server.page_url("Diagnostics"), LOAD_TIMEOUT)
    wait_plotly_charts(page, LOAD_TIMEOUT)
    wait_images(page)
    wait_idle(page, LOAD_TIMEOUT)
    assert not exceptions(page)
    assert "Active units" in main_text(page) and "2 of 2" in main_text(page)
    full_page_screenshot(page, SCREENSHOTS / "diagnostics.png")
