"""The Train page's form, generated from the config's field specs: widgets, their values, their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import streamlit as st

from .text import md
from ...store.config import FIELD_SPECS, TrainConfig, settable_fields, validate_run_name
from ...data import download
from ...data.datasets import dataset_spec
from ...data.loading import config_data
from ...data.sources import clear_cache, load_dataset
from ...store.errors import ConfigError, DataError, DataNotFound
from ..i18n import N_, _

PREFIX = "tr_"  # session-state key prefix of the form's widgets
COLUMNS = 4


def widget_values(config: TrainConfig) -> dict[str, Any]:
    """A config as the form's widgets hold it (learning rate as text, no data directory as '')."""
    out: dict[str, Any] = {}
    for name in settable_fields():
        value = getattr(config, name)
        spec = FIELD_SPECS[name]
        if spec.slider_step:  # the slider's grid (the CLI takes any allowed value)
            step = spec.slider_step
            value = round(min(max(round(value / step) * step, step), spec.high), 6)
        elif spec.kind is float:
            value = f"{value:g}"
        elif spec.kind is str and not spec.choices:
            value = value or ""
        out[name] = value
    return out


def parse_values(widgets: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Widget values -> (config values, {field: error}); every field is checked on its own, so all problems
    show at once."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in settable_fields():
        spec = FIELD_SPECS[name]
        raw = widgets.get(name)
        if spec.kind is float:
            text = str(raw).strip()
            try:
                raw = float(text)
            except ValueError:
                errors[name] = f"{name}: got {md(repr(text))}; allowed: {md(spec.allowed)}, e.g. 1e-4"
                continue
        elif spec.kind is str and not spec.choices:
            raw = str(raw or "").strip() or None
        elif spec.kind is int and isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not spec.accepts(raw):
            errors[name] = f"{name}: got {md(repr(raw))}; allowed: {md(spec.allowed)}"
            continue
        values[name] = raw
    data_dir = values.get("data_dir")
    if data_dir:
        path = Path(data_dir).expanduser()
        if not path.is_dir() and not (path.suffix.lower() == ".npz" and path.is_file()):
            errors["data_dir"] = f"data_dir: {md(repr(data_dir))} is not a directory (or an .npz file)"
        else:
            values["data_dir"] = str(path.resolve())
    return values, errors


def build_config(preset: str, widgets: Mapping[str, Any]) -> tuple[TrainConfig | None, dict[str, str]]:
    """The config the form describes, or the errors of each field (and '_form' for cross-field ones)."""
    values, errors = parse_values(widgets)
    if errors:
        return None, errors
    try:
        return TrainConfig.from_preset(preset, **values), {}
    except ConfigError as e:
        return None, {e.field if e.field in FIELD_SPECS else "_form": str(e)}


def name_error(name: str) -> str | None:
    """Why a run name is refused, or None."""
    try:
        validate_run_name(name)
    except ConfigError as e:
        return md(e)  # quotes what was typed
    return None


def _field_ui(col, name: str, slots: dict) -> None:
    spec = FIELD_SPECS[name]
    key = PREFIX + name
    label, help_ = _(spec.label), _(spec.help)
    if spec.choices:
        col.selectbox(label, spec.choices, key=key, help=help_)
    elif spec.slider_step:
        col.slider(label, min_value=spec.slider_step, max_value=float(spec.high), step=spec.slider_step,
                   key=key, help=help_)
    elif spec.kind is int:
        if spec.optional:
            col.number_input(label, key=key, step=1, value=None, placeholder=_("all"), help=help_)
        else:
            col.number_input(label, key=key, step=1, help=help_)
    else:
        col.text_input(label, key=key, help=help_)
    slots[name] = col.empty()


def fields_ui(slots: dict, more_label: str = N_("More settings")) -> None:
    """Every settable field's widget, main ones first, the rest under an expander; error slots into `slots`."""
    main = [n for n in settable_fields() if not FIELD_SPECS[n].more]
    more = [n for n in settable_fields() if FIELD_SPECS[n].more]
    for i in range(0, len(main), COLUMNS):
        for col, name in zip(st.columns(COLUMNS), main[i:i + COLUMNS]):
            _field_ui(col, name, slots)
    with st.expander(_(more_label)):
        for i in range(0, len(more), COLUMNS):
            for col, name in zip(st.columns(COLUMNS), more[i:i + COLUMNS]):
                _field_ui(col, name, slots)


def widget_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The form's widget values out of st.session_state."""
    return {name: state.get(PREFIX + name) for name in settable_fields()}


def data_problem(config: TrainConfig) -> str | None:
    """Why training could not find its data on this server (checked before launching, without downloading),
    pointing at the form's own Data directory field; None when the data is there."""
    try:
        config_data(config, allow_download=False)  # your own data too (decoded once, then cached)
    except (DataError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if config.data_dir:
            return _("The data directory can't be used: {problem}", problem=md(first))
        return _("No {dataset} data on this server: see above the form for where it looked, the download and the "
                 "offline ways, or enter the folder that holds it in **Data directory**.", dataset=config.dataset)
    return None


def missing_data(dataset: str, data_dir: str | None) -> DataNotFound | None:
    """Why `dataset` can't be found on this server without a download (None when it can, or when the problem is
    another one, which the form reports on Start)."""
    if data_dir:
        return None
    try:
        load_dataset(dataset, None, allow_download=False)
    except DataNotFound as e:
        return e
    except (DataError, OSError, ValueError):
        return None
    return None


def data_missing_ui(missing: DataNotFound) -> None:
    """Full width: where this server looked for the data, the download (MNIST, with progress), the offline ways."""
    with st.container(border=True, key="tr_no_data"):
        st.markdown("#### :material/database: " + _("No {dataset} data on this server yet", dataset=missing.dataset))
        st.markdown(_("Training needs the dataset on this machine. It looked in:"))
        st.code("\n".join(missing.looked), language=None)
        if dataset_spec(missing.dataset).verified_download:
            st.markdown(_("**Online?** Download MNIST (11 MB) as Keras does — the same file, its SHA-256 checked — "
                          "into the Keras cache (`{where}`), where this app and Keras find it from then on.",
                          where=str(download.keras_cache_dir())))
            if st.button(_("Download MNIST"), key="tr_download", icon=":material/download:", type="primary"):
                bar = st.progress(0.0, text=_("Downloading MNIST…"))
                try:
                    download.download(download.MNIST, progress=lambda done, total: bar.progress(
                        min(done / total, 1.0), text=_("Downloading MNIST… {done:.1f} of {total:.1f} MB",
                                                       done=done / 2**20, total=total / 2**20)))
                except download.DownloadError as e:
                    bar.empty()
                    st.error(_("The download failed: {problem}", problem=str(e)), icon=":material/cloud_off:")
                else:
                    clear_cache()
                    st.session_state["tr_flash"] = _("MNIST downloaded and verified: you can start training.")
                    st.rerun()
        st.markdown(_("**Offline** (a classroom without internet), any of these works:"))
        st.markdown("\n".join([
            "- " + _("copy the four IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, "
                     "`t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, plain or `.gz`) into a folder on this "
                     "server and enter it as **Data directory** below (or start the app with `CVAE_DATA_DIR=folder`);"),
            "- " + _("or copy `mnist.npz` from a machine that has it (`~/.keras/datasets/mnist.npz`) into the same "
                     "place here;"),
            "- " + _("Fashion-MNIST: `apt-get install dataset-fashion-mnist` (Debian, Ubuntu);"),
            "- " + _("from the command line: `python -m cvae data` says where it looks, "
                     "`python -m cvae data --download` downloads."),
        ]))
