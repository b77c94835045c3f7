"""The app in a real browser: headless Chromium (Playwright) against a real `streamlit run app.py` subprocess.

One server for the whole module (session fixture) with a fresh runs root holding a copy of the shipped
pretrained run, real MNIST from the `mnist_dir` fixture. Every test opens its own page (each page load is its own
Streamlit session). Waits poll the DOM (Streamlit's script state, element pixels, plotly data); nothing sleeps
blindly. The page test saves a screenshot of every page to test-artifacts/screenshots/ (to docs/screenshots/,
the README's, when CVAE_UPDATE_SCREENSHOTS=1), so a test run never dirties the work tree.

On failure a screenshot of the page goes to test-artifacts/browser/<test>.png.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

import pytest

from browser_support import (REPO, VIEWPORT, app_pages, chromium, click_plotly, exceptions, fill_train_form,
                             full_page_screenshot, keyed, main_text, open_page, page_for_test, pixel_difference,
                             plotly_point_count, plotly_trace_xy, poll, progress_text, screenshot_array, slider_thumb,
                             slider_values, stable_screenshot, status_badge, training_pids, tutorial_app, wait_idle,
                             wait_images, wait_plotly_charts)

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                      else "test-artifacts/screenshots")
LOAD_TIMEOUT = 90.0  # a cold page (test set + encoding 5,000 digits) on two busy cores
PIXEL_THRESHOLD = 0.02  # mean |difference| (0..1 per channel) of two decoded digits; identical renders give 0


# ---------------------------------------------------------------------------------------------- fixtures


# Module scope, not session: Playwright's sync API runs an event loop while it is open, and other test
# modules (test_faults.py) start their own.
@pytest.fixture(scope="module")
def app_server(tmp_path_factory, mnist_dir):
    base = tmp_path_factory.mktemp("browser")
    # Trainers launched by this server sleep 0.5 s per logged chunk of steps: the training tests watch a tiny run
    # grow live and stop one midway, which a fast machine would otherwise finish between two monitor refreshes.
    with tutorial_app(base, mnist_dir, timeout=LOAD_TIMEOUT,
                      env={"CVAE_TRAINER_FAILPOINTS": "step=sleep:0.5"}) as server:
        yield server
    assert not training_pids(base / "checkpoints"), "a training process survived the server"


@pytest.fixture(scope="module")
def browser_context():
    """One Chromium and one context for the module (its HTTP cache keeps plotly's bundle): each test opens its
    own page, and each page load is a new Streamlit session, so no state leaks between tests."""
    with chromium() as browser:
        yield browser.new_context(viewport=VIEWPORT, device_scale_factor=1)


@pytest.fixture
def page(browser_context, request, app_server):
    with page_for_test(browser_context, request, app_server) as pg:
        yield pg


def assert_no_exception(page) -> None:
    errors = exceptions(page)
    assert not errors, "the app showed an exception:\n" + "\n---\n".join(errors)


def wait_no_training(server, timeout: float = 120.0) -> None:
    """The concurrency cap is 1 on small machines: wait until no trainer of this server is alive."""
    poll(lambda: not training_pids(server.runs_root), timeout, 0.2, "earlier training processes to exit")


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- e. every page

SHOWCASE_Z = (0.92, 0.9)  # Latent-plane screenshot: the median code of the test set's 0s, a crisp digit

PAGES = app_pages()  # (URL path, title): every page in app.py + pages/, so new pages are covered too


def test_every_page_loads_without_exception(app_server, page):
    """Each page URL loads and finishes running with no exception box; its full-page screenshot goes to docs/.

    First in the module, so the pictures show the shipped tutorial run only (the run picker's default).

    A direct load (an address typed or shared) causes exactly Streamlit's own two 404s and nothing of ours: its
    client does not know the server's base path, so on /<Page> it first tries /<Page>/_stcore/health and
    /<Page>/_stcore/host-config, then /_stcore/... (streamlit/streamlit#7074, open; docs/reliability.md has the
    note). If Streamlit fixes it, this test fails and the note goes."""
    missing: list[str] = []
    listener = lambda r: missing.append(urllib.parse.urlparse(r.url).path) if r.status == 404 else None  # noqa: E731
    page.on("response", listener)
    for url, title in PAGES:
        key, shot = url or "home", f"{(url or 'home').lower()}.png"
        missing.clear()
        open_page(page, app_server.page_url(url), LOAD_TIMEOUT)
        wait_plotly_charts(page, LOAD_TIMEOUT)
        wait_images(page)
        wait_idle(page, LOAD_TIMEOUT)
        assert_no_exception(page)
        retries = {f"/{url}/_stcore/health", f"/{url}/_stcore/host-config"} if url else set()
        assert set(missing) == retries and len(missing) == len(retries), f"{key}: 404s {missing}"
        heading = page.locator('[data-testid="stMain"] h1').first.inner_text()
        assert title in heading, f"{key}: heading {heading!r}"
        if key != "Join":  # the students' page has no run picker: a class's run is the teacher's choice
            picked = page.locator(keyed("run_picker")).evaluate(
                "e => e.innerText + ' ' + [...e.querySelectorAll('input')].map(i => i.value).join(' ')")
            assert "tutorial" in picked, f"{key}: the run picker shows {picked!r}"
        if key == "Latent_plane":  # a code in the middle of a class for the picture, from the URL (the latent pad)
            open_page(page, app_server.page_url(url) + "?z={},{}".format(*SHOWCASE_Z), LOAD_TIMEOUT)
            poll(lambda: page.evaluate("() => (window.__cvaeLatentPad?.pads()[0]?.stats.frames || 0) > 0"), 60, 0.2,
                 "the latent pad to draw")
            wait_idle(page)
        if key == "Train":
            assert status_badge(page) == "✅ done"
            assert page.locator(keyed("train_curves_tutorial") + " .js-plotly-plot").count() == 3
            assert page.locator('[data-testid="stMain"] [data-testid="stImage"] img').count() >= 2  # samples + GIF
        full_page_screenshot(page, SCREENSHOTS / shot)
        assert_no_exception(page)
    page.remove_listener("response", listener)


# ---------------------------------------------------------------------------------------------- a. slider


def test_slider_changes_the_decoded_image(app_server, page):
    open_page(page, app_server.page_url("plane") + "?view=sliders", LOAD_TIMEOUT)  # the classic view
    wait_plotly_charts(page, LOAD_TIMEOUT)
    image = page.locator(keyed("lp_decoded"))
    before = stable_screenshot(image)
    assert slider_values(page, keyed("lp_z0")) == [0.0]
    assert slider_values(page, keyed("lp_z1")) == [0.0]

    thumb = slider_thumb(page, keyed("lp_z0"))
    thumb.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("End")
    poll(lambda: slider_values(page, keyed("lp_z0")) == [3.09], 10, 0.1, "z1 to reach 3.09")
    poll(lambda: pixel_difference(before, screenshot_array(image)) > PIXEL_THRESHOLD, 60, 0.2,
         "the decoded image to change")
    wait_idle(page)
    after = stable_screenshot(image)
    assert pixel_difference(before, after) > PIXEL_THRESHOLD
    assert slider_values(page, keyed("lp_z0")) == [3.09] and slider_values(page, keyed("lp_z1")) == [0.0]
    # The map's star follows the sliders.
    star = plotly_trace_xy(page, keyed("lp_map"), "current z")
    assert star[0] == pytest.approx([3.09], abs=1e-3) and star[1] == pytest.approx([0.0], abs=1e-3), star
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------- b. map click


def test_clicking_the_map_moves_z(app_server, page):
    open_page(page, app_server.page_url("plane") + "?view=sliders", LOAD_TIMEOUT)  # the classic view
    wait_plotly_charts(page, LOAD_TIMEOUT)
    assert slider_values(page, keyed("lp_z0")) + slider_values(page, keyed("lp_z1")) == [0.0, 0.0]
    image = page.locator(keyed("lp_decoded"))
    before = stable_screenshot(image)

    target = (2.0, 2.5)  # upper right: far from z = 0, few test digits there (the invisible click grid is hit)
    click_plotly(page, keyed("lp_map"), *target)

    z = poll(lambda: (v := slider_values(page, keyed("lp_z0")) + slider_values(page, keyed("lp_z1")))
             != [0.0, 0.0] and v, 60, 0.2, "the sliders to follow the click")
    wait_idle(page)
    z = slider_values(page, keyed("lp_z0")) + slider_values(page, keyed("lp_z1"))
    assert z[0] > 0 and z[1] > 0, z
    # The click grid is 60x60 over ±3.09 (spacing 0.105): the picked point is within one grid step.
    assert abs(z[0] - target[0]) < 0.15 and abs(z[1] - target[1]) < 0.15, (z, target)
    star = plotly_trace_xy(page, keyed("lp_map"), "current z")
    assert star[0] == pytest.approx([z[0]], abs=1e-3) and star[1] == pytest.approx([z[1]], abs=1e-3), (star, z)
    assert pixel_difference(before, stable_screenshot(image)) > PIXEL_THRESHOLD
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------- c. training


def start_run(page, server, name: str, fields: dict) -> float:
    """Open the Train page, fill the form, press Start; returns time.monotonic() of the click."""
    wait_no_training(server)
    open_page(page, server.page_url("train"), LOAD_TIMEOUT)
    fill_train_form(page, {"name": name, **fields})
    t0 = time.monotonic()
    page.locator(keyed("tr_start")).get_by_role("button", name="Start training").first.click()
    root = server.runs_root

    def launched():
        alerts = page.locator('[data-testid="stMain"] [data-testid="stAlert"]').all_inner_texts()
        problems = [a for a in alerts if "⚠️" in a or "busy" in a]
        assert not problems, f"the form was refused: {problems}"
        return (root / ".launches" / f"{name}.json").exists() or (root / name / "config.json").exists()

    poll(launched, 30, 0.2, f"run {name} to be launched")
    poll(lambda: status_badge(page) in ("⏳ starting", "🟢 running", "✅ done")
         and f"Run {name}" in main_text(page), 30, 0.2, "the monitor of the new run")
    assert_no_exception(page)
    return t0


def test_train_a_short_run(app_server, page):
    name = f"bt-short-{uuid.uuid4().hex[:6]}"
    t0 = start_run(page, app_server, name, {
        "epochs": 3, "batch_size": 32, "max_train_examples": 256, "max_test_examples": 64, "log_every_steps": 2})
    chart = keyed(f"train_curves_{name}")
    counts, texts, badges, live_maps = [], [], [], []
    deadline = t0 + 90
    while True:
        assert_no_exception(page)
        counts.append(plotly_point_count(page, chart))
        live_maps.append(page.evaluate(  # the latent map of the newest epoch: dots of the ten classes' traces
            """(sel) => { const gd = document.querySelector(sel + ' .js-plotly-plot');
                          return gd && gd._fullData ? gd._fullData.filter(t => /^[0-9]$/.test(t.name))
                              .reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0; }""", keyed(f"tr_map_{name}")))
        texts.append(progress_text(page))
        badges.append(status_badge(page))
        if badges[-1] == "✅ done" and counts[-1]:
            break
        assert badges[-1] not in ("❌ failed", "⚠️ interrupted"), main_text(page)
        assert time.monotonic() < deadline, f"not done after 90 s: badges {Counter(badges)}, counts {counts[-5:]}"
        time.sleep(0.25)
    print(f"a 3-epoch run on 256 images took {time.monotonic() - t0:.0f} s")  # speed belongs in bench/, not here

    run_dir = app_server.runs_root / name
    metrics = read_metrics(run_dir)
    steps = [r for r in metrics if r.get("kind") == "step"]
    epochs = [r for r in metrics if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    # 1 training-loss trace (a point per logged row) + 3 per-epoch traces (ELBO, reconstruction, KL).
    wait_idle(page)
    assert plotly_point_count(page, chart) == len(steps) + 3 * len(epochs)
    # Live: several sizes seen while it trained, ending at the largest (a poll can catch a chart mid-redraw, with
    # part of its traces, so a momentary smaller count is not a shrinking chart).
    seen = [c for c in counts if c]
    assert len(set(seen)) >= 2 and seen[-1] == max(seen), f"the chart did not grow live: {counts}"
    assert len({t for t in texts if t and t.startswith("Epoch")}) >= 2, f"progress never moved: {texts}"
    assert "🟢 running" in badges
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert "3 of 3 epochs done" in (progress_text(page) or "")
    # The latent map formed live (the 64 test digits' μ after an epoch, while training) and, once done, animates
    # over the three epochs.
    assert 64 in live_maps, f"no live latent map while training: {sorted(set(live_maps))}"
    frames = poll(lambda: page.evaluate(
        """(sel) => { const gd = document.querySelector(sel + ' .js-plotly-plot');
                      const f = gd && gd._transitionData && gd._transitionData._frames;
                      return f && f.length ? f.map(x => x.name) : null; }""", keyed(f"tr_map_anim_{name}")),
        30, 0.2, "the latent map's animation")
    assert frames == ["1", "2", "3"]
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------- d. stop, resume


def test_stop_and_resume(app_server, page):
    name = f"bt-stop-{uuid.uuid4().hex[:6]}"
    start_run(page, app_server, name, {
        "epochs": 5, "batch_size": 32, "max_train_examples": 2000, "max_test_examples": 64, "log_every_steps": 10})
    run_dir = app_server.runs_root / name

    def trained_steps() -> int:
        text = progress_text(page) or ""
        m = re.search(r"step ([\d,]+)", text)
        return int(m.group(1).replace(",", "")) if m else 0

    poll(lambda: status_badge(page) == "🟢 running" and trained_steps() >= 10, 90, 0.1, "the first logged steps")
    assert_no_exception(page)
    page.locator(keyed("tr_stop")).get_by_role("button", name="Stop").first.click()
    poll(lambda: status_badge(page) == "⏸️ stopped" and page.locator(keyed("tr_resume")).count(), 60, 0.2,
         "the run to stop")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "stopped"
    assert status["epoch"] < 5, "the run finished before Stop took effect: nothing was tested"
    assert_no_exception(page)
    wait_no_training(app_server)

    page.locator(keyed("tr_resume")).get_by_role("button", name="Resume").first.click()
    poll(lambda: status_badge(page) in ("⏳ starting", "🟢 running", "✅ done"), 30, 0.2, "the resumed run to start")
    poll(lambda: status_badge(page) == "✅ done" or (status_badge(page) in ("❌ failed", "⚠️ interrupted")), 120, 0.25,
         "the resumed run to finish")
    assert status_badge(page) == "✅ done", main_text(page)
    assert_no_exception(page)

    epochs = [r["epoch"] for r in read_metrics(run_dir) if r.get("kind") == "epoch"]
    assert sorted(epochs) == [1, 2, 3, 4, 5], f"epoch rows in metrics.jsonl: {epochs}"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["epoch"] == 5
