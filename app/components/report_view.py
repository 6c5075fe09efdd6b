"""A quality report on a page: verdict, scores, gates, recommendations and the report's figures.

It reads the stored report document (``QualityReport.to_dict()``; a schema's report is drawn by
``app.components.schema_report_view``) and draws the figures the
HTML report draws (``engine.quality.html.build_figures``), so the page, the download and the
shared view agree. Column names and category labels come from the data: they reach plotly
escaped (``plotly_literal``) and Markdown escaped (``markdown_literal``).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from app.components.literal_text import markdown_literal, plotly_literal
from app.failures import ui_words

VERDICTS = {
    "pass": ("Every blocking quality gate passed.", "success", ":material/check_circle:"),
    "warn": ("No quality gate blocks, but at least one warns: read the gates below.", "warning",
             ":material/warning:"),
    "block": ("At least one blocking quality gate failed: read the gates and recommendations below.", "error",
              ":material/cancel:"),
}
STATUS_MARKS = {"pass": "PASS", "warn": "WARN", "block": "BLOCK", "inconclusive": "INCONCLUSIVE", "skipped": "skipped"}
INCONCLUSIVE_NOTE = ("Inconclusive: too few rows to tell {names} from sampling noise. Such a gate never blocks; "
                     "its row below says how many rows would tell.")
FIGURES_PER_ROW = 2


def _gate_status(gate: dict[str, Any]) -> str:
    if gate.get("status"):
        return str(gate["status"])
    if "passed" in gate:
        return "pass" if gate["passed"] else "block"
    return "skipped"


def _status(document: dict[str, Any]) -> str:
    if document.get("status") in VERDICTS:
        return str(document["status"])
    if document.get("passed") is False:
        return "block"
    statuses = {_gate_status(g) for g in document.get("gates") or [] if isinstance(g, dict)}
    return "block" if "block" in statuses else ("warn" if statuses & {"warn", "inconclusive"} else "pass")


def inconclusive_gates(document: dict[str, Any]) -> list[str]:
    """Names of the gates whose samples were too small to tell (status "inconclusive")."""
    return [str(g.get("name", "")) for g in document.get("gates") or []
            if isinstance(g, dict) and _gate_status(g) == "inconclusive"]


def _interval(gate: dict[str, Any]) -> str:
    lower, upper = gate.get("lower"), gate.get("upper")
    if lower is None or upper is None:
        return "—"
    level = f" ({gate['confidence']:.0%})" if isinstance(gate.get("confidence"), (int, float)) else ""
    return f"[{_number(lower, 3)}, {_number(upper, 3)}]{level}"


def _samples(gate: dict[str, Any]) -> str:
    samples = gate.get("samples") or {}
    return " · ".join(f"{str(k).replace('_rows', '').replace('_', ' ')} {v:,}" for k, v in samples.items()
                      if isinstance(v, int))


def _number(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    return f"{value:.{digits}f}"


def gates_table(document: dict[str, Any]) -> pl.DataFrame:
    """One row per gate: status, pillar, gate, value, its error bar, threshold, holdout's value, rows, the message."""
    gates = [g for g in document.get("gates") or [] if isinstance(g, dict)]
    return pl.DataFrame(
        {
            "status": [STATUS_MARKS.get(_gate_status(g), _gate_status(g)) for g in gates],
            "pillar": [str(g.get("pillar", "")) for g in gates],
            "gate": [str(g.get("name") or g.get("gate") or "") for g in gates],
            "value": [_number(g.get("value"), 4) for g in gates],
            "error bar": [_interval(g) for g in gates],
            "threshold": [f"{g.get('comparison', '')} {_number(g.get('threshold'), 3)}".strip() for g in gates],
            "holdout": [_number(g.get("reference"), 4) for g in gates],
            "rows": [_samples(g) for g in gates],
            "detail": [ui_words(str(g.get("message", ""))) for g in gates],
        },
        schema={"status": pl.String, "pillar": pl.String, "gate": pl.String, "value": pl.String,
                "error bar": pl.String, "threshold": pl.String, "holdout": pl.String, "rows": pl.String,
                "detail": pl.String},
    )


def _literal_values(values: Any) -> Any:
    if isinstance(values, (list, tuple)) and values and all(isinstance(v, str) for v in values):
        return [plotly_literal(v, limit=60) for v in values]
    return values


def literal_figure(figure: go.Figure) -> go.Figure:
    """``figure`` with its text labels (category names, column names, title) shown literally."""
    for trace in figure.data:
        for axis in ("x", "y"):
            values = getattr(trace, axis, None)
            if values is not None:
                trace[axis] = _literal_values(list(values))
        if getattr(trace, "name", None):
            trace.name = plotly_literal(trace.name, limit=80)
    title = figure.layout.title.text if figure.layout.title else None
    if title:
        figure.update_layout(title=dict(text=plotly_literal(title, limit=100)))
    return figure


def report_figures(document: dict[str, Any]) -> dict[str, go.Figure]:
    """The report's figures (the same as the HTML report's), labels escaped."""
    from engine.quality.html import build_figures

    return {key: literal_figure(figure) for key, figure in build_figures(document).items()}


def render_verdict(document: dict[str, Any]) -> None:
    text, kind, icon = VERDICTS[_status(document)]
    getattr(st, kind)(text, icon=icon)
    unsure = inconclusive_gates(document)
    if unsure:
        st.info(INCONCLUSIVE_NOTE.format(names=", ".join(unsure)), icon=":material/help:")
    scores = document.get("scores") or {}
    cells = st.columns(4)
    for cell, key in zip(cells, ("overall", "fidelity", "utility", "privacy")):
        value = scores.get(key)
        cell.metric(f"{key.capitalize()} score", "—" if value is None else f"{value:.2f}",
                    help=(document.get("score_formulas") or {}).get(key))


def is_schema_report(document: dict[str, Any]) -> bool:
    """Whether ``document`` is a schema's report (``SchemaReport.to_dict()``) rather than a table's."""
    from engine.quality.schema_report import SCHEMA_REPORT

    return isinstance(document, dict) and document.get("schema") == SCHEMA_REPORT


def render_report(document: dict[str, Any], *, key: str = "report") -> None:
    """The whole report: verdict and scores, gates, recommendations, then fidelity, utility, privacy.

    A table's report; a schema's is drawn by ``schema_report_view.render_any_report``.
    """
    render_verdict(document)
    rows = (document.get("inputs") or {}).get("rows") or {}
    if rows:
        holdout = f", holdout {rows['holdout']:,}" if rows.get("holdout") else ", no holdout"
        st.caption(f"Rows: real {rows.get('real', 0):,}, synthetic {rows.get('synthetic', 0):,}{holdout}. "
                   f"Metrics version {markdown_literal(document.get('metrics_version', '?'))}.")

    st.subheader("Gates", anchor=False)
    st.dataframe(gates_table(document), hide_index=True)
    st.subheader("Recommendations", anchor=False)
    recommendations = document.get("recommendations") or []
    if recommendations:
        st.markdown("\n".join(f"- {markdown_literal(ui_words(r))}" for r in recommendations))
    else:
        st.caption("No recommendations: nothing to change.")

    figures = report_figures(document)
    fidelity = document.get("fidelity")
    if fidelity:
        st.subheader("Fidelity", anchor=False)
        columns = fidelity.get("columns") or []
        if columns:
            st.dataframe(pl.DataFrame({
                "column": [str(c.get("name")) for c in columns],
                "kind": [str(c.get("kind")) for c in columns],
                "metric": [str(c.get("metric", "")).upper() for c in columns],
                "distance": [c.get("distance") for c in columns],
                "holdout distance": [c.get("holdout_distance") for c in columns],
                "accuracy": [c.get("accuracy") for c in columns],
            }, schema_overrides={"distance": pl.Float64, "holdout distance": pl.Float64, "accuracy": pl.Float64}),
                hide_index=True)
        _grid([figures[k] for k in ("association_real", "association_synthetic", "association_difference")
               if k in figures], key=f"{key}_assoc", per_row=1)
        distributions = [figures[k] for k in figures if k.startswith("distribution:")]
        if distributions:
            st.markdown("**Distributions: real (blue) and synthetic (orange)**")
            _grid(distributions, key=f"{key}_dist")
    if document.get("utility"):
        st.subheader("Utility: train on synthetic, test on real", anchor=False)
        utility = document["utility"]
        st.caption(f"Target {markdown_literal(utility.get('target', '?'))} ({markdown_literal(utility.get('task', ''))}).")
        _grid([figures[k] for k in ("utility", "importance") if k in figures], key=f"{key}_util")
    if document.get("privacy"):
        st.subheader("Privacy", anchor=False)
        _grid([figures[k] for k in ("dcr", "mia_roc") if k in figures], key=f"{key}_priv")
    notes = document.get("notes") or []
    if notes:
        with st.expander("Notes"):
            st.markdown("\n".join(f"- {markdown_literal(ui_words(n))}" for n in notes))


def _grid(figures: list[go.Figure], *, key: str, per_row: int = FIGURES_PER_ROW) -> None:
    for start in range(0, len(figures), per_row):
        for offset, (cell, figure) in enumerate(zip(st.columns(per_row), figures[start : start + per_row])):
            cell.plotly_chart(figure, key=f"{key}_{start + offset}", config={"displaylogo": False})


__all__ = ["gates_table", "inconclusive_gates", "is_schema_report", "literal_figure", "render_report", "render_verdict",
           "report_figures"]
