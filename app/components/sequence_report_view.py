"""A sequence quality report on a page: the verdict, the scores and gates, histories, autocorrelation, lengths.

It reads the stored ``SequenceReport.to_dict()`` document (the one the HTML report,
``engine.quality.sequences.html``, renders), so the page, the download and a shared link agree:

- the verdict (no gate blocks among the sequence gates, the steps' or the entities' reports),
  the headline scores and the sequence gates;
- "Histories": a few real and synthetic histories side by side as line charts, one numeric step
  column at a time (a selectbox), from the report's ``samples``;
- "Autocorrelation": per numeric column, the curves of the real, synthetic and holdout
  histories at lags 1..k (``figures["autocorrelation"]``);
- "Lengths": the histories per length bin of each table (``figures["lengths"]["histogram"]``);
- "Steps" and "Entities": the single-table reports of the step rows and of the context columns.

Entity, column and category names come from the data: they reach Markdown escaped and charts
through ``plotly_literal``.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from app.components.literal_text import markdown_literal, plotly_literal
from app.components.report_view import gates_table, render_report
from app.failures import ui_words

ROLE_COLOURS = {"real": "#1f77b4", "synthetic": "#d62728", "holdout": "#2ca02c"}
CHART_HEIGHT = 280
HEADLINE = {"Length KS similarity": "length_ks_similarity", "Autocorrelation error": "autocorrelation_error",
            "Discriminative score": "discriminative_score", "Predictive score": "predictive_score",
            "Coherence": "coherence", "DCR share": "dcr_share"}
VERDICTS = {
    "pass": ("Every blocking quality gate passed, over time, per step and per entity.", "success",
             ":material/check_circle:"),
    "warn": ("No quality gate blocks, but at least one warns: read the gates below.", "warning", ":material/warning:"),
    "block": ("At least one blocking quality gate failed: read the gates below.", "error", ":material/cancel:"),
}


def is_sequence_document(document: Any) -> bool:
    """Whether a stored report document is a sequence report (``SequenceReport.to_dict()``)."""
    from engine.quality.sequences.report import SEQUENCE_REPORT

    return isinstance(document, dict) and document.get("schema") == SEQUENCE_REPORT


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _finish(figure: go.Figure, *, x: str, y: str) -> go.Figure:
    figure.update_layout(height=CHART_HEIGHT, margin={"l": 0, "r": 10, "t": 30, "b": 0}, xaxis_title=x,
                         yaxis_title=y, legend={"orientation": "h", "y": 1.12})
    figure.update_yaxes(automargin=True)
    return figure


def sample_columns(document: dict[str, Any]) -> list[str]:
    """The numeric step columns the report's sample histories hold (the selectbox's choices)."""
    return [str(c) for c in ((document.get("samples") or {}).get("columns") or [])]


def history_figure(document: dict[str, Any], column: str, role: str) -> go.Figure:
    """The sample histories of one table (``role``) for ``column``: one line per entity, step by step."""
    items = ((document.get("samples") or {}).get("histories") or {}).get(role) or []
    figure = go.Figure()
    for item in items:
        values = (item.get("values") or {}).get(column) or []
        figure.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, mode="lines",
                                    name=plotly_literal(str(item.get("entity"))),
                                    customdata=item.get("time") or None,
                                    hovertemplate="step %{x}: %{y}<br>%{customdata}<extra></extra>"))
    figure.update_layout(title={"text": plotly_literal(f"{role}: {column}"), "font": {"size": 14}})
    return _finish(figure, x="step", y=plotly_literal(column))


def autocorrelation_columns(document: dict[str, Any]) -> list[str]:
    return list((((document.get("figures") or {}).get("autocorrelation") or {}).get("columns") or {}))


def autocorrelation_figure(document: dict[str, Any], column: str) -> go.Figure:
    """The autocorrelation of ``column`` at lags 1..k: the real, synthetic and holdout curves."""
    entry = (((document.get("figures") or {}).get("autocorrelation") or {}).get("columns") or {}).get(column) or {}
    lags = entry.get("lags") or []
    figure = go.Figure()
    for role, colour in ROLE_COLOURS.items():
        if isinstance(entry.get(role), list):
            figure.add_trace(go.Scatter(x=lags, y=entry[role], mode="lines+markers", name=role,
                                        line={"color": colour, "dash": "dash" if role == "holdout" else "solid"}))
    return _finish(figure, x="lag (steps)", y="autocorrelation")


def autocorrelation_table(document: dict[str, Any]) -> pl.DataFrame:
    """Per numeric column: the real-synthetic and real-holdout autocorrelation errors."""
    columns = (((document.get("figures") or {}).get("autocorrelation") or {}).get("columns") or {})
    return pl.DataFrame({"column": list(columns),
                         "error (synthetic)": [_float(e.get("error")) for e in columns.values()],
                         "error (holdout)": [_float(e.get("holdout_error")) for e in columns.values()]},
                        schema={"column": pl.String, "error (synthetic)": pl.Float64, "error (holdout)": pl.Float64})


def length_figure(document: dict[str, Any]) -> go.Figure:
    """Histories per length bin, as a share of each table's histories, side by side."""
    histogram = (((document.get("figures") or {}).get("lengths") or {}).get("histogram") or {})
    edges = histogram.get("edges") or []
    labels = [f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(edges) - 1)]
    figure = go.Figure()
    for role, colour in ROLE_COLOURS.items():
        counts = histogram.get(role)
        if isinstance(counts, list) and counts:
            total = sum(counts) or 1
            figure.add_trace(go.Bar(x=labels, y=[c / total for c in counts], name=role, marker_color=colour))
    figure.update_layout(barmode="group")
    return _finish(figure, x="length (steps)", y="share of histories")


def lengths_table(document: dict[str, Any]) -> pl.DataFrame:
    lengths = ((document.get("figures") or {}).get("lengths") or {})
    roles = [r for r in ROLE_COLOURS if isinstance(lengths.get(r), dict)]
    return pl.DataFrame({"table": roles, **{k: [_float(lengths[r].get(k)) for r in roles]
                                            for k in ("entities", "min", "median", "max", "mean")}},
                        schema={"table": pl.String, **{k: pl.Float64 for k in ("entities", "min", "median", "max",
                                                                                "mean")}})


def render_sequence_verdict(document: dict[str, Any]) -> None:
    text, kind, icon = VERDICTS.get(str(document.get("status")), VERDICTS["warn"])
    getattr(st, kind)(text, icon=icon)
    scores = document.get("scores") or {}
    for cell, (name, key) in zip(st.columns(len(HEADLINE)), HEADLINE.items()):
        value = _float(scores.get(key))
        cell.metric(name, "—" if value is None else f"{value:.3f}")


def render_sequence_report(document: dict[str, Any], *, key: str = "sequences") -> None:
    """The whole sequence report (see the module docstring)."""
    render_sequence_verdict(document)
    inputs = document.get("inputs") or {}
    entities = inputs.get("entities") or {}
    st.caption(markdown_literal(f"Histories of {inputs.get('entity', '?')} over {inputs.get('order_by', '?')}; "
                                + ", ".join(f"{role} {n:,}" for role, n in entities.items()) + " histories."))
    st.subheader("Sequence gates", anchor=False)
    st.dataframe(gates_table(document), hide_index=True)
    tabs = st.tabs(["Histories", "Autocorrelation", "Lengths", "Steps", "Entities"])
    with tabs[0]:
        columns = sample_columns(document)
        if not columns:
            st.caption("This report holds no sample histories (made before they were kept, or no numeric step column).")
        else:
            column = st.selectbox("Column", columns, key=f"{key}_history_column")
            st.caption("A few entities of each table, their first steps in time order.")
            for cell, role in zip(st.columns(2), ("real", "synthetic")):
                cell.plotly_chart(history_figure(document, column, role), key=f"{key}_history_{role}",
                                  config={"displaylogo": False})
    with tabs[1]:
        auto = autocorrelation_columns(document)
        if not auto:
            st.caption("Autocorrelation not measured (no numeric step column, or the temporal part was left out).")
        else:
            st.caption("The mean autocorrelation per history at each lag; the holdout's curve is what real histories "
                       "the model never saw score.")
            st.dataframe(autocorrelation_table(document), hide_index=True)
            for index, (tab, column) in enumerate(zip(st.tabs([markdown_literal(c) for c in auto]), auto)):
                with tab:
                    st.plotly_chart(autocorrelation_figure(document, column), key=f"{key}_acf_{index}",
                                    config={"displaylogo": False})
    with tabs[2]:
        st.dataframe(lengths_table(document), hide_index=True)
        st.plotly_chart(length_figure(document), key=f"{key}_lengths", config={"displaylogo": False})
    for tab, part in zip(tabs[3:], ("steps", "entities")):
        with tab:
            if isinstance(document.get(part), dict):
                render_report(document[part], key=f"{key}_{part}")
            else:
                st.caption(f"The {part} report was not measured (see the notes).")
    notes = document.get("notes") or []
    if notes:
        with st.expander("Notes"):
            st.markdown("\n".join(f"- {markdown_literal(ui_words(n))}" for n in notes))


__all__ = ["autocorrelation_figure", "autocorrelation_table", "history_figure", "is_sequence_document",
           "length_figure", "lengths_table", "render_sequence_report", "sample_columns"]
