"""Column widths that fit what a table shows, so no cell is cut ("1,484,7", "2023-01-0").

Streamlit sizes a column from a sample of its cells and the header, and text formatted for
display (thousands separators, percentages, timestamps) can end up wider than the column.
``fitting_widths`` measures each column's longest shown text (header included) and gives a
pixel width for ``st.column_config``; long prose (a "why" column) is capped and wraps into
the cell's tooltip instead of widening the table without end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

CHAR_PX = 7.5
"""Width of one character of the table font (14 px Source Sans: digits 7.3 px, letters less), rounded up."""
CELL_PADDING_PX = 20
"""Left and right padding of a cell (8 px each), and a little room."""
HEADER_EXTRA_PX = 12
"""The header's sort arrow, beside its name."""
MIN_PX = 56
MAX_PX = 320


def shown_text(value: Any) -> str:
    """How a cell's value reads: ``""`` for a null, ``true``/``false``, the value's text otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def localized(value: Any) -> str:
    """A number as ``format="localized"`` shows it: ``1,484,705``."""
    return "" if value is None else f"{value:,}"


def percent(value: Any) -> str:
    """A share as ``format="percent"`` shows it: ``12.35%``."""
    return "" if value is None else f"{float(value) * 100:.2f}%"


def text_width(text: str, *, extra_px: int = 0, max_px: int = MAX_PX) -> int:
    """Pixels a cell needs to show ``text`` in full, between ``MIN_PX`` and ``max_px``."""
    return int(min(max_px, max(MIN_PX, math.ceil(len(text) * CHAR_PX) + CELL_PADDING_PX + extra_px)))


def fitting_widths(
    frame: pl.DataFrame,
    *,
    shown: Mapping[str, Callable[[Any], str]] | None = None,
    max_px: int = MAX_PX,
) -> dict[str, int]:
    """``{column: pixels}`` wide enough for the column's header and its longest shown cell.

    ``shown`` gives a column's display format (``localized``, ``percent``); other columns
    read as ``shown_text``. Widths stop at ``max_px`` (long prose is cut, not the numbers).
    """
    widths: dict[str, int] = {}
    for name in frame.columns:
        render = (shown or {}).get(name, shown_text)
        longest = max((len(render(value)) for value in frame[name].to_list()), default=0)
        widths[name] = max(text_width("x" * longest, max_px=max_px),
                           text_width(name, extra_px=HEADER_EXTRA_PX, max_px=max_px))
    return widths


__all__ = ["CELL_PADDING_PX", "CHAR_PX", "MAX_PX", "MIN_PX", "fitting_widths", "localized", "percent", "shown_text",
           "text_width"]
