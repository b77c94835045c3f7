"""Classroom (teacher): start a class, project its join code and QR code, and watch the students' digits land on
the map live; predict-then-reveal and land-in-the-circle rounds; lock, clear, export and end.

The teacher's address carries the class's key (?class=CODE&key=…); the page never shows it.
"""

import time

import numpy as np
import streamlit as st

from cvae.explorer.classroom import class_ui
from cvae.explorer.ui import presenter, run_data, chrome, nav, images
from cvae.explorer.figures import maps
from cvae.explorer.classroom import live_class as lc
from cvae.explorer.i18n import _, current_lang
from cvae.store import class_records, class_export
from cvae.store.errors import ClassEnded, ClassError

chrome.page_setup("classroom")
store = class_ui.class_store()
qp = st.query_params
code, key = qp.get("class"), qp.get("key")

if not (code and key):
    info = run_data.run_picker_ui()
    nav.page_title_ui("classroom")
    st.markdown(_("Start a class: students join with their phones, draw a digit, and their digits land on the "
                  "projected latent map within seconds. Nothing personal is stored: each student gets a random "
                  "name, and ending the class deletes its data."))
    model, info = run_data.require_model(info)
    if tuple(model.arch.image_shape) != (28, 28, 1):
        st.info(_("A class needs a run on 28×28 greyscale digits (MNIST): students draw digits."),
                icon=":material/info:")
        st.stop()
    if st.button(_("Start a class with run {name}", name=info.name), key="cl_start", type="primary",
                 icon=":material/play_arrow:"):
        new_class, key = store.create_class(info.name)
        st.query_params.update({"class": new_class.code, "key": key})  # the teacher's address
        st.rerun()
    st.caption(_("Your address will then hold the class's teacher key: keep it to yourself (students get the "
                 "join code). A class ends on its own after {h} hours.", h=f"{class_ui.classes.ttl_seconds() / 3600:g}"))
    st.stop()

try:
    cls = store.teacher_class(code, key)
except ClassEnded:
    nav.page_title_ui("classroom")
    st.info(_("This class has ended."), icon=":material/door_front:")
    if st.button(_("Start a new class"), key="cl_new"):
        st.query_params.clear()
        st.rerun()
    st.stop()
except ClassError as e:
    nav.page_title_ui("classroom")
    st.error(class_ui.refused(e), icon=":material/lock:")
    st.stop()

cm = class_ui.class_model_ui(cls.run)
model, d = cm.model, cm.model.latent_dim
present = presenter.presenting()
lang = current_lang()


def teacher_action(fn, *args) -> None:
    """Run a teacher action; a refusal shows as one line."""
    try:
        fn(cls.code, key, *args)
    except ClassError as e:
        st.session_state["cl_error"] = class_ui.refused(e)


# ------------------------------------------------------------------------------------------------ sidebar: controls
with st.sidebar:
    st.markdown(f"### {_('Teacher')}")
    st.session_state.setdefault("cl_base", lc.server_base(st.context.url or "http://localhost:8501"))
    base = st.text_input(_("Address students use"), key="cl_base",
                         help=_("This server's address as the students' phones reach it, e.g. "
                                "http://192.168.1.20:8501"))
    if lc.local_only(base):
        st.caption(_("This address works only on this computer: start the server with --server.address 0.0.0.0 "
                     "and put its network address in the sidebar."))
    modes = {"show": _("show a drawing"), "star": _("place the ★ (predict)"), "circle": _("place the circle")}
    st.radio(_("A click on the map will"), list(modes), key="cl_click", format_func=modes.get)
    st.slider(_("Circle radius"), 0.1, 2.0, 0.5, 0.05, key="cl_radius")
    if cls.activity == "predict" and not cls.revealed:
        st.button(_("Reveal"), key="cl_reveal", type="primary", icon=":material/visibility:",
                  on_click=teacher_action, args=(store.reveal,))
    if cls.activity != "none":
        st.button(_("Back to free drawing"), key="cl_stop", on_click=teacher_action, args=(store.stop_activity,))
    locked = cls.state == "locked"
    st.button(_("Unlock") if locked else _("Lock (no new drawings)"), key="cl_lock",
              icon=":material/lock_open:" if locked else ":material/lock:",
              on_click=teacher_action, args=(store.set_locked, not locked))
    if st.button(_("Clear all drawings"), key="cl_clear", icon=":material/delete_sweep:"):
        st.session_state["cl_confirm"] = "clear"
    if st.button(_("End the class…"), key="cl_end", icon=":material/stop_circle:"):
        st.session_state["cl_confirm"] = "end"

if st.session_state.get("cl_error"):
    st.error(st.session_state.pop("cl_error"), icon=":material/error:")

join = lc.join_url(base, cls.code, lang)

# ------------------------------------------------------------------------------------------------ confirmations
confirm = st.session_state.get("cl_confirm")
if confirm == "clear":
    st.warning(_("Delete all {n} drawings of this class? Students stay joined.", n=store.count_submissions(cls.id)))
    c1, c2 = st.columns(2)
    if c1.button(_("Yes, clear"), key="cl_clear_yes", type="primary"):
        teacher_action(store.clear)
        st.session_state.pop("cl_confirm", None)
        st.rerun()
    if c2.button(_("Cancel"), key="cl_clear_no"):
        st.session_state.pop("cl_confirm", None)
        st.rerun()
elif confirm == "end":
    st.warning(_("Ending the class deletes every drawing and guess. Download what you want to keep first."))
    subs_all = store.submissions(cls.id)
    xy_all = maps.map_coords(np.array([s.code for s in subs_all], np.float32).reshape(-1, d), cm.pca) \
        if subs_all else np.zeros((0, 2))
    c1, c2, c3 = st.columns(3)
    c1.download_button(_("Codes and guesses (CSV)"), class_export.export_csv(store, cls.id), f"class_{cls.code}.csv",
                       "text/csv", key="cl_dl_csv")
    c2.download_button(_("The map (PNG)"), lc.map_png(cm.bg_xy, cm.labels, xy_all, cm.ranges),
                       f"class_{cls.code}_map.png", "image/png", key="cl_dl_png")
    c3.download_button(_("The drawings (zip)"), class_export.export_zip(store, cls.id), f"class_{cls.code}_drawings.zip",
                       "application/zip", key="cl_dl_zip")
    c1, c2 = st.columns(2)
    if c1.button(_("Delete everything and end the class"), key="cl_end_yes", type="primary"):
        teacher_action(store.end)
        st.session_state.pop("cl_confirm", None)
        st.rerun()
    if c2.button(_("Cancel"), key="cl_end_no"):
        st.session_state.pop("cl_confirm", None)
        st.rerun()

# ------------------------------------------------------------------------------------------------ the projected view
left, right = st.columns([1.3, 3.4], gap="small")
with left:
    st.markdown(f"#### {_('Join the class')}")
    st.markdown(f"<div class='cl-code' style='font-size:2.3rem;font-weight:700;letter-spacing:0.08em;"
                f"white-space:nowrap;font-family:monospace'>{cls.code}</div>", unsafe_allow_html=True)
    st.image(lc.qr_png(join), width=210, caption=_("Scan to join"))
    st.caption(join)


def on_map_click() -> None:
    """A click on the projected map: show that drawing, or place the ★ / the circle (a new round)."""
    pts = (st.session_state.get("cl_map") or {}).get("selection", {}).get("points", [])
    if not pts:
        return
    p = pts[0]
    mode = st.session_state.get("cl_click", "show")
    if mode == "show":
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, list) and cd else cd
        if isinstance(cd, (int, float)) and not isinstance(cd, bool):
            st.session_state["cl_selected"] = int(cd)
    elif mode == "star":
        teacher_action(store.start_predict, [float(v) for v in maps.z_from_click(p, d, cm.pca)])
    else:
        teacher_action(store.start_circle, float(p["x"]), float(p["y"]), float(st.session_state.get("cl_radius", 0.5)))


@st.fragment(run_every=1.0)
def live_view() -> None:
    """The map and the round's results, refreshed every second from the database."""
    try:
        now_cls = store.teacher_class(cls.code, key)
    except ClassError as e:
        st.info(class_ui.refused(e))
        return
    if (now_cls.activity, now_cls.round, now_cls.revealed, now_cls.state) != (cls.activity, cls.round, cls.revealed,
                                                                              cls.state):
        st.rerun()  # a new round or state (from a click on the map, or another tab): the sidebar's buttons follow
    subs = store.submissions(now_cls.id)
    n_students = store.count_students(now_cls.id)
    state = _("locked") if now_cls.state == "locked" else _("open")
    st.markdown(_("**{s}** students · **{n}** drawings · {state}", s=n_students, n=len(subs), state=state))
    star_xy = maps.map_coords(np.array([now_cls.star], np.float32), cm.pca)[0] \
        if now_cls.activity == "predict" and now_cls.star and len(now_cls.star) == d else None
    circle = now_cls.circle if now_cls.activity == "circle" else None
    selected = st.session_state.get("cl_selected")
    fig = lc.class_map_figure(class_ui.map_base(cm, cls.run, lang, present, grid=st.session_state.get("cl_click", "show") != "show"), subs, cm.pca, now=time.time(), star_xy=star_xy,
                              circle=circle, selected=selected, scale=1.6 if present else 1.0)
    side = now_cls.activity != "none" or selected is not None or not subs
    mcol, scol = st.columns([2.3, 1], gap="small") if side else (st.container(), st.container())
    with mcol:
        st.plotly_chart(fig, key="cl_map", on_select=on_map_click, selection_mode="points",
                        width="stretch", config={"displayModeBar": False})
    with scol:
        if now_cls.activity == "predict":
            st.markdown(f"**{_('Which digit will the decoder draw at the ★?')}**")
            hist = store.histogram(now_cls.id, now_cls.round)
            answered = sum(hist.values())
            if now_cls.revealed:
                img = model.decode(np.array([now_cls.star], np.float32), apply_sigmoid=True)[0]
                images.show_image_ui(img, key="cl_reveal_img", height=220, title=_("The decoder draws"))
                st.plotly_chart(lc.histogram_figure(hist, _("not a digit"), height=260), key="cl_hist",
                                width="stretch", config={"displayModeBar": False})
            else:
                st.markdown(_("{n} answers so far. Press **Reveal** in the sidebar.", n=answered))
        elif now_cls.activity == "circle":
            in_round = [s for s in subs if s.activity == "circle" and s.round == now_cls.round]
            xy = maps.map_coords(np.array([s.code for s in in_round], np.float32).reshape(-1, d), cm.pca)
            hits = sum(class_records.in_circle(p, circle) for p in xy)
            st.markdown(f"**{_('Draw a digit that lands in the circle!')}**")
            st.metric(_("In the circle"), f"{hits} / {len(in_round)}")
        if selected is not None:
            sub = store.submission(now_cls.id, int(selected))
            if sub is not None:
                recon = model.decode(np.array([sub.code], np.float32), apply_sigmoid=True)[0, :, :, 0]
                st.markdown(f"**{sub.name}**")
                st.container(key="cl_selected_img").image(lc.side_by_side(sub.pixels, recon), width="stretch",
                                                          clamp=True, caption=_("drawing") + " · " + _("reconstruction"))
        if not subs:
            st.caption(_("Waiting for the first drawing…"))


with right:
    live_view()
