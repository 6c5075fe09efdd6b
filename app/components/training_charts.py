"""Loss curves of a training run, from the per-epoch history the model file records.

The history is ``[{"epoch": 1, "generator": 1.2, "critic": 0.4, ...}, ...]`` (which losses
depend on the model: CTGAN's generator and critic, TVAE's reconstruction and KL, ARGN's
negative log-likelihood, a validation loss when early stopping is on). One line per loss.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from app.components.literal_text import plotly_literal

CHART_HEIGHT = 320


def loss_figure(history: list[dict[str, Any]], *, title: str = "Training losses per epoch") -> go.Figure | None:
    """A line per loss over the epochs, or None when the history holds no loss values."""
    if not history:
        return None
    names = sorted({k for row in history for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))})
    if not names:
        return None
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    figure = go.Figure()
    for name in names:
        figure.add_trace(go.Scatter(x=epochs, y=[row.get(name) for row in history], mode="lines+markers",
                                    name=plotly_literal(name)))
    figure.update_layout(title=title, height=CHART_HEIGHT, template="plotly_white",
                         xaxis=dict(title="epoch", tickformat="d", dtick=max(1, len(epochs) // 10)),
                         yaxis_title="loss", margin=dict(l=50, r=20, t=80, b=40),
                         legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return figure


__all__ = ["loss_figure"]
