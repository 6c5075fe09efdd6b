"""What each table's model learns: its own columns, its parent's row as context, its count columns.

Every table is learned as one flat frame, in this column order:

1. *context* (child tables only): the context parent's learned columns, prefixed with the
   parent's name (``account.frequency``; a grandparent's arrive through the parent's own
   context, ``account.district.A2``), nearest first and at most ``MAX_CONTEXT_COLUMNS``. The
   child's model is trained with these first, so a child row is drawn given its parent row;
2. *own*: the table's columns without its foreign keys (its primary key stays: the model
   regenerates it as an identifier, unique and in the real key's format);
3. *wanted* (a child with more than one parent): for each parent that is not the context, that
   parent's columns as the child row would want them (``~client_id.birth_number``); the
   matching step (``engine.relational.matching``) then picks the synthetic parent row closest
   to them, so the relations between the two parents and the child are kept;
4. *counts* (a table that is a parent): per foreign key that points at it, how many child rows
   the row has (``#disp.account_id``). The context parent's count is how many children are
   drawn under the row (a learned cardinality, given everything else about the row); another
   parent's count is the room it offers the matching step.

A column is usable as context (or as wanted attributes) when the parent's model learns it as a
number, date, boolean or category of at most ``MAX_CONTEXT_LEVELS`` levels: identifiers,
free text and faked personal data carry nothing a child can learn from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.relational.plan import GenerationPlan, children_per_parent
from engine.relational.schema import ForeignKey, Schema
from engine.transform.dtypes import dtype_from_json, dtype_to_json

# Context columns a child's model reads, nearest first: the parent's own, then its ancestors'.
MAX_CONTEXT_COLUMNS = 32
# Columns wanted of a second parent, for the matching step.
MAX_WANTED_COLUMNS = 16
# A categorical column with more levels is left out of a child's context.
MAX_CONTEXT_LEVELS = 1_000
_KEY = "\x00key"  # a join column no table can have
_USABLE_KINDS = {"continuous", "discrete", "categorical", "boolean", "datetime"}


def count_column(fk: ForeignKey) -> str:
    """The parent's column that holds how many rows of ``fk.child`` point at the row through ``fk``."""
    return f"#{fk.child}.{fk.column}"


def wanted_prefix(fk: ForeignKey) -> str:
    """The prefix of the attributes a child row wants of its parent along ``fk`` (not its context)."""
    return f"~{fk.column}."


@dataclass(frozen=True)
class TableLayout:
    """The columns of one table's learned frame and where each comes from (see the module doc)."""

    table: str
    output: tuple[tuple[str, pl.DataType], ...]  # the table's columns and dtypes, as generated
    own: tuple[str, ...]
    primary_key: str | None = None
    context: ForeignKey | None = None
    context_columns: Mapping[str, str] = field(default_factory=dict)  # learned name -> parent's learned column
    others: tuple[ForeignKey, ...] = ()
    wanted_columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # fk column -> {learned: parent's}
    counts: tuple[ForeignKey, ...] = ()
    at_most_one: frozenset[str] = frozenset()  # str(fk) of the 1:0..1 relations among ``counts``
    order_by: str | None = None  # an ordered child table's time column (``engine.relational.ordered``)
    key_format: Mapping[str, Any] | None = None  # an ordered table's primary-key format (``IdFormat.to_dict``)

    @property
    def learned(self) -> list[str]:
        """The learned frame's columns, in order."""
        wanted = [name for fk in self.others for name in self.wanted_columns[fk.column]]
        return [*self.context_columns, *self.own, *wanted, *(count_column(fk) for fk in self.counts)]

    def to_dict(self) -> dict[str, Any]:
        fk = _fk_dict
        return {
            "table": self.table,
            "output": [[name, dtype_to_json(dtype)] for name, dtype in self.output],
            "own": list(self.own),
            "primary_key": self.primary_key,
            "context": None if self.context is None else fk(self.context),
            # pairs, not objects: the manifest is written with sorted keys, and column order matters
            "context_columns": [[k, v] for k, v in self.context_columns.items()],
            "others": [fk(f) for f in self.others],
            "wanted_columns": {k: [[a, b] for a, b in v.items()] for k, v in self.wanted_columns.items()},
            "counts": [fk(f) for f in self.counts],
            "at_most_one": sorted(self.at_most_one),
            "order_by": self.order_by,
            "key_format": None if self.key_format is None else dict(self.key_format),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TableLayout:
        fk = _fk_from
        return cls(
            table=str(d["table"]),
            output=tuple((str(name), dtype_from_json(dtype)) for name, dtype in d["output"]),
            own=tuple(str(c) for c in d["own"]),
            primary_key=d["primary_key"],
            context=None if d["context"] is None else fk(d["context"]),
            context_columns={str(k): str(v) for k, v in d["context_columns"]},
            others=tuple(fk(f) for f in d["others"]),
            wanted_columns={str(k): {str(a): str(b) for a, b in v} for k, v in d["wanted_columns"].items()},
            counts=tuple(fk(f) for f in d["counts"]),
            at_most_one=frozenset(str(s) for s in d["at_most_one"]),
            order_by=None if d.get("order_by") is None else str(d["order_by"]),
            key_format=None if d.get("key_format") is None else dict(d["key_format"]),
        )


def _fk_dict(fk: ForeignKey) -> list[str]:
    return [fk.child, fk.column, fk.parent, fk.parent_column]


def _fk_from(v: Sequence[str]) -> ForeignKey:
    child, column, parent, parent_column = (str(x) for x in v)
    return ForeignKey(child, column, parent, parent_column)


def usable_columns(kinds: Mapping[str, str], levels: Mapping[str, int], columns: Sequence[str]) -> list[str]:
    """The ``columns`` a parent's model learns in a form a child can read (see the module doc)."""
    return [
        c for c in columns
        if str(kinds.get(c)) in _USABLE_KINDS and not (str(kinds[c]) == "categorical" and levels.get(c, 0) > MAX_CONTEXT_LEVELS)
    ]


def layout_table(
    table: str,
    *,
    schema: Schema,
    plan: GenerationPlan,
    frame: pl.DataFrame,
    parent_usable: Mapping[str, Sequence[str]],
) -> TableLayout:
    """The layout of ``table`` (``parent_usable``: each parent's learned columns a child can
    read, nearest first; its parents are laid out and fitted before it)."""
    fk_columns = {fk.column for fk in schema.parents_of(table)}
    own = tuple(c for c in frame.columns if c not in fk_columns)
    counts = schema.children_of(table)
    at_most_one = frozenset(str(fk) for fk in counts if plan.relation(fk).at_most_one)
    output = tuple((c, frame.schema[c]) for c in frame.columns)
    child = plan.children.get(table)
    if child is None:
        return TableLayout(table=table, output=output, own=own, primary_key=schema.primary_keys[table],
                           counts=counts, at_most_one=at_most_one)
    context_columns = {f"{child.context.parent}.{c}": c for c in parent_usable[child.context.parent][:MAX_CONTEXT_COLUMNS]}
    wanted: dict[str, dict[str, str]] = {}
    for fk in child.others:
        wanted[fk.column] = {f"{wanted_prefix(fk)}{c}": c for c in parent_usable[fk.parent][:MAX_WANTED_COLUMNS]}
    layout = TableLayout(
        table=table, output=output, own=own, primary_key=schema.primary_keys[table], context=child.context,
        context_columns=context_columns, others=child.others, wanted_columns=wanted, counts=counts, at_most_one=at_most_one,
    )
    clash = sorted({c for c in layout.learned if layout.learned.count(c) > 1})
    if clash:
        raise ConfigError(
            f"table {table!r}: columns {clash} would appear twice in its learned frame (a column named like a parent's "
            "prefixed column); rename them"
        )
    return layout


def learned_frame(layout: TableLayout, *, frame: pl.DataFrame, tables: Mapping[str, pl.DataFrame],
                  learned: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The real rows of ``layout.table`` in its learned layout (``learned``: the parents' learned frames)."""
    parts = []
    if layout.context is not None:
        parts.append(_parent_columns(frame, layout.context, learned[layout.context.parent], layout.context_columns))
    parts.append(frame.select(layout.own))
    for fk in layout.others:
        parts.append(_parent_columns(frame, fk, learned[fk.parent], layout.wanted_columns[fk.column]))
    if layout.counts:
        parts.append(pl.DataFrame([
            children_per_parent(frame, fk.parent_column, tables[fk.child], fk.column).alias(count_column(fk))
            for fk in layout.counts
        ]))
    return pl.concat(parts, how="horizontal")


def _parent_columns(frame: pl.DataFrame, fk: ForeignKey, parent: pl.DataFrame, names: Mapping[str, str]) -> pl.DataFrame:
    """Each row's parent's ``names`` columns (learned name -> parent's column), in the rows' order;
    nulls for a row whose key has no parent (orphans kept with ``orphans="keep"``)."""
    key = parent.get_column(fk.parent_column)
    columns = parent.select([pl.col(fk.parent_column).alias(_KEY), *(pl.col(src).alias(dst) for dst, src in names.items())])
    rows = frame.select(pl.col(fk.column).cast(key.dtype).alias(_KEY))
    return rows.join(columns, on=_KEY, how="left", maintain_order="left").drop(_KEY)


def expand_parents(parent: pl.DataFrame, counts: np.ndarray) -> np.ndarray:
    """The parent row index of each child row, ``counts[i]`` children for parent row ``i``, in parent order."""
    return np.repeat(np.arange(parent.height), counts)


def child_counts(parent: pl.DataFrame, fk: ForeignKey, *, at_most_one: bool) -> np.ndarray:
    """The generated children-per-row count of ``fk`` in a synthetic parent frame, as non-negative integers."""
    values = parent.get_column(count_column(fk)).cast(pl.Float64, strict=False).fill_null(0.0).fill_nan(0.0).to_numpy()
    counts = np.clip(np.rint(values), 0, 1 if at_most_one else None).astype(np.int64)
    return counts


__all__ = [
    "MAX_CONTEXT_COLUMNS",
    "MAX_CONTEXT_LEVELS",
    "MAX_WANTED_COLUMNS",
    "TableLayout",
    "child_counts",
    "count_column",
    "expand_parents",
    "layout_table",
    "learned_frame",
    "usable_columns",
    "wanted_prefix",
]
