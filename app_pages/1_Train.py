"""Train page: start, watch, stop and resume training runs (each in its own `python -m cvae train` process)."""

from __future__ import annotations

import streamlit as st

from cvae.explorer.ui import presenter, train_form, own_data_ui, selection, status_text, run_data, states, chrome, nav
from cvae.explorer.jobs import cost, launcher, progress, launches
from cvae.explorer.figures import maps, map_animation, train_figures
from cvae.store import access, copies, runs, lock
from cvae.explorer.ui.text import code, md
from cvae.explorer.i18n import N_, _, current_lang
from cvae.store.access import file_bytes_in_run
from cvae.store.config import PRESETS, TrainConfig
from cvae.store.errors import AlreadyTraining, ConfigError, RunError, RunExists, ServerBusy
from cvae.store.fmt import fmt_seconds
from cvae.store.images import gif_bytes
from cvae.store.latent_means import read_latent_means
from cvae.store.metrics import MetricsView, read_metrics

chrome.page_setup("train")
nav.hidden_when_presenting_ui("train")
failed_launches = launches.sweep()
infos = run_data.list_runs_ui()
info = run_data.run_picker_ui(infos)

nav.page_title_ui("train")
if not presenter.presenting():  # on a projector the charts need the room (they end inside 720 px)
    st.caption(_("Training runs in a separate process (`python -m cvae train`), so this page — and everyone "
                 "else's — stays responsive. Close the browser at any time: training goes on, and this page picks "
                 "it up again."))

PRESET_NOTES = {
    "tutorial": N_("Exactly the TensorFlow tutorial: Adam with learning rate 1e-4, batches of 32, 10 epochs "
                   "(about 4 minutes on 2 CPU cores)."),
    "fast": N_("Batches of 8 with a 30× larger learning rate (3e-3) that falls to 0 within each of 2 epochs (the "
               "second starting at a quarter), and the KL term in closed form; when training starts, the trainer sets "
               "precision (bfloat16 where the CPU gains from it), batch size, schedule, threads and replicas for the "
               "machine from a measured table. Reaches the tutorial's 10-epoch test ELBO (≥ −157) in a fraction "
               "of its time. Fields you change here are kept."),
}
K = train_form.PREFIX  # session-state key prefix of the form's widgets


def preset_values(preset: str) -> dict:
    return train_form.widget_values(TrainConfig.from_preset(preset))


def fill_from_preset() -> None:
    """Preset changed: put its values into every field (the user can still edit them)."""
    for field, value in preset_values(st.session_state[K + "preset"]).items():
        st.session_state[K + field] = value


def suggest_name() -> str:
    taken = {r.name for r in infos} | set(launches.pending())
    return next(f"run-{i}" for i in range(1, 10_000) if f"run-{i}" not in taken)


if K + "preset" not in st.session_state:
    st.session_state[K + "preset"] = "tutorial"
for _field, _value in preset_values(st.session_state[K + "preset"]).items():
    st.session_state.setdefault(K + _field, _value)
st.session_state.setdefault(K + "name", suggest_name())


# ---------------------------------------------------------------------------------------------- the monitor


def progress_charts_ui(metrics: MetricsView, name: str, beta: float = 1.0) -> bool:
    """The three training charts side by side (stacked on a phone); False before the first logged row."""
    steps = metrics.chart_steps() if len(metrics.step) else None  # ≤ ~2,000 points (200k rows cost seconds)
    figs = train_figures.progress_figures(steps, metrics.epochs, beta, lang=current_lang(),
                                          height=280 if presenter.presenting() else 340)
    if not figs:
        return False
    with st.container(key=f"train_curves_{name}"):
        for col, part in zip(st.columns([0.36, 0.36, 0.28], gap="small"), train_figures.CHART_PARTS):
            if part in figs:
                col.plotly_chart(presenter.style_figure(figs[part]), key=f"train_{part}_{name}", width="stretch")
    return True


@st.cache_data(max_entries=8, show_spinner=False)
def map_gif(run_dir: str, last_epoch: int, n_epochs: int) -> bytes:
    stored = read_latent_means(run_dir)
    return gif_bytes(map_animation.map_gif_frames(stored.epochs, stored.means, stored.labels), duration_ms=600)


def latent_map_section(info: runs.RunInfo, name: str, live: bool) -> None:
    """The map of the fixed 2,000 test digits: the newest epoch's while training, an animation afterwards."""
    try:
        stored = read_latent_means(info.path)
    except ValueError as e:
        st.caption(_("Latent map: {problem}", problem=str(e)))
        return
    if stored is None or info.config is None:
        return
    names = run_data.class_names(info.config)
    st.subheader(_("The latent map forming"))
    if live:
        epoch, means = stored.latest()
        xy, _pca, titles = maps.map_projection(means)
        fig = maps.latent_map_figure(xy, stored.labels, names, current=None, axis_titles=titles,
                                     ranges=maps.map_ranges(xy, means.shape[1]), height=480,
                                     strip=means.shape[1] == 1, lang=current_lang())
        st.plotly_chart(fig, key=f"tr_map_{name}", width="stretch", config={"displayModeBar": False})
        st.caption(_("μ of the same {n} test digits after epoch {epoch}; it updates every epoch.",
                     n=f"{len(stored.labels):,}", epoch=epoch))
        return
    fig = map_animation.map_animation_figure(stored.epochs, stored.means, stored.labels, names, lang=current_lang())
    st.plotly_chart(fig, key=f"tr_map_anim_{name}", width="stretch")
    gif = map_gif(str(info.path), int(stored.epochs[-1]), len(stored.epochs))
    st.download_button(_("Download the map's animation (GIF)"), gif, icon=":material/download:", file_name=f"{name}-latent-map.gif",
                       mime="image/gif", key=f"tr_map_gif_{name}", on_click="ignore")
    st.caption(_("μ of the same {n} test digits after each epoch: press ▶ or drag the slider.",
                 n=f"{len(stored.labels):,}"))


def monitor_state(name: str) -> tuple[str, runs.RunInfo | None]:
    """The run's state for the monitor ('starting' while its process loads) and its info (None before it exists)."""
    run_dir = runs.run_path(name)
    launch = launches.pending().get(name)
    info = runs.run_info(run_dir) if (run_dir / runs.CONFIG_FILE).exists() else None
    # Starting = launched (or its trainer holds the lock: it takes it before loading TensorFlow) and no config yet,
    # or launched and its process has not written the run's status yet, locked or not (once it has, the status is
    # the truth: a trainer that has just finished still lives a second or two while TensorFlow shuts down).
    locked = runs.is_locked(run_dir)
    if info is None:
        starting = launch is not None or locked
    else:
        starting = launch is not None and info.status.get("pid") != launch.pid
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
            st.info(_("Starting **{name}**: loading TensorFlow and the data (a few seconds)…", name=md(name)),
                    icon=":material/hourglass_top:")
            st.progress(0.0, text=states.state_word("starting"))
            tail = access.log_tail(access.log_path(name), 5)
            if tail:
                st.code(tail, language=None)
        else:
            st.warning(_("Run {name} has no config.json.", name=md(repr(name))))
        return

    status = info.status
    # One state per line: the status file's message belongs to its own state (while a resumed run starts, the
    # file still says how the previous process ended).
    message = status_text.status_markdown(status) if status.get("state") == state or state in (
        "interrupted", "unresponsive") else ""
    # The trainer's line translated, or whatever status.json says (a damaged one names its bad field) as text.
    st.markdown(f"**{states.state_badge(state)}**" + (f" — {message}" if message else ""))
    if info.config is not None and info.config.fast_path:  # issue #25: the fast preset's choice and its reason
        st.caption(_("Fast path: {choice}", choice=code(info.config.fast_path)))
    metrics = read_metrics(run_dir / runs.METRICS_FILE)  # incremental: only the appended rows are parsed
    if live:
        p = progress.progress(info, metrics.recent_steps(), metrics.epochs)
        ips = (_("{n} images/s", n=f"{p['images_per_second']:,.0f}") if p["images_per_second"]
               else _("measuring speed"))
        st.progress(p["fraction"], text=_("Epoch {epoch}/{total} · step {step} · {speed} · ETA {eta}",
                                          epoch=p["epoch"], total=p["total_epochs"], step=f"{p['step']:,}",
                                          speed=ips, eta=fmt_seconds(p["eta_seconds"])))
    elif info.total_epochs:
        st.progress(min(1.0, info.epochs_done / info.total_epochs),
                    text=_("{done} of {total} epochs done", done=info.epochs_done, total=info.total_epochs))

    beta = info.config.beta if info.config else 1.0
    if progress_charts_ui(metrics, name, beta):
        st.caption(_("ELBO = reconstruction − KL: the KL term is the price of keeping the codes close to the "
                     "prior N(0, I). Higher ELBO is better; the training loss is the negative ELBO.") if beta == 1 else
                   _("ELBO = reconstruction − KL: the KL term is the price of keeping the codes close to the prior "
                     "N(0, I). Higher ELBO is better; the training loss is the negative ELBO with the KL weighted "
                     "by β = {beta}; the test ELBO stays the true ELBO.", beta=f"{beta:g}"))
    else:
        st.caption(_("The curves appear after the first logged steps."))

    img_col, gif_col, text_col = st.columns([1, 1, 1.4], gap="large")
    sample = run_data.latest_sample_image(run_dir)
    if sample:
        img_col.image(sample[0], width="stretch",
                      caption=_("Samples after epoch {epoch} (the same {n} test digits and noise every epoch)",
                                epoch=sample[1], n=info.config.num_examples_to_generate if info.config else ""))
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
            gif_col.image(gif, width="stretch", caption=_("The same samples through all epochs (animated)"))
            text_col.download_button(_("Download the GIF"), gif, icon=":material/download:", file_name=f"{name}-samples.gif",
                                     mime="image/gif", key=f"tr_gif_dl_{name}", on_click="ignore")
    latent_map_section(info, name, live)
    if state == "failed":
        with st.expander(_("Training log (last lines)"), expanded=True):
            st.code(access.log_tail(access.log_path(name)) or _("(no log)"), language=None)
    elif state == "interrupted":
        st.warning(_("The training process is gone (killed, or the machine restarted) without finishing. "
                     "**Resume** continues from its last checkpoint."), icon=":material/warning:")
    elif access.log_path(name) is not None:
        with st.expander(_("Training log")):
            st.code(access.log_tail(access.log_path(name), 30) or _("(empty)"), language=None)


for rec in failed_launches:
    if rec.stopped:
        st.info(_("Run {name} was stopped before it started.", name=md(repr(rec.name))), icon=":material/stop_circle:")
    else:
        chrome.show_error(_("Starting {name} failed before the run was created: {problem}", name=repr(rec.name),
                            problem=(access.log_tail(rec.log, 1) or _("no output")).strip()))
        with st.expander(_("Log of {name}", name=md(rec.name))):
            st.code(access.log_tail(rec.log), language=None)
    st.button(_("Dismiss"), key=f"tr_dismiss_{rec.name}", on_click=launches.dismiss, args=(rec.name,))

flash = st.session_state.pop("tr_flash", None)
if flash:
    st.success(md(flash), icon=":material/rocket_launch:")

name = selection.selected_run_name()
if name:
    st.header(f"{_('Run')} {code(name)}")
    try:
        run_dir = runs.run_path(name)
        shown_state, _info = monitor_state(name)
        live = shown_state in ("running", "starting")
        current = next((r for r in infos if r.name == name), None)
        b1, b2, b3 = st.columns([1, 1, 2], vertical_alignment="bottom")
        if shown_state == "unresponsive":
            b3.warning(_("The trainer of {name} has not reported for over {s} s (frozen: stopped with Ctrl-Z or "
                         "SIGSTOP?). Force stop kills it; the last checkpoint stays and Resume continues from "
                         "there.", name=md(repr(name)), s=f"{lock.heartbeat_timeout():.0f}"), icon=":material/ac_unit:")
            if b1.button(_("Force stop"), key="tr_force_stop", type="primary", icon=":material/dangerous:",
                         help=_("Kill this run's trainer process now (verified by its lock and command line).")):
                try:
                    st.toast(md(launcher.force_stop(name)))
                    st.rerun()
                except RunError as e:
                    chrome.show_error(e)
        elif live:
            if b1.button(_("Stop"), key="tr_stop", icon=":material/stop:",
                         help=_("Finish the current steps, save a checkpoint and stop.")):
                try:
                    what = launcher.stop_training(name)
                    st.toast(_("Stop requested: the trainer saves a checkpoint and stops after its current steps.")
                             if what == "stop requested" else _("Stopped before training began."))
                except RunError as e:
                    chrome.show_error(e)
            if (run_dir / runs.STOP_FILE).exists():
                b3.caption(_("Stop requested — waiting for the trainer to save and stop…"))
        elif current is not None and current.read_only:
            # The shipped run is everyone's: explored, never trained in place. A copy is yours to train further.
            b3.caption(_(":material/lock: {name} is read-only ({why}). Copy it to train the copy further.",
                         name=md(name), why=states.read_only_why(current)))
            copy_name = b1.text_input(_("Name of the copy"), value=f"my-{name}", key="tr_copy_name", max_chars=100)
            if b2.button(_("Copy to train further"), key="tr_copy", icon=":material/content_copy:",
                         help=_("Copy this run (weights, metrics, images) under a new name; the copy can be "
                                "trained further.")):
                try:
                    copies.copy_run(name, copy_name.strip())
                    selection.select_run(copy_name.strip())
                    st.session_state["tr_flash"] = _("Copied {name} to {copy}: train it further below.",
                                                     name=name, copy=copy_name.strip())
                    st.rerun()
                except (RunError, OSError) as e:
                    chrome.show_error(e)
        elif current is not None and current.resumable:
            if b1.button(_("Resume"), key="tr_resume", type="primary", icon=":material/play_arrow:",
                         help=_("Continue from the last checkpoint in a new training process.")):
                try:
                    launcher.launch_training(name, resume=True)
                    st.session_state["tr_flash"] = _("Resumed {name}.", name=name)
                    st.rerun()
                except RunError as e:
                    chrome.show_error(e)
        elif current is not None and current.state == "done" and current.config is not None:
            more = b1.number_input(_("Train further, up to epoch"), key="tr_more_epochs", step=1,
                                   min_value=current.config.epochs + 1, value=current.config.epochs + 5)
            if b2.button(_("Train further"), key="tr_extend", icon=":material/add:",
                         help=_("Resume this finished run for more epochs (it keeps its settings).")):
                try:
                    launcher.launch_training(name, resume=True, epochs=int(more))
                    st.session_state["tr_flash"] = _("Training {name} further, to {n} epochs.", name=name,
                                                     n=int(more))
                    st.rerun()
                except RunError as e:
                    chrome.show_error(e)
        monitor = st.fragment(run_every=1.0 if live or shown_state == "unresponsive" else None)(monitor_body)
        monitor(name, shown_state)
    except (RunError, ValueError, OSError) as e:
        chrome.show_error(e)
else:
    st.info(_("No run selected yet: start your first one below."), icon=":material/arrow_downward:")

# ---------------------------------------------------------------------------------------------- the form

st.divider()
active = launcher.active_names()
try:
    cap = launcher.max_training()
except ConfigError as e:
    chrome.show_error(e)
    cap = 1
with st.expander(_("Start a new training run"), expanded=not infos or not name, icon=":material/add_circle:"):
    if len(active) >= cap:
        st.warning((_("The server is busy: {names} is training (at most {cap} at once on this machine). Stop one, "
                      "or wait for it to finish.") if len(active) == 1 else
                    _("The server is busy: {names} are training (at most {cap} at once on this machine). Stop one, "
                      "or wait for it to finish.")).format(names=md(", ".join(active)), cap=cap),
                   icon=":material/traffic:")
    elif active:
        st.caption(_("Training now: {names} (at most {cap} at once).", names=md(", ".join(active)), cap=cap))
    own_data_ui.your_images_ui(K)  # #22: fills the form's dataset and data directory before it is drawn
    _chosen = st.session_state.get(K + "dataset") or TrainConfig.from_preset(
        st.session_state.get(K + "preset") or "tutorial").dataset
    missing = train_form.missing_data(_chosen, str(st.session_state.get(K + "data_dir") or "").strip() or None)
    if missing is not None:
        train_form.data_missing_ui(missing)
    pc1, pc2 = st.columns([1, 2])
    pc1.selectbox(_("Preset"), list(PRESETS), key=K + "preset", on_change=fill_from_preset,
                  help=_("Fills in every field below; you can still change any of them."))
    _preset = st.session_state[K + "preset"]
    pc2.markdown(f"**{_preset}** — {_(PRESET_NOTES[_preset]) if _preset in PRESET_NOTES else PRESETS[_preset]}")

    errors: dict = {}
    with st.form("train_form", border=True):
        c1, c2 = st.columns([1, 3])
        c1.text_input(_("Run name"), key=K + "name", max_chars=100,
                      help=_("Letters, digits, '-', '_' and '.'; it names the folder of the run."))
        errors["name"] = c1.empty()
        train_form.fields_ui(errors)
        errors["_form"] = st.empty()
        submitted = st.form_submit_button(_("Start training"), type="primary", key="tr_start",
                                          icon=":material/rocket_launch:")


def form_errors() -> tuple[dict[str, str], TrainConfig | None]:
    """Validate every field on its own (so all problems show at once), then the whole config."""
    ss = st.session_state
    name = (ss[K + "name"] or "").strip()
    config, errs = train_form.build_config(ss[K + "preset"], train_form.widget_state(ss))
    if train_form.name_error(name):
        errs["name"] = train_form.name_error(name)
    if not errs and name in {r.name for r in infos} and not runs.nothing_trained(runs.run_path(name)):
        errs["name"] = _("A run named {name} already exists: pick another name, or select it in the sidebar "
                         "and Resume it.", name=md(repr(name)))
    if not errs and config is not None:
        short = cost.memory_shortfall(config)  # refused with the figures: it would be killed for memory
        if short:
            errs["batch_size"] = _("Too large for this machine: training needs about {need} GB of memory (batch "
                                   "{batch}, filters {f1}/{f2}) and this machine has {total} GB. Use a smaller "
                                   "batch size or narrower layers.", need=f"{short[0] / 1e9:,.1f}",
                                   batch=f"{config.batch_size:,}", f1=config.filters1, f2=config.filters2,
                                   total=f"{short[1] / 1e9:,.1f}")
    if not errs and config is not None:
        problem = train_form.data_problem(config)  # before launching: a trainer without data fails 40 s later
        if problem:
            errs["data_dir"] = problem
    return errs, config


if submitted:
    errs, config = form_errors()
    slow = cost.slow_warning(config) if not errs else None
    wait = bool(slow) and st.session_state.get("tr_slow_ack") != config.to_json()
    if wait:
        st.session_state["tr_slow_ack"] = config.to_json()  # the same config submitted again starts
        errors["_form"].warning(slow, icon=":material/timer:")
    if not errs and not wait:
        new_name = st.session_state[K + "name"].strip()
        try:
            launcher.launch_training(new_name, config)
        except ServerBusy as e:
            errs["_form"] = md(e)
        except (RunExists, AlreadyTraining) as e:
            errs["name"] = md(e)
        except RunError as e:
            errs["_form"] = md(e)
        else:
            selection.select_run(new_name)
            st.session_state["tr_flash"] = _("Started {name}. The first epoch's results appear in about a minute.",
                                             name=new_name)
            del st.session_state[K + "name"]  # a fresh suggestion next time
            st.rerun()
    for field, msg in errs.items():
        errors.get(field, errors["_form"]).error(msg, icon=":material/error:")  # typed text inside is md()-escaped
