"""One plotly figure per profiled column, built from the profile alone (no data is re-read).

Numeric and datetime columns get the profile's histogram as bars over their bins; categorical,
boolean and text columns get their most frequent values. Labels from the data go through
``plotly_literal`` so that plotly's HTML subset in a value shows as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from app.components.literal_text import plotly_literal
from engine.profiling import ColumnProfile
from engine.schema import SemanticType

CHART_HEIGHT = 240
_BAR_COLOR = "#3b5bdb"

_NO_CHART = {
    SemanticType.IDENTIFIER: "An identifier: every value is (nearly) unique, so there is no distribution to chart.",
    SemanticType.CONSTANT: "A constant: a single value, so there is no distribution to chart.",
    SemanticType.EMPTY: "Empty: every value is null.",
}


def column_figure(column: ColumnProfile) -> go.Figure | None:
    """The chart of a column's distribution, or None when it has none (see ``no_chart_reason``)."""
    if column.semantic_type in _NO_CHART:
        return None
    if column.histogram and column.histogram.get("counts"):
        return _histogram_figure(column.histogram["edges"], column.histogram["counts"])
    if column.top_categories:
        return _categories_figure(column.top_categories)
    return None


def no_chart_reason(column: ColumnProfile) -> str:
    """Why ``column_figure`` returned None for this column, in one sentence."""
    return _NO_CHART.get(column.semantic_type, "The profile holds no distribution for this column.")


def _histogram_figure(edges: list[Any], counts: list[int]) -> go.Figure:
    if edges and isinstance(edges[0], str):
        bounds: list[Any] = [datetime.fromisoformat(e) for e in edges]
        widths = [(b - a).total_seconds() * 1000 for a, b in zip(bounds, bounds[1:])]  # ms on date axes
        centers = [a + (b - a) / 2 for a, b in zip(bounds, bounds[1:])]
        ranges = [[str(a), str(b)] for a, b in zip(edges, edges[1:])]
    else:
        bounds = [float(e) for e in edges]
        widths = [b - a for a, b in zip(bounds, bounds[1:])]
        centers = [a + (b - a) / 2 for a, b in zip(bounds, bounds[1:])]
        ranges = [[f"{a:,.6g}", f"{b:,.6g}"] for a, b in zip(bounds, bounds[1:])]
    figure = go.Figure(
        go.Bar(
            x=centers,
            y=counts,
            width=widths,
            customdata=ranges,
            marker={"color": _BAR_COLOR, "line": {"width": 0}},
            hovertemplate="[%{customdata[0]}, %{customdata[1]}): %{y:,} rows<extra></extra>",
        )
    )
    figure.update_layout(bargap=0.05, yaxis_title="rows")
    return _finish(figure)


def _categories_figure(top: list[tuple[str, int, float]]) -> go.Figure:
    labels = [plotly_literal(value) if value != "" else "(empty string)" for value, _, _ in top]
    positions = list(range(len(top)))  # one row per value even when two labels look alike
    figure = go.Figure(
        go.Bar(
            x=[count for _, count, _ in top],
            y=positions,
            orientation="h",
            customdata=[[label, share] for label, (_, _, share) in zip(labels, top)],
            marker={"color": _BAR_COLOR, "line": {"width": 0}},
            hovertemplate="%{customdata[0]}: %{x:,} rows (%{customdata[1]:.1%})<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title="rows",
        yaxis={"tickmode": "array", "tickvals": positions, "ticktext": labels, "autorange": "reversed"},
        height=max(CHART_HEIGHT, 22 * len(top) + 60),
    )
    return _finish(figure)


def _finish(figure: go.Figure) -> go.Figure:
    figure.update_layout(margin={"l": 0, "r": 10, "t": 10, "b": 0}, showlegend=False)
    if figure.layout.height is None:
        figure.update_layout(height=CHART_HEIGHT)
    figure.update_yaxes(automargin=True)
    return figure
