"""Dragging through the latent space (issue 11): the latent pad (decoder in the browser) vs the classic slider path.

    .venv/bin/python -m bench.latent_drag [--seconds 5] [--keys 20]
    .venv/bin/python -m bench.latent_drag --contexts 30 [--seconds 5]

One real `streamlit run app.py` (started through bench/_serve.py, which logs every script run), headless Chromium
through Playwright, the shipped tutorial run (latent_dim 2), real MNIST.

Default mode, both paths in the same run:
  pad     mouse down on the ★, then real mouse moves (Playwright's mouse, i.e. CDP input events) along a fixed
          Lissajous path every 16 ms for --seconds, mouse up. Measured: decoded images painted (`frames`), pointer
          event -> image painted (event.timeStamp in the pointermove handler to performance.now() in the
          requestAnimationFrame callback right after the canvases were drawn, worst case per frame: the oldest
          event not painted yet; Chrome dispatches pointermove aligned to animation frames, so this includes the
          wait for the next frame, up to 16.7 ms at 60 Hz; handled_to_painted starts in the handler), server script runs during the drag (and until the page is idle again), the
          bytes the browser received over the websocket meanwhile.
  slider  the classic view (?view=sliders): the z1 slider focused, --keys ArrowRight/Left presses one after the other
          (each waits for its image), keydown -> heatmap image changed and painted; then a burst of arrow keys every
          16 ms for --seconds (the slider "dragged" at the pad's pace), counting script runs.

networks (default mode, after the two paths above): the same pad drag on runs of random weights with other
          networks: 128/128 filters, 512/512 filters, and CIFAR-10 colour 32x32x3 (discretized logistic, 32/64); each
          gets pointer -> painted p50/p95, painted frames per second while dragging, how many frames were the
          wide-decoder preview (the network's linearization at the drag's start), and release -> exact image
          painted. The 512-wide run is dragged twice: with the preview (the default) and forced exact every frame.
          Targets: p95 <= 16 ms for the tutorial's network, <= 33 ms for 128-wide and colour; 512-wide >= 10
          painted frames/s while dragging.

--contexts N: N browser contexts (one Chromium, localhost only), all on the pad, drag at once for --seconds. The drag
is driven inside each page (synthetic pointer events from a requestAnimationFrame loop: one Python thread can not
send N x 60 real mouse events a second). Reports the server's CPU seconds (utime+stime of /proc/<pid>/stat) per
second of dragging and each context's frame p95.

The last line printed is one JSON object; bench/out/latent_drag*.json keeps it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from .common import DEFAULT_DATA_DIR, ROOT, cpu_info, percentile, write_json

sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402

FRAME_S = 1 / 60
PAD_READY_JS = """() => { const p = window.__cvaeLatentPad && __cvaeLatentPad.pads()[0];
                         return !!(p && p.ready() && p.stats.frames > 0); }"""
SLIDER = bs.keyed("lp_z0")
IMAGE = bs.keyed("lp_decoded")
# keydown -> the decoded heatmap's <image> changed, then the next animation frame (painted).
SLIDER_WATCH_JS = """(sel) => {
  if (window.__lat) return;
  const lat = window.__lat = {keys: [], changes: []};
  document.addEventListener('keydown', e => lat.keys.push(e.timeStamp), true);
  const href = () => { const i = document.querySelector(sel + ' .hm image'); return i ? i.getAttribute('href') : null; };
  let last = href();
  const tick = () => {
    const h = href();
    if (h && h !== last) { last = h; requestAnimationFrame(() => lat.changes.push(performance.now())); }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
# In-page drag for --contexts: pointerdown, a pointermove every 16 ms (a timer, like a mouse's own pace, not inside
# an animation frame) along the path, pointerup; the result lands in window.__dragResult.
INPAGE_DRAG_JS = """([seconds, phase]) => {
  const pad = __cvaeLatentPad.pads()[0], m = pad.map;
  pad.stats.paints = []; pad.stats.handled = []; const f0 = pad.stats.frames, r0 = pad.stats.reports;
  const at = t => { const a = 2.4 * Math.sin(2 * Math.PI * 0.37 * t + phase), b = 2.4 * Math.sin(2 * Math.PI * 0.23 * t);
                    const [x, y] = pad.clientOf([a, b]); return {clientX: x, clientY: y, pointerId: 1,
                    pointerType: 'mouse', bubbles: true, isPrimary: true, buttons: 1}; };
  m.setPointerCapture = () => {};  // synthetic pointers can not be captured
  window.__dragResult = null;
  m.dispatchEvent(new PointerEvent('pointerdown', at(0)));
  const t0 = performance.now();
  const timer = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    if (t < seconds) { m.dispatchEvent(new PointerEvent('pointermove', at(t))); return; }
    clearInterval(timer);
    m.dispatchEvent(new PointerEvent('pointerup', at(t)));
    window.__dragResult = {frames: pad.stats.frames - f0, paints: pad.stats.paints.slice(),
                           handled: pad.stats.handled.slice(), reports: pad.stats.reports - r0};
  }, 16);
}"""


def lissajous(t: float) -> tuple[float, float]:
    """The fixed drag path in z (stays inside +-2.4; both coordinates keep changing)."""
    return 2.4 * math.sin(2 * math.pi * 0.37 * t), 2.4 * math.sin(2 * math.pi * 0.23 * t)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Runs:
    """Script runs of the server, from bench/_serve.py's timing file."""

    def __init__(self, path: Path):
        self.path = path

    def starts(self) -> int:
        try:
            return sum(json.loads(line)["event"] == "start" for line in self.path.read_text().splitlines() if line)
        except OSError:
            return 0

    def busy(self) -> bool:
        try:
            ev = [json.loads(line)["event"] for line in self.path.read_text().splitlines() if line]
        except OSError:
            return False
        return ev.count("start") > ev.count("end")


def settle(page, runs: Runs, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until the page is idle and no script run started for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bs.wait_idle(page, max(1.0, deadline - time.monotonic()), settle=0.1)
        n = runs.starts()
        time.sleep(quiet)
        if runs.starts() == n and not runs.busy() and bs.app_status(page) == "idle":
            return
    raise TimeoutError("the app kept rerunning")


def open_pad(page, server, query: str) -> None:
    bs.open_page(page, server.page_url("plane") + "?" + query, 180)
    bs.poll(lambda: page.evaluate(PAD_READY_JS), 120, 0.1, "the pad to draw")


def ws_counter(page) -> list[int]:
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
    return frames


def pad_drag(page, server, runs: Runs, seconds: float, run: str | None = None, exact: bool = False) -> dict:
    """Real mouse events along the path; the pad's own frame statistics. exact: no preview for slow decoders."""
    received = ws_counter(page)
    if exact:
        page.add_init_script("globalThis.__cvaeLatentPadSlowMs = 1e9;")
    open_pad(page, server, "z=0,0" + (f"&run={run}" if run else ""))
    settle(page, runs)
    pad = "__cvaeLatentPad.pads()[0]"
    page.evaluate(f"() => {{ {pad}.stats.paints = []; {pad}.stats.handled = []; }}")
    f0, rep0 = page.evaluate(f"() => [{pad}.stats.frames, {pad}.stats.reports]")
    # The map's axes are linear: two points give the mapping, so each move is one CDP call and nothing else.
    (x0, y0), (x1, y1) = page.evaluate(f"() => [{pad}.clientOf([0, 0]), {pad}.clientOf([1, 1])]")
    page.mouse.move(x0, y0)
    n0, bytes0 = runs.starts(), sum(received)
    page.mouse.down()
    t0 = time.perf_counter()
    moves = 0
    while (t := time.perf_counter() - t0) < seconds:
        a, b = lissajous(t)
        page.mouse.move(x0 + a * (x1 - x0), y0 + b * (y1 - y0))
        moves += 1
        # A mouse at 60 Hz: sleep what is left of this 16.7 ms slot (the moves themselves take a few ms).
        time.sleep(max(0.0, FRAME_S - ((time.perf_counter() - t0) % FRAME_S)))
    drag_s = time.perf_counter() - t0
    page.mouse.up()
    settle(page, runs)
    paints = page.evaluate(f"() => {pad}.stats.paints")
    handled = page.evaluate(f"() => {pad}.stats.handled")
    decode = page.evaluate(f"() => {pad}.stats.decodeMs.slice(-{len(paints) or 1})")
    f1, rep1 = page.evaluate(f"() => [{pad}.stats.frames, {pad}.stats.reports]")
    previews, release, simd, warm = page.evaluate(f"() => {{ const p = {pad}, d = p.decoders()[0]; return "
                                                  f"[p.stats.previews, p.stats.release, d.simd, d.decodeMs]; }}")
    reruns = runs.starts() - n0
    return {"frames": f1 - f0, "moves": moves, "drag_seconds": round(drag_s, 2),
            "p50_ms": round(percentile(paints, 50), 2), "p95_ms": round(percentile(paints, 95), 2),
            "max_ms": round(max(paints), 2), "handled_to_painted_p50_ms": round(percentile(handled, 50), 2),
            "handled_to_painted_p95_ms": round(percentile(handled, 95), 2), "decode_p50_ms": round(percentile(decode, 50), 2),
            "decode_p95_ms": round(percentile(decode, 95), 2), "server_reruns_during_drag": reruns,
            "reruns_per_s": round(reruns / drag_s, 2), "reports": rep1 - rep0,
            "ws_bytes_during_drag": sum(received) - bytes0, "ws_bytes_page_load": bytes0,
            "frames_per_s": round((f1 - f0) / drag_s, 1), "preview_frames": previews,
            "release_to_exact_ms": round(release[-1], 1) if release else None, "wasm_simd": bool(simd),
            "warmup_decode_ms": round(warm, 2)}


NETWORKS = {"wide128": {"filters1": 128, "filters2": 128}, "wide512": {"filters1": 512, "filters2": 512},
            "colour": {"dataset": "cifar10", "likelihood": "discretized_logistic"}}


def add_networks(root: Path) -> None:
    """Runs of random weights (fan-in scaled, so the images vary) for NETWORKS, with a stored latent map."""
    import numpy as np

    from cifar_support import make_cifar_dir
    from cvae.store import latent_means
    from cvae.store import runs as store_runs
    from cvae.store.arch import architecture_of
    from cvae.store.config import TrainConfig
    from cvae.store.weights import save_weights_npz

    rng = np.random.default_rng(0)
    for name, extra in NETWORKS.items():
        if extra.get("dataset") == "cifar10":
            extra = {**extra, "data_dir": str(make_cifar_dir(root.parent / "cifar", 20, 120))}
        config = TrainConfig(latent_dim=2, epochs=1, **extra)
        run = root / name
        (run / store_runs.IMAGES_DIR).mkdir(parents=True)
        (run / store_runs.CONFIG_FILE).write_text(config.to_json())
        arrays = {}
        for key, shape in architecture_of(config).weight_shapes(2).items():
            # conv kernels are (3, 3, in, out), transposed ones (3, 3, out, in): fan-in 9 * in; dense (in, out).
            fan_in = 9 * shape[3 if "dec_" in key else 2] if len(shape) == 4 else shape[0]
            arrays[key] = rng.normal(0.1 if key.endswith("bias") else 0.0,
                                     0.1 if key.endswith("bias") else 1.4 / np.sqrt(fan_in), shape).astype(np.float32)
        save_weights_npz(arrays, run / store_runs.WEIGHTS_FILE)
        store_runs.write_status(run, state="done", created=1.0, epoch=1, total_epochs=1, step=10, steps_per_epoch=10,
                                message="finished")
        latent_means.write_epoch(run, 1, rng.normal(0, 1, (500, 2)).astype(np.float32), rng.integers(0, 10, 500))


def networks_mode(ctx, server, runs: Runs, seconds: float) -> dict:
    """The pad drag on each network of NETWORKS (the 512-wide one also forced exact), one fresh page each."""
    out = {}
    for name, exact in [(n, False) for n in NETWORKS] + [("wide512", True)]:
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        out[name + ("_exact" if exact else "")] = {k: v for k, v in pad_drag(page, server, runs, seconds, name, exact).items()
                                                   if not k.startswith(("ws_", "server_", "reruns", "reports"))}
        page.close()
    return out


def slider_path(page, server, runs: Runs, keys: int, seconds: float) -> dict:
    """The classic view: keydown -> decoded image painted per key, then a 60 Hz key burst (reruns)."""
    bs.open_page(page, server.page_url("plane") + "?view=sliders&z=0,0", 180)
    bs.wait_plotly_charts(page, 180)
    settle(page, runs)
    page.evaluate(SLIDER_WATCH_JS, IMAGE)
    thumb = bs.slider_thumb(page, SLIDER)
    thumb.focus()
    lat, reruns_seq = [], 0
    t_seq = time.perf_counter()
    for i in range(keys):
        key = "ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft"
        n_keys, n_changes = page.evaluate("() => [__lat.keys.length, __lat.changes.length]")
        n0 = runs.starts()
        page.keyboard.press(key)
        page.wait_for_function("(n) => __lat.changes.length > n", arg=n_changes, timeout=60_000, polling="raf")
        t_key = page.evaluate("(i) => __lat.keys[i]", n_keys)
        lat.append(page.evaluate("(i) => __lat.changes[i]", n_changes) - t_key)
        settle(page, runs, quiet=0.3)
        reruns_seq += runs.starts() - n0
        thumb.focus()
    seq_s = time.perf_counter() - t_seq
    # The slider at the pad's pace: a key every 16.7 ms for `seconds` (one direction per second).
    n0, c0 = runs.starts(), page.evaluate("() => __lat.changes.length")
    t0 = time.perf_counter()
    presses = 0
    while (t := time.perf_counter() - t0) < seconds:
        page.keyboard.press("ArrowRight" if int(t) % 2 == 0 else "ArrowLeft")
        presses += 1
        time.sleep(max(0.0, FRAME_S - ((time.perf_counter() - t0) % FRAME_S)))
    burst_s = time.perf_counter() - t0
    settle(page, runs)
    burst_reruns = runs.starts() - n0
    return {"keys": keys, "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "reruns_per_key": round(reruns_seq / keys, 2), "reruns_per_s_stepping": round(reruns_seq / seq_s, 2),
            "burst_presses": presses, "burst_seconds": round(burst_s, 2), "burst_reruns": burst_reruns,
            "burst_reruns_per_s": round(burst_reruns / burst_s, 2),
            "burst_images": page.evaluate("() => __lat.changes.length") - c0}


def contexts_mode(browser, server, runs: Runs, n: int, seconds: float) -> dict:
    pages = []
    for i in range(n):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        open_pad(page, server, f"z=0,0&ctx={i}")
        pages.append(page)
    settle(pages[-1], runs, quiet=2.0, timeout=180)
    n0, cpu0, t0 = runs.starts(), cpu_seconds(server.proc.pid), time.perf_counter()
    # Start every context's drag (each call returns at once), then collect: the drags run concurrently.
    for i, p in enumerate(pages):
        p.evaluate(INPAGE_DRAG_JS, [seconds, 0.4 * i])
    started = time.perf_counter() - t0
    results = [bs.poll(lambda p=p: p.evaluate("() => window.__dragResult"), 10 * seconds + 120, 0.2,
                       "a context's drag to end") for p in pages]
    wall = time.perf_counter() - t0
    # The server's share: CPU until the last report's rerun is over.
    settle(pages[-1], runs, quiet=1.0, timeout=180)
    cpu = cpu_seconds(server.proc.pid) - cpu0
    reruns = runs.starts() - n0
    p95s = [round(percentile(r["paints"], 95), 1) if r["paints"] else None for r in results]
    h95s = [round(percentile(r["handled"], 95), 1) if r["handled"] else None for r in results]
    return {"contexts": n, "drag_seconds_each": seconds, "wall_seconds": round(wall, 2),
            "seconds_to_start_all": round(started, 2),
            "server_cpu_s": round(cpu, 3), "server_cpu_s_per_drag_s": round(cpu / (n * seconds), 4),
            "server_cpu_s_per_wall_s": round(cpu / wall, 3), "server_reruns": reruns,
            "reruns_per_context_per_s": round(reruns / (n * seconds), 2),
            "frames_each": [r["frames"] for r in results], "frame_p95_ms_each": p95s,
            "frame_p95_ms_median": percentile([p for p in p95s if p is not None], 50),
            "handled_to_painted_p95_ms_each": h95s}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each drag")
    ap.add_argument("--keys", type=int, default=20, help="slider key presses timed one by one")
    ap.add_argument("--contexts", type=int, default=0, help="N contexts dragging at once instead (max 40)")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    args = ap.parse_args(argv)
    if not 0 <= args.contexts <= 40:
        ap.error("--contexts: 0 to 40")
    from playwright.sync_api import sync_playwright

    out: dict = {"benchmark": "latent_drag", "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "command": "python -m bench.latent_drag " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "machine": cpu_info()}
    with tempfile.TemporaryDirectory(prefix="latent-drag-") as tmp:
        work = Path(tmp)
        root = work / "runs"
        root.mkdir()
        bs.copy_tutorial_run(root)
        if not args.contexts:
            add_networks(root)
        timings = work / "timings.jsonl"
        server = bs.start_server(root, args.data_dir, work / "server.log", timeout=180,
                                 env={"CVAE_BENCH_TIMINGS": str(timings)},
                                 launcher=[sys.executable, str(ROOT / "bench" / "_serve.py")])
        runs = Runs(timings)
        try:
            with sync_playwright() as p:
                browser = bs.launch_browser(p)
                out["chromium"] = browser.version
                if args.contexts:
                    out.update(contexts_mode(browser, server, runs, args.contexts, args.seconds))
                else:
                    ctx = browser.new_context(viewport=bs.VIEWPORT, device_scale_factor=1)
                    page = ctx.new_page()
                    page.set_default_timeout(180_000)
                    pad = pad_drag(page, server, runs, args.seconds)
                    page.close()
                    page = ctx.new_page()
                    page.set_default_timeout(180_000)
                    slider = slider_path(page, server, runs, args.keys, args.seconds)
                    out.update(pad)
                    out["slider"] = slider
                    out["rerun_ratio_vs_slider_burst"] = (round(slider["burst_reruns_per_s"] / pad["reruns_per_s"], 1)
                                                          if pad["reruns_per_s"] else None)
                    # Server reruns per decoded image shown: the slider path needs one for every image.
                    out["slider_reruns_per_image"] = round(slider["burst_reruns"] / max(1, slider["burst_images"]), 2)
                    out["pad_reruns_per_image"] = round(pad["server_reruns_during_drag"] / max(1, pad["frames"]), 4)
                    out["rerun_ratio_vs_slider_per_image"] = (
                        round(out["slider_reruns_per_image"] / out["pad_reruns_per_image"], 1)
                        if out["pad_reruns_per_image"] else None)
                    nets = out["networks"] = networks_mode(ctx, server, runs, args.seconds)
                    out["targets"] = {
                        "tutorial_p95_le_16ms": pad["p95_ms"] <= 16,
                        "wide128_p95_le_33ms": nets["wide128"]["p95_ms"] <= 33,
                        "colour_p95_le_33ms": nets["colour"]["p95_ms"] <= 33,
                        "wide512_ge_10fps_dragging": nets["wide512"]["frames_per_s"] >= 10,
                        "wide512_mode": "preview while dragging (linearization), exact on release"
                                        if nets["wide512"]["preview_frames"] else "exact every frame"}
                browser.close()
        except Exception:
            print(server.log_tail(60), file=sys.stderr)
            raise
        finally:
            bs.stop_server(server)
    name = f"latent_drag{'_contexts' if args.contexts else ''}"
    write_json(name, out)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
