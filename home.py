"""Home page of the CVAE explorer (the app starts at app.py, which routes to every page of the registry)."""

import streamlit as st

from cvae.explorer.ui import selection, status_text, run_data, states, chrome, nav
from cvae.explorer.i18n import N_, _
from cvae.explorer.ui.text import code, md
from cvae.store.fmt import fmt_time

chrome.page_setup("home")
infos = run_data.list_runs_ui()
info = run_data.run_picker_ui(infos)

st.title(f":material/scatter_plot: {_(nav.APP_TITLE)}")
st.markdown(_(
    "A **convolutional variational autoencoder** — the model of TensorFlow's *Convolutional Variational "
    "Autoencoder* tutorial — trained on handwritten digits. The **encoder** turns an image *x* into a "
    "Gaussian over a small code *z* (2 numbers by default); the **decoder** turns any code *z* back into "
    "28×28 pixel probabilities. Training maximises the *evidence lower bound* (ELBO) on log p(x):"))
recon, close = _("reconstruction"), _("stay close to")
chrome.formula_ui(r"\mathrm{ELBO}(x) \;=\; \mathbb{E}_{z\sim q(z\mid x)}\big[\log p(x\mid z) + \log p(z)"
                  r" - \log q(z\mid x)\big] \;\le\; \log p(x)",
                  r"\begin{aligned}\mathrm{ELBO}(x) &= \mathbb{E}_{z\sim q(z\mid x)}\big[\log p(x\mid z) \\"
                  r" &\qquad + \log p(z) - \log q(z\mid x)\big] \\ &\le \log p(x)\end{aligned}", "elbo")
chrome.formula_ui(r"\mathrm{ELBO}(x) \;=\; \underbrace{\mathbb{E}_{q}\,\log p(x\mid z)}_{\text{" + recon +
                  r"}} \;-\; \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{" + close +
                  r" } \mathcal{N}(0, I)}",
                  r"\begin{aligned}\mathrm{ELBO}(x) &= \underbrace{\mathbb{E}_{q}\,\log p(x\mid z)}_{\text{" + recon +
                  r"}} \\ &\quad - \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{" + close +
                  r" } \mathcal{N}(0, I)}\end{aligned}", "elbo_terms")
st.caption(_("Like the tutorial, training uses one sample of z per image (the reparameterisation trick: "
             "z = μ + σ·ε with ε ~ N(0, I)), pixels are binarised, and p(x|z) is a Bernoulli per pixel."))

st.divider()
st.subheader(_("The selected model at a glance"))
if info is None:
    if selection.selected_run_name():
        st.info(_("Run **{name}** is starting; watch it on the Train page.", name=md(selection.selected_run_name())),
                icon=":material/hourglass_top:")
        nav.page_link_ui("train")
    else:
        chrome.no_runs_ui()
elif info.config is None:
    chrome.show_error(_("Run {name} can't be used: {error}", name=repr(info.name), error=info.error))
    st.caption(_("Pick another run in the sidebar, or delete this one on the Runs page."))
else:
    c = info.config
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown(f"### {_('Run')} {code(info.name)} — {states.state_badge(info.state)}")
        m2, m3, m4 = st.columns(3)
        m2.metric(_("Epochs"), f"{info.epochs_done} / {c.epochs}")
        rows = info.epoch_rows
        last = rows[-1].get("test_elbo") if rows else None
        prev = rows[-2].get("test_elbo") if len(rows) > 1 else None
        m3.metric(_("Test ELBO (nats)"), f"{last:.1f}" if isinstance(last, (int, float)) else "–",
                  delta=f"{last - prev:+.1f}"
                  if isinstance(last, (int, float)) and isinstance(prev, (int, float)) else None,
                  help=_("Average ELBO on the test set after the latest epoch: higher (closer to 0) is better. "
                         "The arrow compares it with the epoch before."))
        m4.metric(_("Latent dimensions"), c.latent_dim)
        st.caption(_("{dataset} · batch {batch} · learning rate {lr} ({schedule}) · preset {preset} · created {created}",
                     dataset=c.dataset, batch=c.batch_size, lr=f"{c.learning_rate:g}", schedule=c.lr_schedule,
                     preset=c.preset, created=fmt_time(info.created)))
        if info.status.get("message"):  # the trainer's own words, or whatever status.json says: shown as text
            st.caption(_("Status: {message}", message=status_text.status_markdown(info.status)))
        if info.read_only:
            st.caption(_(":material/lock: Read-only ({why}): explore it; to train it further, copy it on the "
                         "Train page.", why=states.read_only_why(info)))
    with right:
        sample = run_data.latest_sample_image(info.path)
        if sample:
            png, epoch = sample
            st.image(png, width=300, caption=_("{n} fixed test digits encoded, sampled (fixed noise) and decoded "
                                                "after epoch {epoch}", n=c.num_examples_to_generate, epoch=epoch))
        else:
            st.info(_("No sample images yet."))

st.divider()
st.subheader(_("Explore"))
descriptions = {
    "lesson": N_("A guided lesson in six steps, each with the real model to play with."),
    "train": N_("Start a training run and watch the loss, the ELBO and the samples improve live."),
    "plane": N_("Drag a point over the map of the latent space: the decoder draws it in your browser, every frame."),
    "recon": N_("Encode test digits, decode them again, and see their ELBO and where they land in z-space."),
    "manifold": N_("A whole grid of decoded codes at once: how digits morph into each other."),
    "runs": N_("Compare, download and delete runs."),
    "interp": N_("Walk the straight line or the spherical path between two digits' codes, as frames and a GIF."),
    "digit": N_("Draw or photograph a digit of your own and see where the encoder puts it."),
    "diag": N_("Is the posterior collapsing? KL and activity per dimension, σ ellipses, traversals."),
}
descriptions = list((p, text) for p, text in descriptions.items() if not nav.hidden_page(p))
for start in range(0, len(descriptions), 3):  # rows of three: readable on a laptop, stacked on a phone
    for col, (page, text) in zip(st.columns(3), descriptions[start:start + 3]):
        with col:
            nav.page_link_ui(page, _(text))
