"""Diagnostics: is the posterior collapsing? KL per dimension, active units, the recon/KL split, σ ellipses,
traversals per dimension ordered by KL."""

import numpy as np
import streamlit as st

from cvae.explorer.ui import presenter, page_state, posterior_ui, run_data, chrome, nav
from cvae.explorer.figures import diag_figures, maps
from cvae.explorer.maths import diagnostics
from cvae.explorer.ui.page_state import UrlParam
from cvae.store import metrics, runs
from cvae.explorer.i18n import _, current_lang
from cvae.explorer.maths.latent import normal_quantiles
from cvae.store.files import read_jsonl
from cvae.store.metrics import epoch_rows

TRAVERSAL_STEPS = 11
MAX_TRAVERSALS = 16  # strips shown (the dimensions with the most KL)
MAX_ELLIPSES = 300  # σ ellipses drawn (thousands would hide the map)

chrome.page_setup("diag")
info = run_data.run_picker_ui()

nav.page_title_ui("diag")
model, info = run_data.require_model(info)
d = model.latent_dim
_binary, labels, _originals, source = run_data.test_data_ui(info)
means, logvars = run_data.encoded_test_set(model, info)
labels = labels[:len(means)]
names = run_data.class_names(info.config)
summary = diagnostics.summarize(means, logvars)
st.caption(_("Which latent dimensions does the model use? A dimension whose posterior q(z_i|x) is the prior N(0, 1) "
             "for every x costs no KL and carries no information (posterior collapse). "
             "Figures from the run's latest weights over {n} test digits ({source}).", n=f"{len(means):,}",
             source=source))

c1, c2, c3 = st.columns(3)
c1.metric(_("Active units"), _("{k} of {d}", k=summary["active_units"], d=d),
          help=_("Burda et al. 2015: dimension i is active when Var over x of E_q[z_i] > 0.01."))
c2.metric("KL(q(z|x) ‖ p(z))", f"{summary['kl']:.2f} nats", help=_("Closed form, averaged over the digits; "
          "the bars below sum to it."))
beta = info.config.beta
c3.metric(_("β (training KL weight)"), f"{beta:g}", help=_("The run trained on E[log p(x|z)] − β·KL; "
          "β = 1 is the ELBO."))

left, right = st.columns(2, gap="large")
with left:
    st.subheader(_("KL per dimension"))
    st.plotly_chart(presenter.style_figure(diag_figures.kl_bar_figure(summary["kl_per_dim"], summary["activity"],
                                                                      lang=current_lang())), key="dg_kl",
                    width="stretch", config={"displayModeBar": False})
with right:
    st.subheader(_("Reconstruction vs KL, per epoch"))
    rows = epoch_rows(read_jsonl(info.path / runs.METRICS_FILE))
    if rows:
        st.plotly_chart(presenter.style_figure(diag_figures.split_figure(rows, lang=current_lang())), key="dg_split", width="stretch",
                        config={"displayModeBar": False})
        last = rows[-1]
        st.caption(_("Epoch {epoch}, all {n} test digits: ELBO {elbo} = reconstruction {recon} − KL {kl} "
                     "(single-sample; the KL is in closed form).", epoch=last["epoch"],
                     n=last.get("test_examples", "?"), elbo=f"{last['test_elbo']:.2f}",
                     recon=f"{last['test_logpx_z']:.2f}", kl=f"{last['test_kl']:.2f}"))
    else:
        st.caption(_("No epoch has finished yet."))

st.subheader(_("Which dimensions collapsed, and why"))
table = diagnostics.dimension_table(summary, logvars)
STATUS_WORDS = {"active": _("active"), "collapsed": _("collapsed"), "low_activity": _("low activity, still carries KL")}
st.dataframe(
    [{_("dimension"): f"z{r['dim']}", _("KL (nats)"): round(r["kl"], 4), _("activity Var μ"): round(r["activity"], 5),
      _("mean σ"): round(r["mean_sigma"], 3), _("status"): STATUS_WORDS[r["status"]]} for r in table],
    hide_index=True, key="dg_table", width="stretch")
st.caption(_("Active: activity Var_x μ_i above {threshold} (Burda et al. 2015). Collapsed: activity at most {threshold} "
             "and KL under {kl} nats — q(z_i|x) is the prior for every digit. Low activity: under the threshold but "
             "still carrying KL, so not collapsed: the encoder moves σ, or the means vary only a little.",
             threshold=metrics.ACTIVE_THRESHOLD, kl=diagnostics.COLLAPSED_KL))
st.download_button(_("Download the table (CSV)"), diagnostics.table_csv(table), file_name=f"{info.name}_dimensions.csv",
                   mime="text/csv", key="dg_csv", icon=":material/download:")

st.subheader(_("KL per dimension, epoch by epoch"))
kl_epochs = diag_figures.kl_epochs_figure(rows, height=120 + 26 * d, lang=current_lang()) if rows else None
if kl_epochs is not None:
    st.plotly_chart(presenter.style_figure(kl_epochs), key="dg_kl_epochs", width="stretch",
                    config={"displayModeBar": False})
    units = [r.get("test_active_units") for r in rows if r.get("test_kl_per_dim")]
    st.caption(_("Measured by the trainer on all test digits after each epoch. Active units per epoch: {units}. "
                 "A dimension that fades to 0 has collapsed to the prior.",
                 units=" → ".join(str(u) for u in units)))
else:
    st.caption(_("This run's epochs have no per-dimension figures (trained before they were recorded)."))

st.subheader(_("The latent map with σ ellipses"))
P_PLANE = [UrlParam("dx", "dg_dim_x", *page_state.dim_of(d)), UrlParam("dy", "dg_dim_y", *page_state.dim_of(d))]
P_ELLIPSES = UrlParam("ellipses", "dg_ellipses", page_state.flag, lambda on: "1" if on else "0")
P_LAYER = UrlParam("layer", "dg_layer", page_state.one_of(list(posterior_ui.LAYER_NAMES)))
shown_params = (P_PLANE if d > 2 else []) + [P_ELLIPSES] + ([P_LAYER] if d == 2 else [])
page_state.restore(shown_params)
page_state.notes_ui()
plane = [0, 1]
if d > 2:  # a chosen plane of two dimensions (default: the two with the most KL)
    top = [r["dim"] - 1 for r in table[:2]]
    pc1, pc2, _pc3 = st.columns([1, 1, 3])
    plane = [pc1.selectbox(_("horizontal"), range(d), index=top[0], format_func=lambda i: f"z{i + 1}", key="dg_dim_x"),
             pc2.selectbox(_("vertical"), range(d), index=top[1], format_func=lambda i: f"z{i + 1}", key="dg_dim_y")]
show = st.toggle(_("Show 1-σ ellipses of q(z|x)"), value=True, key="dg_ellipses")
if plane[0] == plane[1]:
    st.caption(_("Pick two different dimensions."))
else:
    plane_means, plane_logvars = means[:, plane], logvars[:, plane]
    fig = maps.latent_map_figure(plane_means, labels, names, current=None,
                                 axis_titles=(f"z{plane[0] + 1}", f"z{plane[1] + 1}"),
                                 ranges=maps.map_ranges(plane_means, 2), height=560, lang=current_lang())
    if show:
        n = min(MAX_ELLIPSES, len(means))
        diag_figures.add_ellipses(fig, plane_means[:n], plane_logvars[:n], labels[:n])
    layer_caption = posterior_ui.map_layer_ui(fig, model, info.path, means, logvars, key="dg_layer") \
        if d == 2 else ""
    st.plotly_chart(presenter.style_figure(fig), key="dg_map", width="stretch", config={"displayModeBar": False})
    if layer_caption:
        st.caption(layer_caption)
page_state.write(shown_params)
st.caption(_("Dots: μ of {n} test digits. Ellipses: μ ± σ of the first {k} — how uncertain the encoder is "
             "about each code; the prior's 1-σ circle has radius 1.", n=f"{len(means):,}",
             k=min(MAX_ELLIPSES, len(means))))

st.subheader(_("Exact log p(x) and the inference gaps"))
posterior_ui.test_set_section_ui(model, info.path, _binary, labels, names)

st.subheader(_("Traversals, dimensions ordered by KL"))
values = normal_quantiles(TRAVERSAL_STEPS, 0.05, 0.95)
order = diagnostics.kl_order(np.asarray(summary["kl_per_dim"]))[:MAX_TRAVERSALS]
codes = np.concatenate([diagnostics.traversal_codes(d, int(i), values) for i in order])
strips = model.decode(codes, apply_sigmoid=True).reshape(len(order), TRAVERSAL_STEPS, *model.arch.image_shape)
strips_col = st.columns([3, 2])[0]  # as wide as fits: a phone stacks the columns (no fixed pixel width)
for rank, i in enumerate(order):
    kl_i, act_i = summary["kl_per_dim"][i], summary["activity"][i]
    label = _("active") if act_i > metrics.ACTIVE_THRESHOLD else _("inactive")
    strips_col.image(maps.tile_images(strips[rank], TRAVERSAL_STEPS), clamp=True, width="stretch",
                     caption=f"z{i + 1}: KL {kl_i:.2f} nats, {label}")
st.caption(_("Each strip moves one dimension through the prior's 5–95 % quantiles ({low} … {high}) with the "
             "others at 0. An inactive dimension changes nothing.", low=f"{values[0]:.2f}", high=f"{values[-1]:.2f}"))
