"""Load test (issue 5): a classroom on the Latent plane while a run trains. A benchmark, not part of the suite.

    .venv/bin/python -m bench.load_test [--sessions 10] [--seconds 60] [--compare-nice 0] [--data-dir DIR]

One real `streamlit run app.py` server (a copy of the pretrained tutorial run in a temporary runs root), one
headless Chromium with N browser contexts (N independent users: own cookies, own Streamlit session), each with
the Latent-plane page open. Meanwhile a training run launched through the app's own launcher (cvae.explorer.jobs.launcher, the
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

# A MutationObserver (not a requestAnimationFrame polling loop: ten of those would burn the very CPU measured).
WATCH_JS = """(sel) => {
  if (window.__lat) return;
  const lat = window.__lat = {keys: [], changes: []};
  document.addEventListener('keydown', e => lat.keys.push(e.timeStamp), true);
  const href = () => { const i = document.querySelector(sel + ' .hm image'); return i ? i.getAttribute('href') : null; };
  let last = href();
  new MutationObserver(() => {
    const h = href();
    if (h && h !== last) {
      last = h;
      requestAnimationFrame(() => lat.changes.push(performance.now()));  // the frame that shows it
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['href']});
}"""

STATE_JS = "() => ({keys: window.__lat.keys.length, n: window.__lat.changes.length})"


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_by_role(server_pid: int, trainer_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the server, the trainer, and everything else this benchmark started (the Playwright
    driver and Chromium's processes: in a classroom that part runs on the students' own machines)."""
    kids = _children()
    todo, seen = [os.getpid()], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += kids.get(p, [])
    out = {"server": cpu_seconds(server_pid), "trainer": cpu_seconds(trainer_pid) if trainer_pid else 0.0,
           "browsers": 0.0, "driver (this script)": sum(os.times()[:2])}
    for p in seen:
        if p not in (os.getpid(), server_pid, trainer_pid):
            out["browsers"] += cpu_seconds(p)
    return out


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
        self.phase = ""
        self.latencies_ms: dict[str, list[float]] = {}
        self.timeouts: dict[str, int] = {}
        self.errors: list[str] = []
        self.pending: tuple[float, int, float, str] | None = None  # (keydown timeStamp, changes, monotonic, phase)

    def open(self) -> None:
        bs.open_page(self.page, self.url, 240)
        bs.wait_plotly_charts(self.page, 240)
        self.page.evaluate(WATCH_JS, IMAGE)

    def press(self) -> None:
        state = self.page.evaluate(STATE_JS)
        thumb = bs.slider_thumb(self.page, SLIDER)
        if not thumb.evaluate("e => e === document.activeElement"):  # a rerun may have replaced the element
            thumb.focus()
        self.page.keyboard.press(KEYS[self.presses % len(KEYS)])
        self.presses += 1
        t_key = self.page.evaluate("(i) => window.__lat.keys[i]", state["keys"])
        self.pending = (t_key, state["n"], time.monotonic(), self.phase)

    def poll(self, timeout: float) -> bool:
        """True when this user is ready for its next key press (the image changed, or it timed out)."""
        if self.pending is None:
            return True
        t_key, n_before, since, phase = self.pending
        state = self.page.evaluate(STATE_JS)
        if state["n"] > n_before:
            painted = self.page.evaluate("(i) => window.__lat.changes[i]", n_before)  # the first change after it
            self.latencies_ms.setdefault(phase, []).append(painted - t_key)
            self.pending = None
            return True
        if time.monotonic() - since > timeout:
            self.timeouts[phase] = self.timeouts.get(phase, 0) + 1
            self.pending = None
            return True
        return False


def renice_all_threads(pid: int, nice: int) -> None:
    """Set the niceness of every thread of process pid (Linux niceness is per thread) and of its autogroup (the
    trainer runs in its own session, so its own scheduling group: cvae.explorer.jobs.launcher._lower_priority does both)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        except OSError:
            pass
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError:
        pass


def autogroup_nice(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().strip()
    except OSError:
        return "n/a"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of slider moves (per configuration)")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for one key press's image")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--no-training", action="store_true", help="no background training run")
    ap.add_argument("--compare-nice", type=int, default=None,
                    help="also measure with the trainer at this niceness (e.g. 0): phases alternate A B B A on the "
                         "same server and sessions, --seconds per configuration")
    a = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from cvae.explorer.jobs import launcher as appstate
    from cvae.store import runs
    from cvae.store.config import TrainConfig

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
    try:
        with sync_playwright() as p:
            browser = bs.launch_browser(p)
            t_open = time.monotonic()
            for i in range(a.sessions):
                u = User(i, browser, server.page_url("plane") + "?view=sliders")  # the classic slider view
                u.open()
                users.append(u)
            opened_s = time.monotonic() - t_open
            rss_open = rss_mb(server.proc.pid)
            print(f"{a.sessions} sessions open in {opened_s:.1f} s; server RSS {rss_open:.0f} MB")
            app_nice = None
            if not a.no_training:
                cfg = TrainConfig(max_train_examples=4096, max_test_examples=500, epochs=1000, log_every_steps=16,
                                  data_dir=str(Path(a.data_dir).resolve()))
                launch = appstate.launch_training("background", cfg, root)  # the Train page's code path
                bs.poll(lambda: runs.read_status(root / "background").get("step", 0) > 0, 180, 0.5,
                        "the background run to start training")
                app_nice = int(Path(f"/proc/{launch.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
                print(f"background training running (pid {launch.pid}, nice {app_nice}, "
                      f"{autogroup_nice(launch.pid)}, as launched by the app)")
            label = (lambda n: f"trainer nice {n}") if launch else (lambda n: "no training")
            configs = [app_nice] + ([a.compare_nice] if a.compare_nice is not None and launch else [])
            phases = [configs[0]] if len(configs) == 1 else [configs[0], configs[1], configs[1], configs[0]]
            phase_s = a.seconds * len(configs) / len(phases)
            stats = {label(c): {"seconds": 0.0, "cpu": {}, "steps": 0, "load": []} for c in configs}
            for nice in phases:
                name = label(nice)
                if launch is not None:
                    renice_all_threads(launch.pid, nice)
                for u in users:
                    u.phase = name
                print(f"phase: {name}, {phase_s:.0f} s", flush=True)
                cpu0 = cpu_by_role(server.proc.pid, launch.pid if launch else None)
                step0 = runs.read_status(root / "background").get("step", 0) if launch else 0
                t0 = time.monotonic()
                deadline = t0 + phase_s
                while time.monotonic() < deadline:
                    for u in users:
                        try:
                            if u.poll(a.timeout) and time.monotonic() < deadline:
                                u.press()
                        except Exception as e:  # noqa: BLE001 - recorded, the session goes on
                            u.errors.append(f"{type(e).__name__}: {e}"[:200])
                            u.pending = None
                    time.sleep(0.02)
                for u in users:  # let this phase's last presses land (up to the timeout)
                    end = time.monotonic() + a.timeout
                    while u.pending is not None and time.monotonic() < end:
                        u.poll(a.timeout)
                        time.sleep(0.02)
                st = stats[name]
                st["seconds"] += time.monotonic() - t0
                cpu1 = cpu_by_role(server.proc.pid, launch.pid if launch else None)
                for k in cpu0:
                    st["cpu"][k] = st["cpu"].get(k, 0.0) + cpu1[k] - cpu0[k]
                st["steps"] += (runs.read_status(root / "background").get("step", 0) - step0) if launch else 0
                st["load"].append(round(os.getloadavg()[0], 2))
            exceptions = sum(len(bs.exceptions(u.page)) for u in users)
            browser.close()
        sampler.stop.set()
        sampler.join(2)
        rss = [v for _, v in sampler.samples]

        summaries = {}
        for c in configs:
            name = label(c)
            st = stats[name]
            lat = [x for u in users for x in u.latencies_ms.get(name, [])]
            counts = [len(u.latencies_ms.get(name, [])) for u in users]
            summaries[name] = {
                "seconds": round(st["seconds"], 1), "image_updates": len(lat),
                "updates_per_second_all_sessions": round(len(lat) / st["seconds"], 2),
                "min_updates_per_session": min(counts), "every_session_got_images": min(counts) > 0,
                "latency_p50_ms": round(percentile(lat, 50)), "latency_p95_ms": round(percentile(lat, 95)),
                "latency_max_ms": round(max(lat, default=float("nan"))),
                "timeouts": sum(u.timeouts.get(name, 0) for u in users),
                "cpu_seconds": {k: round(v, 1) for k, v in st["cpu"].items()},
                "trainer_steps_per_second": round(st["steps"] / st["seconds"], 1) if launch else None,
                "loadavg_1min_after_phases": st["load"],
            }
        main_name = label(configs[0])
        print(f"\nPer session ({main_name}):")
        rows = []
        for u in users:
            lat = u.latencies_ms.get(main_name, [])
            rows.append([u.i + 1, len(lat), round(percentile(lat, 50)), round(percentile(lat, 95)),
                         round(max(lat, default=float("nan"))), u.timeouts.get(main_name, 0), len(u.errors)])
        print(table(rows, ["session", "image updates", "p50 ms", "p95 ms", "max ms", "timeouts", "errors"]))
        print()
        rows = [[n, s_["seconds"], s_["image_updates"], s_["updates_per_second_all_sessions"],
                 s_["min_updates_per_session"], s_["latency_p50_ms"], s_["latency_p95_ms"], s_["latency_max_ms"],
                 s_["timeouts"], s_["cpu_seconds"].get("server"), s_["cpu_seconds"].get("trainer"),
                 s_["cpu_seconds"].get("browsers"), s_["trainer_steps_per_second"]]
                for n, s_ in summaries.items()]
        print(table(rows, ["configuration", "s", "updates", "updates/s", "min/session", "p50 ms", "p95 ms", "max ms",
                           "timeouts", "server CPU s", "trainer CPU s", "browsers CPU s", "trainer steps/s"]))
        memory = {"before_sessions": round(rss[0]) if rss else None,
                  "with_sessions_open": round(rss_open) if rss_open else None,
                  "max": round(max(rss)) if rss else None, "end": round(rss[-1]) if rss else None}
        print(f"\nserver RSS (MB): " + ", ".join(f"{k} {v}" for k, v in memory.items()))
        print(f"sessions opened in {opened_s:.1f} s; exceptions on pages: {exceptions}; "
              f"errors: {sum(len(u.errors) for u in users)}")
        print(f"load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        result = {"when": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine,
                  "args": vars(a), "configurations": summaries, "server_rss_mb": memory,
                  "sessions_open_seconds": round(opened_s, 1), "exceptions_on_pages": exceptions,
                  "per_session": [{"session": u.i + 1, "presses": u.presses,
                                   "latencies_ms": {k: [round(x, 1) for x in v] for k, v in u.latencies_ms.items()},
                                   "timeouts": u.timeouts, "errors": u.errors} for u in users],
                  "rss_samples_mb": [round(v, 1) for _, v in sampler.samples],
                  "loadavg_at_end": list(os.getloadavg())}
        write_json("load_test", result)
        if not all(s_["every_session_got_images"] for s_ in summaries.values()):
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
