"""The selected run and what pages load from it: the run picker, the run's NumPy model and the test set (cached).

Nothing here imports TensorFlow: the app runs the NumPy model of cvae.explorer.maths.numpy_model (see its
docstring for why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import streamlit as st

from ...data.loading import own_key
from ...data.sample import load_test_split
from ...data.likelihoods import likelihood as likelihood_entry
from ...data.sources import CLASS_NAMES, unit_scale
from ...store import latent_means, runs
from ...store.errors import DataError, RunError
from ...store.evaluations import best_evaluation, format_evaluation_cell
from ...store.files import read_file_nofollow
from ...store.runs import RunInfo
from ..jobs import launches
from .selection import PICKER_KEY, on_pick, select_run, selected_run_name, url_note, write_address
from ..i18n import _
from .chrome import no_runs_ui, show_error
from .keys import LISTING_KEY
from .nav import page_link_ui
from .presenter import source_label
from .text import code, md
from .states import STATE_WORDS, state_word
from ..figures.maps import MAP_POINTS
from ..maths.numpy_model import NumpyCVAE, load_numpy_model


# ---------------------------------------------------------------------------------------------- runs


def list_runs_ui() -> list[RunInfo]:
    """Every run (newest first), listed once per page run (page_setup starts a new listing; a fragment's rerun
    reuses its page's); a runs root that can't be read shows an error and yields none."""
    listed = st.session_state.get(LISTING_KEY)
    if listed is not None:
        return list(listed)
    try:
        listed = runs.list_runs()
    except OSError as e:
        show_error(e, _("Runs directory"))
        return []
    st.session_state[LISTING_KEY] = listed
    return list(listed)


def default_run(infos: Sequence[RunInfo]) -> str | None:
    """'tutorial' if it has weights, else the newest run with weights, else the newest run."""
    with_weights = [r for r in infos if r.has_weights and r.config is not None]
    for r in with_weights:
        if r.name == "tutorial":
            return r.name
    if with_weights:
        return with_weights[0].name
    return infos[0].name if infos else None


def run_label(info: RunInfo | None, name: str, words: dict[str, str] | None = None) -> str:
    """'name · state · z=2' for the picker (`words`: state words in the page's language, fixed at render time)."""
    words = words or {}
    if info is None:
        return f"{name} · {words.get('starting', 'starting')}"
    state = words.get(info.state, info.state)
    z = f" · z={info.config.latent_dim}" if info.config else ""
    return f"{name} · {state}{z}"


def run_picker_ui(infos: Sequence[RunInfo] | None = None) -> RunInfo | None:
    """The sidebar run picker; returns the selected run's info (None if there are no runs or it is still starting)."""
    infos = list(list_runs_ui() if infos is None else infos)
    by_name = {r.name: r for r in infos}
    try:
        starting = [n for n in launches.pending() if n not in by_name]
    except OSError:
        starting = []
    options = [r.name for r in infos] + starting
    sb = st.sidebar
    sb.markdown(f"### {_('Model')}")
    if not options:
        sb.info(_("No runs yet: train one on the Train page."))
        select_run(None)
        return None
    chosen = selected_run_name()
    if chosen not in options:
        chosen = default_run(infos) or options[0]
        select_run(chosen)
    # Always (re)seed the widget: its id differs per page, so its own state doesn't follow page switches.
    st.session_state[PICKER_KEY] = chosen
    sb.selectbox(_("Run"), options, key=PICKER_KEY, on_change=on_pick,
                 format_func=lambda n, w={s: state_word(s) for s in STATE_WORDS}: run_label(by_name.get(n), n, w),
                 help=_("Every page shows this run. Newest first."))
    if url_note():
        sb.caption(_("The address names run {name}, which is not here: showing {shown}.",
                     name=code(url_note()[:80]), shown=md(chosen)))
    write_address(chosen)
    info = by_name.get(chosen)
    if info is not None and info.config is not None:
        c = info.config
        elbo = f"{info.best_test_elbo:.1f}" if info.best_test_elbo is not None else "–"
        sb.caption(_("{dataset} · latent_dim {d} · epochs {done}/{total} · best test ELBO {elbo}",
                     dataset=c.dataset, d=c.latent_dim, done=info.epochs_done, total=c.epochs, elbo=elbo))
    elif info is not None:
        sb.caption(_("broken: {error}", error=md(info.error)))
    return info


def require_model(info: RunInfo | None) -> tuple[NumpyCVAE, RunInfo]:
    """The selected run's model, or an explanation and st.stop() (sidebar and other pages stay usable)."""
    if info is None:
        if selected_run_name():
            st.info(_("Run **{name}** is starting: its first weights come after epoch 1. "
                      "Watch it on the Train page.", name=md(selected_run_name())), icon=":material/hourglass_top:")
            page_link_ui("train")
        else:
            no_runs_ui()
        st.stop()
    if info.config is None:
        show_error(_("Run {name} can't be used: {error}", name=repr(info.name), error=info.error))
        st.caption(_("Pick another run in the sidebar, or delete this one on the Runs page."))
        st.stop()
    if not info.has_weights:
        st.info(_("Run **{name}** has no weights yet ({state}): they are written at the end of each epoch.",
                  name=md(info.name), state=state_word(info.state)), icon=":material/hourglass_top:")
        page_link_ui("train")
        st.stop()
    try:
        return load_model(info.path), info
    except (RunError, ValueError, OSError) as e:
        show_error(e, _("Run {name}", name=repr(info.name)))
        st.caption(_("Pick another run in the sidebar, or delete this one on the Runs page."))
        st.stop()
    raise AssertionError("unreachable")


def weights_stamp(run_dir: Path) -> tuple[int, int]:
    """(mtime_ns, size) of a run's weights: part of every cache key, so a retrained run reloads."""
    try:
        s = (Path(run_dir) / runs.WEIGHTS_FILE).stat()
    except OSError:
        raise RunError(f"{Path(run_dir).name}: {runs.WEIGHTS_FILE} is missing") from None
    return s.st_mtime_ns, s.st_size


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load_model_cached(run_dir: str, mtime_ns: int, size: int) -> NumpyCVAE:
    return load_numpy_model(run_dir)


def load_model(run_dir: Path) -> NumpyCVAE:
    """The run's NumPy model, cached per (run dir, weights mtime/size)."""
    return _load_model_cached(str(run_dir), *weights_stamp(run_dir))


# Process-wide, not st.cache_data: its 512 entries thrashed with 1,000 runs (every Runs rerun reloaded every
# model: 21 s, bench/RESULTS.md) and its hashing cost ~1 ms a call. One short string per weights generation.
_WEIGHTS_PROBLEMS: dict[tuple, str] = {}


def _weights_problem_cached(run_dir: str, mtime_ns: int, size: int, config_stamp: tuple) -> str:
    key = (run_dir, mtime_ns, size, config_stamp)
    if key not in _WEIGHTS_PROBLEMS:
        try:
            load_numpy_model(run_dir)
            problem = ""
        except (RunError, ValueError, OSError) as e:
            problem = str(e)
        if len(_WEIGHTS_PROBLEMS) >= 16_384:
            _WEIGHTS_PROBLEMS.clear()
        _WEIGHTS_PROBLEMS[key] = problem
    return _WEIGHTS_PROBLEMS[key]


def weights_problem(info: RunInfo) -> str:
    """Why the run's weights can't be used ('' if they load; 'no weights yet' if there are none), one line.

    The full check of load_numpy_model (readable, no symlink, every array with the config's shapes, finite),
    cached per (weights mtime/size, config.json mtime/size) as a short string, so the Runs page can check
    every run on every rerun without keeping their models in memory.
    """
    if info.config is None:
        return info.error or f"{runs.CONFIG_FILE} is unreadable"
    if not info.has_weights:
        return "no weights yet"
    stamp, config_stamp = info.stamps.get(runs.WEIGHTS_FILE), info.stamps.get(runs.CONFIG_FILE)
    if stamp is None or config_stamp is None:  # a RunInfo made by hand: stat the files
        try:
            stamp = weights_stamp(info.path)
            c = (Path(info.path) / runs.CONFIG_FILE).stat()
        except (RunError, OSError) as e:
            return str(e)
        config_stamp = (c.st_mtime_ns, c.st_size)
    return _weights_problem_cached(str(info.path), *stamp, config_stamp)


# ---------------------------------------------------------------------------------------------- data


@st.cache_data(max_entries=4, show_spinner="Loading the test set…")
def load_test_data(dataset: str, data_dir: str | None,
                   own: tuple = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Test split as (binarized 0/1 uint8 (N,28,28), labels, original uint8 (N,28,28), source).

    The run's data_dir first; if that is gone, the default places ($CVAE_DATA_DIR, Keras cache, and for
    MNIST the bundled 1000-digit sample). Never downloads.
    """
    try:
        images, labels, source = load_test_split(dataset, data_dir, allow_download=False, own=own)
    except DataError:
        if not data_dir or own:  # your own data is only ever its own folder
            raise
        images, labels, source = load_test_split(dataset, None, allow_download=False)
    return (images > 127).astype(np.uint8), np.asarray(labels, np.uint8), images, source


def test_data_ui(info: RunInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """load_test_data for the run's dataset (first array: what its model sees; its source as a short label), or
    an error and st.stop()."""
    try:
        if not likelihood_entry(info.config.likelihood).binary_input:
            *arrays, source = _levels_test_data(info.config.dataset, info.config.data_dir, own_key(info.config))
        else:
            *arrays, source = load_test_data(info.config.dataset, info.config.data_dir, own_key(info.config))
        return (*arrays, source_label(source, info.config.dataset))
    except (DataError, ValueError, OSError) as e:
        show_error(e, _("Test set ({dataset})", dataset=info.config.dataset))
        st.stop()
    raise AssertionError("unreachable")


@st.cache_resource(max_entries=2, show_spinner=False)  # a resource: no float32 copy of the test set per rerun
def _levels_test_data(dataset: str, data_dir: str | None,
                      own: tuple = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """load_test_data with the 8-bit values k/255 (float32, read-only) in place of the binarized images."""
    _, labels, images, source = load_test_data(dataset, data_dir, own)
    levels = unit_scale(images)
    levels.setflags(write=False)
    return levels, labels, images, source


@st.cache_data(max_entries=8, show_spinner="Encoding the test set…")
def _encode_cached(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int], dataset: str,
                   data_dir: str | None, limit: int, own: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    loader = load_test_data if likelihood_entry(_model.arch.likelihood).binary_input else _levels_test_data
    binary = loader(dataset, data_dir, own)[0][:limit]
    mean, logvar = _model.encode(binary.astype(np.float32))
    return mean, logvar


def encoded_test_set(model: NumpyCVAE, info: RunInfo, limit: int = MAP_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """μ and log σ² of q(z|x) for the first `limit` test digits (cached per run and weights)."""
    return _encode_cached(model, str(info.path), weights_stamp(info.path), info.config.dataset,
                          info.config.data_dir, limit, own_key(info.config))


@st.cache_data(max_entries=8, show_spinner=False)
def _stored_means_cached(run_dir: str, stamp: tuple[int, int], epochs_done: int):
    try:
        stored = latent_means.read_latent_means(run_dir)
    except ValueError:
        return None  # a damaged file: the page encodes instead
    if stored is None or stored.latest()[0] != epochs_done:
        return None  # not the weights' epoch (e.g. written by an older version): encode instead
    return stored.latest()[1], stored.labels


def map_points(model: NumpyCVAE, info: RunInfo) -> tuple[np.ndarray, np.ndarray, str]:
    """(μ (N, d), labels, source) of the map's digits: the means the trainer stored for the newest epoch when they
    belong to the current weights (no encoding on first load), else the first MAP_POINTS test digits encoded."""
    path = info.path / latent_means.FILE
    try:
        st_ = path.stat()
        stored = _stored_means_cached(str(info.path), (st_.st_mtime_ns, st_.st_size), info.epochs_done)
    except OSError:
        stored = None
    if stored is not None and stored[0].shape[1] == model.latent_dim:
        return stored[0], stored[1], _("stored by the trainer")
    _images, labels, _levels, source = test_data_ui(info)
    means, _logvar = encoded_test_set(model, info)
    return means, labels[:len(means)], source


def class_names(run) -> tuple[str, ...]:
    """A run config's class names (your own data: recorded in it; unlabelled: one class), or a dataset's."""
    if isinstance(run, str):
        return CLASS_NAMES.get(run, tuple(str(i) for i in range(10)))
    return run.labels


# ---------------------------------------------------------------------------------------------- misc


IWAE_COLUMN = "log p(x) (IWAE k)"


def iwae_cell(info: RunInfo) -> str | None:
    """The run's saved IWAE estimate of log p(x) for its latest epoch's weights with the ELBO of those same
    weights ('-152.31 (k = 1000, 10,000 images) · ELBO -156.74, epoch 10'), or None when
    `python -m cvae eval --iwae-k` has not been run on them (an evaluation of other weights is never shown)."""
    return format_evaluation_cell(best_evaluation(info.evaluations, epoch=info.epochs_done))


def latest_sample_image(run_dir: Path) -> tuple[bytes, int] | None:
    """PNG bytes and epoch of the newest per-epoch sample grid."""
    frames = runs.epoch_images(Path(run_dir))
    if not frames:
        return None
    try:
        return read_file_nofollow(frames[-1]), int(frames[-1].stem.split("_")[-1])
    except (OSError, ValueError):
        return None
