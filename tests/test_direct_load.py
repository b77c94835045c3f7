"""A direct load of every page (its address typed or shared) and the 404s it causes: exactly Streamlit's own two.

Streamlit's client does not know the server's base path, so on /<Page> it first tries /<Page>/_stcore/health and
/<Page>/_stcore/host-config (404), then /_stcore/… (200): streamlit/streamlit#7074 (open; the candidates come from
the page's own address, frontend function behind BACKEND_BASE_URL). Nothing of ours asks for a missing resource;
docs/reliability.md has the note. If Streamlit fixes it, this test fails and the note goes.
"""

from __future__ import annotations

import urllib.parse

import pytest

from browser_support import app_pages, chromium, exceptions, open_page, page_for_test, tutorial_app, wait_idle

pytestmark = pytest.mark.browser

LOAD_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_dir):
    with tutorial_app(tmp_path_factory.mktemp("direct_load"), mnist_dir, timeout=LOAD_TIMEOUT) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def streamlit_retries(url_path: str) -> set[str]:
    """The two requests Streamlit's client makes relative to a sub-page's address before it finds the server."""
    return {f"/{url_path}/_stcore/health", f"/{url_path}/_stcore/host-config"} if url_path else set()


@pytest.mark.parametrize("url_path", [u for u, _title in app_pages()])
def test_a_direct_page_load_makes_only_streamlits_own_404s(server, browser, request, url_path):
    with page_for_test(browser, request, server) as page:
        missing: list[str] = []
        page.on("response", lambda r: missing.append(urllib.parse.urlparse(r.url).path) if r.status == 404 else None)
        open_page(page, f"{server.url}/{url_path}", LOAD_TIMEOUT)
        wait_idle(page, LOAD_TIMEOUT)
        assert not exceptions(page)
        assert set(missing) == streamlit_retries(url_path), missing
        assert len(missing) == len(set(missing))  # each once
