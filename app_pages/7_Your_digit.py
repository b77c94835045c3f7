"""Your digit: draw, upload or photograph a digit; see it preprocessed MNIST-style and what the model makes of it."""

import numpy as np
import streamlit as st

from cvae.explorer.figures import diag_figures, maps
from cvae.explorer.maths import own_digit as od, own_image
from cvae.explorer.ui import page_state, posterior_ui, run_data, chrome, nav, images
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.ui.canvas import canvas_ui
from cvae.explorer.i18n import N_, _, current_lang
from cvae.explorer.ui.text import md

IWAE_K = 100
N_NEAREST = 5

chrome.page_setup("digit")
info = run_data.run_picker_ui()

nav.page_title_ui("digit")
model, info = run_data.require_model(info)
d = model.latent_dim
_binary, _labels, originals, _source = run_data.test_data_ui(info)
means, labels, source = run_data.map_points(model, info)
names = run_data.class_names(info.config)
own = own_image.needs_own_preprocessing(info.config)  # a run on your own images: "your image", prepared like them
if own:
    st.caption(_("Put your own image into the model. It is prepared the way the run's training images were: the "
                 "shorter side scaled to {s} px and the centre {s}×{s} kept, then as the model sees it. Nothing is "
                 "stored: images stay in memory.", s=model.arch.size))
else:
    st.caption(_("Put your own handwriting into the model. It is prepared the way MNIST was: white ink on black, the "
                 "digit's box scaled to 20 px and centred by its centre of mass in 28×28, then binarized like the "
                 "training images. Nothing is stored: images stay in memory."))

SOURCES = [N_("Draw"), N_("Upload"), N_("Camera")]
P_SOURCE = UrlParam("source", "yd_source", page_state.one_of(SOURCES, str.lower), str.lower)  # never the digit
page_state.restore([P_SOURCE])
page_state.notes_ui()
how = st.radio(_("Your digit"), SOURCES, key="yd_source", horizontal=True, format_func=_)
page_state.write([P_SOURCE])
data: bytes | None = None
left, right = st.columns([1, 1.3], gap="large")
with left:
    if how == "Draw":
        data = canvas_ui("yd_canvas")
        st.caption(_("Draw one digit, large, with the mouse, a pen or a finger."))
    elif how == "Upload":
        up = st.file_uploader(_("Your image") if own else _("A PNG or JPEG of one digit"),
                              type=own_image.UPLOAD_TYPES if own else ["png", "jpg", "jpeg"], key="yd_upload",
                              max_upload_size=max(1, od.MAX_UPLOAD_BYTES // (1024 * 1024)))
        data = up.getvalue() if up is not None else None
    else:
        shot = st.camera_input(_("Hold a digit written on paper up to the camera"), key="yd_camera")
        data = shot.getvalue() if shot is not None else None

if data is None:
    st.info(_("Draw, upload or photograph a digit to see what the model makes of it."), icon=":material/draw:")
    st.stop()
try:
    if own:
        prepared = own_image.prepare(data, model.arch)
    else:
        steps = od.preprocess(od.decode_image(data))
except (od.ImageRejected, ValueError) as e:
    st.error(_("This image can't be used: {reason}", reason=md(e)), icon=":material/block:")
    st.stop()

x_model = prepared.x if own else steps.binary
out = od.describe(model, x_model, IWAE_K)
mu, sigma = np.array(out["mu"]), np.array(out["sigma"])
with right:
    st.subheader(_("Where it lands"))
    xy, pca, axis_titles = maps.map_projection(means)
    current = maps.map_coords(mu[None], pca, strip=(d == 1))[0]
    fig = maps.latent_map_figure(xy, labels, names, current=current, axis_titles=axis_titles,
                                 ranges=maps.map_ranges(xy, d), height=480, strip=(d == 1), lang=current_lang())
    if d == 2:
        diag_figures.add_ellipses(fig, mu[None], np.log(sigma[None] ** 2), np.zeros(1, int))
        fig.data[-1].update(line=dict(color="black", width=3), opacity=1.0, name=_("your digit ±σ"))
    st.plotly_chart(fig, key="yd_map", width="stretch", config={"displayModeBar": False})
    st.caption((_("★ μ of your digit with its 1-σ ellipse; dots: μ of {n} test digits ({source}).") if d == 2 else
                _("★ μ of your digit; dots: μ of {n} test digits ({source}).")).format(n=f"{len(means):,}", source=source))

# The result first (under the canvas, in one row that does not stack on a phone), then the details.
with left, st.container(key="yd_result"):
    c1, c2 = st.columns(2)
    with c1:  # titles as captions: they wrap in a phone's half-width column (a chart title would be cut)
        st.caption(_("Reconstruction p(x | z = μ)"))
        images.show_image_ui(out["reconstruction"], key="yd_recon", height=200)
    with c2:
        st.caption(_("A sample"))
        images.show_image_ui(out["sample"], key="yd_sample", height=200, hover=_("pixel"))
with left:
    st.metric(_("ELBO (single sample)"), _("{v} nats", v=f"{out['elbo']:.1f}"),
              help=_("log p(x|z) + log p(z) − log q(z|x) for one z ~ q(z|x): a lower bound on log p(x)."))
    st.metric(f"IWAE log p(x), k = {IWAE_K}", _("{v} nats", v=f"{out[f'iwae_{IWAE_K}']:.1f}"))
    st.markdown("μ = (" + ", ".join(f"{v:.2f}" for v in mu) + "), σ = (" + ", ".join(f"{v:.2f}" for v in sigma)
                + ")")

st.subheader(_("Preprocessing, step by step"))
if own:
    s = model.arch.size
    shown = [(prepared.image, _("centre-cropped to {s}×{s}", s=s)),
             (own_image.seen(prepared), _("what the model sees"))]
    for col, (img, caption) in zip(st.container(key="yd_steps").columns(4), shown):
        col.image(img, caption=caption, width="stretch", clamp=True)
else:
    shown = [(steps.grey, _("greyscale")), (steps.ink, _("inverted") if steps.inverted else _("ink (not inverted)")),
             (steps.crop, _("cropped to the ink")), (steps.scaled, _("longer side 20 px")),
             (steps.centred, _("centred in 28×28")), (steps.binary, _("binarized (what the model sees)"))]
    for col, (img, caption) in zip(st.container(key="yd_steps").columns(len(shown)), shown):
        pad = None if img is steps.grey else 0.0  # ink stages are white on black
        col.image(od.pad_square(np.clip(img, 0, 1), pad), caption=caption, width="stretch", clamp=True)

st.subheader(_("The encoder's guess vs the truth"))
posterior_ui.posterior_section_ui(model, info.path, x_model, key="yd_posterior")

if len(originals) < len(means):
    st.stop()  # the test images behind the stored means are not available here (bundled sample only)
st.subheader(_("The {n} nearest test digits in latent space", n=N_NEAREST))
near = od.nearest(means, mu, N_NEAREST)
for col, i in zip(st.container(key="yd_nearest").columns(N_NEAREST), near):
    col.image(originals[i], caption=_("{name} · distance {dist}", name=names[labels[i]], dist=f"{np.linalg.norm(means[i] - mu):.2f}"),
              width="stretch")
