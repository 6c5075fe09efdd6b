"""Loss curves of a training run, from the per-epoch history the model file records.

The history is ``[{"epoch": 1, "generator": 1.2, "critic": 0.4, ...}, ...]`` (which losses
depend on the model: CTGAN's generator and critic, TVAE's reconstruction and KL, ARGN's
negative log-likelihood and its learning rate, a validation loss when early stopping is on).
One line per loss on the loss axis; the learning rate, on another scale by orders of
magnitude, gets a second axis of its own on the right.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from app.components.literal_text import plotly_literal

CHART_HEIGHT = 320
RATE_KEYS = ("learning_rate", "lr")
"""History keys that are a learning rate, not a loss: drawn on the second y axis."""


def loss_figure(history: list[dict[str, Any]], *, title: str = "Training losses per epoch",
                x_title: str = "epoch") -> go.Figure | None:
    """A line per loss over the epochs (the learning rate on a second axis), or None when there is nothing to draw.

    ``x_title``: what one step of the history is ("epoch"; MST's are estimation rounds).
    """
    if not history:
        return None
    names = sorted({k for row in history for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))})
    if not names:
        return None
    rates = [n for n in names if n in RATE_KEYS]
    losses = [n for n in names if n not in RATE_KEYS]
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    figure = go.Figure()
    for name in losses:
        figure.add_trace(go.Scatter(x=epochs, y=[row.get(name) for row in history], mode="lines+markers",
                                    name=plotly_literal(name), yaxis="y"))
    for name in rates:
        figure.add_trace(go.Scatter(x=epochs, y=[row.get(name) for row in history], mode="lines",
                                    name=plotly_literal(name.replace("_", " ")), yaxis="y2" if losses else "y",
                                    line=dict(dash="dot")))
    layout: dict[str, Any] = dict(
        title=title, height=CHART_HEIGHT, template="plotly_white",
        xaxis=dict(title=x_title, tickformat="d", dtick=max(1, len(epochs) // 10)),
        yaxis=dict(title="loss" if losses else "learning rate"),
        margin=dict(l=50, r=60 if rates and losses else 20, t=80, b=40),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    if rates and losses:
        layout["yaxis2"] = dict(title="learning rate", overlaying="y", side="right", showgrid=False,
                                exponentformat="e")
    figure.update_layout(**layout)
    return figure


__all__ = ["RATE_KEYS", "loss_figure"]
