"""Interpolate: decode the straight line and the spherical path between two latent codes, as frames and a GIF."""

import numpy as np
import streamlit as st

from cvae.explorer import figures, interp_scrub
from cvae.explorer import widgets as ui
from cvae.store.images import grid_image, png_bytes
from cvae.explorer.interpolate import (MAX_FRAMES, PATH_LABELS, decode_paths, endpoints_by_class, endpoints_caption,
                              gif_of, strip_image)

ui.page_setup("Interpolate", "🎞️")
info = ui.run_picker_ui()

st.title("🎞️ Interpolate")
model, info = ui.require_model(info)
d = model.latent_dim
binary, labels, originals, source = ui.test_data_ui(info)
names = ui.class_names(info.config.dataset)
n_test = len(labels)
means, map_labels, _ = ui.map_points(model, info)  # the one map: stored means when current
xy, pca, axis_titles = figures.map_projection(means)
ranges = figures.map_ranges(xy, d)

st.caption("Pick two endpoints A and B in latent space — the encoder's means μ of two test digits, or two points "
           "on the map — and decode the codes in between: along the **straight line** (lerp) and along the "
           "**spherical path** (slerp), which keeps the codes' length closer to that of typical samples from "
           "the prior N(0, I) (White 2016).")

MODES = ("Two test digits", "Two classes", "Two points on the map")
MAP_KEYS = {"A": "ip_map_a", "B": "ip_map_b"}
left, right = st.columns([1, 2.2], gap="large")

with left:
    mode = st.radio("Endpoints", MODES, key="ip_mode")
    endpoint_digits = None
    if mode == MODES[0]:
        c1, c2 = st.columns(2)
        a = int(c1.number_input(f"A: test index (0–{n_test - 1})", 0, n_test - 1, 0, step=1, key="ip_index_a"))
        b = int(c2.number_input(f"B: test index (0–{n_test - 1})", 0, n_test - 1, min(1, n_test - 1), step=1,
                                key="ip_index_b"))
        endpoint_digits = (a, b)
    elif mode == MODES[1]:
        c1, c2 = st.columns(2)
        classes = list(range(len(names)))
        ca = c1.selectbox("A: class", classes, index=0, format_func=lambda c: names[c], key="ip_class_a")
        cb = c2.selectbox("B: class", classes, index=min(7, len(classes) - 1), format_func=lambda c: names[c],
                          key="ip_class_b")
        nth = int(st.number_input("Which digit of each class (0 = the first in the test set)", 0, 999, 0, step=1,
                                  key="ip_nth"))
        try:
            endpoint_digits = endpoints_by_class(labels, ca, cb, nth)
        except ValueError as e:
            ui.show_error(e)
            st.stop()
    else:
        for name, key in MAP_KEYS.items():  # defaults: the μ of the first two test digits
            if key not in st.session_state:
                st.session_state[key] = [round(float(v), 2) for v in means[0 if name == "A" else min(1, len(means) - 1)]]
        st.radio("A click on the map sets", list(MAP_KEYS), key="ip_click_target", horizontal=True,
                 format_func=lambda n: f"endpoint {n}")
        st.caption("Click anywhere on the map on the right" +
                   (" (a point of the principal plane: the other directions stay at the data mean)." if d > 2 else "."))

    if endpoint_digits is not None:
        ia, ib = endpoint_digits
        mu, _ = model.encode(binary[[ia, ib]].astype(np.float32))
        z_a, z_b = mu[0], mu[1]
        st.image([originals[ia], originals[ib]], width=96,
                 caption=[f"A: #{ia} ({names[labels[ia]]})", f"B: #{ib} ({names[labels[ib]]})"])
    else:
        z_a = np.asarray(st.session_state[MAP_KEYS["A"]], np.float32)
        z_b = np.asarray(st.session_state[MAP_KEYS["B"]], np.float32)

    n_frames = st.slider("Frames", 3, MAX_FRAMES, 10, key="ip_frames")
    gif_path = st.radio("Path in the GIF", list(PATH_LABELS), key="ip_gif_path", horizontal=True,
                        format_func=lambda k: PATH_LABELS[k])
    frame_ms = st.slider("GIF frame duration (ms)", 40, 500, 120, step=20, key="ip_frame_ms")

    st.caption(endpoints_caption(z_a, z_b))

paths = decode_paths(model, z_a, z_b, n_frames)
gif = gif_of(paths[gif_path][1], duration_ms=frame_ms)

with right:
    for kind, (codes, frames) in paths.items():
        st.markdown(f"**{PATH_LABELS[kind].capitalize()}** — A → B in {n_frames} frames")
        st.image(png_bytes(strip_image(frames, scale=3)), width="stretch")
    g1, g2 = st.columns([1, 2], vertical_alignment="center")
    with g1:
        st.image(gif, width=168, caption=f"GIF: {PATH_LABELS[gif_path]}")
    with g2:
        st.download_button("⬇️ Download the GIF", gif, file_name=f"{info.name}-{gif_path}-{n_frames}.gif",
                           mime="image/gif", key="ip_download_gif", on_click="ignore")
        both = np.concatenate([paths[k][1] for k in paths])
        st.download_button("⬇️ Download both strips (PNG)", png_bytes(grid_image(both, n_frames, scale=2)),
                           file_name=f"{info.name}-interpolation-{n_frames}.png", mime="image/png",
                           key="ip_download_png", on_click="ignore")
        st.caption("With a 2-D latent space the two paths often look alike; the spherical path matters most in "
                   "higher dimensions, where the straight line passes through codes of unusually small norm.")

    if d >= 2:  # the decoder in the browser: every point of the path, not only the frames above
        st.markdown(f"**Scrub along the {PATH_LABELS[gif_path]}** — drag on the map, the slider under the images, "
                    "or the arrow keys: decoded in your browser, every frame.")
        interp_scrub.scrub_ui(info, model, z_a, z_b, gif_path, xy, labels[:len(means)], names, source, pca,
                              axis_titles, ranges)

    map_mode = mode == MODES[2]
    fig = figures.latent_map_figure(xy, map_labels, names, current=None, axis_titles=axis_titles,
                               ranges=ranges, height=480, click_grid=50 if map_mode else 0, strip=(d == 1))
    figures.add_paths_to_map(fig, {PATH_LABELS[k]: figures.map_coords(codes, pca, strip=(d == 1))
                              for k, (codes, _) in paths.items()})
    if map_mode:
        st.plotly_chart(fig, key="ip_map", selection_mode="points", width="stretch",
                        config={"displayModeBar": False},
                        on_select=ui.make_code_click_handler(
                            "ip_map", lambda: MAP_KEYS[st.session_state.get("ip_click_target", "A")], d, pca))
    else:
        st.plotly_chart(fig, key="ip_map_view", width="stretch", config={"displayModeBar": False})
    st.caption(f"The paths over the μ of {len(means):,} encoded test digits ({source})" +
               (", projected on their two principal components." if d > 2 else "."))
