"""Column names the readers make up: helper columns, and names for unnamed columns.

The readers add helper columns (row numbers, sampling keys) to a user's frame, and a file may
leave a column unnamed (an empty CSV header cell, a JSON key or a Parquet field named "").
Made-up names must never clash with a user's own, whatever those are called, so every one is
chosen with :func:`unique_name` against the names already taken.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def unique_name(base: str, taken: Collection[str]) -> str:
    """``base``, or ``base_1``, ``base_2``... : the first that is not among ``taken``."""
    taken = set(taken)
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def name_blank_columns(names: Sequence[str]) -> list[str]:
    """``names`` with each blank one (empty or spaces) replaced by ``column_N`` (N its 1-based
    position), made unique against the other names: downstream code can then select every
    column by a name a person can read and type."""
    taken = {name for name in names if name.strip()}
    result = []
    for position, name in enumerate(names, start=1):
        if not name.strip():
            name = unique_name(f"column_{position}", taken)
            taken.add(name)
        result.append(name)
    return result
