"""Train page: start, watch, stop and resume training runs (each in its own `python -m cvae train` process)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from cvae.explorer import cost, figures, launcher, map_animation, progress, train_form
from cvae.explorer import widgets as ui
from cvae.store import runs
from cvae.store.access import file_bytes_in_run
from cvae.store.config import PRESETS, TrainConfig
from cvae.store.errors import AlreadyTraining, ConfigError, RunError, RunExists, ServerBusy
from cvae.store.fmt import fmt_seconds
from cvae.store.images import gif_bytes
from cvae.store.latent_means import read_latent_means
from cvae.store.metrics import MetricsView, read_metrics

ui.page_setup("Train", "🏋️")
failed_launches = launcher.sweep()
infos = ui.list_runs_ui()
info = ui.run_picker_ui(infos)

st.title("🏋️ Train")
st.caption("Training runs in a separate process (`python -m cvae train`), so this page — and everyone else's — "
           "stays responsive. Close the browser at any time: training goes on, and this page picks it up again.")

PRESET_NOTES = {
    "tutorial": "Exactly the TensorFlow tutorial: Adam with learning rate 1e-4, batches of 32, 10 epochs "
                "(about 4 minutes on 2 CPU cores).",
    "fast": "A 20× larger learning rate (2e-3), annealed by a cosine schedule over 2 epochs: reaches the "
            "tutorial's 10-epoch test ELBO (≥ −157) in a fifth of the steps. Good for a live demo.",
}
K = train_form.PREFIX  # session-state key prefix of the form's widgets


def preset_values(preset: str) -> dict:
    return train_form.widget_values(TrainConfig.from_preset(preset))


def fill_from_preset() -> None:
    """Preset changed: put its values into every field (the user can still edit them)."""
    for field, value in preset_values(st.session_state[K + "preset"]).items():
        st.session_state[K + field] = value


def suggest_name() -> str:
    taken = {r.name for r in infos} | set(launcher.pending())
    return next(f"run-{i}" for i in range(1, 10_000) if f"run-{i}" not in taken)


if K + "preset" not in st.session_state:
    st.session_state[K + "preset"] = "tutorial"
for _field, _value in preset_values(st.session_state[K + "preset"]).items():
    st.session_state.setdefault(K + _field, _value)
st.session_state.setdefault(K + "name", suggest_name())


# ---------------------------------------------------------------------------------------------- the monitor


def progress_charts(metrics: MetricsView, beta: float = 1.0) -> go.Figure | None:
    epochs = metrics.epochs
    steps = len(metrics.step) > 0
    if not steps and not epochs:
        return None
    # beta != 1 trains on recon - beta*KL: the loss is labelled as that, the test ELBO stays the true ELBO.
    loss_title = "Training loss (−ELBO per batch)" if beta == 1 else f"Training loss (−(recon − {beta:g}·KL))"
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, column_widths=[0.36, 0.36, 0.28],
                        subplot_titles=(loss_title, "Test ELBO and reconstruction",
                                        "Test KL(q(z|x) ‖ p(z))"))
    if steps:
        x, y = metrics.chart_steps()  # validated rows, at most ~2,000 points (200k rows cost seconds per second)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines",
                                 name="training loss", line=dict(color="#1f77b4")), row=1, col=1)
    if epochs:
        ep = [r["epoch"] for r in epochs]
        fig.add_trace(go.Scatter(x=ep, y=[r.get("test_elbo") for r in epochs], mode="lines+markers",
                                 name="test ELBO", line=dict(color="#2ca02c", width=3)), row=1, col=2)
        if beta != 1:
            fig.add_trace(go.Scatter(x=ep, y=[r.get("test_objective") for r in epochs], mode="lines+markers",
                                     name=f"test training objective (β = {beta:g})",
                                     line=dict(color="#d62728", dash="dash")), row=1, col=2)
        fig.add_trace(go.Scatter(x=ep, y=[r.get("test_logpx_z") for r in epochs], mode="lines+markers",
                                 name="reconstruction E[log p(x|z)]", line=dict(color="#ff7f0e", dash="dot")),
                      row=1, col=2)
        fig.add_trace(go.Scatter(x=ep, y=[r.get("test_kl") for r in epochs], mode="lines+markers",
                                 name="KL", line=dict(color="#9467bd", width=3)), row=1, col=3)
        for col in (2, 3):
            fig.update_xaxes(title_text="epoch", row=1, col=col, dtick=1 if len(epochs) <= 12 else None)
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_yaxes(title_text="nats per image", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    fig.update_annotations(font_size=16)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25, x=0.5, xanchor="center", font=dict(size=14)))
    return fig


@st.cache_data(max_entries=8, show_spinner=False)
def map_gif(run_dir: str, last_epoch: int, n_epochs: int) -> bytes:
    stored = read_latent_means(run_dir)
    return gif_bytes(map_animation.map_gif_frames(stored.epochs, stored.means, stored.labels), duration_ms=600)


def latent_map_section(info: runs.RunInfo, name: str, live: bool) -> None:
    """The map of the fixed 2,000 test digits: the newest epoch's while training, an animation afterwards."""
    try:
        stored = read_latent_means(info.path)
    except ValueError as e:
        st.caption(f"Latent map: {e}")
        return
    if stored is None or info.config is None:
        return
    names = ui.class_names(info.config.dataset)
    st.subheader("The latent map forming")
    if live:
        epoch, means = stored.latest()
        xy, _, titles = figures.map_projection(means)
        fig = figures.latent_map_figure(xy, stored.labels, names, current=None, axis_titles=titles,
                                        ranges=figures.map_ranges(xy, means.shape[1]), height=480,
                                        strip=means.shape[1] == 1)
        st.plotly_chart(fig, key=f"tr_map_{name}", width="stretch", config={"displayModeBar": False})
        st.caption(f"μ of the same {len(stored.labels):,} test digits after epoch {epoch}; it updates every epoch.")
        return
    fig = map_animation.map_animation_figure(stored.epochs, stored.means, stored.labels, names)
    st.plotly_chart(fig, key=f"tr_map_anim_{name}", width="stretch")
    gif = map_gif(str(info.path), int(stored.epochs[-1]), len(stored.epochs))
    st.download_button("⬇️ Download the map's animation (GIF)", gif, file_name=f"{name}-latent-map.gif",
                       mime="image/gif", key=f"tr_map_gif_{name}", on_click="ignore")
    st.caption(f"μ of the same {len(stored.labels):,} test digits after each epoch: press ▶ or drag the slider.")


def monitor_state(name: str) -> tuple[str, runs.RunInfo | None]:
    """The run's state for the monitor ('starting' while its process loads) and its info (None before it exists)."""
    run_dir = runs.run_path(name)
    launch = launcher.pending().get(name)
    info = runs.run_info(run_dir) if (run_dir / runs.CONFIG_FILE).exists() else None
    # Starting = launched, and its process has not written the run's status yet (once it has, the status is the
    # truth: a trainer that has just finished still lives a second or two while TensorFlow shuts down).
    starting = launch is not None and not runs.is_locked(run_dir) and (
        info is None or info.status.get("pid") != launch.pid)
    state = "starting" if starting else (info.state if info else "unknown")
    return state, info


def monitor_body(name: str, shown_state: str) -> None:
    """Status, progress, curves and samples of run `name`; re-run every second while it trains."""
    run_dir = runs.run_path(name)
    state, info = monitor_state(name)
    if state != shown_state:
        # e.g. starting -> running -> done: redraw the whole page once (sidebar, buttons; leaves live mode)
        st.rerun()
    live = state in ("running", "starting")
    if info is None:
        if state == "starting":
            st.info(f"Starting **{name}**: loading TensorFlow and the data (a few seconds)…", icon="⏳")
            st.progress(0.0, text="starting")
            tail = launcher.log_tail(launcher.log_path(name), 5)
            if tail:
                st.code(tail, language=None)
        else:
            st.warning(f"Run {name!r} has no config.json.")
        return

    status = info.status
    st.markdown(f"**{ui.STATE_BADGES.get(state, state)}** — {status.get('message', '')}")
    metrics = read_metrics(run_dir / runs.METRICS_FILE)  # incremental: only the appended rows are parsed
    if live:
        p = progress.progress(info, metrics.recent_steps())
        ips = f"{p['images_per_second']:,.0f} images/s" if p["images_per_second"] else "measuring speed"
        st.progress(p["fraction"], text=f"Epoch {p['epoch']}/{p['total_epochs']} · step {p['step']:,} · {ips} · "
                                        f"ETA {fmt_seconds(p['eta_seconds'])}")
    elif info.total_epochs:
        st.progress(min(1.0, info.epochs_done / info.total_epochs),
                    text=f"{info.epochs_done} of {info.total_epochs} epochs done")

    beta = info.config.beta if info.config else 1.0
    fig = progress_charts(metrics, beta)
    if fig is not None:
        st.plotly_chart(fig, key=f"train_curves_{name}", width="stretch")
        st.caption("ELBO = reconstruction − KL: the KL term is the price of keeping the codes close to the "
                   "prior N(0, I). Higher ELBO is better; the training loss is the negative ELBO"
                   + ("." if beta == 1 else f" with the KL weighted by β = {beta:g}; the test ELBO stays the "
                                            "true ELBO."))
    else:
        st.caption("The curves appear after the first logged steps.")

    img_col, gif_col, text_col = st.columns([1, 1, 1.4], gap="large")
    sample = ui.latest_sample_image(run_dir)
    if sample:
        img_col.image(sample[0], width="stretch",
                      caption=f"Samples after epoch {sample[1]} (the same "
                              f"{info.config.num_examples_to_generate if info.config else ''} test digits and "
                              "noise every epoch)")
    if state == "done":
        gif = file_bytes_in_run(run_dir, runs.GIF_FILE)
        frames = runs.epoch_images(run_dir)
        if gif is None and frames:
            from PIL import Image

            imgs = []
            for f in frames:
                with Image.open(f) as im:
                    imgs.append(im.convert("L"))
            gif = gif_bytes(imgs)
        if gif:
            gif_col.image(gif, width="stretch", caption="The same samples through all epochs (animated)")
            text_col.download_button("⬇️ Download the GIF", gif, file_name=f"{name}-samples.gif",
                                     mime="image/gif", key=f"tr_gif_dl_{name}", on_click="ignore")
    latent_map_section(info, name, live)
    if state == "failed":
        with st.expander("Training log (last lines)", expanded=True):
            st.code(launcher.log_tail(launcher.log_path(name)) or "(no log)", language=None)
    elif state == "interrupted":
        st.warning("The training process is gone (killed, or the machine restarted) without finishing. "
                   "**Resume** continues from its last checkpoint.", icon="⚠️")
    elif launcher.log_path(name) is not None:
        with st.expander("Training log"):
            st.code(launcher.log_tail(launcher.log_path(name), 30) or "(empty)", language=None)


for rec in failed_launches:
    if rec.stopped:
        st.info(f"Run {rec.name!r} was stopped before it started.", icon="⏹️")
    else:
        ui.show_error(f"Starting {rec.name!r} failed before the run was created: "
                      f"{(launcher.log_tail(rec.log, 1) or 'no output').strip()}")
        with st.expander(f"Log of {rec.name}"):
            st.code(launcher.log_tail(rec.log), language=None)
    st.button("Dismiss", key=f"tr_dismiss_{rec.name}", on_click=launcher.dismiss, args=(rec.name,))

flash = st.session_state.pop("tr_flash", None)
if flash:
    st.success(flash, icon="🚀")

name = ui.selected_run_name()
if name:
    st.header(f"Run `{name}`")
    try:
        run_dir = runs.run_path(name)
        shown_state, _ = monitor_state(name)
        live = shown_state in ("running", "starting")
        current = next((r for r in infos if r.name == name), None)
        b1, b2, b3 = st.columns([1, 1, 2], vertical_alignment="bottom")
        if shown_state == "unresponsive":
            b3.warning(f"The trainer of {name!r} has not reported for over {runs.heartbeat_timeout():.0f} s "
                       "(frozen: stopped with Ctrl-Z or SIGSTOP?). Force stop kills it; the last checkpoint stays "
                       "and Resume continues from there.", icon="🧊")
            if b1.button("⛔ Force stop", key="tr_force_stop", type="primary",
                         help="Kill this run's trainer process now (verified by its lock and command line)."):
                try:
                    st.toast(launcher.force_stop(name))
                    st.rerun()
                except RunError as e:
                    ui.show_error(e)
        elif live:
            if b1.button("⏹️ Stop", key="tr_stop", help="Finish the current steps, save a checkpoint and stop."):
                try:
                    what = launcher.stop_training(name)
                    st.toast("Stop requested: the trainer saves a checkpoint and stops after its current steps."
                             if what == "stop requested" else "Stopped before training began.")
                except RunError as e:
                    ui.show_error(e)
            if (run_dir / runs.STOP_FILE).exists():
                b3.caption("Stop requested — waiting for the trainer to save and stop…")
        elif current is not None and current.resumable:
            if b1.button("▶️ Resume", key="tr_resume", type="primary",
                         help="Continue from the last checkpoint in a new training process."):
                try:
                    launcher.launch_training(name, resume=True)
                    st.session_state["tr_flash"] = f"Resumed {name}."
                    st.rerun()
                except RunError as e:
                    ui.show_error(e)
        elif current is not None and current.state == "done" and current.config is not None:
            more = b1.number_input("Train further, up to epoch", key="tr_more_epochs", step=1,
                                   min_value=current.config.epochs + 1, value=current.config.epochs + 5)
            if b2.button("➕ Train further", key="tr_extend",
                         help="Resume this finished run for more epochs (it keeps its settings)."):
                try:
                    launcher.launch_training(name, resume=True, epochs=int(more))
                    st.session_state["tr_flash"] = f"Training {name} further, to {int(more)} epochs."
                    st.rerun()
                except RunError as e:
                    ui.show_error(e)
        monitor = st.fragment(run_every=1.0 if live or shown_state == "unresponsive" else None)(monitor_body)
        monitor(name, shown_state)
    except (RunError, ValueError, OSError) as e:
        ui.show_error(e)
else:
    st.info("No run selected yet: start your first one below.", icon="👇")

# ---------------------------------------------------------------------------------------------- the form

st.divider()
active = launcher.active_names()
try:
    cap = launcher.max_training()
except ConfigError as e:
    ui.show_error(e)
    cap = 1
with st.expander("🆕 Start a new training run", expanded=not infos or not name):
    if len(active) >= cap:
        st.warning(f"The server is busy: {', '.join(active)} {'is' if len(active) == 1 else 'are'} training "
                   f"(at most {cap} at once on this machine). Stop one, or wait for it to finish.", icon="🚦")
    elif active:
        st.caption(f"Training now: {', '.join(active)} (at most {cap} at once).")
    pc1, pc2 = st.columns([1, 2])
    pc1.selectbox("Preset", list(PRESETS), key=K + "preset", on_change=fill_from_preset,
                  help="Fills in every field below; you can still change any of them.")
    pc2.markdown(f"**{st.session_state[K + 'preset']}** — "
                 f"{PRESET_NOTES.get(st.session_state[K + 'preset'], PRESETS[st.session_state[K + 'preset']])}")

    errors: dict = {}
    with st.form("train_form", border=True):
        c1, c2 = st.columns([1, 3])
        c1.text_input("Run name", key=K + "name", max_chars=100,
                      help="Letters, digits, '-', '_' and '.'; it names the folder of the run.")
        errors["name"] = c1.empty()
        train_form.fields_ui(errors)
        errors["_form"] = st.empty()
        submitted = st.form_submit_button("🚀 Start training", type="primary", key="tr_start")


def form_errors() -> tuple[dict[str, str], TrainConfig | None]:
    """Validate every field on its own (so all problems show at once), then the whole config."""
    ss = st.session_state
    name = (ss[K + "name"] or "").strip()
    config, errs = train_form.build_config(ss[K + "preset"], train_form.widget_state(ss))
    if train_form.name_error(name):
        errs["name"] = train_form.name_error(name)
    if not errs and name in {r.name for r in infos} and not runs.nothing_trained(runs.run_path(name)):
        errs["name"] = (f"A run named {name!r} already exists: pick another name, or select it in the sidebar "
                        "and Resume it.")
    return errs, config


if submitted:
    errs, config = form_errors()
    slow = cost.slow_warning(config) if not errs else None
    wait = bool(slow) and st.session_state.get("tr_slow_ack") != config.to_json()
    if wait:
        st.session_state["tr_slow_ack"] = config.to_json()  # the same config submitted again starts
        errors["_form"].warning(slow, icon="⏱️")
    if not errs and not wait:
        new_name = st.session_state[K + "name"].strip()
        try:
            launcher.launch_training(new_name, config)
        except ServerBusy as e:
            errs["_form"] = str(e)
        except (RunExists, AlreadyTraining) as e:
            errs["name"] = str(e)
        except RunError as e:
            errs["_form"] = str(e)
        else:
            ui.select_run(new_name)
            st.session_state["tr_flash"] = (f"Started {new_name}. The first epoch's results appear in about "
                                            "a minute.")
            del st.session_state[K + "name"]  # a fresh suggestion next time
            st.rerun()
    for field, msg in errs.items():
        errors.get(field, errors["_form"]).error(msg, icon="⚠️")
