"""Manifold: decode an n×n grid of codes at standard-normal quantiles (the tutorial's final plot)."""

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from cvae.explorer.ui import presenter, manifold_link, page_state, plane_pad, run_data, chrome, nav
from cvae.explorer.maths import diagnostics
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.i18n import _
from cvae.explorer.maths.latent import manifold_codes, normal_quantiles, separated_range
from cvae.store.images import grid_image, png_bytes

chrome.page_setup("manifold")
info = run_data.run_picker_ui()

nav.page_title_ui("manifold")
model, info = run_data.require_model(info)
d = model.latent_dim
present = presenter.presenting()
RANGE_KEY = "mf_range"


def keep_range_open() -> None:
    """The two handles may meet while dragging: push them apart instead of blanking the grid."""
    st.session_state[RANGE_KEY] = separated_range(*st.session_state[RANGE_KEY])


P_N = UrlParam("n", "mf_n", page_state.int_in(2, 30))
P_RANGE = UrlParam("q", RANGE_KEY, lambda t: tuple(page_state.floats_in(2, 0.01, 0.99)(t)), page_state.join_floats)
P_DX = UrlParam("dx", "mf_dx", *page_state.dim_of(d))
P_DY = UrlParam("dy", "mf_dy", *page_state.dim_of(d))
P_HOLD = UrlParam("hold", "mf_hold", page_state.flag, lambda on: "1" if on else "0")
page_state.restore([P_N, P_RANGE])
left, right = st.columns([3, 1], gap="large")
right.markdown("#### " + _("Grid"))
n = right.slider(_("Images per side (n)"), 2, 30, 20, key="mf_n")
st.session_state.setdefault(RANGE_KEY, (0.05, 0.95))
st.session_state[RANGE_KEY] = separated_range(*st.session_state[RANGE_KEY])
low, high = right.slider(_("Quantile range of the prior"), 0.01, 0.99, step=0.01, key=RANGE_KEY,
                         on_change=keep_range_open,
                         help=_("Codes sit at evenly spaced probabilities of N(0, 1), so the grid covers the prior "
                                "evenly in probability — as in the tutorial."))
dims = (0, 1)
base = None
if d > 2:
    # Default plane: the two dimensions that carry the most KL (an inactive z1 would draw one digit n² times).
    means, logvars = run_data.encoded_test_set(model, info)
    top = [int(i) for i in diagnostics.kl_order(diagnostics.kl_per_dim(means, logvars))[:2]]
    if st.session_state.get("mf_owner") != (info.name, d):
        st.session_state.update(mf_owner=(info.name, d), mf_dx=top[0], mf_dy=top[1])
    page_state.restore([P_DX, P_DY, P_HOLD])  # after the run's defaults: a shared address wins over them
    dx = right.selectbox(_("Horizontal dimension"), list(range(d)), format_func=lambda i: f"z{i + 1}", key="mf_dx",
                         help=_("Default: the two dimensions with the most KL."))
    if st.session_state.get("mf_dy") == dx:
        st.session_state["mf_dy"] = next(i for i in top + list(range(d)) if i != dx)
    dy = right.selectbox(_("Vertical dimension"), [i for i in range(d) if i != dx],
                         format_func=lambda i: f"z{i + 1}", key="mf_dy")
    dims = (dx, dy)
    current = st.session_state.get(plane_pad.Z_KEY)
    if st.session_state.get(plane_pad.ZOWNER_KEY) == (info.name, d) and current and len(current) == d:
        if right.toggle(_("Hold the others at the Latent plane's z"), value=True, key="mf_hold"):
            base = tuple(float(v) for v in current)
page_state.write([P_N, P_RANGE] + ([P_DX, P_DY, P_HOLD] if d > 2 else []))
with right:
    page_state.notes_ui()


@st.cache_data(max_entries=32, show_spinner=False)
def decode_grid(_model, run: str, stamp: tuple, n: int, low: float, high: float, dims: tuple[int, int],
                base: tuple[float, ...] | None = None):
    q = normal_quantiles(n, low, high)
    if _model.latent_dim == 1:
        z = q[:, None]
    else:  # top row = highest z₂: oriented like the map
        z = manifold_codes(q, q[::-1], _model.latent_dim, dims, None if base is None else np.asarray(base))
    return q, _model.decode(z, apply_sigmoid=True)  # the whole grid in one batched call


try:
    q, probs = decode_grid(model, str(info.path), run_data.weights_stamp(info.path), n, low, high, dims, base)
except ValueError as e:
    chrome.show_error(e)
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
angle = -90 if cols > 12 else 0  # every column labelled: vertical labels fit up to n = 30
step = -(-cols // 6) if present else 1  # a projector: every k-th cell labelled, level, in 18 px type
ticks, labels, angle = ticks[::step], labels[::step], (0 if present else angle)
fig.update_xaxes(tickvals=ticks, ticktext=labels, showgrid=False, zeroline=False, tickangle=angle,
                 title=f"z{dims[0] + 1}", constrain="domain")
fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", constrain="domain",
                 tickvals=ticks if d > 1 else [], ticktext=[f"{v:.2f}" for v in q[::-1]][::step] if d > 1 else [],
                 title=f"z{dims[1] + 1}" if d > 1 else None)
fig.update_layout(height=(560 if present else 680) if d > 1 else 240, margin=dict(l=10, r=10, t=10, b=10))
presenter.style_figure(fig)
if cols > 20 and not present:
    fig.update_xaxes(tickfont_size=11)
    fig.update_yaxes(tickfont_size=11)

if d > 1:  # a click on a cell opens its code on the Latent plane's pad
    manifold_link.add_cell_targets(fig, q, dims)
with left:
    st.plotly_chart(fig, key="mf_image", width="stretch", config={"displaylogo": False},
                    **({"on_select": "rerun", "selection_mode": "points"} if d > 1 else {}))
    if d > 1:
        manifold_link.open_on_pad("mf_image", info, q, dims, d)
        st.caption(_("Click a cell to open its code on the latent pad (Latent plane page)."))
with right:
    if d == 1:
        st.markdown(_("With **one** latent dimension the manifold is a line: {n} codes z₁ from the "
                      "{low} to the {high} quantile of N(0, 1), decoded left to right.", n=n,
                      low=f"{low:.0%}", high=f"{high:.0%}"))
    else:
        st.markdown(_("**{n} × {n}** codes, decoded in one batch. Column *j* sets z{a} and row *i* sets z{b} to "
                      "the standard-normal quantiles from {low} to {high}: z{a} grows to the right and z{b} "
                      "**upwards**, as on the latent map.", n=n, a=dims[0] + 1, b=dims[1] + 1,
                      low=f"{low:.0%}", high=f"{high:.0%}"))
        if d > 2:
            others = ", ".join(f"z{i + 1}" for i in range(d) if i not in dims)
            if base is None:
                st.caption(_("The other {k} dimensions ({others}) are fixed at 0, the prior mean.", k=d - 2,
                             others=others))
            else:
                st.caption(_("The other {k} dimensions ({others}) are held at the Latent plane's current z: {z}.",
                             k=d - 2, others=others,
                             z=", ".join(f"z{i + 1} = {base[i]:.2f}" for i in range(d) if i not in dims)))
    if not present:
        st.caption(_("Neighbouring images have nearby codes: the decoder is smooth, so digits morph gradually "
                     "into each other, and every class gets its own region."))
    st.download_button(_("Download PNG"), png, file_name=f"{info.name}-manifold-{n}x{n}.png", mime="image/png",
                       key="mf_download", on_click="ignore", icon=":material/download:")
    st.caption(_("{w}×{h} pixels, one per model pixel.", w=w_px, h=h_px))
