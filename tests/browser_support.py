"""Helpers for the real-browser tests (tests/test_browser.py) and bench/app_latency.py.

A real `streamlit run app.py` server in its own process group, headless Chromium through Playwright's sync API,
and small DOM helpers that poll (never sleep blindly): Streamlit's script state, element screenshots as pixel
arrays, slider values, plotly data/axes of a chart.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}

# Streamlit's page URLs: the file name without its number prefix ("app_pages/2_Latent_plane.py" -> /Latent_plane).
PAGE_URLS = {"home": "", "train": "Train", "plane": "Latent_plane", "recon": "Reconstruct", "manifold": "Manifold",
             "runs": "Runs"}


def app_pages() -> list[tuple[str, str]]:
    """(URL path, title) of every page of the app: "" for app.py, then app_pages/N_Name.py -> ("Name", "Name" with
    spaces), in file order. Read from the folder, so a new page is covered without editing the tests."""
    out = [("", "CVAE explorer")]
    for f in sorted((REPO / "app_pages").glob("*.py"), key=lambda p: (int(p.name.split("_", 1)[0])
                                                                    if p.name.split("_", 1)[0].isdigit() else 1e9,
                                                                    p.name)):
        url = f.stem.split("_", 1)[1] if f.stem.split("_", 1)[0].isdigit() and "_" in f.stem else f.stem
        out.append((url, url.replace("_", " ")))
    return out


# ---------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_tutorial_run(runs_root: Path, name: str = "tutorial") -> Path:
    """A copy of the shipped pretrained run (without its checkpoints, lock and stop files) in runs_root."""
    src = REPO / "checkpoints" / "tutorial"
    dst = Path(runs_root) / name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("ckpt", ".lock", "STOP"))
    return dst


@dataclass
class AppServer:
    """A running `streamlit run` subprocess (its own session/process group)."""

    proc: subprocess.Popen
    port: int
    runs_root: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, page: str) -> str:
        """URL of a page: a key of PAGE_URLS, or a URL path as given by app_pages()."""
        return f"{self.url}/{PAGE_URLS.get(page, page)}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def start_server(runs_root: Path, data_dir: Path | str | None, log: Path, *, extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, timeout: float = 90.0, main: str = "app.py",
                 launcher: Sequence[str] | None = None) -> AppServer:
    """Start `streamlit run <main>` on a free port with $CVAE_RUNS_DIR/$CVAE_DATA_DIR set; wait for its health check.

    `launcher` replaces `python -m streamlit` (bench/app_latency.py starts Streamlit through a wrapper script)."""
    port = free_port()
    child_env = dict(os.environ)
    child_env.update({"CVAE_RUNS_DIR": str(runs_root), "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if data_dir:
        child_env["CVAE_DATA_DIR"] = str(data_dir)
    child_env.update(env or {})
    argv = [*(launcher or (sys.executable, "-m", "streamlit")), "run", main, "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
            *extra_args]
    out = open(log, "ab")
    try:
        proc = subprocess.Popen(argv, cwd=REPO, env=child_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    return wait_healthy(AppServer(proc, port, Path(runs_root), Path(log)), timeout)


def wait_healthy(server: AppServer, timeout: float) -> AppServer:
    """Wait for a started server's health check (stopping it and raising with its log tail if it never answers)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.25)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def training_pids(runs_root: Path) -> set[int]:
    """Pids of live `python -m cvae train ... --runs-dir <runs_root>` processes (from launch records, locks, status)."""
    root = Path(runs_root).resolve()
    candidates: set[int] = set()
    for rec in (root / ".launches").glob("*.json"):
        try:
            candidates.add(int(json.loads(rec.read_text())["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for run in root.iterdir() if root.is_dir() else ():
        for f, parse in ((run / ".lock", lambda t: int(t.strip() or 0)),
                         (run / "status.json", lambda t: int(json.loads(t).get("pid") or 0))):
            try:
                candidates.add(parse(f.read_text()))
            except (OSError, ValueError, TypeError, AttributeError):
                pass
    out = set()
    for pid in candidates:
        cmd = _cmdline(pid)
        # Only our own trainers: the cvae train command line with this very runs root.
        # (argv elements: the runs root comes as `--runs-dir=<root>`, so match inside them, not whole elements)
        if pid > 0 and "cvae" in cmd and "train" in cmd and any(str(root) in a for a in cmd):
            out.add(pid)
    return out


def _kill_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM process group `pid` (a session leader we started), SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            if not _cmdline(pid) or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                return  # gone, or a zombie waiting for its parent
            time.sleep(0.1)


def kill_trainers(runs_root: Path) -> None:
    for pid in training_pids(runs_root):
        _kill_group(pid)


def stop_server(server: AppServer) -> None:
    """Kill the server's process group and any trainer it launched (those run in their own sessions)."""
    kill_trainers(server.runs_root)
    _kill_group(server.proc.pid)
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    kill_trainers(server.runs_root)  # one launched in the very last moment


@contextmanager
def running_server(*args, **kwargs) -> Iterator[AppServer]:
    server = start_server(*args, **kwargs)
    try:
        yield server
    finally:
        stop_server(server)


@contextmanager
def tutorial_app(base: Path, mnist_dir: Path | str | None, *, timeout: float = 90.0,
                 prepare: Callable[[Path], object] | None = None, **kwargs) -> Iterator[AppServer]:
    """A real `streamlit run` on base/checkpoints holding a copy of the shipped tutorial run (plus what
    `prepare(runs_root)` adds); stopped, with every trainer it launched, on exit. The browser modules' server."""
    root = base / "checkpoints"  # shown on the Runs page (and in its screenshot)
    root.mkdir()
    copy_tutorial_run(root)
    if prepare is not None:
        prepare(root)
    with running_server(root, mnist_dir, base / "streamlit.log", timeout=timeout, **kwargs) as server:
        yield server


# ---------------------------------------------------------------------------------------------- the browser


@contextmanager
def chromium() -> Iterator[object]:
    """One headless Chromium for a test module (module scope: Playwright's sync API runs an event loop while it is
    open, and other test modules start their own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def page_for_test(owner, request, server: AppServer, **context_args) -> Iterator[object]:
    """A page for one test, from a browser (in a new context with `context_args`, closed after) or a shared context.
    When the test fails, its screenshot and the server's log tail are kept in test-artifacts/browser/."""
    ctx = owner.new_context(**{"viewport": VIEWPORT, "device_scale_factor": 1, **context_args}) \
        if hasattr(owner, "new_context") else None
    page = (ctx or owner).new_page()
    page.set_default_timeout(30_000)
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        if request.session.testsfailed > failed_before:
            out = REPO / "test-artifacts" / "browser"
            out.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(out / f"{request.node.name}.png"))
                (out / f"{request.node.name}.server.log").write_text(server.log_tail(200))
            except Exception:  # noqa: BLE001 - best effort
                pass
        (ctx or page).close()



def launch_browser(playwright):
    """Headless Chromium: Debian's /usr/bin/chromium (or a `chromium` on PATH), else Playwright's own build."""
    kwargs = {"headless": True, "args": CHROMIUM_ARGS}
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if exe:
        kwargs["executable_path"] = exe
    return playwright.chromium.launch(**kwargs)


def poll(predicate: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Call predicate until it returns something truthy (returned); TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - a transient DOM state (element re-rendered, detached…)
            last_exc = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                               + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return 'no-app';
  const state = app.getAttribute('data-test-script-state');
  if (state !== 'notRunning') return state || 'none';
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return 'disconnected';
  if (document.querySelector('[data-testid="stStatusWidget"]')) return 'status-widget';
  if (document.querySelector('[data-stale="true"]')) return 'stale';
  // Lazily loaded components (plotly's bundle, …) show a skeleton until their code has arrived.
  if (document.querySelector('[data-testid="stSkeleton"]')) return 'skeleton';
  return 'idle';
}"""


def script_state(page) -> str | None:
    """Streamlit's script state as shown on stApp: initial / running / notRunning / rerunRequested… (None: no app)."""
    return page.evaluate("""() => { const a = document.querySelector('[data-testid="stApp"]');
                                    return a ? a.getAttribute('data-test-script-state') : null; }""")


def app_status(page) -> str:
    """'idle' when the script is not running, no status widget shows and nothing is stale; else what is going on."""
    return page.evaluate(_IDLE_JS)


def wait_idle(page, timeout: float = 60.0, settle: float = 0.3) -> None:
    """Wait until app_status is 'idle', stably for `settle` seconds (a rerun may follow right after another)."""
    deadline = time.monotonic() + timeout
    while True:
        poll(lambda: app_status(page) == "idle", max(1.0, deadline - time.monotonic()), 0.1,
             "the app to finish running")
        t0 = time.monotonic()
        while app_status(page) == "idle" and time.monotonic() - t0 < settle:
            time.sleep(0.05)
        if app_status(page) == "idle":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app kept rerunning (status {app_status(page)!r})")


def open_page(page, url: str, timeout: float = 90.0, ready: str = '[data-testid="stMain"] h1') -> None:
    """Load `url` and wait until the element `ready` (default: the page's title) exists and the app is idle.

    (Right after connecting, the app may report "not running" before its first script run has begun.)"""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    poll(lambda: page.locator(ready).count() > 0, timeout, 0.1, f"{ready} to appear")
    wait_idle(page, max(1.0, deadline - time.monotonic()))


def keyed(key: str) -> str:
    """CSS selector of the element container of the widget/element with Streamlit key `key`."""
    return f".st-key-{key}"


def screenshot_array(locator) -> np.ndarray:
    """An element screenshot as an (H, W, 3) float array in 0..1."""
    from PIL import Image

    png = locator.screenshot(animations="disabled", timeout=30_000)
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def pixel_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two screenshots (inf if their sizes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).mean())


SLIDER = "input[type=range], [role=slider]:not(input)"


def slider_values(page, container: str = "") -> list[float]:
    """Current value of every slider thumb (in page order) under the CSS selector `container`.

    Streamlit >= 1.5x draws sliders with react-aria: each thumb is a visually hidden <input type=range> (implicit
    ARIA role "slider", value in its `value`); older baseweb sliders had a div[role=slider] with aria-valuenow.
    """
    return page.evaluate(
        """([container, sel]) => [...document.querySelectorAll(container ? container + ' :is(' + sel + ')' : sel)]
             .map(e => parseFloat(e.tagName === 'INPUT' ? e.value : e.getAttribute('aria-valuenow')))""",
        [container, SLIDER])


def slider_thumb(page, container: str):
    """The (first) slider thumb under `container`, as a Playwright locator (focusable; arrow keys/End/Home move it)."""
    return page.locator(container).get_by_role("slider").first


def plotly_ready(page, selector: str) -> bool:
    """True once the plotly chart under `selector` has drawn (its graph div has data and a full layout)."""
    return bool(page.evaluate(
        """(sel) => { const gd = document.querySelector(sel + ' .js-plotly-plot');
                      return !!(gd && gd._fullLayout && gd.data && gd.querySelector('.main-svg')); }""", selector))


def plotly_point_count(page, selector: str) -> int:
    """Total number of x values over all traces of every plotly chart under `selector` (0 if none yet); charts of
    a previous script run that Streamlit still shows while the new one draws (data-stale) are not counted."""
    return int(page.evaluate(
        """(sel) => [...document.querySelectorAll(sel + ' .js-plotly-plot')]
                      .filter(gd => !gd.closest('[data-stale="true"]')).reduce((n, gd) =>
                      n + (gd.data || []).reduce((m, t) => m + (t.x ? t.x.length : 0), 0), 0)""", selector))


def plotly_data_to_page(page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Page (CSS pixel) coordinates of data point (x, y) on the plotly chart under `selector`."""
    return tuple(page.evaluate(
        """([sel, x, y]) => { const gd = document.querySelector(sel + ' .js-plotly-plot');
                              const fl = gd._fullLayout, r = gd.getBoundingClientRect();
                              // _offset: where the axis starts (an equal-aspect map is constrained to less
                              // than the whole plot area, so _size.l/t alone would be off)
                              return [r.left + fl.xaxis._offset + fl.xaxis.d2p(x),
                                      r.top + fl.yaxis._offset + fl.yaxis.d2p(y)]; }""", [selector, x, y]))


def click_plotly(page, selector: str, x: float, y: float, timeout: float = 10.0) -> None:
    """Click data point (x, y) of the plotly chart under `selector` the way a user does: hover it until plotly shows
    its hover label (plotly reports a click on the hovered point), then click."""
    px, py = plotly_data_to_page(page, selector, x, y)
    page.mouse.move(px, py)
    poll(lambda: page.locator(f"{selector} .hoverlayer .hovertext").count() > 0, timeout, 0.1, "a hover label")
    page.mouse.click(px, py)


def wait_plotly_charts(page, timeout: float = 60.0) -> None:
    """Wait until every plotly chart on the page has drawn: no loading skeleton left, each chart's graph div has
    its layout and SVG, and each heatmap its image."""
    poll(lambda: page.evaluate(
        """() => { if (document.querySelector('[data-testid="stSkeleton"]')) return false;
                   const els = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
                   return els.every(e => { const gd = e.querySelector('.js-plotly-plot');
                       return gd && gd._fullLayout && gd.querySelector('.main-svg')
                           && [...gd.querySelectorAll('.hm')].every(h => {
                                 const i = h.querySelector('image'); return i && i.getAttribute('href'); }); }); }"""),
        timeout, 0.2, "plotly charts to render")


def stable_screenshot(locator, timeout: float = 30.0) -> np.ndarray:
    """An element screenshot once two in a row agree (drawing has settled) and it is not blank."""
    shots = [screenshot_array(locator)]

    def settled():
        shots.append(screenshot_array(locator))
        a, b = shots[-2], shots[-1]
        return pixel_difference(a, b) < 1e-4 and float(b.std()) > 0.01

    poll(settled, timeout, 0.1, "the element's pixels to settle")
    return shots[-1]


def wait_images(page, timeout: float = 30.0) -> None:
    """Wait until every <img> on the page has loaded."""
    poll(lambda: page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"),
         timeout, 0.2, "images to load")


def plotly_trace_xy(page, selector: str, name: str) -> list[list[float]] | None:
    """[[x...], [y...]] of the trace called `name` in the plotly charts under `selector` (None if absent)."""
    return page.evaluate(
        """([sel, name]) => { const t = [...document.querySelectorAll(sel + ' .js-plotly-plot')]
                                  .filter(gd => !gd.closest('[data-stale="true"]'))
                                  .flatMap(gd => gd.data || []).find(t => t.name === name);
                              return t ? [Array.from(t.x), Array.from(t.y)] : null; }""", [selector, name])


def exceptions(page) -> list[str]:
    """Texts of the Streamlit exception boxes (tracebacks) on the page."""
    return page.locator('[data-testid="stException"]').all_inner_texts()


def main_text(page) -> str:
    """Inner text of the main area (not the sidebar)."""
    return page.locator('[data-testid="stMain"]').inner_text()


def full_page_screenshot(page, path: Path, min_height: int = 1000, timeout: float = 60.0) -> None:
    """A screenshot of the whole page at the viewport's width.

    Streamlit scrolls its main area inside a container, so Playwright's full_page=True would stop at the viewport:
    the viewport is made as tall as the content instead (charts are given time to re-layout), then restored.
    """
    width = page.viewport_size["width"] if page.viewport_size else VIEWPORT["width"]
    old_height = page.viewport_size["height"] if page.viewport_size else VIEWPORT["height"]
    page.mouse.move(width - 2, old_height // 2)  # right margin: no hover labels, toolbars or sidebar buttons
    height = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   const b = document.querySelector('[data-testid="stMainBlockContainer"]') || m;
                   return Math.ceil(b.getBoundingClientRect().top + m.scrollTop + b.scrollHeight); }""")
    page.set_viewport_size({"width": width, "height": max(min_height, int(height))})
    try:
        wait_idle(page, timeout)
        wait_plotly_charts(page, timeout)
        wait_images(page, timeout)
        # Two animation frames: the re-layout after the resize is painted.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), animations="disabled")
    finally:
        page.set_viewport_size({"width": width, "height": old_height})


# ---------------------------------------------------------------------------------------------- the Train page

BADGES = ("🟢 running", "✅ done", "⏸️ stopped", "❌ failed", "⚠️ interrupted", "⏳ starting", "❔ unknown")
# The badge is a Material icon (drawn from its font; its text is the icon's name) and the state word.
_ICONS = {"running": "play_circle", "done": "check_circle", "stopped": "pause_circle", "failed": "error",
          "interrupted": "warning", "starting": "hourglass_top", "unknown": "help"}


def status_badge(page) -> str | None:
    """The monitor's state line on the Train page as one of BADGES, e.g. '✅ done' (the first bold badge in the
    main area)."""
    texts = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong').all_inner_texts()
    for t in texts:
        words = t.split()
        if len(words) == 2 and _ICONS.get(words[1]) == words[0]:
            return next(b for b in BADGES if b.endswith(" " + words[1]))
    return None


def progress_text(page) -> str | None:
    """Text of the first progress bar in the main area (e.g. 'Epoch 2/5 · step 80 · …')."""
    bars = page.locator('[data-testid="stMain"] [data-testid="stProgress"]')
    return bars.first.inner_text().strip() if bars.count() else None


def open_expander(page, title: str) -> None:
    """Expand the st.expander whose summary contains `title` (no-op if it is open)."""
    details = page.locator(f"xpath=//details[summary[contains(., {json.dumps(title)})]]").first
    last_click = [0.0]

    def is_open() -> bool:
        if details.get_attribute("open") is not None:
            return True
        # A click can be swallowed while Streamlit re-renders the form: click again, but not too eagerly.
        if time.monotonic() - last_click[0] > 2.0:
            details.locator("summary").first.scroll_into_view_if_needed()
            details.locator("summary").first.click()
            last_click[0] = time.monotonic()
        return False

    poll(is_open, 30, 0.2, f"expander {title!r} to open")


def fill_train_form(page, fields: Mapping[str, object]) -> None:
    """Type values into the Train form's inputs (session-state keys without the 'tr_' prefix) and blur each one."""
    open_expander(page, "Start a new training run")
    open_expander(page, "More settings")
    for field, value in fields.items():
        box = page.locator(f"{keyed('tr_' + field)} input").first
        box.fill(str(value))
        box.press("Tab")
        poll(lambda: box.input_value() == str(value), 10, 0.1, f"{field} to read {value!r}")


def open_sidebar(page) -> None:
    """Open the sidebar if it is collapsed (presenter mode starts with it closed), as a user clicks its arrow."""
    button = page.locator('[data-testid="stExpandSidebarButton"]')
    if button.count() and button.first.is_visible():
        button.first.click()
        poll(lambda: page.locator('[data-testid="stSidebar"] a').first.is_visible(), 10, 0.1, "the open sidebar")
