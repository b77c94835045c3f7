"""The live classroom in real browsers: a teacher (presenter mode, 1280×720) and three students — English with a
mouse, Hindi, and a phone (390×844) drawing with touch events — against one real `streamlit run`.

Each student draws and sends a digit and each point appears on the teacher's map; predict-then-reveal shows the
histogram of the students' taps; a student's browser cannot lock or end the class; the teacher's key never shows on
the projected page; a server restart loses nothing. Screenshot: docs/screenshots/classroom.png with
CVAE_UPDATE_SCREENSHOTS=1 (else test-artifacts/screenshots/).
"""

from __future__ import annotations

import os
import re

import pytest

import browser_support as bs
import classroom_browser as cb
from cvae.store import classes as cs

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = bs.REPO / ("docs/screenshots" if os.environ.get("CVAE_UPDATE_SCREENSHOTS") == "1"
                         else "test-artifacts/screenshots")
PRESENT = {"width": 1280, "height": 720}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def browser():
    with bs.chromium() as b:
        yield b


def test_a_class_with_three_students(tmp_path, mnist_dir, browser, request):
    root = tmp_path / "checkpoints"
    root.mkdir()
    bs.copy_tutorial_run(root)
    server = bs.start_server(root, mnist_dir, tmp_path / "streamlit.log")
    contexts = []
    try:
        def context(**kw):
            ctx = browser.new_context(**{"viewport": bs.VIEWPORT, "device_scale_factor": 1, **kw})
            contexts.append(ctx)
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            return ctx, page

        _tctx, teacher = context(viewport=PRESENT)
        code, key = cb.start_class(teacher, server)
        assert key not in teacher.locator("body").inner_text() and key not in teacher.content()
        assert code in bs.main_text(teacher)

        _e, en = context()
        _h, hi = context()
        phone_ctx, phone = context(**PHONE)
        cdp = phone_ctx.new_cdp_session(phone)
        names = {"en": cb.join(en, server, code), "hi": cb.join(hi, server, code, lang="hi"),
                 "phone": cb.join(phone, server, code)}
        assert len(set(names.values())) == 3
        assert "कक्षा" in bs.main_text(hi)  # the Hindi student's page is in Hindi
        phone.evaluate("() => { window.__types = new Set(); document.addEventListener('pointerdown',"
                       " e => __types.add(e.pointerType), true); }")

        seen: list[int] = []
        for who, page, digit in (("en", en, 7), ("hi", hi, 1), ("phone", phone, 0)):
            cb.draw(page, digit, touch_cdp=cdp if who == "phone" else None)
            cb.send(page, tap=(who == "phone"))
            cb.wait_landed(page, 0)
            assert not bs.exceptions(page)
            ids = bs.poll(lambda: (m := cb.map_ids(teacher)) and len(m) == len(seen) + 1 and m, 30, 0.1,
                          f"{who}'s drawing on the teacher's map")
            new = [i for i in ids if i not in seen]
            assert len(new) == 1 and ids[new[0]] == names[who]  # marked new, with the student's name
            seen += new
        assert phone.evaluate("() => [...__types]") == ["touch"]
        store = cs.ClassStore(root / cs.DB_FILE)
        cls = store.find(code)
        assert sorted(s.id for s in store.submissions(cls.id)) == sorted(seen)

        # Click a drawing on the projected map: it shows large with its reconstruction.
        sub = store.submission(cls.id, seen[0])
        cb.click_map(teacher, *sub.code)
        bs.poll(lambda: teacher.locator(bs.keyed("cl_selected_img")).count() > 0, 30, 0.2, "the drawing, large")
        bs.full_page_screenshot(teacher, SCREENSHOTS / "classroom.png", min_height=720)

        # Predict, then reveal.
        teacher.locator(bs.keyed("cl_click")).get_by_text("place the ★").click()
        bs.wait_idle(teacher)
        cb.click_map(teacher, 0.0, 0.0)
        bs.poll(lambda: store.find(code).activity == "predict", 30, 0.2, "the predict round")
        answers = {"en": "7", "hi": "1", "phone": "7"}
        for who, page in (("en", en), ("hi", hi), ("phone", phone)):
            pill = page.locator(bs.keyed("jn_guess_1") + " button", has_text=re.compile(f"^{answers[who]}$")).first
            bs.poll(lambda: pill.count() == 1, 30, 0.2, f"{who}'s answer buttons")
            cb.tap_until_clicked(page, pill, bs.keyed("jn_guess_1")) if who == "phone" else pill.click()
        bs.poll(lambda: sum(store.histogram(cls.id, 1).values()) == 3, 30, 0.2, "three guesses stored")
        bs.poll(lambda: "3 answers so far" in bs.main_text(teacher), 30, 0.2, "the teacher's count")
        teacher.locator(bs.keyed("cl_reveal") + " button").click()
        hist = bs.poll(lambda: bs.plotly_trace_xy(teacher, bs.keyed("cl_hist"), None) or
                       teacher.evaluate("""() => { const gd = document.querySelector('.st-key-cl_hist .js-plotly-plot');
                                                   return gd && gd.data ? Array.from(gd.data[0].y) : null; }"""),
                       30, 0.2, "the histogram")
        assert list(hist) == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0]
        bs.poll(lambda: en.locator(bs.keyed("jn_hist")).count() > 0, 30, 0.2, "the reveal on a student's phone")
        bs.full_page_screenshot(teacher, SCREENSHOTS / "classroom_reveal.png", min_height=720)

        # A student's browser cannot act as the teacher.
        for url in (server.page_url("Classroom") + f"?class={code}",
                    server.page_url("Classroom") + f"?class={code}&key=not-the-key"):
            bs.open_page(hi, url, 60)
            for k in ("cl_lock", "cl_end", "cl_clear", "cl_reveal"):
                assert hi.locator(bs.keyed(k)).count() == 0
        assert store.find(code).state == "open"
        assert not any(bs.exceptions(p) for p in (teacher, en, phone))

        # A server restart loses nothing: the teacher reopens the same address on the new server.
        bs.stop_server(server)
        server = bs.start_server(root, mnist_dir, tmp_path / "streamlit2.log")
        bs.open_page(teacher, server.page_url("Classroom") + f"?mode=present&class={code}&key={key}", 90,
                     ready=cb.MAP)
        ids = bs.poll(lambda: (m := cb.map_ids(teacher)) and len(m) == 3 and m, 60, 0.2, "the map after a restart")
        assert sorted(ids) == sorted(seen)
    except BaseException:
        out = bs.REPO / "test-artifacts" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        for i, ctx in enumerate(contexts):
            for j, pg in enumerate(ctx.pages):
                try:
                    pg.screenshot(path=str(out / f"live_class_{i}_{j}.png"))
                except Exception:  # noqa: BLE001 - best effort
                    pass
        (out / "live_class.server.log").write_text(server.log_tail(200))
        raise
    finally:
        for ctx in contexts:
            ctx.close()
        bs.stop_server(server)
