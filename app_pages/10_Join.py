"""Join a class (students, phone first): draw a digit with a finger, send it, see its reconstruction and where it
landed; answer the teacher's "which digit will the decoder draw at the ★?" rounds.

The address holds the class code (?code=…) and, once joined, this phone's random student token (&me=…).
"""

import numpy as np
import streamlit as st

from cvae.explorer.classroom import class_ui
from cvae.explorer.figures import maps
from cvae.explorer.classroom import live_class as lc
from cvae.explorer.maths import own_digit as od
from cvae.explorer.ui import chrome, nav, images
from cvae.explorer.ui.canvas import canvas_ui, png_from_data_url
from cvae.explorer.i18n import _, current_lang
from cvae.store.class_records import GUESS_NOT_A_DIGIT, in_circle
from cvae.store.errors import ClassEnded, ClassError, ClassNotFound

chrome.page_setup("join")
store = class_ui.class_store()
qp = st.query_params
code_raw, token = qp.get("code"), qp.get("me")
class_ui.inline_lang_ui("jn_lang")
nav.page_title_ui("join")


def join_ui(raw: str | None) -> None:
    """Join the class of `raw` (from the QR code's address or typed) and keep the token in the address."""
    try:
        _student, tok, cls = store.join(raw)
    except ClassError as e:
        st.error(class_ui.refused(e), icon=":material/block:")
        return
    st.query_params.update({"code": cls.code, "me": tok})
    st.session_state.pop("jn_result", None)
    st.rerun()


if not token:
    if code_raw and not st.session_state.get("jn_tried") == code_raw:
        st.session_state["jn_tried"] = code_raw  # joins once per scanned address (a refusal is not retried)
        join_ui(code_raw)
    typed = st.text_input(_("Join code"), key="jn_code", max_chars=12, placeholder="ABC234")
    if st.button(_("Join"), key="jn_join", type="primary"):
        join_ui(typed)
    st.stop()

try:
    me, cls = store.student(token)
except ClassNotFound:
    ended = False
    try:
        ended = bool(code_raw) and store.find(code_raw).state == "ended"
    except ClassError:
        pass
    st.info(_("This class has ended.") if ended else _("This link is no longer part of a class."),
            icon=":material/door_front:")
    if st.button(_("Join another class"), key="jn_again"):
        st.query_params.clear()
        st.rerun()
    st.stop()

cm = class_ui.class_model_ui(cls.run)
model, d = cm.model, cm.model.latent_dim
st.markdown(_("You are **{name}** (a random name: nothing about you is stored).", name=me.name))
if cls.state == "locked":
    st.warning(_("The teacher has locked this class: no new drawings for now."), icon=":material/lock:")


GUESSES = {str(g): g for g in range(10)} | {"none": GUESS_NOT_A_DIGIT}  # the answer buttons' options


def on_guess(round_: int) -> None:
    value = st.session_state.get(f"jn_guess_{round_}")
    if value not in GUESSES:
        return
    try:
        store.guess(token, round_, GUESSES[value])
    except ClassError as e:
        st.session_state["jn_guess_error"] = class_ui.refused(e)


@st.fragment(run_every=3.0)
def activity_ui() -> None:
    """What the teacher asks right now (polled every 3 s)."""
    try:
        _me, now = store.student(token)
    except ClassError:
        st.info(_("This class has ended."))
        return
    if now.activity == "predict":
        st.markdown(f"#### {_('Which digit will the decoder draw at the ★?')}")
        labels = {g: str(g) for g in range(10)} | {GUESS_NOT_A_DIGIT: _("not a digit")}
        st.pills(_("Your guess"), list(GUESSES), key=f"jn_guess_{now.round}",
                 format_func=lambda o: labels[GUESSES[o]], selection_mode="single", on_change=on_guess,
                 args=(now.round,), disabled=now.revealed)
        if st.session_state.get("jn_guess_error"):
            st.caption(st.session_state.pop("jn_guess_error"))
        if now.revealed and now.star:
            img = model.decode(np.array([now.star], np.float32), apply_sigmoid=True)[0]
            mine = store.my_guess(token, now.round)
            st.markdown(_("Revealed! You guessed **{g}**.", g=labels.get(mine, "–")) if mine is not None
                        else _("Revealed!"))
            images.show_image_ui(img, key="jn_reveal_img", height=200, title=_("The decoder draws"))
            st.plotly_chart(lc.histogram_figure(store.histogram(now.id, now.round), _("not a digit"), height=220),
                            key="jn_hist", width="stretch", config={"displayModeBar": False, "staticPlot": True})
    elif now.activity == "circle":
        st.markdown(f"#### {_('Draw a digit that lands in the circle!')}")
        st.caption(_("The circle is on the map below your drawing's result."))
    else:
        st.caption(_("Draw a digit and send it: it appears on the projected map."))


activity_ui()

def drawing(n: int) -> bytes | None:
    """The canvas's drawing as the browser sent it with this very press (its widget state), else as last seen."""
    try:
        url = st.session_state[f"jn_canvas_{n}"]["image"]
    except (KeyError, TypeError, AttributeError):
        url = None
    return (png_from_data_url(url) if url else None) or st.session_state.get("jn_png")


def on_send(n: int) -> None:
    """Send the drawing: a callback, so the same script run then shows a fresh canvas and the result."""
    try:
        binary = lc.drawing_to_input(drawing(n))
        mu, _logvar = model.encode(binary.reshape(1, 28, 28, 1))
        store.submit(token, binary, [float(v) for v in mu[0]])
        st.session_state["jn_canvas_n"] = n + 1  # a fresh canvas for the next digit
        st.session_state.pop("jn_png", None)
    except od.ImageRejected as e:
        st.session_state["jn_send_error"] = _("This drawing can't be used: {reason}", reason=e)
    except ClassError as e:
        st.session_state["jn_send_error"] = class_ui.refused(e)


n = st.session_state.setdefault("jn_canvas_n", 0)
png = canvas_ui(f"jn_canvas_{n}")
st.session_state["jn_png"] = png
st.caption(_("Draw one digit, large, with your finger."))
st.button(_("Send my drawing"), key="jn_send", type="primary", icon=":material/send:",
          disabled=png is None or cls.state != "open", on_click=on_send, args=(n,))
if st.session_state.get("jn_send_error"):
    st.error(st.session_state.pop("jn_send_error"), icon=":material/block:")

mine = store.submissions(cls.id, with_pixels=True, join_id=me.id)
if not mine:
    st.stop()
last = mine[-1]
st.subheader(_("Where it landed"))
recon = model.decode(np.array([last.code], np.float32), apply_sigmoid=True)[0, :, :, 0]
st.container(key="jn_result_img").image(lc.side_by_side(last.pixels, recon), width=300, clamp=True,
                                        caption=_("your drawing") + " · " + _("reconstruction"))
xy = maps.map_coords(np.array([s.code for s in mine], np.float32), cm.pca)
circle = cls.circle if cls.activity == "circle" else None
fig = lc.student_map_figure(class_ui.map_base(cm, cls.run, current_lang(), False, height=380), xy, circle)
st.plotly_chart(fig, key="jn_map", width="stretch", config={"displayModeBar": False, "staticPlot": True})
st.caption(_("★ your latest drawing; dots: test digits, coloured by class. Its code: ({z}).",
             z=", ".join(f"{v:.2f}" for v in last.code)))
if circle is not None and last.activity == "circle" and last.round == cls.round:
    if in_circle(xy[-1], circle):
        st.success(_("Inside the circle!"), icon=":material/check_circle:")
    else:
        dist = float(np.hypot(xy[-1][0] - circle[0], xy[-1][1] - circle[1]) - circle[2])
        st.info(_("Outside the circle, {d} from its edge: try again.", d=f"{dist:.2f}"))
