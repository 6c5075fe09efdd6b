"""Oversampling a minority class with synthetic rows from a trained model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import polars as pl

from engine.errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer


def rebalance(
    model: Synthesizer,
    *,
    data: Any,
    column: str,
    value: Any = None,
    target_share: float | None = None,
    seed: int | None = None,
) -> pl.DataFrame:
    """``data`` plus synthetic rows with ``column == value``, so that class is no longer a minority.

    ``value`` defaults to the least frequent value of ``column`` in ``data``; ``target_share``
    (in (0, 1)) is the share of rows holding ``value`` in the result, by default as many rows
    as the most frequent value has. The synthetic rows come from
    ``model.sample(k, seed=seed, conditions={column: value})``, i.e. through the model's own
    conditioning where it has one; the real rows come first, unchanged, then the synthetic ones.

    Example — balance adult's income classes (24% earn >50K) for a classifier::

        import engine
        model = engine.train(adult, model="tvae", seed=0)
        balanced = engine.rebalance(model, data=adult, column="income", value=">50K")
        balanced["income"].value_counts()   # <=50K: 24,720  >50K: 24,720

    For synthetic rows only, ask the model directly:
    ``model.sample(10_000, conditions={"income": ">50K"})``.
    """
    from engine.transform.transformer import as_polars

    frame = as_polars(data)
    if column not in frame.columns:
        raise ConfigError(f"rebalance: column {column!r} is not in the data; it has {frame.columns}")
    model._check_fitted()
    missing = [c for c in model.columns_ if c not in frame.columns]
    if missing:
        raise InputError(f"rebalance: the data lacks columns the model was trained on: {missing}")
    counts = frame.get_column(column).drop_nulls().value_counts(name="__n__", sort=True)
    if counts.height < 1:
        raise InputError(f"rebalance: column {column!r} has no values")
    if value is None:
        value = counts.row(counts.height - 1)[0]
    present = counts.filter(pl.col(column) == value)
    have = int(present.get_column("__n__")[0]) if present.height else 0
    total = frame.height
    if target_share is None:
        need = int(counts.get_column("__n__").max()) - have
    else:
        if not isinstance(target_share, (int, float)) or not 0 < target_share < 1:
            raise ConfigError(f"rebalance: target_share must be a number strictly between 0 and 1; got {target_share!r}")
        need = math.ceil((target_share * total - have) / (1 - target_share))
    real = frame.select(list(model.columns_))
    if need <= 0:
        return real
    synthetic = model.sample(need, seed=seed, conditions={column: value})
    return pl.concat([real.cast(dict(synthetic.schema)), synthetic], how="vertical")


__all__ = ["rebalance"]
