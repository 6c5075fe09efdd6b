"""The editable schema of the Profile page: correct a type, mark a column as key, personal data or to drop.

One row per column in an ``st.data_editor``: the inferred type and why, a type selector,
and three checkboxes. ``edits_from`` turns the edited table into ``ColumnEdits`` (only what
differs from the profile), which the dataset service saves as a new version.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app.components.table_widths import fitting_widths, text_width
from infra.usecases.stored_profiles import EDITABLE_TYPES, ColumnEdits

TYPE_HELP = (
    "continuous: numbers on a scale · discrete: few whole numbers · categorical: labels · boolean: yes/no · "
    "datetime: dates and times · identifier: a key, regenerated and never learned · text: free text (dropped) · "
    "constant: one value · empty: nulls only"
)


def schema_frame(profile: Any) -> pl.DataFrame:
    """The editor's starting table for a profile (``engine.profiling.Profile``)."""
    pii = {finding.column: finding.kind.replace("_", " ") for finding in profile.pii}
    columns = list(profile.columns.values())
    return pl.DataFrame(
        {
            "column": [c.name for c in columns],
            "inferred": [str(c.semantic_type) for c in columns],
            "type": [str(c.semantic_type) for c in columns],
            "key": [str(c.semantic_type) == "identifier" for c in columns],
            "personal data": [c.name in pii for c in columns],
            "drop": [False for _ in columns],
            "looks like": [pii.get(c.name, "") for c in columns],
            "why this type": [c.reason for c in columns],
        },
        schema={"column": pl.String, "inferred": pl.String, "type": pl.String, "key": pl.Boolean,
                "personal data": pl.Boolean, "drop": pl.Boolean, "looks like": pl.String, "why this type": pl.String},
    )


def edits_from(original: pl.DataFrame, edited: pl.DataFrame) -> ColumnEdits:
    """What the user changed: types that differ from the inferred ones, keys, personal data, drops.

    Personal data flagged by the profile counts as an edit (the column leaves the table)
    unless the user unticks it.
    """
    types: dict[str, str] = {}
    keys: list[str] = []
    pii: list[str] = []
    drop: list[str] = []
    for before, after in zip(original.iter_rows(named=True), edited.iter_rows(named=True)):
        name, inferred = before["column"], before["inferred"]
        if after["key"] and inferred != "identifier":
            keys.append(name)
        elif not after["key"] and after["type"] and after["type"] != inferred:
            types[name] = after["type"]
        if after["personal data"]:
            pii.append(name)
        if after["drop"]:
            drop.append(name)
    return ColumnEdits(types=types, keys=tuple(keys), pii=tuple(pii), drop=tuple(drop))


def editor_column_config(table: pl.DataFrame) -> dict[str, Any]:
    """The editor's ``column_config``: the type selector, the checkboxes, and widths that fit every value.

    The type column is as wide as its longest option, so a type picked later is not cut either.
    """
    widths = fitting_widths(table)
    widths["type"] = max(widths["type"], *(text_width(option, extra_px=24) for option in EDITABLE_TYPES))
    config: dict[str, Any] = {name: st.column_config.Column(width=width) for name, width in widths.items()}
    config["type"] = st.column_config.SelectboxColumn("type", options=list(EDITABLE_TYPES), required=True,
                                                      help=TYPE_HELP, width=widths["type"])
    config["key"] = st.column_config.CheckboxColumn(
        "key", help="A key: regenerated as new unique values, never learned.", width=widths["key"])
    config["personal data"] = st.column_config.CheckboxColumn(
        "personal data", help="Holds personal data: removed before training.", width=widths["personal data"])
    config["drop"] = st.column_config.CheckboxColumn("drop", help="Removed before training.", width=widths["drop"])
    return config


def schema_editor(profile: Any, *, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Draw the editor; returns (the original table, the edited table)."""
    original = schema_frame(profile)
    edited = st.data_editor(
        original,
        key=key,
        hide_index=True,
        disabled=["column", "inferred", "looks like", "why this type"],
        column_config=editor_column_config(original),
    )
    if not isinstance(edited, pl.DataFrame):
        edited = pl.DataFrame(edited)
    return original, edited


__all__ = ["TYPE_HELP", "editor_column_config", "edits_from", "schema_editor", "schema_frame"]
