"""Manifold → latent pad: click a cell of the manifold grid and the Latent plane page opens on that code.

The manifold is an image trace, which reports no clicks; an invisible scatter point at each cell's centre does (the
same trick as the latent map's click grid). The clicked code becomes the Latent plane page's z (plane_pad's
session state, with a new revision so the pad adopts it) and the app switches page. No TensorFlow here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ..i18n import _
import streamlit as st

from ...store.runs import RunInfo

from . import plane_pad

CELL = 28  # model pixels per manifold cell


def add_cell_targets(fig: go.Figure, q: Sequence[float], dims: tuple[int, int]) -> go.Figure:
    """Invisible, hoverable points at the centres of an n×n manifold image (x = column, y = row, in pixels)."""
    n = len(q)
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    fig.add_trace(go.Scatter(
        x=(jj.ravel() * CELL + CELL / 2), y=(ii.ravel() * CELL + CELL / 2), mode="markers", name="_cells",
        marker=dict(size=max(6, min(40, 600 // n)), color="rgba(0,0,0,0)"), showlegend=False,
        # Row 0 is the top of the grid: the highest z of dims[1] (the Manifold is oriented like the map, z₂ up).
        customdata=np.stack([np.asarray(q)[jj.ravel()], np.asarray(q)[::-1][ii.ravel()]], axis=1).round(4),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate=(f"z{dims[0] + 1} = %{{customdata[0]:.2f}}, z{dims[1] + 1} = %{{customdata[1]:.2f}}"
                       "<br>" + _("click: open this code on the latent pad") + "<extra></extra>")))
    fig.update_layout(clickmode="event+select", dragmode=False, hovermode="closest")
    return fig


def clicked_code(selection: object, q: Sequence[float], dims: tuple[int, int], latent_dim: int) -> list[float] | None:
    """The code of the clicked cell (other dimensions at 0, as the grid decodes them), or None."""
    try:
        point = (selection or {}).get("selection", {}).get("points", [])[0]  # type: ignore[union-attr]
        col, row = int(float(point["x"]) // CELL), int(float(point["y"]) // CELL)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    n = len(q)
    if not (0 <= col < n and 0 <= row < n):
        return None
    z = [0.0] * latent_dim
    z[dims[0]], z[dims[1]] = float(q[col]), float(q[n - 1 - row])  # row 0 = top = highest (z₂ up)
    return z


def open_on_pad(chart_key: str, info: RunInfo, q: Sequence[float], dims: tuple[int, int], latent_dim: int) -> None:
    """If a cell of the manifold chart was clicked: make its code the Latent plane's z and go there."""
    z = clicked_code(st.session_state.get(chart_key), q, dims, latent_dim)
    if z is None:
        return
    plane_pad.set_page_z(info, z)
    st.switch_page("app_pages/2_Latent_plane.py")
