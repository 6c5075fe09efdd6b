"""Ordered child tables: a child table whose rows, under each parent row, are a history in time.

``engine.train_tables(..., order_by={"prices": "date"})`` makes the child table ``prices`` a
history per row of its context parent: the parent's row is the entity, the parent's learned
columns (``layout.context_columns``) are the entity's static context, and the child's own
columns are the steps. The table is learned by the sequence machinery
(``engine.train_sequences``: time gaps, calendar, lags, start times given the context) instead
of a flat ARGN, and drawn as histories under the synthetic parent rows, each as long as the
parent row's generated children count says (the count column the parent's model learns with
its other columns, so lengths follow the parent's columns), clipped to the trained range.

The child's foreign key to its parent is the parent row's key (referential integrity by
construction); its own primary key, if any, is regenerated in the real key's format
(``engine.transform.identifiers.IdFormat``), numbered in (parent, time) order.

What is refused, each with a message naming the table and column: ``order_by`` on a table that
is not a child, on an unknown column or on a key column; a table of histories with a second
parent (histories are drawn under one parent; matching a second parent to each step is not
supported) or with children of its own; ``privacy=`` (not supported for ordered tables yet);
and, from ``engine.sequences.checks``, duplicated (parent, time) pairs, null or mixed-zone times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from engine.relational.layout import TableLayout
    from engine.relational.plan import GenerationPlan
    from engine.relational.schema import Schema
    from engine.sequences.model import SequenceModel


def check_order_by(order_by: Any, *, schema: Schema, plan: GenerationPlan, frames: Mapping[str, pl.DataFrame],
                   privacy: Any) -> dict[str, str]:
    """``{table: time column}`` checked against the schema and the frames (see the module doc)."""
    if order_by is None:
        return {}
    if not isinstance(order_by, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in order_by.items()):
        raise ConfigError(f"order_by must map child table names to their time column, e.g. {{'prices': 'date'}}; got {order_by!r}")
    if order_by and privacy is not None:
        raise ConfigError(f"order_by ({', '.join(order_by)}) is not supported with privacy= yet: train the schema without "
                          "order_by under DP (its tables are then flat), or the histories alone with engine.train_sequences(privacy=...)")
    for table, column in order_by.items():
        if table not in frames:
            raise ConfigError(f"order_by names table {table!r}, which is not among the tables {list(frames)}")
        child = plan.children.get(table)
        if child is None:
            raise ConfigError(f"order_by names {table!r}, a root table (no parent); order_by orders a child table's rows "
                              "within each parent row. A table of histories on its own: engine.train_sequences")
        frame = frames[table]
        if column not in frame.columns:
            raise ConfigError(f"order_by[{table!r}] = {column!r} is not a column of {table!r}; its columns: {', '.join(frame.columns)}")
        keys = {fk.column for fk in schema.parents_of(table)} | {schema.primary_keys.get(table)}
        if column in keys:
            raise ConfigError(f"order_by[{table!r}] = {column!r} is a key column of {table!r}; order_by names its time column")
        if child.others:
            raise ConfigError(f"order_by[{table!r}]: {table!r} has a second parent ({', '.join(str(fk) for fk in child.others)}); "
                              f"a table of histories is drawn under one parent, {child.context.parent!r}")
        if schema.children_of(table):
            raise ConfigError(f"order_by[{table!r}]: {table!r} is a parent of "
                              f"{', '.join(sorted({fk.child for fk in schema.children_of(table)}))}; a table of histories "
                              "cannot have child tables of its own")
        _check_pairs(table, frame, child.context.column, column)
    return dict(order_by)


def _check_pairs(table: str, frame: pl.DataFrame, key: str, column: str) -> None:
    """Refuse a parent with two rows at the same time (they have no order), before anything trains."""
    dup = frame.select(key, column).is_duplicated()
    count = int(dup.sum())
    if count:
        first = frame.filter(dup).row(0, named=True)
        pairs = frame.filter(dup).select(key, column).unique().height
        raise InputError(f"table {table!r}: {pairs} ({key}, {column}) pair(s) appear more than once ({count} rows), e.g. "
                         f"{key}={first[key]!r} at {column}={first[column]}; two steps of one parent's history cannot share a "
                         "time. Drop or aggregate the duplicates")


def long_frame(layout: TableLayout, *, frame: pl.DataFrame, learned: pl.DataFrame) -> pl.DataFrame:
    """The table as a long table of histories: the parent's key as the entity, the parent's
    learned columns as context, the child's own columns but its primary key as steps."""
    assert layout.context is not None
    steps = [c for c in layout.own if c != layout.primary_key]
    return pl.concat([learned.select([*layout.context_columns, *steps]), frame.select(layout.context.column)],
                     how="horizontal")


def fit_ordered(layout: TableLayout, *, frame: pl.DataFrame, learned: pl.DataFrame, order_by: str, seed: int,
                time_s: float | None, device: str, on_progress: Any) -> SequenceModel:
    """The table's sequence model (``engine.train_sequences``); a refusal names the table."""
    from engine.sequences.train import train_sequences

    assert layout.context is not None
    long = long_frame(layout, frame=frame, learned=learned)
    try:
        return train_sequences(long, entity=layout.context.column, order_by=order_by, context=list(layout.context_columns),
                               seed=seed, max_training_time_s=time_s, device=device, on_progress=on_progress)
    except (InputError, ConfigError) as err:
        raise type(err)(f"table {layout.table!r} ordered by {order_by!r}: {err}") from None


def key_format(layout: TableLayout, frame: pl.DataFrame, *, seed: int) -> dict[str, Any] | None:
    """The primary key's format (start, or prefix and shape), to regenerate keys; None without a key."""
    from engine.transform.identifiers import IdFormat

    if layout.primary_key is None:
        return None
    return IdFormat.fit(frame.get_column(layout.primary_key), rng=np.random.default_rng(seed)).to_dict()


def draw_ordered(model: SequenceModel, layout: TableLayout, *, parent: pl.DataFrame, counts: np.ndarray,
                 seed: int) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """The table's rows drawn as histories under the synthetic ``parent`` rows (``counts[i]``
    steps under row ``i``, clipped to the trained lengths; none under a row counting 0), and
    the foreign key to the parent; rows in (parent, time) order."""
    from engine.transform.identifiers import IdFormat

    assert layout.context is not None
    fk = layout.context
    lengths = np.asarray(counts, dtype=np.int64)
    having = np.flatnonzero(lengths > 0)
    key_dtype = dict(layout.output)[fk.column]
    if having.size == 0:
        rows = pl.DataFrame([pl.Series(name, [], dtype=dtype) for name, dtype in layout.output])
        return rows, {fk.column: rows.get_column(fk.column)}
    context = parent.select([pl.col(src).alias(dst) for dst, src in layout.context_columns.items()])[having]
    lengths = np.clip(lengths[having], model.lengths_["min"], model.lengths_["max"])
    long, position = model.sample_histories(context, lengths=lengths, seed=seed)
    keys = parent.get_column(fk.parent_column)[having][position].cast(key_dtype, strict=False).rename(fk.column)
    rows = long.drop(fk.column)
    if layout.primary_key is not None and layout.key_format is not None:
        dtype = dict(layout.output)[layout.primary_key]
        rows = rows.with_columns(IdFormat.from_dict(dict(layout.key_format)).generate(layout.primary_key, rows.height, dtype))
    return rows, {fk.column: keys}


__all__ = ["check_order_by", "draw_ordered", "fit_ordered", "key_format", "long_frame"]
