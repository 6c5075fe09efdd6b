"""A nested settings or accounting dict as a readable two-column table: name and value.

Pages show what a run spent or what a profile suggests as a table of words and formatted
numbers, never as a JSON tree: nested names are joined with " · " ("config · epsilon"),
lists of plain values are joined with commas, None is left out, and numbers are formatted
for reading (``1,234``, ``0.5209``, ``1e-05``, ``yes``/``no``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

SEPARATOR = " · "


def readable_value(value: Any) -> str:
    """One value as text: integers with thousands separators, floats to 4 significant digits, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:,.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(readable_value(item) for item in value)
    return str(value)


def readable_name(name: str) -> str:
    """``"epsilon_target"`` -> ``"epsilon target"``."""
    return str(name).replace("_", " ")


def _rows(mapping: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in mapping.items():
        name = f"{prefix}{readable_name(key)}"
        if value is None or (isinstance(value, (list, tuple, dict)) and not value):
            continue
        if isinstance(value, Mapping):
            yield from _rows(value, name + SEPARATOR)
        elif isinstance(value, (list, tuple)) and any(isinstance(item, (Mapping, list, tuple)) for item in value):
            continue  # a list of records (mechanisms, the accountant's history): a table of its own, if shown
        else:
            yield name, readable_value(value)


def name_value_table(mapping: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> pl.DataFrame:
    """``mapping`` flattened to rows of (name, value) strings, in its order; ``skip``: top-level keys left out."""
    rows = list(_rows({k: v for k, v in mapping.items() if k not in skip}, ""))
    return pl.DataFrame({"name": [r[0] for r in rows], "value": [r[1] for r in rows]},
                        schema={"name": pl.String, "value": pl.String})


def records_table(records: list[Mapping[str, Any]], *, columns: tuple[str, ...]) -> pl.DataFrame:
    """A list of records (the privacy mechanisms, ...) as a table of ``columns``, values formatted, blanks empty."""
    data = {readable_name(c): [readable_value(r.get(c)) if r.get(c) is not None else "" for r in records
                               if isinstance(r, Mapping)] for c in columns}
    return pl.DataFrame(data, schema={readable_name(c): pl.String for c in columns})


__all__ = ["name_value_table", "readable_name", "readable_value", "records_table"]
