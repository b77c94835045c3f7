"""The true posterior and the two map layers in a real browser at 1280×720, in English and Hindi, on the shipped run.

Screenshots go to test-artifacts/screenshots/ (docs/screenshots/ with CVAE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from browser_support import (REPO, chromium, exceptions, keyed, main_text, open_page, page_for_test, poll,
                             stable_screenshot, tutorial_app, wait_idle, wait_plotly_charts)

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                      else "test-artifacts/screenshots")
LOAD_TIMEOUT = 120.0
PROJECTOR = {"width": 1280, "height": 720}


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_dir):
    with tutorial_app(tmp_path_factory.mktemp("browser_posterior"), mnist_dir, timeout=LOAD_TIMEOUT) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, request, server):
    with page_for_test(browser, request, server, viewport=PROJECTOR) as pg:
        yield pg


def colour_share(shot: np.ndarray, rgb: tuple[int, int, int], tol: float = 0.12) -> float:
    """Share of pixels within tol of a colour (0..1 per channel)."""
    return float((np.abs(shot - np.array(rgb) / 255.0).max(axis=2) < tol).mean())


def shoot(page, key: str, name: str) -> np.ndarray:
    el = page.locator(keyed(key))
    el.scroll_into_view_if_needed()
    wait_plotly_charts(page, LOAD_TIMEOUT)
    shot = stable_screenshot(el)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    el.screenshot(path=str(SCREENSHOTS / name), animations="disabled")
    return shot


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_the_posterior_picture_at_1280x720(server, page, lang):
    open_page(page, server.page_url("Reconstruct") + ("?lang=hi" if lang == "hi" else ""), LOAD_TIMEOUT)
    poll(lambda: page.locator(keyed("rc_posterior") + " .js-plotly-plot").count() == 1, LOAD_TIMEOUT, 0.2,
         "the posterior picture")
    wait_idle(page, LOAD_TIMEOUT)
    assert not exceptions(page)
    shot = shoot(page, "rc_posterior", f"posterior_{lang}.png")
    assert colour_share(shot, (217, 95, 2)) > 0.001  # the encoder's orange ellipses
    assert colour_share(shot, (27, 158, 119)) > 0.0005  # q*'s green ellipse
    blue = (shot[..., 2] - shot[..., 0] > 0.25).mean()  # the posterior's blue heatmap (its peak: mass is narrow)
    assert blue > 0.002
    text = main_text(page)
    assert ("एनकोडर का अनुमान बनाम सच" if lang == "hi" else "The encoder's guess vs the truth") in text
    assert ("परिशोधन अंतर" if lang == "hi" else "amortization gap") in text


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_the_two_map_layers_on_diagnostics(server, page, lang):
    open_page(page, server.page_url("Diagnostics") + ("?lang=hi" if lang == "hi" else ""), LOAD_TIMEOUT)
    wait_plotly_charts(page, LOAD_TIMEOUT)
    labels = {"en": ("aggregate posterior vs prior", "decoder magnification"),
              "hi": ("समग्र पश्च बनाम पूर्व वितरण", "डिकोडर का आवर्धन")}[lang]
    for label, name in zip(labels, ("holes", "magnification")):
        page.locator(keyed("dg_layer")).get_by_text(label, exact=True).click()
        wait_idle(page, LOAD_TIMEOUT)
        poll(lambda: page.locator(keyed("dg_map") + " .hm").count() >= 1, LOAD_TIMEOUT, 0.2, "the layer")
        assert not exceptions(page)
        shot = shoot(page, "dg_map", f"diagnostics_{name}_{lang}.png")
        if name == "holes":
            assert (shot[..., 0] - shot[..., 2] > 0.25).mean() > 0.02  # red: the prior's unused mass
            assert "KL(q(z) ‖ p(z)) ≈" in main_text(page)
        else:
            assert float(shot.std()) > 0.05
