"""Slider latency of the Latent-plane page in the real app (issue 3): before vs after the per-rerun fix.

    .venv/bin/python -m bench.app_latency [--rounds 4] [--moves 9] [--bursts 2]

Two real `streamlit run app.py` servers run side by side (each started through bench/_serve.py, which records
the wall time of every script run), driven by headless Chromium (Playwright):

  before  the server process has TensorFlow and Keras imported, so Streamlit calls keras.backend.clear_session()
          after every script run, and runner.postScriptGC=true runs gc.collect(2) after every run (the defaults
          the app had while its pages imported the TensorFlow model)
  after   the shipped configuration: .streamlit/config.toml sets runner.postScriptGC=false, and the app never
          imports TensorFlow (it runs cvae.explorer.maths.numpy_model's NumPy model)

Measured per slider move (z1 thumb focused, one PageUp/PageDown keypress = ±0.62):
  server   wall time of the script run in the server: the page script (decode + figures + serialisation) plus
           the post-run work (Streamlit's run-finished bookkeeping with gc.collect(2) if enabled, and
           keras clear_session if Keras is loaded); the post-run part is also reported alone
  browser  from the keydown (event.timeStamp) to the animation frame after the heatmap's <image> changed
           (a requestAnimationFrame loop in the page, performance.now()); an element screenshot then confirms
           that the pixels changed. The next move starts once the server has finished all post-run work.
  drag     a burst of 5 keypresses 80 ms apart (like dragging the thumb): from the last keydown to the last
           heatmap change, and the server's busy time for the whole burst

The configurations alternate in rounds with rotating order (bench/README.md's rule); p50/p95 over all moves.
Writes bench/out/app_latency.json and bench/APP_LATENCY.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from .common import DEFAULT_DATA_DIR, ROOT, cpu_info, percentile, table, write_json

sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402

CONFIGS = {
    "before": {"env": {"CVAE_BENCH_IMPORT_TF": "1"}, "args": ["--runner.postScriptGC", "true"],
               "what": "TensorFlow+Keras imported in the server, runner.postScriptGC=true"},
    "after": {"env": {}, "args": [],
              "what": "shipped config: no TensorFlow in the server, runner.postScriptGC=false (config.toml)"},
}
SLIDER = bs.keyed("lp_z0")
IMAGE = bs.keyed("lp_decoded")
BURST_KEYS = 5
BURST_GAP = 0.08
QUIET = 0.8  # a burst has ended when nothing changed for this long

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
      const detected = performance.now();
      requestAnimationFrame(() => lat.changes.push({detected, painted: performance.now()}));
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


class Session:
    """One configuration: its server, its timing file, one browser page on the Latent-plane page."""

    def __init__(self, name: str, context, work: Path, data_dir: str):
        self.name = name
        cfg = CONFIGS[name]
        self.timings = work / f"{name}.timings.jsonl"
        runs_root = work / f"{name}-runs"
        runs_root.mkdir()
        bs.copy_tutorial_run(runs_root)
        self.server = bs.start_server(
            runs_root, data_dir, work / f"{name}.log", extra_args=cfg["args"], timeout=180,
            env={**cfg["env"], "CVAE_BENCH_TIMINGS": str(self.timings)},
            launcher=[sys.executable, str(ROOT / "bench" / "_serve.py")])
        self.page = context.new_page()
        self.page.set_default_timeout(60_000)
        self.direction = 1
        self.last_shot = None
        self.results = {"server_ms": [], "server_post_ms": [], "server_script_ms": [], "server_script_gc_ms": [],
                        "browser_ms": [],
                        "burst_browser_ms": [], "burst_server_ms": [], "burst_runs": [], "burst_key_gap_ms": []}

    def open(self) -> None:
        page = self.page
        page.bring_to_front()
        try:
            bs.open_page(page, self.server.page_url("plane") + "?view=sliders", 180)  # the classic slider view
            bs.wait_plotly_charts(page, 180)
        except Exception:
            print(f"{self.name}: the page did not load (app status {bs.app_status(page)!r}); server log:\n"
                  f"{self.server.log_tail()}", file=sys.stderr)
            raise
        page.evaluate(WATCH_JS, IMAGE)
        self.last_shot = bs.stable_screenshot(page.locator(IMAGE))

    def close(self) -> None:
        bs.stop_server(self.server)

    # -- helpers

    def events(self) -> list[dict]:
        try:
            return [json.loads(line) for line in self.timings.read_text().splitlines() if line.strip()]
        except OSError:
            return []

    def records(self) -> list[dict]:
        """One record per finished script-run call (written once all its post-run work is done)."""
        return [e for e in self.events() if e["event"] == "end"]

    def server_busy(self) -> bool:
        ev = self.events()
        return sum(e["event"] == "start" for e in ev) > sum(e["event"] == "end" for e in ev)

    def focus(self) -> None:
        self.page.bring_to_front()
        thumb = bs.slider_thumb(self.page, SLIDER)
        if not thumb.evaluate("e => e === document.activeElement"):
            thumb.focus()

    def next_key(self) -> str:
        z = bs.slider_values(self.page, SLIDER)[0]
        if z + 0.62 > 2.6:
            self.direction = -1
        elif z - 0.62 < -2.6:
            self.direction = 1
        return "PageUp" if self.direction > 0 else "PageDown"

    def lat(self) -> dict:
        return self.page.evaluate("() => ({keys: window.__lat.keys.length, changes: window.__lat.changes.length})")

    def wait_server_done(self, n_before: int, timeout: float = 60.0) -> list[dict]:
        """The timing records written after n_before (a record is written once all post-run work is done)."""
        def new_records():
            recs = self.records()
            return recs[n_before:] if len(recs) > n_before else None

        return bs.poll(new_records, timeout, 0.02, f"{self.name}: the server to finish the run")

    # -- measurements

    def move(self, record: bool = True) -> None:
        page = self.page
        self.focus()
        key = self.next_key()
        n_rec, n = len(self.records()), self.lat()
        page.keyboard.press(key)
        page.wait_for_function("(n) => window.__lat.changes.length > n", arg=n["changes"], timeout=60_000,
                               polling="raf")
        t_key = page.evaluate("(i) => window.__lat.keys[i]", n["keys"])
        painted = page.evaluate("(i) => window.__lat.changes[i].painted", n["changes"])
        recs = self.wait_server_done(n_rec)
        bs.wait_idle(page, 60, settle=0.1)
        shot = bs.screenshot_array(page.locator(IMAGE))
        diff = bs.pixel_difference(self.last_shot, shot)
        if not diff > 1e-3:
            raise RuntimeError(f"{self.name}: the decoded image did not change after {key} (diff {diff})")
        self.last_shot = shot
        if len(recs) != 1:
            raise RuntimeError(f"{self.name}: expected one script run per move, got {len(recs)}: {recs}")
        if record:
            r = recs[0]
            self.results["browser_ms"].append(painted - t_key)
            self.results["server_ms"].append(1000 * r["total_s"])
            post = r["finish_s"] + r["clean_s"]
            self.results["server_post_ms"].append(1000 * post)
            self.results["server_script_ms"].append(1000 * (r["total_s"] - post))
            self.results["server_script_gc_ms"].append(1000 * (r["gc_s"] - r["gc_post_s"]))

    def burst(self) -> None:
        page = self.page
        self.focus()
        n_rec, n = len(self.records()), self.lat()
        # One direction for the whole burst, so every value (and image) along the way is new, the last one too.
        key = "PageUp" if bs.slider_values(page, SLIDER)[0] <= 0 else "PageDown"
        for i in range(BURST_KEYS):
            page.keyboard.press(key)
            if i < BURST_KEYS - 1:
                time.sleep(BURST_GAP)  # the pace of a drag: deliberate, not a wait for the app

        def final_image_shown():
            return page.evaluate("""(i) => { const l = window.__lat; return l.keys.length >= i + %d &&
                l.changes.length > 0 && l.changes[l.changes.length - 1].painted > l.keys[l.keys.length - 1]; }"""
                                 % BURST_KEYS, n["keys"])

        def settled():
            if not final_image_shown() or bs.app_status(page) != "idle" or self.server_busy():
                return False
            state = (len(self.events()), self.lat()["changes"])
            t0 = time.monotonic()
            while time.monotonic() - t0 < QUIET:
                time.sleep(0.05)
                if (len(self.events()), self.lat()["changes"]) != state or bs.app_status(page) != "idle":
                    return False
            return True

        bs.poll(settled, 120, 0.05, f"{self.name}: the burst to settle")
        keys = page.evaluate("(i) => window.__lat.keys.slice(i)", n["keys"])
        last_change = page.evaluate("() => window.__lat.changes[window.__lat.changes.length - 1].painted")
        recs = self.records()[n_rec:]
        self.results["burst_browser_ms"].append(last_change - keys[-1])
        self.results["burst_server_ms"].append(
            1000 * (max(r["t_start"] + r["total_s"] for r in recs) - min(r["t_start"] for r in recs)))
        self.results["burst_runs"].append(sum(r["runs"] for r in recs))
        self.results["burst_key_gap_ms"].append((keys[-1] - keys[0]) / (len(keys) - 1))
        self.last_shot = bs.screenshot_array(page.locator(IMAGE))


def versions(browser) -> dict[str, str]:
    out = {"python": sys.version.split()[0], "chromium": browser.version}
    for name in ("streamlit", "plotly", "numpy", "tensorflow", "keras", "playwright"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def stats(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50": percentile(xs, 50), "p95": percentile(xs, 95), "min": min(xs), "max": max(xs)}


ROWS = [  # (label, results key, whether a before/after ratio means something)
    ("server: one slider move, whole script run (ms)", "server_ms", True),
    ("  of which post-run work: gc.collect + clear_session (ms)", "server_post_ms", False),
    ("  of which the page script (ms)", "server_script_ms", True),
    ("    of which automatic garbage collections (ms)", "server_script_gc_ms", False),
    ("browser: keydown -> new decoded image painted (ms)", "browser_ms", True),
    ("drag (5 keys, 80 ms apart): last key -> final image (ms)", "burst_browser_ms", True),
    ("drag: server busy, first run start -> last run's end (ms)", "burst_server_ms", True),
    ("drag: script runs per burst", "burst_runs", False),
    ("drag: actual gap between keydowns (ms)", "burst_key_gap_ms", False),
]
JSON_PATH = ROOT / "bench" / "out" / "app_latency.json"
MD_PATH = ROOT / "bench" / "APP_LATENCY.md"


def ratio(b: float, a: float) -> str:
    return f"{b / a:.1f}x" if a >= 1.0 else "-"


def report(payload: dict) -> str:
    """The Markdown table of a payload (printed, and the heart of bench/APP_LATENCY.md)."""
    summary = payload["summary"]
    rows = []
    for label, key, meaningful in ROWS:
        b, a = summary["before"][key], summary["after"][key]
        rows.append([label, b["p50"], b["p95"], a["p50"], a["p95"],
                     ratio(b["p50"], a["p50"]) if meaningful else "", ratio(b["p95"], a["p95"]) if meaningful else ""])
    return table(rows, ["", "before p50", "before p95", "after p50", "after p95", "ratio p50", "ratio p95"])


def write_markdown(payload: dict) -> None:
    s, m, v = payload["summary"], payload["machine"], payload["versions"]
    n_moves, n_bursts = s["after"]["browser_ms"]["n"], s["after"]["burst_browser_ms"]["n"]
    load = lambda xs: " ".join(f"{x:.2f}" for x in xs or [])  # noqa: E731
    MD_PATH.write_text(f"""# App latency: one slider move on the Latent-plane page (issue 3)

`.venv/bin/python -m bench.app_latency` ({payload['date'][:10]}; {n_moves} single moves and {n_bursts} drag bursts
per configuration, in {payload['params']['rounds']} alternating rounds, {payload['seconds']:.0f} s). Raw numbers:
`bench/out/app_latency.json`.

- **before**: {payload['configs']['before']}.
- **after**: {payload['configs']['after']}.

{report(payload)}

Machine: {m['cpu_model']}, {m['logical_cores']} cores available, shared with other work (load average
{load(m['loadavg_at_start'])} at the start, {load(payload['loadavg_at_end'])} at the end).
Versions: {', '.join(f'{k} {val}' for k, val in v.items())}.

Reading the table: Streamlit tells the browser that a run has finished *before* its post-run work
(gc.collect(2) with runner.postScriptGC, then keras.backend.clear_session() whenever Keras is imported), so
one isolated move shows its new image about as fast before as after. But that work keeps the server busy —
and holding the GIL — for another second or so after every run, and a rerun requested meanwhile starts in a
new thread that competes with it: the server's time per move, and the wait for the final image while
dragging, is where "before" pays. The page script itself costs the same in both.

How it is measured: two real `streamlit run app.py` servers side by side, started through `bench/_serve.py`
(which imports TensorFlow for *before* and records the wall time of every Streamlit script run, split into
the page script and the post-run work, plus the time inside garbage collections), driven by headless Chromium
through Playwright. A single move is one PageUp/PageDown on the focused z₁ slider (±0.62); *browser* time runs
from the keydown's `event.timeStamp` to the animation frame after the decoded heatmap's image changed
(`performance.now()` in the page), and an element screenshot then confirms that its pixels changed; the next
move waits until the server has finished its post-run work. A *drag* is 5 keypresses in one direction, meant
80 ms apart (the busy renderer stretches that: see the gap row); its time runs from the last keydown to the
last change of the image. Timings on a shared machine are noisy: compare the ratios of one invocation.
""")
    print(f"wrote {MD_PATH.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    ap.add_argument("--moves", type=int, default=9, help="single moves per configuration and round (default 9)")
    ap.add_argument("--bursts", type=int, default=2, help="drag bursts per configuration and round (default 2)")
    ap.add_argument("--warmup", type=int, default=3, help="unrecorded moves per configuration first (default 3)")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--report-only", action="store_true",
                    help=f"re-render the table and {MD_PATH.name} from {JSON_PATH.relative_to(ROOT)}; measure nothing")
    args = ap.parse_args(argv)
    if args.report_only:
        payload = json.loads(JSON_PATH.read_text())
        print(report(payload))
        write_markdown(payload)
        return 0

    from playwright.sync_api import sync_playwright

    machine = cpu_info()
    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text()).get("runner", {})
    print("== app latency: Latent-plane slider, before vs after the per-rerun fix (issue 3)", flush=True)
    print(f"CPU: {machine['cpu_model']} | cores: {machine['logical_cores']} | load avg at start: "
          f"{' '.join(f'{x:.2f}' for x in machine['loadavg_at_start'] or [])}", flush=True)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="app_latency-") as tmp, sync_playwright() as p:
        browser = bs.launch_browser(p)
        context = browser.new_context(viewport=bs.VIEWPORT, device_scale_factor=1)
        vers = versions(browser)
        print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()), flush=True)
        sessions: dict[str, Session] = {}
        try:
            for name in CONFIGS:
                t0 = time.monotonic()
                sessions[name] = Session(name, context, Path(tmp), args.data_dir)
                sessions[name].open()
                for _ in range(args.warmup):
                    sessions[name].move(record=False)
                print(f"  {name}: server up and warmed in {time.monotonic() - t0:.1f} s", flush=True)
            names = list(CONFIGS)
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for name in order:
                    s = sessions[name]
                    for _ in range(args.moves):
                        s.move()
                    for _ in range(args.bursts):
                        s.burst()
                    res = s.results
                    print(f"  round {r + 1}/{args.rounds} {name}: server p50 {percentile(res['server_ms'], 50):.0f} ms"
                          f", browser p50 {percentile(res['browser_ms'], 50):.0f} ms, drag p50 "
                          f"{percentile(res['burst_browser_ms'], 50):.0f} ms (so far)", flush=True)
        finally:
            for s in sessions.values():
                s.close()
            browser.close()

    elapsed = time.monotonic() - t_start
    payload = {
        "benchmark": "app_latency", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine, "versions": vers, "loadavg_at_end": list(os.getloadavg()),
        "configs": {k: v["what"] for k, v in CONFIGS.items()}, "shipped_runner_config": shipped,
        "params": {k: v for k, v in vars(args).items() if k != "report_only"}
        | {"burst_keys": BURST_KEYS, "burst_gap_s": BURST_GAP},
        "summary": {name: {key: stats(s.results[key]) for _, key, _ in ROWS} for name, s in sessions.items()},
        "raw": {name: s.results for name, s in sessions.items()}, "seconds": elapsed,
    }
    print()
    print(report(payload))
    n = payload["summary"]["after"]
    print(f"\n{n['browser_ms']['n']} moves and {n['burst_browser_ms']['n']} drag bursts per configuration; "
          f"{elapsed:.0f} s in all")
    write_json("app_latency", payload)
    write_markdown(payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
