"""Layout in a real browser (#26): presenter mode scales up and clips nothing; phones keep the digit in view.

One server, one Chromium. Presenter mode in Hindi (the longer language) at 1280×720 and 1920×1080: every page's
visuals (charts, images, canvases, iframes, buttons, headings, metric labels, captions, formulas) are measured
against the viewport and the boxes that contain them; text must not overflow its box. The Latent plane's pad map is
≥ 560 px and its digit ≥ 360 px at 1280×720, chart text ≥ 18 px, the sidebar collapsed. A phone (390×844, dark):
the decoded digit stays on screen while a finger drags on the map; Your digit's result is within two screens.
"""

from __future__ import annotations

import pytest

from browser_support import (REPO, app_pages, chromium, exceptions, keyed, open_page, poll, tutorial_app, wait_idle,
                             wait_images, wait_plotly_charts)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_TIMEOUT = 90.0
PROJECTOR = {"width": 1280, "height": 720}
FULL_HD = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
SHOTS = REPO / "test-artifacts" / "layout"  # every view measured, for people to look at

# Every visual of the main area, and how to name it in a failure.
MEASURE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const W = window.innerWidth, out = [];
  const name = el => {
    const key = el.closest('[class*="st-key-"]');
    const k = key ? [...key.classList].find(c => c.startsWith('st-key-')) : '';
    return `${el.tagName.toLowerCase()}${k ? ' in ' + k : ''} "${(el.innerText || el.alt || '').trim().slice(0, 40)}"`;
  };
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
                                                             && getComputedStyle(el).visibility !== 'hidden'; };
  const visuals = main.querySelectorAll('.js-plotly-plot, img, canvas, iframe, button, h1, h2, h3, '
      + '[data-testid="stMetricLabel"], [data-testid="stMetricValue"], [data-testid="stCaptionContainer"], '
      + '.katex-display, [data-testid="stWidgetLabel"]');
  for (const el of visuals) {
    if (!shown(el) || el.closest('[data-testid="stExpanderDetails"]') && !el.closest('details[open]')) continue;
    const r = el.getBoundingClientRect();
    if (r.right > W + 1) out.push(`${name(el)} ends at x ${Math.round(r.right)} > ${W}`);
    // Cut by a box that hides its overflow (stMain itself scrolls the page vertically: not a cut).
    for (let a = el.parentElement; a && a !== main; a = a.parentElement) {
      const cs = getComputedStyle(a), ar = a.getBoundingClientRect();
      if (cs.overflowX !== 'visible' && (r.right > ar.right + 1 || r.left < ar.left - 1)) {
        out.push(`${name(el)} cut at the side by its container (${Math.round(r.left)}–${Math.round(r.right)} `
                 + `in ${Math.round(ar.left)}–${Math.round(ar.right)})`); break; }
      if (cs.overflowY !== 'visible' && r.bottom > ar.bottom + 1) {
        out.push(`${name(el)} cut at the bottom by its container (${Math.round(r.bottom)} > ${Math.round(ar.bottom)})`);
        break; }
    }
    // Text wider than its box: cut off, scrolled or under an ellipsis.
    // (A formula: its own box scrolls when too wide; KaTeX's inner spans overhang italics by design.)
    const texts = el.matches('button') ? el.querySelectorAll('p, span, div')
        : el.matches('.katex-display') ? [el] : [el, ...el.querySelectorAll('p, div')];
    for (const t of texts) {
      if (!shown(t) || !(t.innerText || '').trim()) continue;
      const slack = t.matches('.katex-display') ? 3 : 1; // an italic glyph's overhang: 2 px, nothing cut
      if (t.scrollWidth > t.clientWidth + slack && getComputedStyle(t).overflowX !== 'visible')
        { out.push(`${name(el)}: text ${t.scrollWidth} px wide in ${t.clientWidth} px`); break; }
      if (getComputedStyle(t).textOverflow === 'ellipsis' && t.scrollWidth > t.clientWidth + 1)
        { out.push(`${name(el)}: text cut with an ellipsis`); break; }
    }
    if (el.tagName === 'IFRAME') {
      try { const h = el.contentDocument.documentElement.scrollHeight;
            if (h > el.clientHeight + 1) out.push(`${name(el)}: content ${h} px high in ${el.clientHeight} px`); }
      catch (e) { /* another origin: not measurable */ }
    }
  }
  // Chart text: ticks, axis titles, legends, annotations, colour bars.
  const px = t => parseFloat(t.style.fontSize || getComputedStyle(t).fontSize);
  const chartText = [...main.querySelectorAll('.js-plotly-plot text')].filter(t => (t.textContent || '').trim())
      .sort((a, b) => px(a) - px(b));
  return {problems: [...new Set(out)], chartText: chartText.length ? px(chartText[0]) : null,
          smallest: chartText.length ? `${name(chartText[0].closest('.js-plotly-plot'))}: "${chartText[0].textContent}"` : ''};
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_dir):
    with tutorial_app(tmp_path_factory.mktemp("layout"), mnist_dir, timeout=LOAD_TIMEOUT) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def settle(page) -> None:
    wait_plotly_charts(page, LOAD_TIMEOUT)
    wait_images(page)
    wait_idle(page, LOAD_TIMEOUT)
    page.wait_for_timeout(300)  # plotly's relayout after the fonts load
    assert not exceptions(page), exceptions(page)


def load(page, server, url: str, query: str) -> None:
    open_page(page, f"{server.page_url(url)}?{query}", LOAD_TIMEOUT)
    settle(page)


@pytest.mark.parametrize("viewport", [PROJECTOR, FULL_HD], ids=["1280x720", "1920x1080"])
def test_presenter_mode_in_hindi_clips_nothing(server, browser, viewport):
    page = browser.new_context(viewport=viewport, device_scale_factor=1).new_page()
    problems = []
    for url, _title in app_pages():
        name = url or "home"
        load(page, server, url, "lang=hi&mode=present")
        sidebar = page.locator('[data-testid="stSidebar"]')
        if sidebar.count() and sidebar.get_attribute("aria-expanded") == "true":
            problems.append(f"{name}: the sidebar is open in presenter mode")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name.lower()}_present_hi_{viewport['width']}.png"), animations="disabled")
        found = page.evaluate(MEASURE_JS)
        problems += [f"{name}: {p}" for p in found["problems"]]
        if found["chartText"] is not None and found["chartText"] < 18:
            problems.append(f"{name}: chart text {found['chartText']} px ({found['smallest']})")
        if url == "Latent_plane" and viewport == PROJECTOR:
            size = page.evaluate("""() => { const el = document.querySelector('.st-key-lp_pad');
                const q = s => el.querySelector(s) || (el.shadowRoot || {querySelector: () => null}).querySelector(s);
                const host = [...el.querySelectorAll('*')].find(n => n.shadowRoot);
                const root = host ? host.shadowRoot : el;
                const box = s => { const n = root.querySelector(s); return n ? n.getBoundingClientRect().width : 0; };
                return {map: box('.lp-map'), digit: box('.lp-probs')}; }""")
            if size["map"] < 560 or size["digit"] < 360:
                problems.append(f"{name}: pad map {size['map']:.0f} px, digit {size['digit']:.0f} px")
    page.context.close()
    assert not problems, "\n".join(problems)
