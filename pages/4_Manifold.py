"""Manifold: decode an n×n grid of codes at standard-normal quantiles (the tutorial's final plot)."""

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from cvae.explorer import manifold_link
from cvae.explorer import widgets as ui
from cvae.explorer.latent import manifold_codes, normal_quantiles
from cvae.store.images import grid_image, png_bytes

ui.page_setup("Manifold", "🗺️")
info = ui.run_picker_ui()

st.title("🗺️ Manifold")
model, info = ui.require_model(info)
d = model.latent_dim

left, right = st.columns([3, 1], gap="large")
right.markdown("#### Grid")
n = right.slider("Images per side (n)", 2, 30, 20, key="mf_n")
low, high = right.slider("Quantile range of the prior", 0.01, 0.99, (0.05, 0.95), step=0.01, key="mf_range",
                      help="Codes sit at evenly spaced probabilities of N(0, 1), so the grid covers the prior "
                           "evenly in probability — as in the tutorial.")
dims = (0, 1)
if d > 2:
    dx = right.selectbox("Horizontal dimension", list(range(d)), format_func=lambda i: f"z{i + 1}", key="mf_dx")
    dy = right.selectbox("Vertical dimension", [i for i in range(d) if i != dx], format_func=lambda i: f"z{i + 1}",
                      key="mf_dy")
    dims = (dx, dy)

if low >= high:
    right.warning("Pick a quantile range with low < high.")
    st.stop()


@st.cache_data(max_entries=32, show_spinner="Decoding the grid…")
def decode_grid(_model, run: str, stamp: tuple, n: int, low: float, high: float, dims: tuple[int, int]):
    q = normal_quantiles(n, low, high)
    if _model.latent_dim == 1:
        z = q[:, None]
    else:
        z = manifold_codes(q, q, _model.latent_dim, dims)
    return q, _model.decode(z, apply_sigmoid=True)  # the whole grid in one batched call


try:
    q, probs = decode_grid(model, str(info.path), ui.weights_stamp(info.path), n, low, high, dims)
except ValueError as e:
    ui.show_error(e)
    st.stop()

cols = n
png = png_bytes(grid_image(probs, cols, scale=1))
shown = png_bytes(grid_image(probs, cols, scale=2))
side = probs.shape[1]  # 28 (MNIST) or 32 (CIFAR-10)
h_px, w_px = (side * (len(probs) // cols), side * cols)
fig = go.Figure(go.Image(source="data:image/png;base64," + base64.b64encode(shown).decode(), dx=0.5, dy=0.5,
                         hoverinfo="skip"))
ticks = np.arange(cols) * side + side // 2
labels = [f"{v:.2f}" for v in q]
step = max(1, cols // 10)
fig.update_xaxes(tickvals=ticks[::step], ticktext=labels[::step], showgrid=False, zeroline=False,
                 title=f"z{dims[0] + 1}", constrain="domain", tickfont_size=13)
fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", constrain="domain",
                 tickvals=ticks[::step] if d > 1 else [], ticktext=labels[::step] if d > 1 else [],
                 title=f"z{dims[1] + 1}" if d > 1 else None, tickfont_size=13)
fig.update_layout(height=680 if d > 1 else 240, margin=dict(l=10, r=10, t=10, b=10))

if d > 1:  # a click on a cell opens its code on the Latent plane's pad
    manifold_link.add_cell_targets(fig, q, dims)
with left:
    st.plotly_chart(fig, key="mf_image", width="stretch", config={"displaylogo": False},
                    **({"on_select": "rerun", "selection_mode": "points"} if d > 1 else {}))
    if d > 1:
        manifold_link.open_on_pad("mf_image", info, q, dims, d)
        st.caption("Click a cell to open its code on the latent pad (Latent plane page).")
with right:
    if d == 1:
        st.markdown(f"With **one** latent dimension the manifold is a line: {n} codes z₁ from the "
                    f"{low:.0%} to the {high:.0%} quantile of N(0, 1), decoded left to right.")
    else:
        st.markdown(f"**{n} × {n}** codes, decoded in one batch. Column *j* sets z{dims[0] + 1} and row *i* "
                    f"sets z{dims[1] + 1} to the standard-normal quantiles from {low:.0%} to {high:.0%} — "
                    "as in the tutorial, z grows rightwards and **downwards**.")
        if d > 2:
            others = ", ".join(f"z{i + 1}" for i in range(d) if i not in dims)
            st.caption(f"The other {d - 2} dimensions ({others}) are fixed at 0, the prior mean.")
    st.caption("Neighbouring images have nearby codes: the decoder is smooth, so digits morph gradually into "
               "each other, and every class gets its own region.")
    st.download_button("⬇️ Download PNG", png, file_name=f"{info.name}-manifold-{n}x{n}.png", mime="image/png",
                       key="mf_download", on_click="ignore")
    st.caption(f"{w_px}×{h_px} pixels, one per model pixel.")
