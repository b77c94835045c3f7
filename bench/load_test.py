"""Load test (issue 5): a classroom on the Latent plane while a run trains. A benchmark, not part of the suite.

    .venv/bin/python -m bench.load_test [--sessions 10] [--seconds 60] [--data-dir DIR]

One real `streamlit run app.py` server (a copy of the pretrained tutorial run in a temporary runs root), one
headless Chromium with N browser contexts (N independent users: own cookies, own Streamlit session), each with
the Latent-plane page open. Meanwhile a training run launched through the app's own launcher (cvae.appstate, the
Train page's code path) trains in the background on the same two cores.

Each session moves its z1 slider like a user who waits to see the result: focus the thumb, one PageUp/PageDown
keypress (±0.62; four one way, four back), wait until the decoded image changes, press again. The sessions are
driven round-robin from one thread, so up to N key presses are in flight at once.

Measured:
  updates       image updates seen per session (the heatmap's <image> changed; must be > 0 for every session)
  latency       from the keydown (event.timeStamp) to the animation frame after the image changed
                (performance.now(), both in the page's clock), per key press; p50 / p95 / max
  timeouts      key presses with no image change within --timeout seconds (the key is pressed again)
  server RSS    VmRSS of the streamlit process from /proc/<pid>/status, sampled every 0.5 s: start / max / end
  training      the background trainer's global step at the start and the end (it must keep training)

Prints the machine, a table per session and a summary; writes bench/out/load_test.json.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import DEFAULT_DATA_DIR, ROOT, cpu_info, percentile, table, write_json

sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402

SLIDER = bs.keyed("lp_z0")
IMAGE = bs.keyed("lp_decoded")
KEYS = ["PageUp"] * 4 + ["PageDown"] * 4

WATCH_JS = """(sel) => {
  if (window.__lat) return;
  const lat = window.__lat = {keys: [], changes: []};
  document.addEventListener('keydown', e => lat.keys.push(e.timeStamp), true);
  const href = () => { const i = document.querySelector(sel + ' .hm image'); return i ? i.getAttribute('href') : null; };
  let last = href();
  const tick = () => {
    const h = href();
    if (h && h !== last) {
      last = h;
      requestAnimationFrame(() => lat.changes.push(performance.now()));
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

STATE_JS = "() => ({keys: window.__lat.keys.length, n: window.__lat.changes.length})"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            v = rss_mb(self.pid)
            if v is not None:
                self.samples.append((time.monotonic(), v))
            self.stop.wait(self.every)


class User:
    """One browser context + page on the Latent plane, pressing keys one at a time."""

    def __init__(self, i: int, browser, url: str):
        self.i = i
        self.context = browser.new_context(viewport=bs.VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(180_000)
        self.url = url
        self.presses = 0
        self.latencies_ms: list[float] = []
        self.timeouts = 0
        self.errors: list[str] = []
        self.pending: tuple[float, int, float] | None = None  # (keydown timeStamp, changes before, monotonic)

    def open(self) -> None:
        bs.open_page(self.page, self.url, 240)
        bs.wait_plotly_charts(self.page, 240)
        self.page.evaluate(WATCH_JS, IMAGE)

    def press(self) -> None:
        state = self.page.evaluate(STATE_JS)
        thumb = bs.slider_thumb(self.page, SLIDER)
        thumb.press(KEYS[self.presses % len(KEYS)])
        self.presses += 1
        t_key = self.page.evaluate("(i) => window.__lat.keys[i]", state["keys"])
        self.pending = (t_key, state["n"], time.monotonic())

    def poll(self, timeout: float) -> bool:
        """True when this user is ready for its next key press (the image changed, or it timed out)."""
        if self.pending is None:
            return True
        t_key, n_before, since = self.pending
        state = self.page.evaluate(STATE_JS)
        if state["n"] > n_before:
            painted = self.page.evaluate("(i) => window.__lat.changes[i]", n_before)  # the first change after it
            self.latencies_ms.append(painted - t_key)
            self.pending = None
            return True
        if time.monotonic() - since > timeout:
            self.timeouts += 1
            self.pending = None
            return True
        return False


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for one key press's image")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--no-training", action="store_true", help="no background training run")
    a = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from cvae import appstate, runs
    from cvae.config import TrainConfig

    machine = cpu_info()
    print("== load test: Latent plane, "
          f"{a.sessions} browser sessions for {a.seconds:.0f} s{'' if a.no_training else ' while a run trains'}")
    print(f"CPU: {machine['cpu_model']} | cores: {machine['logical_cores']} | load avg at start: "
          f"{' '.join(f'{x:.2f}' for x in machine['loadavg_at_start'] or [])}")
    work = Path(tempfile.mkdtemp(prefix="cvae-load-"))
    root = work / "runs"
    root.mkdir()
    bs.copy_tutorial_run(root)
    server = bs.start_server(root, a.data_dir, work / "server.log", timeout=180,
                             env={appstate.MAX_TRAINING_ENV: "1"})
    print(f"server pid {server.proc.pid} on {server.url}; runs root {root}")
    launch = None
    users: list[User] = []
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    result: dict = {}
    try:
        with sync_playwright() as p:
            browser = bs.launch_browser(p)
            t_open = time.monotonic()
            for i in range(a.sessions):
                u = User(i, browser, server.page_url("plane"))
                u.open()
                users.append(u)
            opened_s = time.monotonic() - t_open
            print(f"{a.sessions} sessions open in {opened_s:.1f} s; RSS {rss_mb(server.proc.pid):.0f} MB")
            step0 = None
            if not a.no_training:
                cfg = TrainConfig(max_train_examples=4096, max_test_examples=500, epochs=1000, log_every_steps=16,
                                  data_dir=str(Path(a.data_dir).resolve()))
                launch = appstate.launch_training("background", cfg, root)
                bs.poll(lambda: runs.read_status(root / "background").get("step", 0) > 0, 180, 0.5,
                        "the background run to start training")
                step0 = runs.read_status(root / "background").get("step", 0)
                print(f"background training running (pid {launch.pid}), at step {step0}")
            rss_before = rss_mb(server.proc.pid)
            t0 = time.monotonic()
            deadline = t0 + a.seconds
            while time.monotonic() < deadline:
                for u in users:
                    try:
                        if u.poll(a.timeout) and time.monotonic() < deadline:
                            u.press()
                    except Exception as e:  # noqa: BLE001 - recorded, the session goes on
                        u.errors.append(f"{type(e).__name__}: {e}"[:200])
                        u.pending = None
                time.sleep(0.005)
            elapsed = time.monotonic() - t0
            for u in users:  # let the last presses land (not counted beyond the timeout)
                end = time.monotonic() + a.timeout
                while u.pending is not None and time.monotonic() < end:
                    u.poll(a.timeout)
                    time.sleep(0.02)
            exceptions = sum(len(bs.exceptions(u.page)) for u in users)
            step1 = runs.read_status(root / "background").get("step", 0) if launch else None
            browser.close()
        sampler.stop.set()
        sampler.join(2)
        rss = [v for _, v in sampler.samples]
        all_lat = [x for u in users for x in u.latencies_ms]
        rows = []
        for u in users:
            rows.append([u.i + 1, len(u.latencies_ms), round(len(u.latencies_ms) / elapsed, 2),
                         round(percentile(u.latencies_ms, 50)), round(percentile(u.latencies_ms, 95)),
                         round(max(u.latencies_ms, default=float("nan"))), u.timeouts, len(u.errors)])
        print()
        print(table(rows, ["session", "image updates", "updates/s", "p50 ms", "p95 ms", "max ms", "timeouts",
                           "errors"]))
        summary = {
            "sessions": a.sessions, "seconds": round(elapsed, 1),
            "image_updates_total": len(all_lat),
            "image_updates_min_per_session": min(len(u.latencies_ms) for u in users),
            "every_session_got_images": all(len(u.latencies_ms) > 0 for u in users),
            "latency_p50_ms": round(percentile(all_lat, 50)), "latency_p95_ms": round(percentile(all_lat, 95)),
            "latency_max_ms": round(max(all_lat, default=float("nan"))),
            "timeouts": sum(u.timeouts for u in users), "errors": sum(len(u.errors) for u in users),
            "exceptions_on_pages": exceptions,
            "server_rss_mb": {"before_sessions": round(rss[0]) if rss else None,
                              "with_sessions_open": round(rss_before) if rss_before else None,
                              "max": round(max(rss)) if rss else None, "end": round(rss[-1]) if rss else None},
            "sessions_open_seconds": round(opened_s, 1),
            "training": None if launch is None else {
                "step_at_start": step0, "step_at_end": step1,
                "steps_per_second": round((step1 - step0) / elapsed, 1) if step1 is not None else None},
        }
        print()
        print(table([[k, v if not isinstance(v, dict) else ", ".join(f"{kk} {vv}" for kk, vv in v.items())]
                     for k, v in summary.items()], ["figure", "value"]))
        print(f"\nload avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        result = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine,
                  "args": vars(a), "summary": summary, "per_session": [
                      {"session": u.i + 1, "presses": u.presses, "latencies_ms": [round(x, 1) for x in u.latencies_ms],
                       "timeouts": u.timeouts, "errors": u.errors} for u in users],
                  "rss_samples_mb": [round(v, 1) for _, v in sampler.samples],
                  "loadavg_at_end": list(os.getloadavg())}
        write_json("load_test", result)
        if not summary["every_session_got_images"]:
            raise SystemExit("FAILED: a session got no image updates")
    finally:
        sampler.stop.set()
        if launch is not None:
            try:
                appstate.stop_training("background", root)
                if appstate.wait(launch, timeout=60) is None:
                    os.killpg(launch.pid, 9)
            except Exception:  # noqa: BLE001
                try:
                    os.killpg(launch.pid, 9)
                except OSError:
                    pass
        bs.stop_server(server)


if __name__ == "__main__":
    main()
