"""Lesson: seven short steps through the CVAE for students, each with a live widget of the selected model."""

import numpy as np
import streamlit as st

from cvae.explorer.ui import presenter, page_state, posterior_ui, run_data, chrome, nav, images
from cvae.explorer.figures import maps, posterior_figures
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.i18n import N_, _, current_lang
from cvae.store.images import png_bytes

chrome.page_setup("lesson")
info = run_data.run_picker_ui()
nav.page_title_ui("lesson")
model, info = run_data.require_model(info)
d = model.latent_dim
binary, labels, originals, source = run_data.test_data_ui(info)
names = run_data.class_names(info.config)

STEPS = (N_("A code is two numbers"), N_("The decoder draws from a code"), N_("Similar digits get near codes"),
         N_("The ELBO = reconstruction − KL"), N_("Sampling from the prior"), N_("Walking between two digits"),
         N_("The encoder's guess vs the truth"))
P_STEP = UrlParam("step", "ls_step", lambda t: page_state.int_in(1, len(STEPS))(t) - 1, lambda i: str(i + 1))
page_state.restore([P_STEP])
page_state.notes_ui()
st.session_state.setdefault("ls_step", 0)
if st.session_state["ls_step"] is None:  # a click on the selected segment deselects it: stay on that step
    st.session_state["ls_step"] = st.session_state.get("ls_last_step", 0)
head, picker = st.columns([1.4, 1], vertical_alignment="bottom")
step = picker.segmented_control(_("Step"), range(len(STEPS)), key="ls_step", format_func=lambda i: str(i + 1))
st.session_state["ls_last_step"] = step
page_state.write([P_STEP])
head.subheader(f"{step + 1}. {_(STEPS[step])}")


def decode(z: np.ndarray) -> np.ndarray:
    return model.decode(np.asarray(z, np.float32).reshape(-1, d), apply_sigmoid=True)[..., 0]


def strip(frames: np.ndarray, scale: int = 3) -> bytes:
    from cvae.explorer.maths.interpolate import strip_image

    return png_bytes(strip_image(frames, scale=scale))


text, live_col = st.columns([1, 1.3], gap="large")
live = live_col.container(key="ls_live")  # the step's widget: the main view of the page
if step == 0:
    text.markdown(_("The encoder squeezes a 28×28 image (784 pixels) into a **code** z. In this model the code "
                    "has only {d} numbers — so every digit the model knows lives at a point of a plane, the "
                    "**latent space**. Move the two numbers and see which digit they stand for.", d=d))
    with live:
        a, b = st.columns(2)
        z = np.zeros(d, np.float32)
        z[0] = a.slider("z₁", -3.0, 3.0, 0.0, 0.05, key="ls_z1")
        if d > 1:
            z[1] = b.slider("z₂", -3.0, 3.0, 0.0, 0.05, key="ls_z2")
        images.show_image_ui(decode(z)[0], key="ls_img0", height=300)
elif step == 1:
    text.markdown(_("The **decoder** is the half that draws: given any code, it paints a probability for every "
                    "pixel. Keep z₂ fixed and let z₁ run from left to right: the drawing changes smoothly."))
    with live:
        z2 = st.slider("z₂", -3.0, 3.0, 0.0, 0.1, key="ls_row_z2") if d > 1 else 0.0
        z = np.zeros((9, d), np.float32)
        z[:, 0] = np.linspace(-2.5, 2.5, 9)
        if d > 1:
            z[:, 1] = z2
        st.image(strip(decode(z)), width="stretch", caption="z₁ = −2.5 … 2.5")
elif step == 2:
    text.markdown(_("The **encoder** turns each test digit into a code μ. Pick a class: its digits sit close "
                    "together on the map, and digits that look alike (4 and 9, 3 and 5) are neighbours."))
    with live:
        cls = st.selectbox(_("Class"), range(len(names)), format_func=lambda c: names[c], key="ls_class")
        means, _lv = run_data.encoded_test_set(model, info, limit=2000)
        xy, pca, axis_titles = maps.map_projection(means)
        lab = labels[:len(means)]
        centre = xy[lab == cls].mean(axis=0) if (lab == cls).any() else np.zeros(2)
        fig = maps.latent_map_figure(xy, lab, names, current=centre, axis_titles=axis_titles,
                                     ranges=maps.map_ranges(xy, d), height=430, strip=(d == 1),
                                     legend_side="right" if presenter.presenting() else "top", lang=current_lang())
        st.plotly_chart(presenter.style_figure(fig), key="ls_map", width="stretch", config={"displayModeBar": False})
        st.caption(_("The ★ is the average code of the class {name}.", name=names[cls]))
elif step == 3:
    text.markdown(_("Training maximises the **ELBO**. It has two parts: the **reconstruction** term rewards "
                    "codes from which the decoder redraws the digit well; the **KL** term is a price for codes "
                    "that stray from the prior N(0, I). Pick a digit and read both."))
    with text:
        chrome.formula_ui(r"\mathrm{ELBO} = \mathbb{E}_q \log p(x\mid z) - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)",
                          r"\begin{aligned}\mathrm{ELBO} &= \mathbb{E}_q \log p(x\mid z) \\ &\quad - "
                          r"\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)\end{aligned}", "ls_elbo")
    with live:
        i = int(st.number_input(_("Test index (0–{last})", last=len(labels) - 1), 0, len(labels) - 1, 0,
                                key="ls_index"))
        terms = model.elbo_terms(binary[[i]].astype(np.float32), rng=np.random.default_rng(0))
        c1, c2, c3 = st.columns(3)
        c1.metric(_("reconstruction"), f"{terms['logpx_z'][0]:.1f}")
        c2.metric("KL", f"{terms['kl'][0]:.1f}")
        c3.metric("ELBO", f"{terms['logpx_z'][0] - terms['kl'][0]:.1f}")
        recon = decode(terms["mean"])[0]
        st.image(strip(np.stack([binary[i].astype(np.float32), recon])), width=240,
                 caption=_("input x and its reconstruction"))
elif step == 4:
    text.markdown(_("The prior p(z) is a standard normal. Draw codes from it and decode them: the model "
                    "**generates** digits it has never seen."))
    with live:
        st.session_state.setdefault("ls_seed", 0)
        if st.button(_("New samples"), key="ls_sample", icon=":material/casino:"):
            st.session_state["ls_seed"] += 1
        z = np.random.default_rng(st.session_state["ls_seed"]).standard_normal((8, d)).astype(np.float32)
        st.image(strip(decode(z)), width="stretch", caption=_("8 codes z ~ N(0, I), decoded"))
elif step == 5:
    text.markdown(_("Because near codes decode to similar pictures, the straight line between the codes of two "
                    "digits is a smooth film from one to the other. Move t from 0 to 1."))
    with live:
        a, b = st.columns(2)
        ca = a.selectbox(_("A: class"), range(len(names)), index=0, format_func=lambda c: names[c], key="ls_ca")
        cb = b.selectbox(_("B: class"), range(len(names)), index=min(7, len(names) - 1),
                         format_func=lambda c: names[c], key="ls_cb")
        t = st.slider("t", 0.0, 1.0, 0.5, 0.05, key="ls_t")
        ia = int(np.flatnonzero(labels == ca)[0]) if (labels == ca).any() else 0
        ib = int(np.flatnonzero(labels == cb)[0]) if (labels == cb).any() else 0
        mu, _lv = model.encode(binary[[ia, ib]].astype(np.float32))
        z = (1 - t) * mu[0] + t * mu[1]
        st.image(strip(np.stack([binary[ia].astype(np.float32), decode(z)[0], binary[ib].astype(np.float32)])),
                 width=360, caption="A · (1 − t)·z(A) + t·z(B) · B")
else:
    text.markdown(_("The encoder only **guesses** where a digit's code is: q(z|x), an ellipse. With two latent "
                    "numbers we can compute the **truth**, p(z|x) ∝ p(x|z) p(z), by adding up p(x|z) p(z) over "
                    "the whole plane. Blue is the truth, orange the guess, green the best ellipse for this one "
                    "digit. How far the guess is from the truth, KL(q ‖ p(z|x)), is exactly how far the ELBO lies "
                    "below log p(x). Then look at all digits together: red is where the prior sends samples but "
                    "no digit lives."))
    with live:
        views = {"one": _("one digit"), "all": _("all digits")}
        view = st.radio(_("Look at"), list(views), key="ls_post_view", horizontal=True, format_func=views.get)
        if d != 2:
            st.info(_("The true posterior and exact log p(x) need a 2-D latent space; this run has {d} dimensions. "
                      "Here the IWAE bound (larger k = tighter) is the estimate of log p(x).", d=d))
        elif view == "one":
            i = int(st.number_input(_("Test index (0–{last})", last=len(labels) - 1), 0, len(labels) - 1, 0,
                                    key="ls_post_index"))
            g, _sec = posterior_ui.digit_gaps(model, info.path, binary[[i]].astype(np.float32))
            c1, c2, c3 = st.columns(3)
            c1.metric("log p(x)", f"{g.logpx:.1f}")
            c2.metric("ELBO", f"{g.elbo:.1f}")
            c3.metric("KL(q ‖ p(z|x))", f"{g.kl:.2f}")
            fig = posterior_figures.posterior_figure(g, height=380, lang=current_lang())
            st.plotly_chart(presenter.style_figure(fig), key="ls_posterior", width="stretch",
                            config={"displayModeBar": False})
        else:
            means, logvars = run_data.encoded_test_set(model, info, limit=2000)
            fig = maps.latent_map_figure(means, labels[:len(means)], names, current=None,
                                         axis_titles=("z₁", "z₂"), ranges=maps.map_ranges(means, d),
                                         height=430, lang=current_lang())
            layer = posterior_ui.aggregate(model, info.path, means, logvars)
            posterior_figures.add_layer(fig, layer.axis, layer.log_ratio, "holes", lang=current_lang())
            st.plotly_chart(presenter.style_figure(fig), key="ls_holes", width="stretch",
                            config={"displayModeBar": False})
            st.caption(_("Red: the prior's mass that no digit uses. KL(q(z) ‖ p(z)) ≈ {kl} nats.",
                         kl=f"{layer.kl:.2f}"))
