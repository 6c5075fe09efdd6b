"""Clean text cells: strip surrounding whitespace and turn missing-value markers into nulls.

Rules (applied to every text column of a CSV):

- Surrounding whitespace is stripped from every cell, as ``skipinitialspace`` would, plus
  trailing spaces: UCI files such as adult.csv write ``", State-gov"``.
- A cell equal to one of ``null_values`` becomes null. The default list is
  :data:`DEFAULT_NULL_VALUES` (empty, ``NA``, ``N/A``, ``null``, ``NaN`` and their usual
  spellings); a caller's ``null_values=`` replaces it.
- ``?`` is a missing marker in a column when it is the only punctuation-only value there
  (adult's ``workclass`` holds ``?`` among words): it becomes null. In a column that holds other
  punctuation-only values (``-``, ``*``, ``!``) ``?`` is data and is kept. This rule applies only
  with the default null list; an explicit ``null_values=`` is taken literally.

The decision which columns use ``?`` is made once (:func:`plan_cleaning`) and can be applied to
later batches (:func:`apply_cleaning`), so a lazy scan cleans every batch the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

DEFAULT_NULL_VALUES: tuple[str, ...] = ("", "NA", "N/A", "n/a", "#N/A", "<NA>", "NULL", "null", "NaN", "nan")
QUESTION_MARK = "?"
_PUNCTUATION_ONLY = r"^[[:punct:]]+$"


@dataclass(frozen=True)
class CleaningPlan:
    """Which text columns to clean, the null markers, and where ``?`` also means missing."""

    columns: tuple[str, ...]
    null_values: tuple[str, ...]
    question_mark_columns: frozenset[str]


def _stripped(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars()


def plan_cleaning(frame: pl.DataFrame, *, columns: Sequence[str], null_values: Sequence[str] | None) -> CleaningPlan:
    """Decide the cleaning of ``columns`` (text) from the cells of ``frame``."""
    explicit = null_values is not None
    markers = tuple(null_values) if explicit else DEFAULT_NULL_VALUES
    question: frozenset[str] = frozenset()
    if not explicit and columns and frame.height:
        has_mark = frame.select(
            *[(_stripped(c) == QUESTION_MARK).any().alias(c) for c in columns]
        ).row(0, named=True)
        marked = [c for c in columns if has_mark[c]]
        if marked:
            other_symbols = frame.select(
                *[
                    _stripped(c).filter(_stripped(c) != QUESTION_MARK).unique().str.contains(_PUNCTUATION_ONLY).any().alias(c)
                    for c in marked
                ]
            ).row(0, named=True)
            question = frozenset(c for c in marked if not other_symbols[c])
    return CleaningPlan(columns=tuple(columns), null_values=markers, question_mark_columns=question)


def apply_cleaning(frame: pl.DataFrame, plan: CleaningPlan) -> pl.DataFrame:
    """Strip the text columns of ``frame`` and null their missing markers, per ``plan``."""
    exprs = []
    for name in plan.columns:
        markers = list(plan.null_values)
        if name in plan.question_mark_columns:
            markers.append(QUESTION_MARK)
        cell = _stripped(name)
        exprs.append(pl.when(cell.is_in(markers)).then(None).otherwise(cell).alias(name))
    return frame.with_columns(exprs) if exprs else frame
