"""Interpolate: decode the straight line and the spherical path between two latent codes, as frames and a GIF."""

import numpy as np
import streamlit as st

from cvae.explorer.ui import presenter, interp_scrub, page_state, run_data, chrome, nav, images
from cvae.explorer.figures import maps
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.i18n import N_, _, current_lang
from cvae.store.images import grid_image, png_bytes
from cvae.explorer.maths.interpolate import (MAX_FRAMES, PATH_LABELS, decode_paths, endpoints_by_class,
                                             endpoints_caption, gif_of, strip_image)

chrome.page_setup("interp")
info = run_data.run_picker_ui()

nav.page_title_ui("interp")
model, info = run_data.require_model(info)
d = model.latent_dim
binary, labels, originals, source = run_data.test_data_ui(info)
names = run_data.class_names(info.config)
n_test = len(labels)
means, map_labels, _src = run_data.map_points(model, info)  # the one map: stored means when current
xy, pca, axis_titles = maps.map_projection(means)
ranges = maps.map_ranges(xy, d)

if not presenter.presenting():
    st.caption(_("Pick two endpoints A and B in latent space — the encoder's means μ of two test digits, or two "
                 "points on the map — and decode the codes in between: along the **straight line** (lerp) and "
                 "along the **spherical path** (slerp), which keeps the codes' length closer to that of typical "
                 "samples from the prior N(0, I) (White 2016)."))

MODES = (N_("Two test digits"), N_("Two classes"), N_("Two points on the map"))
MAP_KEYS = {"A": "ip_map_a", "B": "ip_map_b"}
MODE_TOKEN = dict(zip(MODES, ("digits", "classes", "map")))  # the address's words
last_class = len(names) - 1
Z_PARSE = page_state.floats_in(d, maps.SLIDER_LOW, maps.SLIDER_HIGH)
P = {"mode": UrlParam("ends", "ip_mode", page_state.one_of(MODES, MODE_TOKEN.get), MODE_TOKEN.get),
     "a": UrlParam("a", "ip_index_a", page_state.int_in(0, n_test - 1)),
     "b": UrlParam("b", "ip_index_b", page_state.int_in(0, n_test - 1)),
     "ca": UrlParam("ca", "ip_class_a", page_state.int_in(0, last_class)),
     "cb": UrlParam("cb", "ip_class_b", page_state.int_in(0, last_class)),
     "nth": UrlParam("nth", "ip_nth", page_state.int_in(0, 999)),
     "za": UrlParam("za", MAP_KEYS["A"], Z_PARSE, page_state.join_floats),
     "zb": UrlParam("zb", MAP_KEYS["B"], Z_PARSE, page_state.join_floats),
     "frames": UrlParam("frames", "ip_frames", page_state.int_in(3, MAX_FRAMES)),
     "path": UrlParam("path", "ip_gif_path", page_state.one_of(list(PATH_LABELS)))}
page_state.restore(list(P.values()))
page_state.notes_ui()
BY_MODE = dict(zip(MODES, (("a", "b"), ("ca", "cb", "nth"), ("za", "zb"))))
left, right = st.columns([1, 2.2], gap="large")

with left:
    mode_names = {m: _(m) for m in MODES}  # format_func may run outside the script run: translate now
    mode = st.radio(_("Endpoints"), MODES, key="ip_mode", format_func=mode_names.get)
    endpoint_digits = None
    if mode == MODES[0]:
        c1, c2 = st.columns(2)
        a = int(c1.number_input(_("A: test index (0–{last})", last=n_test - 1), 0, n_test - 1, 0, step=1, key="ip_index_a"))
        b = int(c2.number_input(_("B: test index (0–{last})", last=n_test - 1), 0, n_test - 1, min(1, n_test - 1), step=1,
                                key="ip_index_b"))
        endpoint_digits = (a, b)
    elif mode == MODES[1]:
        c1, c2 = st.columns(2)
        classes = list(range(len(names)))
        ca = c1.selectbox(_("A: class"), classes, index=0, format_func=lambda c: names[c], key="ip_class_a")
        cb = c2.selectbox(_("B: class"), classes, index=min(7, len(classes) - 1), format_func=lambda c: names[c],
                          key="ip_class_b")
        nth = int(st.number_input(_("Which digit of each class (0 = the first in the test set)"), 0, 999, 0, step=1,
                                  key="ip_nth"))
        try:
            endpoint_digits = endpoints_by_class(labels, ca, cb, nth)
        except ValueError as e:
            chrome.show_error(e)
            st.stop()
    else:
        for name, key in MAP_KEYS.items():  # defaults: the μ of the first two test digits
            if key not in st.session_state:
                st.session_state[key] = [round(float(v), 2) for v in means[0 if name == "A" else min(1, len(means) - 1)]]
        st.radio(_("A click on the map sets"), list(MAP_KEYS), key="ip_click_target", horizontal=True,
                 format_func={n: _("endpoint {name}", name=n) for n in MAP_KEYS}.get)
        st.caption(_("Click anywhere on the map on the right (a point of the principal plane: the other directions "
                     "stay at the data mean).") if d > 2 else _("Click anywhere on the map on the right."))

    if endpoint_digits is not None:
        ia, ib = endpoint_digits
        mu, _lv = model.encode(binary[[ia, ib]].astype(np.float32))
        z_a, z_b = mu[0], mu[1]
        st.image([originals[ia], originals[ib]], width=96,
                 caption=[f"A: #{ia} ({names[labels[ia]]})", f"B: #{ib} ({names[labels[ib]]})"])
    else:
        z_a = np.asarray(st.session_state[MAP_KEYS["A"]], np.float32)
        z_b = np.asarray(st.session_state[MAP_KEYS["B"]], np.float32)

    n_frames = st.slider(_("Frames"), 3, MAX_FRAMES, 10, key="ip_frames")
    gif_path = st.radio(_("Path in the GIF"), list(PATH_LABELS), key="ip_gif_path", horizontal=True,
                        format_func={k: _(v) for k, v in PATH_LABELS.items()}.get)
    page_state.write([P[k] for k in ("mode", *BY_MODE[mode], "frames", "path")],
                     drop=[P[k] for m, keys in BY_MODE.items() if m != mode for k in keys])
    frame_ms = st.slider(_("GIF frame duration (ms)"), 40, 500, 120, step=20, key="ip_frame_ms")

    st.caption(endpoints_caption(z_a, z_b))

paths = decode_paths(model, z_a, z_b, n_frames)
gif = gif_of(paths[gif_path][1], duration_ms=frame_ms)

with right:
    strips = st.container(key="ip_strips")  # the main view: in presenter mode it fits a 1280×720 projector
    for kind, (codes, frames) in paths.items():
        strips.markdown(_("**{path}** — A → B in {n} frames", path=_(PATH_LABELS[kind]), n=n_frames))
        strips.image(png_bytes(strip_image(frames, scale=3)), width="stretch")
    g1, g2 = st.columns([1, 2], vertical_alignment="center")
    with g1:
        st.image(gif, width=168, caption=f"GIF: {_(PATH_LABELS[gif_path])}")
    with g2:
        st.download_button(_("Download the GIF"), gif, file_name=f"{info.name}-{gif_path}-{n_frames}.gif",
                           mime="image/gif", icon=":material/download:", key="ip_download_gif", on_click="ignore")
        both = np.concatenate([paths[k][1] for k in paths])
        st.download_button(_("Download both strips (PNG)"), png_bytes(grid_image(both, n_frames, scale=2)),
                           icon=":material/download:", file_name=f"{info.name}-interpolation-{n_frames}.png", mime="image/png",
                           key="ip_download_png", on_click="ignore")
        st.caption(_("With a 2-D latent space the two paths often look alike; the spherical path matters most in "
                     "higher dimensions, where the straight line passes through codes of unusually small norm."))

    if d >= 2:  # the decoder in the browser: every point of the path, not only the frames above
        st.markdown(_("**Scrub along the {path}** — drag on the map, the slider under the images, or the arrow keys: "
                      "decoded in your browser, every frame.", path=_(PATH_LABELS[gif_path])))
        interp_scrub.scrub_ui(info, model, z_a, z_b, gif_path, xy, labels[:len(means)], names, source, pca,
                              axis_titles, ranges)

    map_mode = mode == MODES[2]
    fig = maps.latent_map_figure(xy, map_labels, names, current=None, axis_titles=axis_titles,
                                 ranges=ranges, height=480, click_grid=50 if map_mode else 0, strip=(d == 1),
                                 lang=current_lang())
    maps.add_paths_to_map(fig, {_(PATH_LABELS[k]): maps.map_coords(codes, pca, strip=(d == 1))
                                for k, (codes, _f) in paths.items()}, lang=current_lang(),
                          dark=st.context.theme.type == "dark")
    presenter.style_figure(fig)
    if map_mode:
        st.plotly_chart(fig, key="ip_map", selection_mode="points", width="stretch",
                        config={"displayModeBar": False},
                        on_select=images.make_code_click_handler(
                            "ip_map", lambda: MAP_KEYS[st.session_state.get("ip_click_target", "A")], d, pca))
    else:
        st.plotly_chart(fig, key="ip_map_view", width="stretch", config={"displayModeBar": False})
    st.caption(_("The paths over the μ of {n} encoded test digits ({source}), projected on their two principal "
                 "components.", n=f"{len(means):,}", source=source) if d > 2 else
               _("The paths over the μ of {n} encoded test digits ({source}).", n=f"{len(means):,}", source=source))
