"""Shared Streamlit pieces of the app: run picker, cached loaders, image and map figures, error display.

All Streamlit code of the project lives here and in app.py / pages/. Nothing here imports TensorFlow:
the app runs the NumPy model of cvae.infer (see its docstring for why).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from . import appstate, runs
from .data import CLASS_NAMES, DataError, load_test_split
from .evaluate import best_evaluation, format_evaluation, read_evaluations
from .infer import NumpyCVAE, load_numpy_model
from .io import read_file_nofollow
from .latent import PCA2, PRIOR_HIGH, PRIOR_LOW
from .runs import RunError, RunInfo

APP_TITLE = "CVAE explorer"
SELECTED_KEY = "cvae_selected_run"  # persists across pages (a widget's own key would not)
PICKER_KEY = "run_picker"
MAP_POINTS = 5000  # test digits encoded for latent maps (all of them if the test set is smaller)
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SLIDER_LOW = round(PRIOR_LOW, 2)
SLIDER_HIGH = round(PRIOR_HIGH, 2)

PAGES = {
    "home": ("app.py", "Home", "🏠"),
    "train": ("pages/1_Train.py", "Train", "🏋️"),
    "plane": ("pages/2_Latent_plane.py", "Latent plane", "🧭"),
    "recon": ("pages/3_Reconstruct.py", "Reconstruct", "🔁"),
    "manifold": ("pages/4_Manifold.py", "Manifold", "🗺️"),
    "runs": ("pages/5_Runs.py", "Runs", "🗂️"),
    "interp": ("pages/6_Interpolate.py", "Interpolate", "🎞️"),
}

STATE_BADGES = {
    "running": "🟢 running", "done": "✅ done", "stopped": "⏸️ stopped", "failed": "❌ failed",
    "interrupted": "⚠️ interrupted", "unknown": "❔ unknown", "broken": "💥 broken", "starting": "⏳ starting",
}


# ---------------------------------------------------------------------------------------------- page chrome


def page_setup(title: str, icon: str) -> None:
    """Page title, icon and the wide layout every page uses."""
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", page_icon=icon, layout="wide")
    nav_ui()


def nav_ui() -> None:
    """The sidebar's page list. Streamlit's own list would call the home page "app" (its file name), so it is
    hidden in .streamlit/config.toml (client.showSidebarNavigation) and drawn here with proper labels."""
    with st.sidebar:
        st.markdown(f"## 🔢 {APP_TITLE}")
        for path, label, icon in PAGES.values():
            st.page_link(path, label=label, icon=icon)
        st.divider()


def page_link_ui(page: str, description: str | None = None) -> None:
    """A link to one of the app's pages, optionally with a one-line description under it."""
    path, label, icon = PAGES[page]
    st.page_link(path, label=label, icon=icon)
    if description:
        st.caption(description)


def show_error(error: BaseException | str, prefix: str | None = None) -> None:
    """An expected error as one red line (plus its extra lines, if any, folded away); never a traceback."""
    text = str(error).strip() or type(error).__name__
    first, *rest = text.splitlines()
    st.error(f"{prefix}: {first}" if prefix else first, icon="⚠️")
    if rest:
        with st.expander("Details"):
            st.code("\n".join(rest), language=None)


def no_runs_ui() -> None:
    """The friendly message of a page that needs a trained model when there is none."""
    st.info("There is no trained model yet. Start one on the **Train** page: with the tutorial's "
            "settings it takes a few minutes on a laptop CPU, and the pages fill in after its first epoch.",
            icon="👋")
    page_link_ui("train")


# ---------------------------------------------------------------------------------------------- runs


def list_runs_ui() -> list[RunInfo]:
    """Every run (newest first); a runs root that can't be read shows an error and yields none."""
    try:
        return runs.list_runs()
    except OSError as e:
        show_error(e, "Runs directory")
        return []


def default_run(infos: Sequence[RunInfo]) -> str | None:
    """'tutorial' if it has weights, else the newest run with weights, else the newest run."""
    with_weights = [r for r in infos if r.has_weights and r.config is not None]
    for r in with_weights:
        if r.name == "tutorial":
            return r.name
    if with_weights:
        return with_weights[0].name
    return infos[0].name if infos else None


def selected_run_name() -> str | None:
    """The run picked in the sidebar (persisted in session state across pages)."""
    return st.session_state.get(SELECTED_KEY)


def select_run(name: str | None) -> None:
    """Make `name` the selected run (e.g. right after starting it)."""
    st.session_state[SELECTED_KEY] = name


def _on_pick() -> None:
    st.session_state[SELECTED_KEY] = st.session_state.get(PICKER_KEY)


def run_label(info: RunInfo | None, name: str) -> str:
    """'name · state · z=2' for the picker."""
    if info is None:
        return f"{name} · ⏳ starting"
    state = STATE_BADGES.get(info.state, info.state)
    z = f" · z={info.config.latent_dim}" if info.config else ""
    return f"{name} · {state}{z}"


def run_picker_ui(infos: Sequence[RunInfo] | None = None) -> RunInfo | None:
    """The sidebar run picker; returns the selected run's info (None if there are no runs or it is still starting)."""
    infos = list(list_runs_ui() if infos is None else infos)
    by_name = {r.name: r for r in infos}
    try:
        starting = [n for n in appstate.pending() if n not in by_name]
    except OSError:
        starting = []
    options = [r.name for r in infos] + starting
    sb = st.sidebar
    sb.markdown("### Model")
    if not options:
        sb.info("No runs yet: train one on the Train page.")
        select_run(None)
        return None
    chosen = selected_run_name()
    if chosen not in options:
        chosen = default_run(infos) or options[0]
        select_run(chosen)
    # Always (re)seed the widget: its id differs per page, so its own state doesn't follow page switches.
    st.session_state[PICKER_KEY] = chosen
    sb.selectbox("Run", options, key=PICKER_KEY, on_change=_on_pick,
                 format_func=lambda n: run_label(by_name.get(n), n),
                 help="Every page shows this run. Newest first; runs live in " + str(runs.runs_root()))
    info = by_name.get(chosen)
    if info is not None and info.config is not None:
        c = info.config
        elbo = f"{info.best_test_elbo:.1f}" if info.best_test_elbo is not None else "–"
        sb.caption(f"{c.dataset} · latent_dim {c.latent_dim} · epochs {info.epochs_done}/{c.epochs} · "
                   f"best test ELBO {elbo}")
    elif info is not None:
        sb.caption(f"broken: {info.error}")
    return info


def require_model(info: RunInfo | None) -> tuple[NumpyCVAE, RunInfo]:
    """The selected run's model, or an explanation and st.stop() (sidebar and other pages stay usable)."""
    if info is None:
        if selected_run_name():
            st.info(f"Run **{selected_run_name()}** is starting: its first weights come after epoch 1. "
                    "Watch it on the Train page.", icon="⏳")
            page_link_ui("train")
        else:
            no_runs_ui()
        st.stop()
    if info.config is None:
        show_error(f"Run {info.name!r} can't be used: {info.error}")
        st.caption("Pick another run in the sidebar, or delete this one on the Runs page.")
        st.stop()
    if not info.has_weights:
        st.info(f"Run **{info.name}** has no weights yet ({STATE_BADGES.get(info.state, info.state)}): "
                "they are written at the end of each epoch.", icon="⏳")
        page_link_ui("train")
        st.stop()
    try:
        return load_model(info.path), info
    except (RunError, ValueError, OSError) as e:
        show_error(e, f"Run {info.name!r}")
        st.caption("Pick another run in the sidebar, or delete this one on the Runs page.")
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


@st.cache_data(max_entries=512, show_spinner=False)
def _weights_problem_cached(run_dir: str, mtime_ns: int, size: int, config_stamp: tuple) -> str:
    try:
        load_numpy_model(run_dir)
    except (RunError, ValueError, OSError) as e:
        return str(e)
    return ""


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
    try:
        stamp = weights_stamp(info.path)
        c = (Path(info.path) / runs.CONFIG_FILE).stat()
    except (RunError, OSError) as e:
        return str(e)
    return _weights_problem_cached(str(info.path), *stamp, (c.st_mtime_ns, c.st_size))


# ---------------------------------------------------------------------------------------------- data


@st.cache_data(max_entries=4, show_spinner="Loading the test set…")
def load_test_data(dataset: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Test split as (binarized 0/1 uint8 (N,28,28), labels, original uint8 (N,28,28), source).

    The run's data_dir first; if that is gone, the default places ($CVAE_DATA_DIR, Keras cache, and for
    MNIST the bundled 1000-digit sample). Never downloads.
    """
    try:
        images, labels, source = load_test_split(dataset, data_dir, allow_download=False)
    except DataError:
        if not data_dir:
            raise
        images, labels, source = load_test_split(dataset, None, allow_download=False)
    return (images > 127).astype(np.uint8), np.asarray(labels, np.uint8), images, source


def test_data_ui(info: RunInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """load_test_data for the run's dataset, or an error and st.stop()."""
    try:
        return load_test_data(info.config.dataset, info.config.data_dir)
    except (DataError, ValueError, OSError) as e:
        show_error(e, f"Test set ({info.config.dataset})")
        st.stop()
    raise AssertionError("unreachable")


@st.cache_data(max_entries=8, show_spinner="Encoding the test set…")
def _encode_cached(_model: NumpyCVAE, run_dir: str, stamp: tuple[int, int], dataset: str,
                   data_dir: str | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
    binary = load_test_data(dataset, data_dir)[0][:limit]
    mean, logvar = _model.encode(binary.astype(np.float32))
    return mean, logvar


def encoded_test_set(model: NumpyCVAE, info: RunInfo, limit: int = MAP_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """μ and log σ² of q(z|x) for the first `limit` test digits (cached per run and weights)."""
    return _encode_cached(model, str(info.path), weights_stamp(info.path), info.config.dataset,
                          info.config.data_dir, limit)


def class_names(dataset: str) -> tuple[str, ...]:
    return CLASS_NAMES.get(dataset, tuple(str(i) for i in range(10)))


# ---------------------------------------------------------------------------------------------- figures


def image_figure(image: np.ndarray, height: int = 320, title: str | None = None,
                 hover: str = "p(pixel = 1)") -> go.Figure:
    """A greyscale image as a plotly heatmap: 'gray' colour scale fixed to 0..1 (value = brightness, as the
    tutorial's imshow(cmap='gray')), square pixels, no axes."""
    img = np.asarray(image, np.float32)
    img = img.reshape(img.shape[-3], img.shape[-2]) if img.ndim > 2 else img
    fig = go.Figure(go.Heatmap(
        z=np.round(img, 3), colorscale="gray", zmin=0.0, zmax=1.0, showscale=False,
        hovertemplate=f"row %{{y}}, column %{{x}}<br>{hover} = %{{z:.2f}}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=36 if title else 4, b=4),
                      title=dict(text=title, x=0.5, xanchor="center", font=dict(size=18)) if title else None,
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    return fig


def show_image_ui(image: np.ndarray, key: str, height: int = 320, title: str | None = None,
                  hover: str = "p(pixel = 1)") -> None:
    """image_figure in the app, without the plotly toolbar."""
    st.plotly_chart(image_figure(image, height, title, hover), key=key, config={"displayModeBar": False},
                    width="stretch")


def images_row_figure(images: Sequence[np.ndarray], titles: Sequence[str], height: int = 240,
                      hovers: Sequence[str] | None = None) -> go.Figure:
    """Several greyscale images side by side in ONE figure (one plotly instance instead of many), same 0..1
    'gray' scale as image_figure."""
    from plotly.subplots import make_subplots

    n = len(images)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.03)
    for i, img in enumerate(images):
        img = np.asarray(img, np.float32)
        img = img.reshape(img.shape[-3], img.shape[-2]) if img.ndim > 2 else img
        hover = hovers[i] if hovers else "value"
        fig.add_trace(go.Heatmap(z=np.round(img, 3), coloraxis="coloraxis",
                                 hovertemplate=f"row %{{y}}, column %{{x}}<br>{hover} = %{{z:.2f}}<extra></extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=i + 1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", scaleratio=1,
                         constrain="domain", row=1, col=i + 1)
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=40, b=4),
                      coloraxis=dict(colorscale="gray", cmin=0.0, cmax=1.0, showscale=False),
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    fig.update_annotations(font_size=16)
    return fig


def tile_images(images: np.ndarray, ncols: int, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """N images (N,28,28[,1]) in a grid with thin grey separators (so digits are told apart)."""
    arr = np.asarray(images, np.float32)
    arr = arr.reshape(len(arr), arr.shape[1], arr.shape[2])
    n, h, w = arr.shape
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), pad_value, np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = arr[i]
    return out


def map_projection(means: np.ndarray) -> tuple[np.ndarray, PCA2 | None, tuple[str, str]]:
    """2-D coordinates of latent codes for a map: the codes themselves (d=2), their PCA (d>2), or (z, class) (d=1)."""
    d = means.shape[1]
    if d == 2:
        return np.asarray(means, np.float32), None, ("z₁", "z₂")
    if d == 1:
        return np.asarray(means, np.float32), None, ("z₁", "class")
    pca = PCA2(means)
    return pca.transform(means), pca, ("principal component 1", "principal component 2")


def map_ranges(xy: np.ndarray, d: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges: the slider range for d=2, the data's 0.5–99.5 % range (padded) for PCA maps."""
    if d <= 2:
        return (SLIDER_LOW, SLIDER_HIGH), (SLIDER_LOW, SLIDER_HIGH)
    lo = np.percentile(xy, 0.5, axis=0)
    hi = np.percentile(xy, 99.5, axis=0)
    pad = 0.1 * (hi - lo) + 1e-3
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def latent_map_figure(xy: np.ndarray, labels: np.ndarray, names: Sequence[str], *, current: Sequence[float] | None,
                      axis_titles: tuple[str, str], ranges, height: int = 560, marker_size: float = 4.0,
                      click_grid: int = 0, legend: bool = True, strip: bool = False, webgl: bool = True) -> go.Figure:
    """Scatter of encoded test digits coloured by class, the current code as a star, and (click_grid > 0) an
    invisible grid of clickable points so a click anywhere reports its position (heatmaps and empty space send
    no click events)."""
    fig = go.Figure()
    Scatter = go.Scattergl if webgl else go.Scatter  # noqa: N806 (WebGL for thousands of points)
    (x0, x1), (y0, y1) = ranges
    if click_grid:
        gy = np.linspace(y0, y1, click_grid) if not strip else np.linspace(-0.5, 9.5, 21)
        gx = np.linspace(x0, x1, click_grid)
        xx, yy = np.meshgrid(gx, gy)
        fig.add_trace(Scatter(
            x=np.round(xx.ravel(), 3), y=np.round(yy.ravel(), 3), mode="markers", name="click target",
            marker=dict(size=10, color="rgba(0,0,0,0)"), showlegend=False,  # invisible, still hoverable
            selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
            hovertemplate=("click to decode z₁ = %{x:.2f}" if strip else
                           f"click to decode ({axis_titles[0]} = %{{x:.2f}}, {axis_titles[1]} = %{{y:.2f}})")
            + "<extra></extra>"))
    labels = np.asarray(labels)
    y_plot = xy[:, 1] if not strip else labels + np.random.default_rng(0).uniform(-0.35, 0.35, len(labels))
    for c in range(len(names)):
        m = labels == c
        if not m.any():
            continue
        fig.add_trace(Scatter(
            x=np.round(xy[m, 0], 3), y=np.round(y_plot[m], 3), mode="markers", name=str(names[c]),
            marker=dict(size=marker_size, color=CLASS_COLORS[c % 10], opacity=0.75),
            selected=dict(marker=dict(opacity=0.75)), unselected=dict(marker=dict(opacity=0.75)),
            hovertemplate=f"class {names[c]}<br>μ = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>" if not strip
            else f"class {names[c]}<br>μ = %{{x:.2f}}<extra></extra>"))
    if current is not None:
        cy = current[1] if not strip else -0.9
        # Same trace type as the dots: WebGL traces are drawn above SVG ones, which would hide the star.
        fig.add_trace(Scatter(
            x=[float(current[0])], y=[float(cy)], mode="markers", name="current z", showlegend=legend,
            marker=dict(symbol="star", size=22, color="#ffd500", line=dict(color="black", width=2)),
            hovertemplate="current z<extra></extra>"))
    fig.update_xaxes(title=axis_titles[0], range=[x0, x1], zeroline=True, zerolinecolor="#bbb")
    if strip:
        fig.update_yaxes(title="class", range=[-1.4, 9.6], tickvals=list(range(len(names))),
                         ticktext=list(names))
    else:
        fig.update_yaxes(title=axis_titles[1], range=[y0, y1], zeroline=True, zerolinecolor="#bbb")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=legend,
                      legend=dict(title="class ", itemsizing="constant", font=dict(size=15), orientation="h",
                                  y=1.01, yanchor="bottom", x=0, xanchor="left"),
                      dragmode=False, hovermode="closest", clickmode="event+select")
    return fig


def z_from_click(point: dict[str, Any], latent_dim: int, pca: PCA2 | None) -> np.ndarray:
    """The latent code under a clicked map point: (x, y) for d=2, x for d=1, PCA2.inverse(x, y) for d>2;
    clipped to the slider range and rounded to its 0.01 step."""
    x, y = float(point["x"]), float(point["y"])
    if latent_dim == 1:
        z = np.array([x])
    elif latent_dim == 2 or pca is None:
        z = np.array([x, y])
    else:
        z = pca.inverse(np.array([[x, y]]))[0]
    return np.round(np.clip(z, SLIDER_LOW, SLIDER_HIGH), 2)


def make_click_handler(chart_key: str, slider_keys: Sequence[str], latent_dim: int,
                       pca: PCA2 | None) -> Callable[[], None]:
    """An on_select callback: it runs before the next script run, so it may set the sliders' session state."""
    def handler() -> None:
        state = st.session_state.get(chart_key)
        points = (state or {}).get("selection", {}).get("points", []) if state else []
        if not points:
            return
        z = z_from_click(points[0], latent_dim, pca)
        for k, v in zip(slider_keys, z):
            st.session_state[k] = float(v)
    return handler


def make_code_click_handler(chart_key: str, target: Callable[[], str], latent_dim: int,
                            pca: PCA2 | None) -> Callable[[], None]:
    """An on_select callback that stores the clicked code (a list of floats, see z_from_click) in
    st.session_state[target()] — e.g. the endpoint A or B the page's radio points at."""
    def handler() -> None:
        state = st.session_state.get(chart_key)
        points = (state or {}).get("selection", {}).get("points", []) if state else []
        if points:
            st.session_state[target()] = [float(v) for v in z_from_click(points[0], latent_dim, pca)]
    return handler


def map_coords(codes: np.ndarray, pca: PCA2 | None, strip: bool = False) -> np.ndarray:
    """(N, 2) positions of latent codes on a latent map made by map_projection: the codes (d=2), their PCA
    coordinates (d>2), or (z, below the class rows) on the d=1 strip."""
    codes = np.asarray(codes, np.float32)
    if strip:
        return np.stack([codes[:, 0], np.full(len(codes), -0.9, np.float32)], axis=1)
    return pca.transform(codes) if pca is not None else codes[:, :2]


PATH_COLORS = ("#111111", "#e4007c")


def add_paths_to_map(fig: go.Figure, paths: dict[str, np.ndarray], webgl: bool = True) -> go.Figure:
    """Draw latent paths (label -> (N, 2) map positions) over a latent_map_figure, with A and B marked at the
    ends. Same trace type as the map's dots (WebGL traces are drawn above SVG ones)."""
    Scatter = go.Scattergl if webgl else go.Scatter  # noqa: N806
    for i, (label, xy) in enumerate(paths.items()):
        fig.add_trace(Scatter(x=np.round(xy[:, 0], 3), y=np.round(xy[:, 1], 3), mode="lines+markers", name=label,
                              line=dict(color=PATH_COLORS[i % 2], width=3, dash="solid" if i == 0 else "dot"),
                              marker=dict(size=6, color=PATH_COLORS[i % 2]), hoverinfo="skip"))
    first = next(iter(paths.values()))
    fig.add_trace(Scatter(x=[float(first[0, 0]), float(first[-1, 0])], y=[float(first[0, 1]), float(first[-1, 1])],
                          mode="markers+text", text=["A", "B"], textposition="top center", name="endpoints",
                          textfont=dict(size=20, color="black"),
                          marker=dict(symbol="star", size=20, color="#ffd500", line=dict(color="black", width=2)),
                          hovertemplate="%{text}<extra></extra>"))
    return fig


# ---------------------------------------------------------------------------------------------- misc


def file_bytes_in_run(run_dir: Path, name: str) -> bytes | None:
    """Bytes of <run>/<name> if it is a regular file really inside the run directory (no symlink escape)."""
    run_dir = Path(run_dir).resolve()
    path = run_dir / name
    try:
        if path.is_symlink() or not path.is_file() or path.resolve().parent != run_dir:
            return None
        return read_file_nofollow(path)  # and no link swapped in since the check
    except OSError:
        return None


IWAE_COLUMN = "log p(x) (IWAE k)"


def iwae_cell(info: RunInfo) -> str | None:
    """The run's saved IWAE estimate of log p(x) for its current weights, as a table cell ('-152.31 (k = 1000,
    10,000 images)'), or None when `python -m cvae eval --iwae-k` has not been run on them."""
    return format_evaluation(best_evaluation(read_evaluations(info.path), epoch=info.epochs_done))


def fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "–"


def latest_sample_image(run_dir: Path) -> tuple[bytes, int] | None:
    """PNG bytes and epoch of the newest per-epoch sample grid."""
    frames = runs.epoch_images(Path(run_dir))
    if not frames:
        return None
    try:
        return read_file_nofollow(frames[-1]), int(frames[-1].stem.split("_")[-1])
    except (OSError, ValueError):
        return None
