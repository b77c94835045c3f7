"""The live classroom under load (issue 24): simulated students submitting drawings through the real server while the
teacher's page is open.

    .venv/bin/python -m bench.classroom_load [--students 40] [--browsers 6] [--drawings 3]

One real `streamlit run app.py` (a copy of the shipped tutorial run), headless Chromium through Playwright:
  teacher   one browser context at 1280×720 in presenter mode: starts the class on the Classroom page; a
            requestAnimationFrame loop in the page records when each drawing's id first appears in the live map's
            plotly data (it is painted at the end of that frame).
  students  --browsers real browser contexts (desktop, mouse strokes on the canvas, the Send button), and the rest as a
            lighter client: a Python websocket client speaking Streamlit's own protocol (BackMsg/ForwardMsg protobufs)
            to the same server, exactly what the browser sends — the Join page's script run with the join code, then
            per drawing a rerun with the canvas's value (a 280×280 PNG data URL: a real MNIST test digit, black on
            white like the canvas) and, once a run has drawn the Send button enabled, its trigger; and the activity
            fragment's automatic rerun every 3 s with the page's widget values, as a phone's browser sends it. Widget ids are those a real browser sent in a warm-up (another class).
Measured: submit (button press / message sent) → the point first in the teacher's map in a frame (p50/p95/max),
server CPU seconds (utime+stime of the server process) per submission over the load phase, errors (exceptions,
refusals, missing points), and the submissions counted in the database. Each student sends --drawings drawings
3.3 s apart (the rate limit is 3 s), students starting staggered over 10 s.

The last line printed is one JSON object; bench/out/classroom_load.json keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .common import DEFAULT_DATA_DIR, ROOT, cpu_info, percentile, write_json

sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402
import classroom_browser as cb  # noqa: E402

GAP = 3.3  # seconds between one student's drawings (the store allows one per 3 s)
SEEN_JS = """(sel) => { window.__seen = {};
  const tick = () => { const now = Date.now();
    for (const gd of document.querySelectorAll(sel + ' .js-plotly-plot')) {
      if (gd.closest('[data-stale="true"]')) continue;
      for (const t of gd.data || []) if (t.name === 'new' || t.name === 'class drawings')
        for (const id of Array.from(t.customdata || [])) if (!(id in __seen)) __seen[id] = now; }
    requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def digit_data_urls(data_dir: str, n: int) -> list[str]:
    """n real MNIST test digits as the canvas would send them: 280×280 PNG data URLs, black ink on white."""
    from cvae.data.sources import load_dataset

    images = load_dataset("mnist", data_dir).test_images[:n]
    out = []
    for img in images:
        big = Image.fromarray(255 - img).resize((280, 280), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    return out


class Captured:
    """What a real browser sent on the Join page: its page hash and the widget ids of the canvases and Send."""

    def __init__(self) -> None:
        self.page_hash = ""
        self.ids: dict[str, str] = {}

    def on_frame(self, payload) -> None:
        from streamlit.proto import BackMsg_pb2

        if isinstance(payload, str):
            return
        m = BackMsg_pb2.BackMsg()
        m.ParseFromString(payload)
        if m.WhichOneof("type") != "rerun_script":
            return
        if m.rerun_script.page_script_hash:
            self.page_hash = m.rerun_script.page_script_hash
        for w in m.rerun_script.widget_states.widgets:
            key = w.id.rsplit("-", 1)[-1]
            if key.startswith("jn_canvas_") or key == "jn_send":
                self.ids[key] = w.id


async def light_student(i: int, ws_url: str, code: str, cap: Captured, urls: list[str], drawings: int,
                        delay: float, out: dict) -> None:
    """One student over Streamlit's websocket protocol: join, then `drawings` submissions GAP s apart."""
    import websockets
    from streamlit.proto import BackMsg_pb2, ForwardMsg_pb2

    await asyncio.sleep(delay)
    # The Send button as the server last drew it: a browser can press it only once a run has drawn it enabled (a
    # press before that is dropped by Streamlit: a disabled widget's callback never runs), and after a press the
    # fresh canvas's run draws it disabled again.
    state = {"qs": "", "enabled": asyncio.Event(), "disabled": asyncio.Event(), "auto": None}
    rec = out.setdefault(i, {"sends": [], "token": None, "errors": []})

    def back(qs: str, widgets=(), fragment: str = "", auto: bool = False) -> bytes:
        m = BackMsg_pb2.BackMsg()
        r = m.rerun_script
        r.query_string, r.page_script_hash, r.fragment_id, r.is_auto_rerun = qs, cap.page_hash, fragment, auto
        for wid, kind, value in widgets:
            w = r.widget_states.widgets.add()
            w.id = wid
            setattr(w, kind, value)
        return m.SerializeToString()

    async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:
        async def reader() -> None:
            async for raw in ws:
                f = ForwardMsg_pb2.ForwardMsg()
                f.ParseFromString(raw)
                kind = f.WhichOneof("type")
                if kind == "page_info_changed":
                    state["qs"] = f.page_info_changed.query_string
                    m = re.search(r"(?:^|&)me=([^&]+)", state["qs"])
                    if m:
                        rec["token"] = m.group(1)
                elif kind == "auto_rerun":
                    state["auto"] = (f.auto_rerun.interval, f.auto_rerun.fragment_id)
                elif kind == "delta" and f.delta.WhichOneof("type") == "new_element":
                    el = f.delta.new_element
                    if el.WhichOneof("type") == "exception":
                        rec["errors"].append("exception: " + el.exception.message[:200])
                    elif el.WhichOneof("type") == "alert" and el.alert.format == el.alert.ERROR:
                        rec["errors"].append("refused: " + el.alert.body[:200])
                    elif el.WhichOneof("type") == "button" and el.button.id == cap.ids.get("jn_send"):
                        state["disabled" if el.button.disabled else "enabled"].set()

        async def poller() -> None:  # the activity fragment's run_every, as the browser sends it
            while True:
                await asyncio.sleep(0.2)
                if state["auto"] and rec["token"]:
                    interval, fid = state["auto"]
                    await asyncio.sleep(interval)
                    # as a browser: every rerun message carries the current widget values (not the triggers)
                    await ws.send(back(state["qs"], state.get("widgets", ()), fragment=fid, auto=True))

        tasks = [asyncio.create_task(reader()), asyncio.create_task(poller())]
        try:
            await ws.send(back(f"code={code}"))
            t0 = time.monotonic()
            while not rec["token"]:
                if time.monotonic() - t0 > 60:
                    rec["errors"].append("no token after 60 s")
                    return
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            for k in range(drawings):
                state["enabled"].clear()
                image = json.dumps({"image": urls[(i * drawings + k) % len(urls)]})
                canvas = (cap.ids[f"jn_canvas_{k}"], "json_value", image)
                state["widgets"] = [canvas]
                await ws.send(back(state["qs"], [canvas]))  # as a browser: the stroke's end, then the press
                try:
                    await asyncio.wait_for(state["enabled"].wait(), 60)
                except asyncio.TimeoutError:
                    rec["errors"].append("the Send button not enabled within 60 s of a stroke")
                state["disabled"].clear()
                rec["sends"].append(time.time())
                await ws.send(back(state["qs"], [canvas, (cap.ids["jn_send"], "trigger_value", True)]))
                try:  # a phone's next drawing comes after its page has taken the press (a fresh canvas)
                    await asyncio.wait_for(state["disabled"].wait(), 60)
                except asyncio.TimeoutError:
                    rec["errors"].append("no fresh canvas within 60 s of a press")
                state["widgets"] = []  # the sent canvas is gone from the page
                await asyncio.sleep(GAP)
            await asyncio.sleep(3.0)
        finally:
            for t in tasks:
                t.cancel()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--browsers", type=int, default=3, help="students in real browser contexts (the rest: light)")
    ap.add_argument("--drawings", type=int, default=3)
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--screenshot", default=str(ROOT / "test-artifacts" / "screenshots" / "classroom_load.png"))
    args = ap.parse_args(argv)
    from cvae.store import classes as cs

    tmp = Path(tempfile.mkdtemp(prefix="classroom_load_"))
    root = tmp / "checkpoints"
    root.mkdir()
    bs.copy_tutorial_run(root)
    server = bs.start_server(root, args.data_dir, tmp / "streamlit.log")
    store = cs.ClassStore(root / cs.DB_FILE)
    urls = digit_data_urls(args.data_dir, 200)
    n_light = max(0, args.students - args.browsers)
    out: dict = {}
    result: dict = {}
    try:
        with bs.chromium() as browser:
            # Warm-up in another class: a real browser's messages give the widget ids the light clients send.
            cap = Captured()
            warm_cls, _ = store.create_class("tutorial")
            wctx = browser.new_context(viewport=bs.VIEWPORT)
            wp = wctx.new_page()
            wp.on("websocket", lambda ws: ws.on("framesent", cap.on_frame))
            cb.join(wp, server, warm_cls.code)
            for k in range(args.drawings):
                cb.draw(wp, 7, seed=k)
                cb.send(wp)
                cb.wait_landed(wp, k)
                time.sleep(GAP)
            wctx.close()
            assert all(f"jn_canvas_{k}" in cap.ids for k in range(args.drawings)) and "jn_send" in cap.ids, cap.ids

            tctx = browser.new_context(viewport={"width": 1280, "height": 720})
            teacher = tctx.new_page()
            code, _key = cb.start_class(teacher, server)
            teacher.evaluate(SEEN_JS, cb.MAP)
            cls = store.find(code)
            students = []
            for b in range(args.browsers):
                ctx = browser.new_context(viewport=bs.VIEWPORT)
                page = ctx.new_page()
                page.set_default_timeout(60_000)
                cb.join(page, server, code)
                token = re.search(r"me=([^&]+)", cb.href(page)).group(1)
                students.append({"page": page, "ctx": ctx, "sends": [], "token": token, "errors": []})

            cpu0, t0 = cpu_seconds(server.proc.pid), time.time()
            ws_url = server.url.replace("http://", "ws://") + "/_stcore/stream"
            async def all_light() -> None:
                results = await asyncio.gather(*[
                    light_student(i, ws_url, code, cap, urls, args.drawings, 10.0 * i / max(1, n_light), out)
                    for i in range(n_light)], return_exceptions=True)
                for i, r in enumerate(results):
                    if isinstance(r, BaseException):
                        out.setdefault(i, {"sends": [], "token": None, "errors": []})["errors"].append(repr(r)[:200])

            light = threading.Thread(target=lambda: asyncio.run(all_light()), daemon=True)
            light.start()
            for k in range(args.drawings):  # the browser students, round-robin, each GAP s apart
                round_start = time.monotonic()
                for j, s in enumerate(students):
                    try:
                        cb.draw(s["page"], (1, 7, 0, 4)[(j + k) % 4], seed=j * 10 + k, jitter=0.03)
                        s["sends"].append(cb.send(s["page"]))
                    except Exception as e:  # noqa: BLE001 - counted, reported
                        s["errors"].append(repr(e)[:200])
                while time.monotonic() - round_start < GAP:
                    time.sleep(0.05)
                for s in students:
                    try:
                        cb.wait_landed(s["page"], k, timeout=60)
                    except Exception as e:  # noqa: BLE001
                        s["errors"].append("no result: " + repr(e)[:200])
            light.join(timeout=600)
            expected = args.students * args.drawings
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(teacher.evaluate("() => __seen")) < expected:
                time.sleep(0.2)
            cpu1, t1 = cpu_seconds(server.proc.pid), time.time()
            seen = {int(k): v / 1000.0 for k, v in teacher.evaluate("() => __seen").items()}
            for s in students:
                s["errors"] += bs.exceptions(s["page"])
            teacher_errors = bs.exceptions(teacher)
            try:  # the projected view: sidebar (the teacher's controls) collapsed
                teacher.locator('[data-testid="stSidebar"]').hover()
                teacher.locator('[data-testid="stSidebarCollapseButton"] button').click(force=True, timeout=5000)
                time.sleep(2.5)
                bs.full_page_screenshot(teacher, Path(args.screenshot), min_height=720)
            except Exception as e:  # noqa: BLE001 - the figures stand without it
                print(f"screenshot failed: {e!r}"[:300])

            # Pair each student's submissions (by token, from the database) with their send times, in order.
            subs = store.submissions(cls.id)
            by_join: dict[int, list[int]] = {}
            for sub in subs:
                by_join.setdefault(sub.join_id, []).append(sub.id)
            everyone = [(s["token"], s["sends"], s["errors"], "browser") for s in students] + [
                (r["token"], r["sends"], r["errors"], "light") for r in out.values()]
            lat = {"browser": [], "light": []}
            split = {"send_to_db": [], "db_to_painted": []}  # where the time goes: the server, then the teacher
            created = {sub.id: sub.created for sub in subs}
            missing, errors = 0, []
            for token, sends, errs, kind in everyone:
                errors += errs
                if not token:
                    missing += len(sends)
                    continue
                student, _c = store.student(token)
                ids = sorted(by_join.get(student.id, []))
                for sid, t_send in zip(ids, sends):
                    split["send_to_db"].append(created[sid] - t_send)
                    if sid in seen:
                        lat[kind].append(seen[sid] - t_send)
                        split["db_to_painted"].append(seen[sid] - created[sid])
                    else:
                        missing += 1
                missing += max(0, len(sends) - len(ids))
            all_lat = lat["browser"] + lat["light"]
            in_db = store.count_submissions(cls.id)
            result = {
                "bench": "classroom_load", "students": args.students, "browser_students": args.browsers,
                "light_students": n_light, "drawings_each": args.drawings, "expected_submissions": expected,
                "submissions_in_db": in_db, "points_on_teacher_map": len([i for i in seen if i in {s.id for s in subs}]),
                "warmup_class_points_on_map": len([i for i in seen if i not in {s.id for s in subs}]),
                "submit_to_painted_p50_s": round(percentile(all_lat, 50), 3) if all_lat else None,
                "submit_to_painted_p95_s": round(percentile(all_lat, 95), 3) if all_lat else None,
                "submit_to_painted_max_s": round(max(all_lat), 3) if all_lat else None,
                "browser_p95_s": round(percentile(lat["browser"], 95), 3) if lat["browser"] else None,
                "light_p95_s": round(percentile(lat["light"], 95), 3) if lat["light"] else None,
                **{f"{k}_p50_s": round(percentile(v, 50), 3) for k, v in split.items() if v},
                **{f"{k}_p95_s": round(percentile(v, 95), 3) for k, v in split.items() if v},
                "server_cpu_s": round(cpu1 - cpu0, 2), "load_seconds": round(t1 - t0, 1),
                "server_cpu_s_per_submission": round((cpu1 - cpu0) / max(1, in_db), 4),
                "errors": len(errors) + len(teacher_errors) + missing + max(0, expected - in_db), "error_samples": (errors + teacher_errors)[:5],
                "missing_points": missing, "cpu": cpu_info(),
                "load_average": list(__import__("os").getloadavg()),
                "targets": {"students": 40, "p95_s": 2.0, "errors": 0},
            }
    finally:
        bs.stop_server(server)
    write_json("classroom_load", result)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
