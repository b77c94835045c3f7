"""Runs: every run in a table, test-ELBO curves side by side, downloads and deletion."""

import plotly.graph_objects as go
import streamlit as st

from cvae.explorer import launcher
from cvae.explorer import widgets as ui
from cvae.store import runs
from cvae.store.access import file_bytes_in_run
from cvae.store.errors import RunError
from cvae.store.fmt import fmt_time

ui.page_setup("Runs", "🗂️")
infos = ui.list_runs_ui()
selected = ui.run_picker_ui(infos)

st.title("🗂️ Runs")
st.caption(f"Every training run is a folder in `{runs.runs_root()}`.")

flash = st.session_state.pop("rn_flash", None)
if flash:
    st.success(flash, icon="🗑️")

if not infos:
    ui.no_runs_ui()
    st.stop()

def problem(r) -> str:
    if r.error:
        return r.error
    return ui.weights_problem(r)  # the full load check (cached per weights file): truncated, other shapes, NaN...


rows = []
for r in infos:
    c = r.config
    rows.append({
        "run": r.name,
        "state": ui.STATE_BADGES.get(r.state, r.state),
        "epochs": f"{r.epochs_done}/{c.epochs}" if c else f"{r.epochs_done}/?",
        "best test ELBO": round(r.best_test_elbo, 2) if r.best_test_elbo is not None else None,
        ui.IWAE_COLUMN: ui.iwae_cell(r),
        "created": fmt_time(r.created),
        "dataset": c.dataset if c else None,
        "latent_dim": c.latent_dim if c else None,
        "preset": c.preset if c else None,
        "problem": problem(r),
    })
if not any(row[ui.IWAE_COLUMN] for row in rows):  # shown once some run has been evaluated
    for row in rows:
        del row[ui.IWAE_COLUMN]
st.dataframe(rows, key="rn_table", hide_index=True, width="stretch", column_config={
    "best test ELBO": st.column_config.NumberColumn(format="%.2f", help="Highest test-set ELBO of any epoch"),
    ui.IWAE_COLUMN: st.column_config.TextColumn(
        help="Importance-weighted estimate of the test-set log-likelihood with k samples (a tighter bound than "
             "the ELBO), from `python -m cvae eval RUN --iwae-k K`; the evaluation of the most test images, "
             "then the largest k, for the run's current weights"),
})

st.subheader("Test ELBO per epoch")
with_curves = [r.name for r in infos if r.epoch_rows]
default = [n for n in with_curves if selected and n == selected.name] or with_curves[:3]
chosen = st.multiselect("Runs to compare", with_curves, default=default, key="rn_compare")
if chosen:
    fig = go.Figure()
    by_name = {r.name: r for r in infos}
    for name in chosen:
        er = by_name[name].epoch_rows
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in er], y=[e.get("test_elbo") for e in er],
                                 mode="lines+markers", name=name, line=dict(width=3)))
    fig.update_layout(height=380, xaxis_title="epoch", yaxis_title="test ELBO (nats, higher is better)",
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(font=dict(size=14)))
    st.plotly_chart(fig, key="rn_curves", width="stretch")
elif not with_curves:
    st.caption("No run has finished an epoch yet.")

st.subheader("Manage a run")
names = [r.name for r in infos]
default_idx = names.index(selected.name) if selected and selected.name in names else 0
target_name = st.columns([1, 2])[0].selectbox("Run", names, index=default_idx, key="rn_target")
target = next(r for r in infos if r.name == target_name)
if target.error:
    ui.show_error(f"{target.name}: {target.error}")
elif target.has_weights and problem(target):
    ui.show_error(problem(target))

dl, rm = st.columns(2, gap="large")
with dl:
    st.markdown("**Download**")
    files = [(runs.WEIGHTS_FILE, "weights (NumPy .npz)", "application/octet-stream"),
             (runs.METRICS_FILE, "metrics (JSON lines)", "application/x-ndjson"),
             (runs.CONFIG_FILE, "config", "application/json"),
             (runs.GIF_FILE, "sample GIF", "image/gif")]
    any_file = False
    for fname, label, mime in files:
        data = file_bytes_in_run(target.path, fname)
        if data is None:
            continue
        any_file = True
        st.download_button(f"⬇️ {fname} — {label}", data, file_name=f"{target.name}-{fname}", mime=mime,
                           key=f"rn_dl_{fname}", on_click="ignore")
    if not any_file:
        st.caption("This run has no files to download yet.")
with rm:
    st.markdown("**Delete**")
    busy = runs.is_locked(target.path) or target.name in launcher.pending()
    if busy:
        st.info(f"{target.name} is training: stop it on the Train page before deleting it.", icon="🔒")
    confirm = st.checkbox(f"Yes, delete **{target.name}** and all its files for good", key=f"rn_confirm_{target.name}",
                          disabled=busy)
    if st.button("🗑️ Delete run", key="rn_delete", type="primary", disabled=busy or not confirm):
        try:
            runs.delete_run(target.name)
        except (RunError, OSError) as e:
            ui.show_error(e)
        else:
            if ui.selected_run_name() == target.name:
                ui.select_run(None)
            st.session_state["rn_flash"] = f"Deleted {target.name}."
            st.rerun()
