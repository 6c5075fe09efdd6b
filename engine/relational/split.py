"""Set whole root entities aside: a seeded (training, holdout) split of a schema of related tables.

The unit of privacy in a schema is the root entity with all its descendants (a district with
its accounts, clients, loans...). A holdout that split a parent from its children would let
the model see half of an entity and the judge the other half, so rows are split by root:

- a root table (one with no parent, a lone table included) is split by row: a seeded draw
  sets ``round(holdout * rows)`` rows aside, at least one on each side when it has two rows
  or more (a one-row root stays in training);
- every other row follows its parents, table by table in topological order: it is on the
  side all its parents are on. A row whose parents are on different sides (berka ``disp``
  points at an account and a client, which descend from different districts) belongs to
  neither: it is dropped, and so are its own descendants, and :attr:`SplitTables.dropped`
  counts them per table.

The frames are checked first by :func:`engine.relational.checks.check_tables` (cycles, null
or duplicated keys, orphans are refused there). Each root table draws from its own stream,
``derive_seed(seed, "split_tables", table)``, so the split depends only on the seed, the
table names and their row counts, and the same inputs always give the same split.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.relational.checks import check_tables
from engine.relational.graph import topological_order
from engine.relational.schema import Schema
from engine.seeds import derive_seed


@dataclass(frozen=True)
class SplitTables:
    """The two schemas of a split, each with every input table (rows in their input order).

    ``dropped`` maps a table to the rows that are on neither side because their parents are
    on different sides (or descend from such a row); tables that lost no row are absent.
    Unpacks as ``training, holdout = split_tables(...)`` for callers that need only the frames.
    """

    training: dict[str, pl.DataFrame]
    holdout: dict[str, pl.DataFrame]
    dropped: dict[str, int] = field(default_factory=dict)

    def __iter__(self) -> Iterator[dict[str, pl.DataFrame]]:
        return iter((self.training, self.holdout))


def split_tables(
    tables: Mapping[str, pl.DataFrame],
    *,
    keys: Any,
    holdout: float = 0.2,
    seed: int = 0,
) -> SplitTables:
    """(training, holdout) schemas: whole root subtrees on each side; never a row split from its parent.

    ``keys`` is what :meth:`Schema.from_keys` takes (``{"primary_keys": ..., "foreign_keys": [...]}``)
    or a :class:`Schema`; ``None`` is allowed for a single table only (related tables need their
    keys, or they would be split by row, each on its own). ``holdout`` is the share of each root
    table's rows set aside, strictly between 0 and 1. Raises ConfigError for bad settings and the
    errors of :func:`check_tables` for bad keys or orphan rows.
    """
    _check_settings(holdout=holdout, seed=seed)
    if not isinstance(tables, Mapping) or not tables:
        raise InputError("split_tables needs a mapping of table name -> polars DataFrame with at least one table")
    if keys is None and len(tables) > 1:
        raise ConfigError(
            f"split_tables: keys=None for {len(tables)} tables {sorted(tables)}; declare their keys "
            "(keys={'primary_keys': ..., 'foreign_keys': [...]}, or the keys of engine.profile_tables) "
            "so that each root keeps its descendants, or keys={} if the tables are unrelated"
        )
    schema = keys if isinstance(keys, Schema) else Schema.from_keys(keys, tables)
    frames = check_tables(schema, tables).frames

    # Primary-key values on each side, per table that is some foreign key's parent.
    sides: dict[str, tuple[pl.Series, pl.Series]] = {}
    training: dict[str, pl.DataFrame] = {}
    held: dict[str, pl.DataFrame] = {}
    dropped: dict[str, int] = {}
    for table in topological_order(schema.tables, schema.edges):
        frame = frames[table]
        parents = schema.parents_of(table)
        if parents:
            in_training = pl.all_horizontal(
                pl.col(fk.column).is_in(sides[fk.parent][0].implode()) for fk in parents
            )
            in_holdout = pl.all_horizontal(
                pl.col(fk.column).is_in(sides[fk.parent][1].implode()) for fk in parents
            )
            marks = frame.select(in_training.alias("training"), in_holdout.alias("holdout"))
            to_training = marks.get_column("training")
            to_holdout = marks.get_column("holdout")
        else:
            draw = _root_draw(frame.height, holdout=holdout, seed=derive_seed(seed, "split_tables", table))
            to_holdout = pl.Series("holdout", draw)
            to_training = ~to_holdout
        training[table] = frame.filter(to_training)
        held[table] = frame.filter(to_holdout)
        lost = frame.height - training[table].height - held[table].height
        if lost:
            dropped[table] = lost
        key = schema.primary_keys[table]
        if schema.children_of(table) and key is not None:
            sides[table] = (training[table].get_column(key), held[table].get_column(key))
    return SplitTables(
        training={t: training[t] for t in schema.tables},
        holdout={t: held[t] for t in schema.tables},
        dropped={t: dropped[t] for t in schema.tables if t in dropped},
    )


def _root_draw(n_rows: int, *, holdout: float, seed: int) -> np.ndarray:
    """A boolean mask of the rows set aside: ``round(holdout * n_rows)``, kept in [1, n_rows - 1]."""
    if n_rows < 2:
        return np.zeros(n_rows, dtype=bool)
    count = min(max(int(round(holdout * n_rows)), 1), n_rows - 1)
    order = np.argsort(np.random.default_rng(seed).random(n_rows), kind="stable")
    mask = np.zeros(n_rows, dtype=bool)
    mask[order[:count]] = True
    return mask


def _check_settings(*, holdout: Any, seed: Any) -> None:
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ConfigError(
            f"split_tables: holdout must be the share of root rows set aside, strictly between 0 and 1 "
            f"(e.g. 0.2), got {holdout!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"split_tables: seed must be an integer, got {seed!r}")


__all__ = ["SplitTables", "split_tables"]
