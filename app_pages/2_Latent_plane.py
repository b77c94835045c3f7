"""Latent plane: pick a code z (sliders, or a click on the map of encoded test digits) and decode it."""

import numpy as np
import streamlit as st

from cvae.explorer.ui import presenter, plane_pad, run_data, chrome, nav, images
from cvae.explorer.maths import colour
from cvae.explorer.figures import maps
from cvae.explorer.ui.keys import PLANE_SAVED_Z, PLANE_SEED, plane_z_keys
from cvae.explorer.i18n import _, current_lang
from cvae.explorer.ui.latent_pad import prior_centre, view_ranges

chrome.page_setup("plane")
plane_pad.apply_url_run()  # ?run= picks the run before the picker is drawn
info = run_data.run_picker_ui()

nav.page_title_ui("plane")
model, info = run_data.require_model(info)
d = model.latent_dim
means, labels, source = run_data.map_points(model, info)  # the trainer's stored means when they are current
names = run_data.class_names(info.config)
xy, pca, axis_titles = maps.map_projection(means)
ranges = maps.map_ranges(xy, d)
present = presenter.presenting()
# The latent pad (decoder in the browser) for latent_dim >= 2; below it, the classic slider view when it is off.
if plane_pad.plane_pad_ui(info, model, means, labels, names, source, xy, pca, axis_titles, ranges):
    st.stop()

h, w = model.arch.image_shape[:2]
if not present:
    st.caption((_("The decoder turns any code z into {h}×{w} colour images (the mean of each sub-pixel's "
                  "distribution). Choose z with the sliders — or click anywhere on the map — and watch the image "
                  "change.", h=h, w=w) if colour.is_colour(model) else
                _("The decoder turns any code z into {h}×{w} pixel probabilities. Choose z with the sliders — "
                  "or click anywhere on the map — and watch the image change.", h=h, w=w)))

ZKEYS = plane_z_keys(d)
saved = st.session_state.get(PLANE_SAVED_Z)
for i, k in enumerate(ZKEYS):
    if k not in st.session_state:
        st.session_state[k] = float(saved[1][i]) if saved and saved[0] == (info.name, d) else 0.0
st.session_state.setdefault(PLANE_SEED, 0)


def reset_z() -> None:
    for k in ZKEYS:
        st.session_state[k] = 0.0


def resample() -> None:
    st.session_state[PLANE_SEED] += 1


def slider(col, i: int) -> float:
    return col.slider(f"z{_sub(i + 1)}", maps.SLIDER_LOW, maps.SLIDER_HIGH, step=0.01, key=ZKEYS[i],
                      help=_("The prior p(z) is a standard normal: ±3.09 covers 99.8% of it."))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


RESET = _("Reset to the prior mean (z = 0)")
left, right = st.columns([1, 1.2], gap="large")
with left:
    if d <= 2:
        cols = st.columns(d)
        z = np.array([slider(cols[i], i) for i in range(d)], np.float32)
        st.button(RESET, key="lp_reset", on_click=reset_z, icon=":material/restart_alt:")
    else:
        with st.expander(_("All {d} latent dimensions", d=d), expanded=True):
            per_row = 4
            values = []
            for start in range(0, d, per_row):
                cols = st.columns(per_row)
                values += [slider(cols[i - start], i) for i in range(start, min(d, start + per_row))]
            z = np.array(values, np.float32)
            st.button(RESET, key="lp_reset", on_click=reset_z, icon=":material/restart_alt:")
    st.session_state[PLANE_SAVED_Z] = ((info.name, d), [float(v) for v in z])
    plane_pad.sync_from_classic(info, z)  # the pad and the URL follow the sliders

    probs = colour.decode_images(model, z[None])[0]
    images.show_image_ui(probs, key="lp_decoded", height=360 if present else 430, hover=colour.decoded_hover(model),
                         title=_("Decoder output: mean of p(x | z)") if colour.is_colour(model) else
                         _("Decoder output: p(pixel = 1 | z)"))

with right:
    if d == 2:
        current = z
    elif d == 1:
        current = np.array([z[0], 0.0])
    else:
        current = pca.transform(z[None])[0]
        ranges = view_ranges(xy, prior_centre(pca.mean, pca.components), current, half=maps.SLIDER_HIGH)
    fig = maps.latent_map_figure(xy, labels, names, current=current, axis_titles=axis_titles, ranges=ranges,
                                 height=560 if present else 620, click_grid=60, strip=(d == 1),
                                 lang=current_lang())
    st.plotly_chart(presenter.style_figure(fig), key="lp_map",
                    on_select=images.make_click_handler("lp_map", ZKEYS, d, pca),
                    selection_mode="points", width="stretch", config={"displayModeBar": False})
    n = len(means)
    if d == 2:
        st.caption(_("Each dot is the encoder's mean μ for one of {n} test digits ({source}); colour and shape show "
                     "its label. The ★ is the code being decoded. **Click anywhere on the map** to decode that "
                     "point.", n=f"{n:,}", source=source))
    elif d == 1:
        st.caption(_("With one latent dimension a code is a single number. Each dot is the encoder's μ for one of "
                     "{n} test digits ({source}), drawn in the row of its class (with a little vertical jitter) "
                     "so you can see which digits share a stretch of the line. Click anywhere to decode that z₁.",
                     n=f"{n:,}", source=source))
    else:
        ex = pca.explained
        st.caption(_("The codes have {d} dimensions, so the map shows the μ of {n} test digits ({source}) "
                     "projected on their two principal components (PCA; they explain {e1} and {e2} "
                     "of the variance). The ★ is the current z projected on that plane. Clicking decodes the point "
                     "of the principal plane under the cursor (the other directions stay at the data mean), "
                     "clipped to the slider range.", d=d, n=f"{n:,}", source=source, e1=f"{ex[0]:.0%}",
                     e2=f"{ex[1]:.0%}"))

# The sample comes after the map: on a phone the columns stack, and the map should follow the image closely.
s1, s2 = st.columns([1, 2], vertical_alignment="center")
rng = np.random.default_rng(st.session_state[PLANE_SEED])
sample = colour.sample_images(model, z[None], rng)[0]
with s1:
    images.show_image_ui(sample, key="lp_sample", height=220, title=_("A sample x ~ p(x | z)"), hover="pixel")
with s2:
    if colour.binary_pixels(model):
        st.markdown(_("Each pixel is an independent coin flip with the probability shown above: "
                      "that is what the model *generates*. The smooth picture is its mean."))
    else:
        st.markdown(_("Each sub-pixel is an independent draw of one of its 256 values from a discretized logistic "
                      "around the mean shown above: that is what the model *generates*."))
    st.button(_("Resample"), key="lp_resample", on_click=resample, icon=":material/casino:")
    st.caption(_("sample seed {seed}", seed=st.session_state[PLANE_SEED]))
