"""Set histories aside before a sequence model reads them: by whole entities, or by the end of each history.

A table of histories (one row per step, an entity column and a time column) cannot be split by
row as ``engine.split`` does: a model that saw half of an entity's steps and a judge that reads
the other half measure neither generalisation nor privacy. Two splits are honest:

- ``by="entity"``: whole entities go aside, a seeded draw of ``round(holdout * entities)`` of
  them (at least one on each side). The privacy unit of a sequence model is the entity, so this
  is the split whose holdout the membership attacks can use. It needs two entities or more.
- ``by="time"``: every entity keeps the start of its history for training and gives its last
  ``holdout`` share of steps (rounded; an entity keeps at least one training step) to the
  holdout, so the judge reads the windows after the training part. For a few long histories
  (four weather stations) this is the only split that leaves anything on both sides.

Rows keep their input order on both sides; the draw depends only on the seed and the sorted
entity values, so the same table and seed always give the same split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.profiling.inputs import to_polars

SPLITS = ("entity", "time")


def split_sequences(
    frame: Any,
    *,
    entity: str,
    order_by: str,
    holdout: float = 0.2,
    by: str = "entity",
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training, holdout) frames of a long table of histories (see the module docstring).

    ``entity``: the column naming whose history a row belongs to; ``order_by``: the time (or
    step) column; ``holdout``: the share set aside, strictly between 0 and 1; ``by``:
    ``"entity"`` or ``"time"``. Raises InputError for a missing column, an empty table, a null
    entity or time, or a split that leaves one side empty; ConfigError for bad settings.
    """
    if by not in SPLITS:
        raise ConfigError(f"by must be one of {list(SPLITS)} (whole entities aside, or the end of each history), got {by!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ConfigError(f"holdout must be a share strictly between 0 and 1 (e.g. 0.2), got {holdout!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    data = to_polars(frame, what="split_sequences")
    for role, column in (("entity", entity), ("order_by", order_by)):
        if not isinstance(column, str) or column not in data.columns:
            raise InputError(f"split_sequences: {role}={column!r} is not a column of the table; columns: {data.columns}")
    if data.height == 0:
        raise InputError("split_sequences: the table has no rows")
    for column in (entity, order_by):
        nulls = data.get_column(column).null_count()
        if nulls:
            raise InputError(f"split_sequences: column {column!r} has {nulls:,} null value(s); every step needs an "
                             "entity and a time")
    if by == "entity":
        mask = _entity_mask(data, entity, holdout, seed)
    else:
        mask = _time_mask(data, entity, order_by, holdout)
    if not mask.any() or mask.all():
        raise InputError(
            f"a holdout share of {holdout} by {by} leaves one part empty ({data.height:,} rows, "
            f"{data.get_column(entity).n_unique():,} entities); choose a larger share"
            + (" or by='time'" if by == "entity" else "")
        )
    keep = pl.Series(mask)
    return data.filter(~keep), data.filter(keep)


def _entity_mask(data: pl.DataFrame, entity: str, holdout: float, seed: int) -> np.ndarray:
    """True for the rows of the entities drawn aside."""
    ids = data.get_column(entity)
    entities = ids.unique().sort()
    if entities.len() < 2:
        raise InputError(f"split by entity needs at least 2 entities; column {entity!r} holds 1. Use by='time' to "
                         "set the end of the history aside")
    n = entities.len()
    # the draw of engine.split (seeded keys, the smallest go aside), at least one entity on each side
    count = min(max(int(round(holdout * n)), 1), n - 1)
    aside = np.argsort(np.random.default_rng(seed).random(n), kind="stable")[:count]
    return ids.is_in(entities.gather(aside).implode()).to_numpy()


def _time_mask(data: pl.DataFrame, entity: str, order_by: str, holdout: float) -> np.ndarray:
    """True for the last ``holdout`` share of each entity's steps (in time order; each keeps a training step)."""
    ranked = data.select(
        (pl.col(order_by).rank(method="ordinal").over(entity)).alias("step"),
        pl.len().over(entity).alias("steps"),
    )
    steps = ranked.get_column("steps").to_numpy()
    aside = np.minimum(np.round(holdout * steps), steps - 1)
    return ranked.get_column("step").to_numpy() > steps - aside
