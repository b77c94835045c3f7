"""Every page's address carries the run, the language and presenter mode: a reload or a shared link restores them,
and a bad value is ignored with a note."""

from __future__ import annotations

import pytest

from cvae.explorer.ui.text import code
from test_app import app_test, make_run

PAGES = ["app_pages/3_Reconstruct.py", "app_pages/4_Manifold.py", "app_pages/8_Diagnostics.py", "app_pages/6_Interpolate.py"]


def open_with(page: str | None, **params):
    """A fresh session opening `page` (None: Home) at an address with `params`, as a shared link does."""
    at = app_test()
    if page:
        at.run()
        at.switch_page(page)
        at.query_params.clear()
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def qp(at, key: str) -> str | None:
    """One URL parameter as the browser's address would show it."""
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) and value else value


def picked(at) -> str:
    return at.selectbox(key="run_picker").value


@pytest.mark.parametrize("page", [None, *PAGES])
def test_run_in_the_address_selects_it_on_every_page(root, page):
    make_run(root, "older", created=100.0)
    make_run(root, "newer", created=200.0)
    at = open_with(page, run="older")
    assert not at.exception, [e.value for e in at.exception]
    assert picked(at) == "older"
    assert qp(at, "run") == "older"


def test_an_unknown_run_is_ignored_with_a_note_and_the_address_follows_the_page(root):
    make_run(root, "only", created=100.0)
    at = open_with("app_pages/8_Diagnostics.py", run="[Log in](https://evil.example)")
    assert not at.exception
    assert picked(at) == "only"
    notes = [c.value for c in at.sidebar.caption if "not here" in c.value]
    assert notes and code("[Log in](https://evil.example)") in notes[0]  # in a code span: shown, never a link
    assert qp(at, "run") == "only"


def test_picking_a_run_writes_the_address(root):
    make_run(root, "a", created=100.0)
    make_run(root, "b", created=200.0)
    at = open_with("app_pages/4_Manifold.py")
    assert picked(at) == "b"
    at.selectbox(key="run_picker").select("a").run()
    assert picked(at) == "a" and qp(at, "run") == "a"


def test_language_and_mode_stay_in_the_address(root):
    make_run(root, "r", created=100.0)
    at = open_with(None, lang="hi", mode="present")
    assert qp(at, "lang") == "hi" and qp(at, "mode") == "present"
    at.switch_page("app_pages/3_Reconstruct.py").run()  # a page switch inside the session
    assert qp(at, "lang") == "hi" and qp(at, "mode") == "present"
    assert [t.value for t in at.title] == [":material/autorenew: पुनर्निर्माण"]  # Reconstruct, in Hindi


@pytest.mark.browser
def test_a_sidebar_link_keeps_language_mode_and_run_through_a_reload(tmp_path, mnist_dir):
    """In a real browser: Home in Hindi and presenter mode, a sidebar link to Diagnostics, then a reload and the
    same address in a fresh browser context: still Hindi, still presenting, still the same run."""
    import urllib.parse

    from browser_support import chromium, open_page, open_sidebar, poll, tutorial_app, wait_idle

    with tutorial_app(tmp_path, mnist_dir) as server, chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1280, "height": 720})
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        open_page(page, server.url + "/?lang=hi&mode=present&run=tutorial", 120)
        open_sidebar(page)  # presenting: the sidebar starts collapsed
        link = page.locator('[data-testid="stSidebar"] a[data-testid="stPageLink-NavLink"]').filter(has_text="निदान")
        link.first.click()
        wait_idle(page, 180)  # the address changes when the page's run reaches the browser
        poll(lambda: "/Diagnostics" in page.url, 90, 0.2, "the Diagnostics page's address")

        def params():
            return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query).items()}

        poll(lambda: params().get("lang") == "hi" and params().get("mode") == "present", 60, 0.2, "the address")
        assert params()["run"] == "tutorial"
        address = page.url
        for viewer in (page, ctx.browser.new_context(viewport={"width": 390, "height": 844}).new_page()):
            open_page(viewer, address, 120)
            poll(lambda v=viewer: "निदान" in v.locator('[data-testid="stMain"] h1').first.inner_text(), 90, 0.2,
                 "the title in Hindi")
            assert viewer.evaluate("() => getComputedStyle(document.body).fontSize") == "20px"  # presenting
        ctx.close()
