"""Safe exports: CSV (and spreadsheet) cells that a spreadsheet program would run as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or NUL is read
by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``@SUM(...)``,
``-2+3+cmd|' /C calc'!A0``): "CSV injection". Synthetic data copies the values of the real
data, so an attacker who can put such a value into an uploaded table could have it run on
the machine of whoever opens the export. Every download of a table goes through
``neutralise_frame`` (or ``csv_bytes``, which calls it): such text cells get a leading
apostrophe, which spreadsheets show as text and never evaluate. Numeric columns are left
alone (a negative number is a number, not a formula); only text is rewritten.
"""

from __future__ import annotations

from typing import Any

import polars as pl

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00")
"""First characters that make a spreadsheet treat a cell as a formula (or hide one)."""

ESCAPE_PREFIX = "'"


def neutralise_cell(value: Any) -> Any:
    """``value`` with an apostrophe in front when it is text that starts like a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return ESCAPE_PREFIX + value
    return value


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot start a formula."""
    pattern = "^[" + "".join(_regex_escape(c) for c in FORMULA_TRIGGERS) + "]"
    text_columns = [name for name, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical, pl.Enum)]
    safe = frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(pattern))
        .then(pl.lit(ESCAPE_PREFIX) + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text_columns
    )
    return safe.rename({name: neutralise_cell(name) for name in safe.columns if neutralise_cell(name) != name})


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV bytes for a download, neutralised first."""
    return neutralise_frame(frame).write_csv().encode("utf-8")


def _regex_escape(char: str) -> str:
    return {"\t": r"\t", "\r": r"\r", "\x00": r"\x00", "-": r"\-", "+": r"\+", "^": r"\^"}.get(char, char)
