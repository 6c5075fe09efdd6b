"""Render a table's profile: summary, model, warnings, personal data, keys, schema, charts.

Everything shown comes from ``engine.profiling``'s result; nothing here reads data or decides
anything. Strings from the data (names, values, messages that quote them) go to Markdown
through ``markdown_literal`` and to tables as plain cell text.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app.components.column_charts import column_figure, no_chart_reason
from app.components.literal_text import markdown_literal
from app.components.table_widths import fitting_widths, localized, percent
from app.components.name_value import name_value_table
from engine.profiling import Profile
from infra.usecases.datasets import UploadedProfile

MAX_CHARTED_COLUMNS = 30
"""Columns charted at once; wider tables let the user pick which to chart."""

CHARTS_PER_ROW = 2

TABLE_ROWS_SHOWN = 25
"""Rows a table shows before it scrolls (the schema of a 15-column table fits entirely)."""

TREATMENTS = {
    "drop": "removed before training",
    "fake": "replaced by realistic fake values",
    "keep": "kept as is",
}


def render_uploaded_profile(result: UploadedProfile) -> None:
    """The whole result of an upload: the profile of the file and its first rows."""
    st.header(f"Profile of {markdown_literal(result.filename, limit=120)}", anchor="profile")
    render_profile(result.profile)
    st.subheader("First rows", anchor="first-rows")
    st.dataframe(result.preview, hide_index=True, height=table_height(result.preview.height))


def render_profile(profile: Profile, *, key: str = "profile") -> None:
    """Every section of a profile, the ones a user must act on first.

    ``key`` prefixes the keys of its widgets and charts, so that several profiles (the tables
    of a schema, in tabs) can be drawn on one page.
    """
    _summary(profile)
    _recommendation(profile)
    _warnings(profile)
    _personal_data(profile)
    _keys(profile)
    _schema(profile)
    _charts(profile, key=key)


def _summary(profile: Profile) -> None:
    cells = st.columns(5)
    cells[0].metric("Rows", f"{profile.n_rows:,}")
    cells[1].metric("Columns", f"{profile.n_columns:,}")
    cells[2].metric(
        "Rows profiled",
        f"{profile.sampled_rows:,}",
        help="Statistics and charts are computed on a random sample of this many rows."
        if profile.sampled_rows < profile.n_rows
        else "Every row was profiled.",
    )
    cells[3].metric("Personal-data columns", len({finding.column for finding in profile.pii}))
    cells[4].metric("Warnings", len(profile.warnings))


def _recommendation(profile: Profile) -> None:
    rec = profile.recommendation
    st.info(
        f"**Recommended model: {markdown_literal(rec.model)}.** {markdown_literal(rec.reason)}",
        icon=":material/model_training:",
    )
    if rec.settings:
        with st.expander("Suggested training settings"):
            st.dataframe(name_value_table(rec.settings), hide_index=True)


def _warnings(profile: Profile) -> None:
    st.subheader("Warnings", anchor="warnings")
    if not profile.warnings:
        st.success("No warnings: nothing in this table needs attention before training.")
        return
    st.warning("\n".join(f"- {markdown_literal(warning.message)}" for warning in profile.warnings))


def _personal_data(profile: Profile) -> None:
    st.subheader("Personal data", anchor="personal-data")
    if not profile.pii:
        st.caption("No column looks like personal data (emails, phone numbers, names, card numbers, …).")
        return
    table = pl.DataFrame(
        {
            "column": [finding.column for finding in profile.pii],
            "looks like": [finding.kind.replace("_", " ") for finding in profile.pii],
            "matching values": [finding.share for finding in profile.pii],
            "treatment": [f"{f.treatment}: {TREATMENTS.get(f.treatment, f.treatment)}" for f in profile.pii],
            "why": [finding.reason for finding in profile.pii],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={"matching values": st.column_config.NumberColumn(format="percent")},
    )


def _keys(profile: Profile) -> None:
    st.subheader("Key candidates", anchor="key-candidates")
    if not profile.key_candidates:
        st.caption("No column is unique and non-null on every row, so none can serve as a primary key.")
        return
    names = ", ".join(f"**{markdown_literal(name)}**" for name in profile.key_candidates)
    st.markdown(f"Unique and non-null on every row, so usable as a primary key: {names}")


def schema_table(profile: Profile) -> pl.DataFrame:
    """One row per column: types, nulls, distinct values, range and why the type was chosen."""
    pii = {finding.column: finding.kind.replace("_", " ") for finding in profile.pii}
    columns = list(profile.columns.values())
    stats = [column.stats or {} for column in columns]
    return pl.DataFrame(
        {
            "column": [column.name for column in columns],
            "type": [str(column.semantic_type) for column in columns],
            "dtype": [column.dtype for column in columns],
            "nulls": [column.null_share for column in columns],
            "distinct": [column.n_distinct for column in columns],
            "min": [_format_stat(s.get("min")) for s in stats],
            "median": [_format_stat(s.get("p50")) for s in stats],
            "max": [_format_stat(s.get("max")) for s in stats],
            "personal data": [pii.get(column.name, "") for column in columns],
            "why this type": [column.reason for column in columns],
        },
        schema_overrides={"nulls": pl.Float64, "distinct": pl.Int64},
    )


def schema_column_config(table: pl.DataFrame) -> dict[str, Any]:
    """The schema table's ``column_config``: formats, and widths that show every value in full."""
    widths = fitting_widths(table, shown={"nulls": percent, "distinct": localized})
    config: dict[str, Any] = {name: st.column_config.Column(width=width) for name, width in widths.items()}
    config["nulls"] = st.column_config.NumberColumn(format="percent", width=widths["nulls"])
    config["distinct"] = st.column_config.NumberColumn(format="localized", width=widths["distinct"])
    return config


def _schema(profile: Profile) -> None:
    st.subheader("Schema", anchor="schema")
    table = schema_table(profile)
    st.dataframe(
        table,
        hide_index=True,
        height=table_height(profile.n_columns),
        column_config=schema_column_config(table),
    )


def _charts(profile: Profile, *, key: str = "profile") -> None:
    st.subheader("Columns", anchor="columns")
    names = list(profile.columns)
    shown = names
    if len(names) > MAX_CHARTED_COLUMNS:
        shown = st.multiselect(
            f"Columns to chart ({len(names)} in all)",
            names,
            default=names[:MAX_CHARTED_COLUMNS],
            key=f"{key}_charted_columns",
        )
    if profile.sampled_rows < profile.n_rows:
        st.caption(f"Distributions of a random sample of {profile.sampled_rows:,} of {profile.n_rows:,} rows.")
    for start in range(0, len(shown), CHARTS_PER_ROW):
        for cell, name in zip(st.columns(CHARTS_PER_ROW), shown[start : start + CHARTS_PER_ROW]):
            with cell.container(border=True):
                _column_card(profile, name, position=names.index(name), key=key)


def _column_card(profile: Profile, name: str, *, position: int, key: str = "profile") -> None:
    column = profile.columns[name]
    st.markdown(
        f"**{markdown_literal(name, limit=80)}** · {column.semantic_type} · "
        f"{markdown_literal(column.dtype)} · {column.null_share:.1%} null"
    )
    st.caption(markdown_literal(column.reason))
    figure = column_figure(column)
    if figure is None:
        st.caption(no_chart_reason(column))
    else:
        st.plotly_chart(figure, key=f"{key}_chart_{position}", config={"displaylogo": False})


def table_height(n_rows: int) -> int:
    """Pixel height of an st.dataframe showing up to TABLE_ROWS_SHOWN rows and its header."""
    return 35 * (min(max(n_rows, 1), TABLE_ROWS_SHOWN) + 1) + 3


def _format_stat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.4g}" if abs(number) < 1e6 else f"{number:,.0f}"
