"""Figure builders of the Train page (pure functions): training loss, test ELBO and reconstruction, test KL.

Three figures rather than one with three subplots: the page lays them out in columns, which Streamlit stacks on a
phone, so every chart keeps a readable width at 390 px instead of scrolling sideways.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from ..i18n import translate

# Okabe–Ito colours (colour-blind safe), as on the maps.
LOSS, ELBO, RECON, OBJECTIVE, KL = "#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7"
CHART_PARTS = ("loss", "elbo", "kl")  # the order of the figures (and of the page's columns)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    # The legend sits at the figure's bottom edge in a margin kept for it (two rows: a narrow column wraps it), not
    # at a fraction of the plot's height below it, where a short or large-font chart put it over the axis title.
    legend = fig.layout.showlegend is not False
    fig.update_layout(title=dict(text=title, font=dict(size=16), x=0, xanchor="left"), height=height,
                      margin=dict(l=10, r=10, t=40, b=64 if legend else 10),
                      legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0.5, xanchor="center",
                                  font=dict(size=14)))
    return fig


def loss_figure(x: Sequence[float], y: Sequence[float], beta: float = 1.0, height: int = 340,
                lang: str = "en") -> go.Figure:
    """The training loss per logged chunk of steps (β ≠ 1: labelled −(reconstruction − β·KL))."""
    title = (translate("Training loss (−ELBO per image)", lang) if beta == 1 else
             translate("Training loss (−(reconstruction − {beta}·KL))", lang, beta=f"{beta:g}"))
    fig = go.Figure(go.Scatter(x=list(x), y=list(y), mode="lines", name=translate("training loss", lang),
                               line=dict(color=LOSS)))
    fig.update_xaxes(title_text=translate("step", lang))
    fig.update_yaxes(title_text=translate("nats per image", lang))
    fig.update_layout(showlegend=False)
    return _layout(fig, title, height)


def _epoch_axis(fig: go.Figure, epochs: Sequence[int], lang: str) -> None:
    fig.update_xaxes(title_text=translate("epoch", lang), dtick=1 if len(epochs) <= 12 else None)


def elbo_figure(epochs: Sequence[dict], beta: float = 1.0, height: int = 340, lang: str = "en") -> go.Figure:
    """Per epoch: the test ELBO, the reconstruction term and (β ≠ 1) the objective trained on."""
    ep = [r["epoch"] for r in epochs]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ep, y=[r.get("test_elbo") for r in epochs], mode="lines+markers",
                             name=translate("test ELBO", lang), line=dict(color=ELBO, width=3)))
    if beta != 1:
        fig.add_trace(go.Scatter(x=ep, y=[r.get("test_objective") for r in epochs], mode="lines+markers",
                                 name=translate("test training objective (β = {beta})", lang, beta=f"{beta:g}"),
                                 line=dict(color=OBJECTIVE, dash="dash")))
    fig.add_trace(go.Scatter(x=ep, y=[r.get("test_logpx_z") for r in epochs], mode="lines+markers",
                             name=translate("reconstruction", lang) + " E[log p(x|z)]",
                             line=dict(color=RECON, dash="dot")))
    _epoch_axis(fig, ep, lang)
    return _layout(fig, translate("Test ELBO and reconstruction", lang), height)


def kl_figure(epochs: Sequence[dict], height: int = 340, lang: str = "en") -> go.Figure:
    """Per epoch: the test KL(q(z|x) ‖ p(z)), from zero."""
    ep = [r["epoch"] for r in epochs]
    fig = go.Figure(go.Scatter(x=ep, y=[r.get("test_kl") for r in epochs], mode="lines+markers", name="KL",
                               line=dict(color=KL, width=3)))
    _epoch_axis(fig, ep, lang)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(showlegend=False)
    return _layout(fig, translate("Test KL(q(z|x) ‖ p(z))", lang), height)


def progress_figures(steps_xy: tuple[Sequence[float], Sequence[float]] | None, epochs: Sequence[dict],
                     beta: float = 1.0, lang: str = "en", height: int = 340) -> dict[str, go.Figure]:
    """{part: figure} for the parts there is data for, in CHART_PARTS order ({} before the first logged row)."""
    out: dict[str, go.Figure] = {}
    if steps_xy is not None and len(steps_xy[0]):
        out["loss"] = loss_figure(*steps_xy, beta=beta, lang=lang, height=height)
    if epochs:
        out["elbo"] = elbo_figure(epochs, beta=beta, lang=lang, height=height)
        out["kl"] = kl_figure(epochs, lang=lang, height=height)
    return out
