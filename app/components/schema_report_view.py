"""A schema's quality report on a page: the verdict, the schema gates, the figures across tables, a tab per table.

It reads the stored ``SchemaReport.to_dict()`` document (the one the HTML report,
``engine.quality.schema_html``, renders), so the page, the download and a shared link agree:

- the verdict (no gate blocks in any table or across tables) and the schema gates;
- "Across tables": referential integrity and cardinality per relation, the inter-table
  trends that count, the child aggregates per relation, and each parent table's subtree
  utility and privacy;
- one tab per table with the single-table report view (``report_view.render_report``).

``render_any_report`` draws a stored report of either kind: the Quality page and the shared
view call it.

Table, column and category names come from the data: they reach Markdown escaped and tables
as plain cells.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from app.components.literal_text import markdown_literal, plotly_literal
from app.components.report_view import gates_table, is_schema_report, render_report
from app.failures import ui_words

VERDICTS = {
    "pass": ("Every blocking quality gate passed, in every table and across tables.", "success",
             ":material/check_circle:"),
    "warn": ("No quality gate blocks, but at least one warns: read the gates below and each table's tab.", "warning",
             ":material/warning:"),
    "block": ("At least one blocking quality gate failed (in a table or across tables): read the gates below and "
              "each table's tab.", "error", ":material/cancel:"),
}
ACROSS_TAB = "Across tables"


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def schema_gates_table(document: dict[str, Any]) -> pl.DataFrame:
    """The schema gates (relations and parent subtrees), one row each, as the table gates are shown."""
    return gates_table({"gates": document.get("gates") or []})


def tables_overview(document: dict[str, Any]) -> pl.DataFrame:
    """One row per table: its verdict, its scores and its rows (real, synthetic)."""
    tables = document.get("tables") or {}
    rows = {name: ((r.get("inputs") or {}).get("rows") or {}) for name, r in tables.items()}
    return pl.DataFrame({
        "table": list(tables),
        "status": [str(r.get("status", "")) for r in tables.values()],
        **{key: [_float((r.get("scores") or {}).get(key)) for r in tables.values()]
           for key in ("overall", "fidelity", "utility", "privacy")},
        "real rows": [rows[name].get("real") for name in tables],
        "synthetic rows": [rows[name].get("synthetic") for name in tables],
    }, schema={"table": pl.String, "status": pl.String, "overall": pl.Float64, "fidelity": pl.Float64,
               "utility": pl.Float64, "privacy": pl.Float64, "real rows": pl.Int64, "synthetic rows": pl.Int64})


def relations_table(document: dict[str, Any]) -> pl.DataFrame:
    """Per relation: referential integrity, cardinality (shape similarity, share within range), child aggregates."""
    cross = document.get("cross") or {}
    integrity = cross.get("referential_integrity") or {}
    cardinality = cross.get("cardinality") or {}
    aggregates = (cross.get("child_aggregates") or {}).get("relations") or {}
    names = list(dict.fromkeys([*integrity, *cardinality, *aggregates]))
    return pl.DataFrame({
        "relation": names,
        "referential integrity": [_float(integrity.get(n)) for n in names],
        "cardinality similarity": [_float((cardinality.get(n) or {}).get("shape_similarity")) for n in names],
        "children within real range": [_float((cardinality.get(n) or {}).get("within_range")) for n in names],
        "child aggregates similarity": [_float((aggregates.get(n) or {}).get("score")) for n in names],
    }, schema={"relation": pl.String, "referential integrity": pl.Float64, "cardinality similarity": pl.Float64,
               "children within real range": pl.Float64, "child aggregates similarity": pl.Float64})


def trends_table(document: dict[str, Any]) -> pl.DataFrame:
    """The inter-table trend pairs that count (a strong enough real trend), weakest first."""
    from engine.quality.schema_html import counted_trends

    pairs = counted_trends(document.get("cross") or {})
    return pl.DataFrame({
        "relation": [str(p.get("relation")) for p in pairs],
        "parent column": [str(p.get("parent_column")) for p in pairs],
        "child column": [str(p.get("child_column")) for p in pairs],
        "measure": [str(p.get("metric")) for p in pairs],
        "real strength": [_float(p.get("real")) for p in pairs],
        "similarity": [_float(p.get("score")) for p in pairs],
    }, schema={"relation": pl.String, "parent column": pl.String, "child column": pl.String, "measure": pl.String,
               "real strength": pl.Float64, "similarity": pl.Float64})


def subtrees_table(document: dict[str, Any]) -> pl.DataFrame:
    """Per parent table: the subtree utility (TSTR, TRTR, gap) and privacy (DCR share, attack advantage)."""
    from engine.quality.schema_html import subtree_rows

    rows = subtree_rows(document)
    numbers = ("TSTR", "TRTR", "TSTR gap", "DCR share", "attack advantage")
    return pl.DataFrame({
        "parent table": [str(r["parent table"]) for r in rows],
        "target": [None if r["target"] is None else str(r["target"]) for r in rows],
        "metric": [None if r["metric"] is None else str(r["metric"]) for r in rows],
        **{k: [_float(r[k]) for r in rows] for k in numbers},
    }, schema={"parent table": pl.String, "target": pl.String, "metric": pl.String,
               **{k: pl.Float64 for k in numbers}})


def cardinality_figure(document: dict[str, Any]) -> go.Figure:
    """Bars of the children-per-parent similarity of each relation (1 - KS)."""
    frame = relations_table(document)
    figure = go.Figure(go.Bar(x=[plotly_literal(r, limit=60) for r in frame["relation"]],
                              y=frame["cardinality similarity"].to_list(), marker_color="#1f77b4"))
    figure.update_layout(title=dict(text="Children per parent: similarity (1 - KS)", font=dict(size=13)), height=300,
                         yaxis=dict(range=[0, 1]), margin=dict(l=40, r=10, t=40, b=80), template="plotly_white")
    return figure


def render_schema_verdict(document: dict[str, Any]) -> None:
    status = str(document.get("status") or ("pass" if document.get("passed") else "block"))
    text, kind, icon = VERDICTS.get(status, VERDICTS["block"])
    getattr(st, kind)(text, icon=icon)
    cross = document.get("cross") or {}
    headline = {"Cardinality": cross.get("cardinality_shape_similarity"),
                "Inter-table trends": (cross.get("intertable_trends") or {}).get("score"),
                "Child aggregates": (cross.get("child_aggregates") or {}).get("score")}
    for cell, (name, value) in zip(st.columns(len(headline)), headline.items()):
        value = _float(value)
        cell.metric(name, "—" if value is None else f"{value:.2f}")


def _render_across(document: dict[str, Any], *, key: str) -> None:
    st.subheader("Relations", anchor=False)
    st.caption("Referential integrity: the share of synthetic child rows whose key is a synthetic parent's. "
               "Cardinality: children per parent, real against synthetic. Child aggregates: per parent, the count, "
               "means and category shares of its children.")
    st.dataframe(relations_table(document), hide_index=True)
    st.plotly_chart(cardinality_figure(document), key=f"{key}_cardinality", config={"displaylogo": False})
    st.subheader("Inter-table trends", anchor=False)
    trends = trends_table(document)
    if trends.height:
        st.caption("Each parent column against each child column on the join, where the real trend is strong enough "
                   "to count; similarity 1 means the synthetic join keeps it exactly.")
        st.dataframe(trends, hide_index=True)
    else:
        st.caption("No parent and child columns hold a trend strong enough to compare.")
    subtrees = subtrees_table(document)
    if subtrees.height:
        st.subheader("Parent subtrees: utility and privacy", anchor=False)
        st.caption("Each parent row with its children's aggregates: a model predicts a parent column, trained on "
                   "synthetic and on real subtrees (TSTR, TRTR); the DCR share and the membership attack compare the "
                   "synthetic subtrees with the training and holdout ones.")
        st.dataframe(subtrees, hide_index=True)


def render_schema_report(document: dict[str, Any], *, key: str = "schema") -> None:
    """The whole schema report: verdict, schema gates, tables overview, then a tab across tables and one per table."""
    render_schema_verdict(document)
    relations = (document.get("keys") or {}).get("foreign_keys") or []
    rows = (document.get("inputs") or {}).get("rows") or {}
    counts = (f" Rows in all: real {rows.get('real', 0):,}, synthetic {rows.get('synthetic', 0):,}, holdout "
              f"{rows.get('holdout', 0):,}.") if rows else ""
    st.caption(markdown_literal(f"{len(document.get('tables') or {})} tables, {len(relations)} relations: "
                                f"{'; '.join(str(r) for r in relations)}.{counts}"))
    st.subheader("Schema gates", anchor=False)
    st.dataframe(schema_gates_table(document), hide_index=True)
    st.dataframe(tables_overview(document), hide_index=True)
    tables = document.get("tables") or {}
    tabs = st.tabs([ACROSS_TAB, *(markdown_literal(f"Table {name}") for name in tables)])
    with tabs[0]:
        _render_across(document, key=key)
    for index, (tab, (name, table)) in enumerate(zip(tabs[1:], tables.items())):
        with tab:
            render_report(table, key=f"{key}_t{index}")
    notes = document.get("notes") or []
    if notes:
        with st.expander("Notes"):
            st.markdown("\n".join(f"- {markdown_literal(ui_words(n))}" for n in notes))


def render_any_report(document: dict[str, Any], *, key: str = "report") -> None:
    """A stored report of any kind: a schema's (``render_schema_report``), histories'
    (``sequence_report_view.render_sequence_report``) or a table's (``render_report``)."""
    from app.components.sequence_report_view import is_sequence_document, render_sequence_report

    if is_sequence_document(document):
        render_sequence_report(document, key=key)
    elif is_schema_report(document):
        render_schema_report(document, key=key)
    else:
        render_report(document, key=key)


__all__ = ["ACROSS_TAB", "render_any_report", "relations_table", "render_schema_report", "render_schema_verdict", "schema_gates_table",
           "subtrees_table", "tables_overview", "trends_table"]
