"""Browser helpers for the live classroom (tests/test_browser_live_class.py and bench/classroom_load.py): start a
class as the teacher, join and draw as a student (mouse or touch), read the drawings on the teacher's map."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import numpy as np

import browser_support as bs

MAP = bs.keyed("cl_map")
SEND = bs.keyed("jn_send") + " button"
CANVAS_N = "jn_canvas_n"

# Strokes of a few digits, in canvas fractions (0..1): lists of polylines.
DIGITS = {
    1: [[(0.52, 0.12), (0.50, 0.88)]],
    7: [[(0.25, 0.18), (0.75, 0.18), (0.40, 0.88)]],
    0: [[(0.5, 0.12), (0.28, 0.3), (0.26, 0.7), (0.5, 0.88), (0.72, 0.7), (0.72, 0.3), (0.5, 0.12)]],
    4: [[(0.6, 0.85), (0.6, 0.12), (0.25, 0.6), (0.78, 0.6)]],
}

# Every drawing on the teacher's map as {id: name-or-""}, from the live (not stale) plotly chart.
MAP_IDS_JS = """(sel) => { const out = {};
  for (const gd of document.querySelectorAll(sel + ' .js-plotly-plot')) {
    if (gd.closest('[data-stale="true"]')) continue;
    for (const t of gd.data || []) {
      if (t.name !== 'new' && t.name !== 'class drawings') continue;
      const ids = Array.from(t.customdata || []), text = t.text ? Array.from(t.text) : [];
      ids.forEach((id, i) => { out[id] = text[i] || ''; });
    }
  }
  return out; }"""


def start_class(page, server, present: bool = True) -> tuple[str, str]:
    """Open the Classroom page, start a class; (join code, teacher key) read from the address."""
    bs.open_page(page, server.page_url("Classroom") + ("?mode=present" if present else ""), 90)
    page.locator(bs.keyed("cl_start") + " button").click()
    bs.poll(lambda: "key=" in href(page), 60, 0.1, "the teacher address")
    bs.poll(lambda: page.locator(MAP).count() > 0, 60, 0.2, "the class map")
    q = parse_qs(urlsplit(href(page)).query)
    return q["class"][0], q["key"][0]


def href(page) -> str:
    """The address as the page shows it (Playwright's page.url misses Streamlit's history.replaceState)."""
    return page.evaluate("() => location.href")


def map_ids(page) -> dict[int, str]:
    """{submission id: student name ('' once no longer new)} of the drawings on the teacher's map."""
    return {int(k): v for k, v in page.evaluate(MAP_IDS_JS, MAP).items()}


def join(page, server, code: str, lang: str | None = None) -> str:
    """Open the join address; the student's random name once joined."""
    url = server.page_url("Join") + f"?code={code}" + (f"&lang={lang}" if lang else "")
    bs.open_page(page, url, 90)
    bs.poll(lambda: "me=" in href(page), 60, 0.1, "the student token in the address")
    bs.poll(lambda: page.locator(bs.keyed(canvas_key(page)) + " canvas").count() == 1, 60, 0.1, "the canvas")
    text = bs.main_text(page)
    marker = "**"
    name = page.locator('[data-testid="stMain"] strong').first.inner_text()
    assert name and marker not in name, text
    return name


def canvas_keys(page) -> list[str]:
    """The keys of the canvases the page shows (not stale)."""
    return page.evaluate("() => [...document.querySelectorAll('[class*=st-key-jn_canvas_]')]"
                         ".filter(e => !e.closest('[data-stale=\"true\"]'))"
                         ".map(e => [...e.classList].find(c => c.startsWith('st-key-jn_canvas_')).slice(7))")


def canvas_key(page) -> str:
    """The current canvas's key (a new one after each submission)."""
    keys = canvas_keys(page)
    return max(keys, key=lambda k: int(k.rsplit("_", 1)[1])) if keys else "jn_canvas_0"


def draw(page, digit: int = 7, touch_cdp=None, jitter: float = 0.0, seed: int = 0) -> None:
    """Draw `digit` on the student's canvas with the mouse, or with touch events through `touch_cdp`."""
    canvas = page.locator(bs.keyed(canvas_key(page)) + " canvas")
    try:  # a phone's canvas may be below the fold (the touch events need it on screen)
        canvas.scroll_into_view_if_needed(timeout=5000)
    except Exception:  # noqa: BLE001 - a page redrawing its fragment; the box below is what counts
        pass
    box = bs.poll(lambda: canvas.bounding_box(), 30, 0.1, "the canvas's box")
    rng = np.random.default_rng(seed)
    for line in DIGITS[digit]:
        pts = []
        for (a, b), (c, d) in zip(line[:-1], line[1:]):
            for t in np.linspace(0, 1, 8, endpoint=False):
                pts.append((a + (c - a) * t, b + (d - b) * t))
        pts.append(line[-1])
        shift = rng.uniform(-jitter, jitter, 2)
        xy = [(box["x"] + box["width"] * (u + shift[0]), box["y"] + box["height"] * (v + shift[1])) for u, v in pts]
        if touch_cdp is not None:
            def touch(kind, p):
                touch_cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if kind == "touchEnd"
                                                             else [{"x": p[0], "y": p[1], "id": 1}]})
            touch("touchStart", xy[0])
            for p in xy[1:]:
                touch("touchMove", p)
            touch("touchEnd", xy[-1])
        else:
            page.mouse.move(*xy[0])
            page.mouse.down()
            for p in xy[1:]:
                page.mouse.move(*p)
            page.mouse.up()


def send(page, tap: bool = False, timeout: float = 60.0) -> float:
    """Press Send once the drawing has reached the server; the wall time (s) of the press."""
    button = page.locator(SEND)
    bs.poll(lambda: button.is_enabled(), timeout, 0.05, "the Send button to be enabled")
    t = time.time()
    if not tap:
        button.click()
        return t
    tap_until_clicked(page, button, bs.keyed("jn_send"))
    return t


def tap_until_clicked(page, locator, scope: str, attempts: int = 3) -> None:
    """Tap `locator` until the page sees a click inside `scope` (a CSS selector).

    Chromium drops a tap's synthesized click when the touch reaches a busy renderer late (seen under CI's load:
    pointerdown, touchstart and touchend on the enabled button, then no click); a person taps again, so do we.
    """
    hook = ("(scope) => { window.__clicks = window.__clicks || {}; window.__clicks[scope] = 0;"
            " if (!window.__clickHook) { window.__clickHook = true; document.addEventListener('click', e => {"
            " for (const s in window.__clicks) if (e.target.closest && e.target.closest(s)) window.__clicks[s]++; },"
            " true); } }")
    page.evaluate(hook, scope)
    for _attempt in range(attempts):
        locator.tap()
        try:
            bs.poll(lambda: page.evaluate("(s) => window.__clicks[s]", scope) > 0, 3, 0.05, "the tap's click")
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"{attempts} taps on {scope} and no click")


def wait_landed(page, n_before: int, timeout: float = 60.0) -> None:
    """Wait until the student's page shows its result (the canvas key advanced past n_before)."""
    try:
        bs.poll(lambda: page.locator(bs.keyed("jn_map")).count() > 0
                and page.locator(bs.keyed(f"jn_canvas_{n_before + 1}") + " canvas").count() == 1, timeout, 0.1,
                "the student's result")
    except TimeoutError as e:  # say what the student's page shows instead (an error line, a stale canvas…)
        raise TimeoutError(f"{e}; the page shows: {bs.main_text(page)[:600]!r}; canvases: {canvas_keys(page)}") from e


def click_map(page, x: float, y: float, attempts: int = 6) -> None:
    """Click data point (x, y) of the teacher's map; retried, since the live map is redrawn every second and a
    redraw can drop the hover label plotly needs before it reports a click."""
    for i in range(attempts):
        try:
            page.mouse.move(5, 5)
            bs.click_plotly(page, MAP, x, y, timeout=3.0)
            return
        except TimeoutError:
            if i == attempts - 1:
                raise
