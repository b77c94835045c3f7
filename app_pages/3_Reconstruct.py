"""Reconstruct: encode test digits, decode them again, and show their ELBO, IWAE bound, μ, σ and map position."""

import numpy as np
import streamlit as st

from cvae.explorer.ui import presenter, run_data, chrome, nav, page_state, posterior_ui
from cvae.explorer.figures import maps
from cvae.explorer.maths import colour
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.ui.keys import RECON_MODE
from cvae.explorer.i18n import _, current_lang

IWAE_KS = (10, 100, 1000)  # importance samples per digit (NumpyCVAE.iwae: k = 1000 is a few seconds per digit)

chrome.page_setup("recon")
info = run_data.run_picker_ui()

posterior_ui.apply_goto()
nav.page_title_ui("recon")
model, info = run_data.require_model(info)
d = model.latent_dim
binary, labels, originals, source = run_data.test_data_ui(info)
names = run_data.class_names(info.config)
n_test = len(labels)
st.caption(_("The encoder maps a test image x to q(z|x) = N(μ, σ²); decoding μ gives the reconstruction "
             "p(x | z = μ). Per digit: the original, the binarized input x the model sees, the reconstruction, "
             "and a sample (z ~ q(z|x), then x ~ p(x|z)). Test digits from {source}.", source=source))


@st.cache_data(max_entries=64, show_spinner="Estimating log p(x) with importance samples…")
def iwae(_model, run: str, stamp: tuple, indices: tuple[int, ...], k: int) -> np.ndarray:
    x = load_binary(indices)
    return _model.iwae(x, k, rng=np.random.default_rng(0))


def load_binary(indices) -> np.ndarray:
    return binary[list(indices)].astype(np.float32)


st.session_state.setdefault("rc_seed", 0)


def new_random() -> None:
    st.session_state["rc_seed"] += 1


MODE_TOKEN = {"By index": "index", "By class": "class", "Random": "random"}  # the address's words
P_MODE = UrlParam("digits", "rc_mode", page_state.one_of(list(MODE_TOKEN), MODE_TOKEN.get), MODE_TOKEN.get)
P_INDEX = UrlParam("i", "rc_index", page_state.int_in(0, n_test - 1))
P_CLASS = UrlParam("class", "rc_class", page_state.int_in(0, len(names) - 1))
P_SEED = UrlParam("seed", "rc_seed", page_state.int_in(0, 10**9))
P_COUNT = UrlParam("n", "rc_count", page_state.int_in(1, 4))
P_K = UrlParam("k", "rc_iwae_k", page_state.one_of(IWAE_KS))
page_state.restore([P_MODE, P_INDEX, P_CLASS, P_SEED, P_COUNT, P_K])
page_state.notes_ui()
c1, c2, c3, c4, c5 = st.columns([1.4, 1, 1, 1, 0.8], vertical_alignment="bottom")
MODES = {"By index": _("By index"), "By class": _("By class"), "Random": _("Random")}
mode = c1.radio(_("Choose test digits"), list(MODES), key=RECON_MODE, horizontal=True, format_func=MODES.get)
rng = np.random.default_rng(st.session_state["rc_seed"])
if mode == "By index":
    start = int(c2.number_input(_("Test index (0–{last})", last=n_test - 1), min_value=0, max_value=n_test - 1, value=0,
                                step=1, key="rc_index"))
    grid_idx = (start + np.arange(16)) % n_test
elif mode == "By class":
    cls = c2.selectbox(_("Class"), list(range(len(names))), format_func=lambda c: names[c], key="rc_class")
    pool = np.flatnonzero(labels == cls)
    grid_idx = rng.choice(pool, size=min(16, len(pool)), replace=False) if len(pool) else np.arange(16)
    c3.button(_("Other digits"), key="rc_random_class", on_click=new_random, icon=":material/casino:")
else:
    grid_idx = rng.choice(n_test, size=min(16, n_test), replace=False)
    c3.button(_("Other digits"), key="rc_random", on_click=new_random, icon=":material/casino:")
count = c4.slider(_("Digits in detail"), 1, 4, 3, key="rc_count")
iwae_k = c5.selectbox(_("IWAE samples k"), IWAE_KS, index=IWAE_KS.index(100), key="rc_iwae_k",
                      help=_("Importance samples per digit for the log p(x) estimate: more is tighter and slower."))
grid_idx = [int(i) for i in grid_idx]
by_mode = {"By index": [P_INDEX], "By class": [P_CLASS, P_SEED], "Random": [P_SEED]}[mode]
page_state.write([P_MODE, *by_mode, P_COUNT, P_K], drop=[p for p in (P_INDEX, P_CLASS, P_SEED) if p not in by_mode])
idx = grid_idx[:count]

x = load_binary(idx)
terms = model.elbo_terms(x, rng=np.random.default_rng(0))
recon = colour.decode_images(model, terms["mean"])
z_sample = model.reparameterize(terms["mean"], terms["logvar"], rng=np.random.default_rng(1))
samples = colour.sample_images(model, z_sample, np.random.default_rng(2))
bounds = iwae(model, str(info.path), run_data.weights_stamp(info.path), tuple(idx), iwae_k)

means, map_labels, _src = run_data.map_points(model, info)  # the one map: stored means when current
xy, pca, axis_titles = maps.map_projection(means)
ranges = maps.map_ranges(xy, d)
if d == 2:
    marks = terms["mean"]
elif d == 1:
    marks = np.stack([terms["mean"][:, 0], np.zeros(len(idx))], axis=1)
else:
    marks = pca.transform(terms["mean"])


def fmt_vec(v: np.ndarray, limit: int = 6) -> str:
    shown = ", ".join(f"{x:+.2f}" for x in v[:limit])
    return f"({shown}{', …' if len(v) > limit else ''})"


for row, i in enumerate(idx):
    st.markdown("#### " + _("Test digit #{i} — label **{label}**", i=i, label=names[labels[i]]))
    img_col, stat_col, map_col = st.columns([5, 1.5, 1.5], gap="small")
    with img_col:
        fig = maps.images_row_figure(
            [originals[i] / 255.0, colour.squeeze_grey(x[row]), recon[row], samples[row]],
            [_("original"), _("input x"), _("reconstruction"), _("a sample")],
            height=200, hovers=[_("grey level"), _("pixel"), colour.decoded_hover(model), _("pixel")])
        presenter.style_figure(fig)
        st.plotly_chart(fig, key=f"rc_images_{row}", width="stretch", config={"displayModeBar": False})
    with stat_col:
        sigma = np.exp(0.5 * terms["logvar"][row])
        st.metric(_("ELBO (1 sample)"), _("{v} nats", v=f"{terms['elbo'][row]:.1f}"),
                  help=_("log p(x|z) + log p(z) − log q(z|x) at one z ~ q(z|x), as in training."))
        st.metric(_("IWAE bound, k = {k}", k=iwae_k), _("{v} nats", v=f"{bounds[row]:.1f}"),
                  help=_("A tighter lower bound on log p(x), averaging {k} importance weights "
                         "p(x|zᵢ)p(zᵢ)/q(zᵢ|x) (Burda et al., 2016); k = 1 would be the ELBO.", k=iwae_k))
        st.caption(_("reconstruction {r} · KL {kl}", r=f"{terms['logpx_z'][row]:.1f}", kl=f"{terms['kl'][row]:.1f}")
                   + f"  \nμ = {fmt_vec(terms['mean'][row])}  \nσ = {fmt_vec(sigma)}")
    with map_col:
        fig = maps.latent_map_figure(xy, map_labels, names, current=marks[row], axis_titles=axis_titles, ranges=ranges,
                                     height=210, marker_size=4, legend=False, strip=(d == 1), webgl=False,
                                     lang=current_lang())
        fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
        fig.update_xaxes(title=None)
        fig.update_yaxes(title=None)
        presenter.style_figure(fig)
        st.plotly_chart(fig, key=f"rc_map_{row}", width="stretch", config={"displayModeBar": False})
map_note = {1: _("z₁ by class"), 2: _("the latent plane")}.get(
    d, _("the first two principal components of the {d}-D codes", d=d))
st.caption(_("Right: the ★ is the digit's μ on {where}, among {n} encoded test digits.", where=map_note,
             n=f"{len(means):,}"))

st.divider()
st.subheader(_("The encoder's guess vs the truth"))
pick = st.selectbox(_("Test digit"), idx, key="rc_post_digit", format_func=lambda i: f"#{i} ({names[labels[i]]})") \
    if len(idx) > 1 else idx[0]
posterior_ui.posterior_section_ui(model, info.path, load_binary([pick]), key="rc_posterior")

st.divider()
st.subheader(_("{n} digits at a glance", n=len(grid_idx)))
st.caption(_("Left: the binarized inputs. Right: their reconstructions p(x | μ). Read them in the same order."))
grid_x = load_binary(grid_idx)
grid_mean, _lv = model.encode(grid_x)
grid_recon = model.decode(grid_mean, apply_sigmoid=True)
fig = maps.images_row_figure([maps.tile_images(grid_x, 4), maps.tile_images(grid_recon, 4)],
                             [_("inputs"), _("reconstructions")], height=520,
                             hovers=["pixel", colour.decoded_hover(model)])
presenter.style_figure(fig)
st.plotly_chart(fig, key="rc_grid", width="stretch", config={"displayModeBar": False})
st.caption(_("Test indices: {indices}", indices=", ".join(str(i) for i in grid_idx)))
