"""Images and maps in the app: an image without the plotly toolbar; clicks on a map as codes."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import streamlit as st

from ..figures.maps import image_figure, z_from_click
from ..maths.latent import PCA2


def show_image_ui(image: np.ndarray, key: str, height: int = 320, title: str | None = None,
                  hover: str = "p(pixel = 1)") -> None:
    """image_figure in the app, without the plotly toolbar."""
    st.plotly_chart(image_figure(image, height, title, hover), key=key, config={"displayModeBar": False},
                    width="stretch")


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
