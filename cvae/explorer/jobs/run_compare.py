"""Comparing runs (pure, no Streamlit): the config fields that differ, what a preset label hides, the per-epoch
figures runs have in common, and a chart whose runs stay apart in colour, marker and dash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from ...store.config import PRESETS, TrainConfig, format_value, settable_fields
from ...store.errors import ConfigError
from ..i18n import N_

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency, on white and on dark grey.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down", "cross")
DASHES = ("solid", "dash", "dot", "dashdot")
IGNORED = ("data_dir",)  # where the data was found on one machine says nothing about the model
# Per-epoch figures a trainer records that make sense on one axis across runs (label, higher is better?).
EPOCH_FIGURES = {
    "test_elbo": (N_("test ELBO (nats)"), True),
    "test_logpx_z": (N_("test reconstruction log p(x|z) (nats)"), True),
    "test_kl": (N_("test KL(q(z|x) ‖ p(z)) (nats)"), None),
    "test_objective": (N_("test training objective (nats)"), True),
    "test_active_units": (N_("active units"), None),
    "images_per_second": (N_("images per second"), True),
    "epoch_seconds": (N_("seconds per epoch"), False),
    "elapsed_seconds": (N_("elapsed time (s)"), None),
}


def differing_fields(configs: Sequence[TrainConfig | None]) -> list[str]:
    """The settable config fields whose values are not the same in every given config (in declaration order)."""
    present = [c for c in configs if c is not None]
    if len(present) < 2:
        return []
    return [name for name in settable_fields() if name not in IGNORED
            and len({format_value(getattr(c, name)) for c in present}) > 1]


def preset_changes(config: TrainConfig) -> list[str]:
    """The fields in which a run departs from the preset it names ('beta 4', …); [] when it is the preset."""
    try:
        base = TrainConfig.from_preset(config.preset) if config.preset in PRESETS else None
    except ConfigError:
        base = None
    if base is None:
        return []
    return [f"{name} {format_value(getattr(config, name))}" for name in settable_fields()
            if name not in IGNORED and getattr(config, name) != getattr(base, name)]


def preset_label(config: TrainConfig, changed: str = "changed") -> str:
    """'tutorial', or 'tutorial, changed: beta 4, epochs 2' when the run departs from it."""
    changes = preset_changes(config)
    return f"{config.preset}, {changed}: {', '.join(changes)}" if changes else config.preset


def epoch_figures(series: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The per-epoch figures (EPOCH_FIGURES order) that at least one run has a number for."""
    have = {k for rows in series.values() for row in rows for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return [k for k in EPOCH_FIGURES if k in have]


def compare_figure(series: Mapping[str, Sequence[Mapping[str, Any]]], figure: str, *, x_title: str,
                   y_title: str, height: int = 380) -> go.Figure:
    """One line per run of `figure` against the epoch: colour, marker and dash all differ from run to run."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(series.items()):
        points = [(r["epoch"], r[figure]) for r in rows
                  if isinstance(r.get(figure), (int, float)) and not isinstance(r.get(figure), bool)]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
            line=dict(width=3, color=COLOURS[i % len(COLOURS)], dash=DASHES[(i // len(COLOURS)) % len(DASHES)]),
            marker=dict(size=10, symbol=MARKERS[i % len(MARKERS)], color=COLOURS[i % len(COLOURS)],
                        line=dict(width=1, color="#ffffff"))))
    fig.update_layout(height=height, xaxis_title=x_title, yaxis_title=y_title, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(font=dict(size=14)))
    return fig
