"""Reconstruct: encode test digits, decode them again, and show their ELBO, IWAE bound, μ, σ and map position."""

import numpy as np
import streamlit as st

from cvae.explorer import widgets as ui
from cvae.explorer import colour, figures

IWAE_KS = (10, 100, 1000)  # importance samples per digit (NumpyCVAE.iwae: k = 1000 is a few seconds per digit)

ui.page_setup("Reconstruct", "🔁")
info = ui.run_picker_ui()

st.title("🔁 Reconstruct")
model, info = ui.require_model(info)
d = model.latent_dim
binary, labels, originals, source = ui.test_data_ui(info)
names = ui.class_names(info.config.dataset)
n_test = len(labels)
st.caption("The encoder maps a test image x to q(z|x) = N(μ, σ²); decoding μ gives the reconstruction "
           "p(x | z = μ). Per digit: the original, the binarized input x the model sees, the reconstruction, "
           f"and a sample (z ~ q(z|x), then x ~ p(x|z)). Test digits from {source}.")


@st.cache_data(max_entries=64, show_spinner="Estimating log p(x) with importance samples…")
def iwae(_model, run: str, stamp: tuple, indices: tuple[int, ...], k: int) -> np.ndarray:
    x = load_binary(indices)
    return _model.iwae(x, k, rng=np.random.default_rng(0))


def load_binary(indices) -> np.ndarray:
    return binary[list(indices)].astype(np.float32)


st.session_state.setdefault("rc_seed", 0)


def new_random() -> None:
    st.session_state["rc_seed"] += 1


c1, c2, c3, c4, c5 = st.columns([1.4, 1, 1, 1, 0.8], vertical_alignment="bottom")
mode = c1.radio("Choose test digits", ["By index", "By class", "Random"], key="rc_mode", horizontal=True)
rng = np.random.default_rng(st.session_state["rc_seed"])
if mode == "By index":
    start = int(c2.number_input(f"Test index (0–{n_test - 1})", min_value=0, max_value=n_test - 1, value=0,
                                step=1, key="rc_index"))
    grid_idx = (start + np.arange(16)) % n_test
elif mode == "By class":
    cls = c2.selectbox("Class", list(range(len(names))), format_func=lambda c: names[c], key="rc_class")
    pool = np.flatnonzero(labels == cls)
    grid_idx = rng.choice(pool, size=min(16, len(pool)), replace=False) if len(pool) else np.arange(16)
    c3.button("🎲 Other digits", key="rc_random_class", on_click=new_random)
else:
    grid_idx = rng.choice(n_test, size=min(16, n_test), replace=False)
    c3.button("🎲 Other digits", key="rc_random", on_click=new_random)
count = c4.slider("Digits in detail", 1, 4, 3, key="rc_count")
iwae_k = c5.selectbox("IWAE samples k", IWAE_KS, index=IWAE_KS.index(100), key="rc_iwae_k",
                      help="Importance samples per digit for the log p(x) estimate: more is tighter and slower.")
grid_idx = [int(i) for i in grid_idx]
idx = grid_idx[:count]

x = load_binary(idx)
terms = model.elbo_terms(x, rng=np.random.default_rng(0))
recon = colour.decode_images(model, terms["mean"])
z_sample = model.reparameterize(terms["mean"], terms["logvar"], rng=np.random.default_rng(1))
samples = colour.sample_images(model, z_sample, np.random.default_rng(2))
bounds = iwae(model, str(info.path), ui.weights_stamp(info.path), tuple(idx), iwae_k)

means, map_labels, _ = ui.map_points(model, info)  # the one map: stored means when current
xy, pca, axis_titles = figures.map_projection(means)
ranges = figures.map_ranges(xy, d)
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
    st.markdown(f"#### Test digit #{i} — label **{names[labels[i]]}**")
    img_col, stat_col, map_col = st.columns([5, 1.5, 1.5], gap="small")
    with img_col:
        fig = figures.images_row_figure(
            [originals[i] / 255.0, colour.squeeze_grey(x[row]), recon[row], samples[row]],
            ["original", "input x", "reconstruction", "a sample"],
            height=200, hovers=["grey level", "pixel", colour.decoded_hover(model), "pixel"])
        st.plotly_chart(fig, key=f"rc_images_{row}", width="stretch", config={"displayModeBar": False})
    with stat_col:
        sigma = np.exp(0.5 * terms["logvar"][row])
        st.metric("ELBO (1 sample)", f"{terms['elbo'][row]:.1f} nats",
                  help="log p(x|z) + log p(z) − log q(z|x) at one z ~ q(z|x), as in training.")
        st.metric(f"IWAE bound, k = {iwae_k}", f"{bounds[row]:.1f} nats",
                  help=f"A tighter lower bound on log p(x), averaging {iwae_k} importance weights "
                       "p(x|zᵢ)p(zᵢ)/q(zᵢ|x) (Burda et al., 2016); k = 1 would be the ELBO.")
        st.caption(f"reconstruction {terms['logpx_z'][row]:.1f} · KL {terms['kl'][row]:.1f}  \n"
                   f"μ = {fmt_vec(terms['mean'][row])}  \nσ = {fmt_vec(sigma)}")
    with map_col:
        fig = figures.latent_map_figure(xy, map_labels, names, current=marks[row], axis_titles=axis_titles, ranges=ranges,
                                   height=210, marker_size=3, legend=False, strip=(d == 1), webgl=False)
        fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
        fig.update_xaxes(title=None)
        fig.update_yaxes(title=None)
        st.plotly_chart(fig, key=f"rc_map_{row}", width="stretch", config={"displayModeBar": False})
map_note = {1: "z₁ by class", 2: "the latent plane"}.get(d, f"the first two principal components of the {d}-D codes")
st.caption(f"Right: the ★ is the digit's μ on {map_note}, among {len(means):,} encoded test digits.")

st.divider()
st.subheader(f"{len(grid_idx)} digits at a glance")
st.caption("Left: the binarized inputs. Right: their reconstructions p(x | μ). Read them in the same order.")
grid_x = load_binary(grid_idx)
grid_mean, _ = model.encode(grid_x)
grid_recon = model.decode(grid_mean, apply_sigmoid=True)
fig = figures.images_row_figure([figures.tile_images(grid_x, 4), figures.tile_images(grid_recon, 4)],
                           ["inputs", "reconstructions"], height=520, hovers=["pixel", colour.decoded_hover(model)])
st.plotly_chart(fig, key="rc_grid", width="stretch", config={"displayModeBar": False})
st.caption("Test indices: " + ", ".join(str(i) for i in grid_idx))
