"""The Classroom (teacher) and Join (student) pages under AppTest: start a class, join, see a submission land,
predict-then-reveal, lock and end; the teacher key never shows; a student's address cannot act as the teacher."""

from __future__ import annotations

import numpy as np
import pytest

from cvae.store import classes as cs
from cvae.store import runs
from test_app import app_test, array, charts, make_run, no_exceptions, texts

CLASSROOM = "app_pages/9_Classroom.py"
JOIN = "app_pages/10_Join.py"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(cs.DB_ENV, raising=False)
    make_run(tmp_path, "tutorial")
    return tmp_path


def page(path: str, **params):
    at = app_test()
    at.run()
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(path).run()
    no_exceptions(at)
    return at


def all_text(at) -> str:
    """Every string the page shows (texts, widget labels, captions of images)."""
    out = [texts(at)]
    for kind in ("button", "text_input", "radio", "slider"):
        out += [str(getattr(e, "label", "")) for e in getattr(at, kind)]
    out += [str(getattr(e, "value", "")) for e in at.text_input]
    return "\n".join(out)


def digit() -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[4:24, 13:16] = 1
    return img


def test_start_a_class_and_its_key_never_shows(root):
    at = page(CLASSROOM)
    at.button(key="cl_start").click().run()
    no_exceptions(at)
    code, key = at.query_params["class"], at.query_params["key"]
    code = code[0] if isinstance(code, list) else code
    key = key[0] if isinstance(key, list) else key
    store = cs.ClassStore(cs.db_path())
    info = store.teacher_class(code, key)
    assert info.run == "tutorial" and info.state == "open"
    shown = all_text(at) + "\n".join(str(e.proto) for e in at.get("imgs"))
    assert code in shown and key not in shown
    assert "/Join?code=" + code in shown
    assert "cl_map" in charts(at)


def test_a_submission_lands_on_the_teachers_map(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    st = page(JOIN, code=info.code)
    token = st.query_params["me"]
    token = token[0] if isinstance(token, list) else token
    assert store.count_students(info.id) == 1
    assert "You are" in texts(st)
    sub = store.submit(token, digit(), [0.7, -0.4])
    st.run()
    no_exceptions(st)
    assert "Where it landed" in texts(st) and "jn_map" in charts(st)
    t = page(CLASSROOM, **{"class": info.code, "key": secret})
    spec = charts(t)["cl_map"]
    new = [tr for tr in spec["data"] if tr.get("name") in ("new", "class drawings")]
    assert [tr["name"] for tr in new] == ["new"] and array(new[0]["x"]).tolist() == pytest.approx([0.7])
    assert "1** drawings" in texts(t)
    assert sub.id


def test_a_wrong_key_cannot_act_as_the_teacher(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    for key in ("wrong", secret[:-2]):
        at = page(CLASSROOM, **{"class": info.code, "key": key})
        assert "no valid teacher key" in texts(at)
        keys = {b.key for b in at.button}
        assert not keys & {"cl_lock", "cl_end", "cl_clear", "cl_reveal"}
    assert store.class_by_id(info.id).state == "open"


def test_locked_and_ended_say_so_in_one_line(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    st = page(JOIN, code=info.code)
    t = page(CLASSROOM, **{"class": info.code, "key": secret})
    t.button(key="cl_lock").click().run()
    assert store.class_by_id(info.id).state == "locked"
    st.run()
    locked = [w.value for w in st.warning]
    assert locked == ["The teacher has locked this class: no new drawings for now."]
    assert st.button(key="jn_send").disabled
    t.button(key="cl_end").click().run()
    t.button(key="cl_end_yes").click().run()
    no_exceptions(t)
    assert store.find(info.code).state == "ended"
    st.run()
    assert [i.value for i in st.info] == ["This class has ended."]


def test_end_offers_the_export_first(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    store.submit(token, digit(), [0.1, 0.2])
    t = page(CLASSROOM, **{"class": info.code, "key": secret})
    t.button(key="cl_end").click().run()
    no_exceptions(t)
    downloads = {e.proto.label for e in t.get("download_button")}
    assert downloads == {"Codes and guesses (CSV)", "The map (PNG)", "The drawings (zip)"}
    assert store.count_submissions(info.id) == 1  # nothing deleted before the teacher confirms


def test_predict_then_reveal_in_hindi(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    st = page(JOIN, code=info.code, lang="hi")
    store.start_predict(info.code, secret, [0.0, 0.0])
    st.run()
    no_exceptions(st)
    assert "★" in texts(st) and "Which digit" not in texts(st)  # the question in Hindi
    pills = [b for b in st.get("button_group") if b.key == "jn_guess_1"]
    assert len(pills) == 1 and len(pills[0].options) == 11, "the 0–9 and 'not a digit' answer buttons"
    pills[0].set_value("7").run()
    no_exceptions(st)
    assert store.histogram(info.id, 1)[7] == 1
    t = page(CLASSROOM, **{"class": info.code, "key": secret})
    t.button(key="cl_reveal").click().run()
    no_exceptions(t)
    hist = charts(t)["cl_hist"]["data"][0]
    assert hist["x"][7] == "7" and hist["y"][7] == 1
    st.run()
    assert "jn_hist" in charts(st) and "jn_reveal_img" in charts(st)


def test_circle_round_counts_hits_and_tells_the_student(root):
    store = cs.ClassStore(cs.db_path())
    info, secret = store.create_class("tutorial")
    st = page(JOIN, code=info.code)
    token = st.query_params["me"]
    token = token[0] if isinstance(token, list) else token
    store.start_circle(info.code, secret, 0.5, 0.5, 0.4)
    store.submit(token, digit(), [0.6, 0.4])  # inside
    st.run()
    no_exceptions(st)
    assert [s.value for s in st.success] == ["Inside the circle!"]
    t = page(CLASSROOM, **{"class": info.code, "key": secret})
    assert [m.value for m in t.metric] == ["1 / 1"]
    assert charts(t)["cl_map"]["layout"]["shapes"][0]["type"] == "circle"


def test_a_drawing_is_size_checked_before_its_pixels_are_decoded():
    import io

    from PIL import Image

    from cvae.explorer.classroom import live_class as lc
    from cvae.explorer.maths import own_digit as od

    with pytest.raises(od.ImageRejected, match="MB"):
        lc.drawing_to_input(b"\x89PNG" + b"0" * lc.MAX_DRAWING_BYTES)
    buf = io.BytesIO()
    Image.new("L", (2000, 2000), 255).save(buf, format="PNG")  # a few kB, 4 Mpixels
    assert len(buf.getvalue()) < lc.MAX_DRAWING_BYTES
    with pytest.raises(od.ImageRejected, match="pixels"):
        lc.drawing_to_input(buf.getvalue())
    buf = io.BytesIO()
    img = Image.new("L", (280, 280), 255)
    img.paste(0, (130, 40, 150, 240))
    img.save(buf, format="PNG")
    x = lc.drawing_to_input(buf.getvalue())
    assert x.shape == (28, 28) and set(np.unique(x)) == {0.0, 1.0}


def test_join_address_and_qr_code():
    from cvae.explorer.classroom import live_class as lc

    assert lc.join_url("http://10.0.0.5:8501/Classroom?class=X&key=SECRET", "ABC234") == \
        "http://10.0.0.5:8501/Join?code=ABC234"
    assert lc.join_url("10.0.0.5:8501", "ABC234", "hi") == "http://10.0.0.5:8501/Join?code=ABC234&lang=hi"
    assert lc.server_base("http://h:1/Classroom?key=SECRET") == "http://h:1"
    assert lc.local_only("http://127.0.0.1:8501/Join") and not lc.local_only("http://192.168.1.2:8501/Join")
    png = lc.qr_png("http://10.0.0.5:8501/Join?code=ABC234")
    assert png.startswith(b"\x89PNG")


def test_student_names_on_the_map_never_cover_each_other_or_leave_the_plot():
    """A room of drawings landing together: each name gets the first free side of its ring (or none); the boxes
    placed never overlap, never leave the plot, and a ring at the plot's left edge has its name to the right."""
    from cvae.explorer.classroom.live_class import place_labels

    ranges = ((-3.0, 3.0), (-3.0, 3.0))
    kw = dict(plot_px=500.0, font_px=16.0, ring_px=18.0)
    # Two rings side by side: the second name goes below, not on top of the first.
    assert place_labels(np.array([[0.0, 0.0], [0.05, 0.0]]), ["Green Gecko 41", "Blue Otter 12"], ranges, **kw) \
        == ["top center", "bottom center"]
    # Another student's ring just above: the name goes below rather than cover it.
    assert place_labels(np.array([[0.0, 0.0]]), ["Green Gecko 41"], ranges, obstacles=[(0.0, 0.25, 18.0)], **kw) \
        == ["bottom center"]
    # At the left edge a centred name would run off the plot: it goes above, to the right.
    assert place_labels(np.array([[-2.95, 0.0]]), ["Green Elephant 84"], ranges, **kw) == ["top right"]
    # Thirty drawings in one cluster: every placed box is inside and disjoint; the rest get no name (hover has it).
    rng = np.random.default_rng(0)
    xy = rng.normal(0, 0.3, (30, 2))
    names = [f"Student {i}" for i in range(30)]
    sides = place_labels(xy, names, ranges, **kw)
    assert 3 <= sum(s is not None for s in sides) < 30
    sx = 500.0 / 6
    boxes = []
    for (x, y), name, side in zip(xy, names, sides):
        if side is None:
            continue
        px, py, w, h, r = (x + 3) * sx, (y + 3) * sx, 0.6 * 16 * len(name), 1.25 * 16, 11
        box = {"top center": (px - w / 2, py + r, px + w / 2, py + r + h),
               "bottom center": (px - w / 2, py - r - h, px + w / 2, py - r),
               "top right": (px, py + r, px + w, py + r + h), "top left": (px - w, py + r, px, py + r + h),
               "bottom right": (px, py - r - h, px + w, py - r), "bottom left": (px - w, py - r - h, px, py - r),
               "middle right": (px + r, py - h / 2, px + r + w, py + h / 2),
               "middle left": (px - r - w, py - h / 2, px - r, py + h / 2)}[side]
        assert 0 <= box[0] and box[2] <= 500 and 0 <= box[1] and box[3] <= 500, (name, side)
        assert not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes), name
        boxes.append(box)


def test_the_class_map_names_the_newest_drawings_first():
    """Two new drawings on one spot: the newer one's name is placed (on top), the older one's moves; hovering any
    ring shows its student's name."""
    from cvae.explorer.classroom import live_class as lc
    from cvae.store.class_records import Submission

    base = lc.class_map_base(np.zeros((0, 2), np.float32), np.zeros(0, int), [str(i) for i in range(10)],
                             axis_titles=("z₁", "z₂"), ranges=((-3, 3), (-3, 3)), height=600).to_plotly_json()
    subs = [Submission(1, 1, "Old Owl 1", 100.0, (0.0, 0.0), "none", 0),
            Submission(2, 2, "New Newt 2", 105.0, (0.02, 0.0), "none", 0),
            Submission(3, 3, "Past Puma 3", 10.0, (1.0, 1.0), "none", 0)]
    fig = lc.class_map_figure(base, subs, None, now=106.0)
    new = next(t for t in fig.data if t.name == lc.NEW_TRACE)
    assert list(new.text) == ["Old Owl 1", "New Newt 2"]
    assert list(new.textposition) == ["bottom center", "top center"]  # the newest took the first side
    old = next(t for t in fig.data if t.name == lc.CLASS_TRACE)
    assert list(old.hovertext) == ["Past Puma 3"] and list(new.hovertext) == ["Old Owl 1", "New Newt 2"]
