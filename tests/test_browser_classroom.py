"""The classroom in a real browser: every page in both languages at 1440×900 and 390×844 (a phone), and in
presenter mode at 1280×720 in light and dark; each view saved to test-artifacts/classroom/ (looked at by people).
Presenter mode: the page's main view lies inside the projector's 1280×720 viewport, body text ≥ 18 px and chart
labels ≥ 16 px. Phone: nothing wider than the screen, formulas whole (Home's, the Lesson's step 4), the map before
the long text, the training charts stacked."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import (REPO, app_pages, chromium, exceptions, full_page_screenshot, keyed, open_page,
                             tutorial_app, wait_idle, wait_images, wait_plotly_charts)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = REPO / "test-artifacts" / "classroom"
LOAD_TIMEOUT = 90.0
PROJECTOR = {"width": 1280, "height": 720}
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# The main view of each page in presenter mode (what the teacher points at): it must fit the projector.
MAIN_VIEW = {
    "": ['[data-testid="stMain"] .katex-display:visible'],  # each formula's one-line form (chrome.formula_ui)
    "Lesson": [keyed("ls_live")],
    "Train": ['[data-testid="stMain"] [data-testid="stProgress"]',  # shown in presenter mode: the run's progress
              keyed("train_curves_tutorial")],  # and its three training charts, whole
    "Latent_plane": [keyed("lp_pad")],  # the latent pad (#11): decoded digit and map in one component
    "Reconstruct": [keyed("rc_images_0"), keyed("rc_map_0")],
    "Manifold": [keyed("mf_image")],
    "Runs": ['[data-testid="stMain"] [data-testid="stAlert"]'],
    "Interpolate": [keyed("ip_strips")],
}
PAGES = app_pages()
# Known layout gaps (page, problem), listed so the test keeps checking everything else; none left.
KNOWN: tuple[tuple[str, str], ...] = ()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, mnist_dir):
    with tutorial_app(tmp_path_factory.mktemp("classroom"), mnist_dir, timeout=LOAD_TIMEOUT) as server:
        yield server


@pytest.fixture(scope="module")
def page(app_server):
    with chromium() as browser:
        pg = browser.new_context(viewport=LAPTOP, device_scale_factor=1).new_page()
        pg.set_default_timeout(30_000)
        yield pg


def load(page, server, url: str, query: str) -> None:
    open_page(page, f"{server.page_url(url)}?{query}", LOAD_TIMEOUT)
    settle(page)


def settle(page) -> None:
    wait_plotly_charts(page, LOAD_TIMEOUT)
    wait_images(page)
    wait_idle(page, LOAD_TIMEOUT)
    assert not exceptions(page), exceptions(page)


def main_view_boxes(page, url: str) -> list[dict]:
    boxes = []
    for selector in MAIN_VIEW.get(url, ['[data-testid="stMain"] h1']):
        loc = page.locator(selector)
        assert loc.count(), f"{url or 'home'}: {selector} not found"
        boxes += [loc.nth(i).bounding_box() for i in range(min(loc.count(), 2))]
    return boxes


def font_sizes(page) -> dict[str, float]:
    """Smallest body-text size in the main area and smallest plotly axis label size (px)."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const px = el => parseFloat(getComputedStyle(el).fontSize);
        const body = [...main.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
            .filter(p => p.offsetParent && p.innerText.trim()).map(px);
        const ticks = [...main.querySelectorAll('.js-plotly-plot .xtick text, .js-plotly-plot .ytick text')]
            .map(t => parseFloat(t.style.fontSize || getComputedStyle(t).fontSize));
        return {body: body.length ? Math.min(...body) : null, ticks: ticks.length ? Math.min(...ticks) : null};
    }""")


def formulas_cut(page, where: str) -> list[str]:
    """Formulas that do not fit the screen whole (they scroll sideways; 3 px allowed: an italic's overhang)."""
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] .katex-display')]
        .filter(e => e.offsetParent).map(e => e.scrollWidth - e.clientWidth).filter(d => d > 3)""")
    return [f"{where}: a formula scrolls sideways, {cut} px too wide"] if cut else []


def background_luminance(page) -> float:
    rgb = page.evaluate("""() => getComputedStyle(document.querySelector('[data-testid="stApp"]'))
                                 .backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)""")
    return sum(rgb) / (3 * 255)


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_every_page_in_every_layout(app_server, page, lang):
    problems = []
    for url, _title in PAGES:
        name = (url or "home").lower()
        out = SHOTS / lang
        # Laptop and phone: the page as everyone sees it.
        page.emulate_media(color_scheme="light")
        page.set_viewport_size(LAPTOP)
        load(page, app_server, url, f"lang={lang}")
        full_page_screenshot(page, out / f"{name}_1440x900.png", min_height=LAPTOP["height"])
        page.set_viewport_size(PHONE)
        settle(page)
        overflow = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                                            return m.scrollWidth - m.clientWidth; }""")
        if overflow > 1:
            problems.append(f"{lang}/{name}: {overflow} px wider than the phone")
        problems += formulas_cut(page, f"{lang}/{name}")
        if url == "Latent_plane" and page.locator(keyed("lp_map")).count():  # the classic slider view
            map_y = page.locator(keyed("lp_map")).bounding_box()["y"]
            sample_y = page.locator(keyed("lp_sample")).bounding_box()["y"]
            if not map_y < sample_y:
                problems.append(f"{lang}/{name}: on a phone the map comes after the sample")
        if url == "Train":  # the three training charts stack, each as wide as the phone allows
            charts = page.locator(keyed("train_curves_tutorial") + " .js-plotly-plot")
            boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
            if len(boxes) != 3:
                problems.append(f"{lang}/{name}: {len(boxes)} training charts, expected 3")
            elif not all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] + 1 and b["width"] >= 300
                         for b in boxes) or not all(a["y"] + a["height"] <= b["y"] + 1 for a, b in zip(boxes, boxes[1:])):
                problems.append(f"{lang}/{name}: on a phone the training charts do not stack: {boxes}")
        full_page_screenshot(page, out / f"{name}_390x844.png", min_height=PHONE["height"])
        if url == "Lesson":  # the ELBO's formula is on step 4
            load(page, app_server, url, f"lang={lang}&step=4")
            if not page.locator('[data-testid="stMain"] .katex-display:visible').count():
                problems.append(f"{lang}/{name}: no formula on step 4")
            problems += formulas_cut(page, f"{lang}/{name} step 4")
        # Presenter mode on a 1280×720 projector, light and dark.
        page.set_viewport_size(PROJECTOR)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            load(page, app_server, url, f"lang={lang}&mode=present")
            lum = background_luminance(page)
            if (scheme == "dark") != (lum < 0.5):
                problems.append(f"{lang}/{name}: {scheme} scheme, background luminance {lum:.2f}")
            for box in main_view_boxes(page, url):
                if not (box and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"] + 1
                        and box["x"] + box["width"] <= PROJECTOR["width"] + 1):
                    problems.append(f"{lang}/{name}: main view {box} outside 1280×720")
            sizes = font_sizes(page)
            if sizes["body"] is not None and sizes["body"] < 18:
                problems.append(f"{lang}/{name}: body text {sizes['body']} px")
            if sizes["ticks"] is not None and sizes["ticks"] < 16 and url != "Manifold":
                problems.append(f"{lang}/{name}: chart labels {sizes['ticks']} px")
            page.mouse.move(PROJECTOR["width"] - 2, PROJECTOR["height"] // 2)
            Path(out).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / f"{name}_present_{scheme}_1280x720.png"), animations="disabled")
    known = [p for p in problems if any(f"/{page}:" in p and what in p for page, what in KNOWN)]
    print("known gaps:", *known, sep="\n  ")
    problems = [p for p in problems if p not in known]
    assert not problems, "\n".join(problems)
