"""Runs: every run in a table, test-ELBO curves side by side, downloads and deletion."""

import streamlit as st

from cvae.explorer.ui import presenter, page_state, selection, status_text, run_data, states, chrome, nav
from cvae.explorer.jobs import run_compare, launches
from cvae.explorer.ui.page_state import UrlParam
from cvae.explorer.i18n import _
from cvae.explorer.ui.text import md
from cvae.store import runs
from cvae.store.access import file_bytes_in_run
from cvae.store.config import format_value
from cvae.store.errors import RunError
from cvae.store.fmt import fmt_time

chrome.page_setup("runs")
nav.hidden_when_presenting_ui("runs")
infos = run_data.list_runs_ui()
selected = run_data.run_picker_ui(infos)

nav.page_title_ui("runs")
st.caption(_("Every training run is a folder in the runs directory (`checkpoints/` unless the server sets "
             "another)."))

flash = st.session_state.pop("rn_flash", None)
if flash:
    st.success(md(flash), icon=":material/delete:")

if not infos:
    chrome.no_runs_ui()
    st.stop()

def problem(r) -> str:
    """Why a run can't be used: its error, why it failed, or what is wrong with its weights ('' if nothing)."""
    if r.error:
        return r.error
    if r.state == "failed" and not r.has_weights:
        return status_text.status_plain(r.status) or _("failed")
    return run_data.weights_problem(r)


NONE = "–"  # an empty cell: a table would print Python's None  # the full load check (cached per weights file): truncated, other shapes, NaN...


# Column names and state words translated once, not per row: each _() reads the session state (1,000 runs).
DIFFERENT = run_compare.differing_fields([r.config for r in infos])  # a column for every field that differs
CHANGED = _("changed")
BEST = _("best test ELBO")
RUN, STATE, EPOCHS, CREATED, DATASET, PRESET, PROBLEM = (_("run"), _("state"), _("epochs"), _("created"),
                                                         _("dataset"), _("preset"), _("problem"))
state_words: dict[str, str] = {}
rows = []
for r in infos:
    c = r.config
    if r.state not in state_words:
        state_words[r.state] = states.state_badge(r.state, icon=False)
    rows.append({
        RUN: r.name,
        STATE: state_words[r.state],
        EPOCHS: f"{r.epochs_done}/{c.epochs}" if c else f"{r.epochs_done}/?",
        BEST: f"{r.best_test_elbo:.2f}" if r.best_test_elbo is not None else NONE,
        run_data.IWAE_COLUMN: run_data.iwae_cell(r),
        CREATED: fmt_time(r.created),
        DATASET: c.dataset if c else NONE,
        "latent_dim": str(c.latent_dim) if c else NONE,
        **{name: (format_value(getattr(c, name)) if c else NONE) for name in DIFFERENT if name != "latent_dim"},
        PRESET: run_compare.preset_label(c, CHANGED) if c else NONE,
        PROBLEM: problem(r) or NONE,
    })
if not any(row[run_data.IWAE_COLUMN] for row in rows):  # shown once some run has been evaluated
    for row in rows:
        del row[run_data.IWAE_COLUMN]
else:
    for row in rows:
        row[run_data.IWAE_COLUMN] = row[run_data.IWAE_COLUMN] or NONE
st.dataframe(rows, key="rn_table", hide_index=True, width="stretch", column_config={
    BEST: st.column_config.TextColumn(help=_("Highest test-set ELBO of any epoch")),
    PROBLEM: st.column_config.TextColumn(width="large"),
    PRESET: st.column_config.TextColumn(width="medium", help=_("The preset a run started from, and every setting "
                                                                "in which it departs from it")),
    run_data.IWAE_COLUMN: st.column_config.TextColumn(
        help=_("Importance-weighted estimate of the test-set log-likelihood with k samples (a tighter bound than "
               "the ELBO), from `python -m cvae eval RUN --iwae-k K`; the evaluation of the most test images, "
               "then the largest k, for the run's current weights")),
})

st.subheader(_("Compare runs, epoch by epoch"))
with_curves = [r.name for r in infos if r.epoch_rows]
default = [n for n in with_curves if selected and n == selected.name] or with_curves[:3]
P_COMPARE = UrlParam("compare", "rn_compare", page_state.names_in(with_curves), page_state.join_names)
P_FIGURE = UrlParam("figure", "rn_figure", page_state.one_of(list(run_compare.EPOCH_FIGURES)))
page_state.restore([P_COMPARE, P_FIGURE])
page_state.notes_ui()
cc1, cc2 = st.columns([3, 2])
chosen = cc1.multiselect(_("Runs to compare"), with_curves, default=default, key="rn_compare",
                         placeholder=_("Choose runs"))
if chosen:
    by_name = {r.name: r for r in infos}
    series = {name: by_name[name].epoch_rows for name in chosen}
    available = run_compare.epoch_figures(series)
    figure = cc2.selectbox(_("Figure"), available, key="rn_figure",
                           format_func=lambda k: _(run_compare.EPOCH_FIGURES[k][0]))
    better = run_compare.EPOCH_FIGURES[figure][1]
    y_title = _(run_compare.EPOCH_FIGURES[figure][0]) + (
        "" if better is None else " — " + (_("higher is better") if better else _("lower is better")))
    fig = run_compare.compare_figure(series, figure, x_title=_("epoch"), y_title=y_title)
    st.plotly_chart(presenter.style_figure(fig), key="rn_curves", width="stretch")
elif not with_curves:
    st.caption(_("No run has finished an epoch yet."))
page_state.write([P_COMPARE, P_FIGURE] if chosen else [P_COMPARE])

st.subheader(_("Manage a run"))
names = [r.name for r in infos]
default_idx = names.index(selected.name) if selected and selected.name in names else 0
target_name = st.columns([1, 2])[0].selectbox(_("Run"), names, index=default_idx, key="rn_target")
target = next(r for r in infos if r.name == target_name)
if target.error:
    chrome.show_error(f"{target.name}: {target.error}")
elif target.has_weights and problem(target):
    chrome.show_error(problem(target))

dl, rm = st.columns(2, gap="large")
with dl:
    st.markdown(f"**{_('Download')}**")
    files = [(runs.WEIGHTS_FILE, _("weights (NumPy .npz)"), "application/octet-stream"),
             (runs.METRICS_FILE, _("metrics (JSON lines)"), "application/x-ndjson"),
             (runs.CONFIG_FILE, _("config"), "application/json"),
             (runs.GIF_FILE, _("sample GIF"), "image/gif")]
    any_file = False
    for fname, label, mime in files:
        data = file_bytes_in_run(target.path, fname)
        if data is None:
            continue
        any_file = True
        st.download_button(f"`{fname}` — {label}", data, icon=":material/download:", file_name=f"{target.name}-{fname}", mime=mime,
                           key=f"rn_dl_{fname}", on_click="ignore")
    if not any_file:
        st.caption(_("This run has no files to download yet."))
with rm:
    st.markdown(f"**{_('Delete')}**")
    busy = runs.is_locked(target.path) or target.name in launches.pending()
    if target.read_only:  # the shipped run: everyone explores it, nobody deletes it (the store refuses too)
        st.info(_("{name} is read-only ({why}): it cannot be deleted. To train it further, copy it on the Train "
                  "page.", name=md(target.name), why=states.read_only_why(target)), icon=":material/lock:")
        st.stop()
    if busy:
        st.info(_("{name} is training: stop it on the Train page before deleting it.", name=md(target.name)),
                icon=":material/lock:")
    confirm = st.checkbox(_("Yes, delete **{name}** and all its files for good", name=md(target.name)),
                          key=f"rn_confirm_{target.name}", disabled=busy)
    if st.button(_("Delete run"), icon=":material/delete:", key="rn_delete", type="primary", disabled=busy or not confirm):
        try:
            runs.delete_run(target.name)
        except (RunError, OSError) as e:
            chrome.show_error(e)
        else:
            if selection.selected_run_name() == target.name:
                selection.select_run(None)
            st.session_state["rn_flash"] = _("Deleted {name}.", name=target.name)
            st.rerun()
