"""Per-column encoders, the rule that picks one from a column's kind and dtype, and the
one way an encoder is built: from its column's statistics (``build_encoder``).

``measure_column`` measures the exact statistics of the encoder the table below picks:

| kind | dtype | encoder |
|---|---|---|
| continuous | numeric (int, float, decimal, duration, time) | ``NumericEncoder`` |
| continuous, datetime | Date, Datetime (datetime also: date strings) | ``DatetimeEncoder`` |
| discrete | numeric / temporal with at most ``max_onehot`` frequent levels | ``CategoricalEncoder`` (ordinal) |
| discrete | numeric / temporal with more | ``NumericEncoder`` / ``DatetimeEncoder`` |
| categorical, text, discrete | anything else | ``CategoricalEncoder`` (rare levels merged) |
| boolean | any | ``CategoricalEncoder`` (no merge) |
| constant | one value, no nulls / one value and nulls | ``ConstantEncoder`` / ``CategoricalEncoder`` |
| identifier | integer or string | ``IdentifierEncoder`` |
| empty | all null | ``EmptyEncoder`` |

Text columns are treated as categorical: with the rare-level merge most free-text values fall
into the ``__other__`` bucket, which is the safe outcome for text nobody should reproduce.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.schema import SemanticType
from engine.transform.columns.base import ColumnEncoder, FitContext, encoder_from_dict
from engine.transform.columns.categorical import CategoricalEncoder
from engine.transform.columns.datetime import DatetimeEncoder
from engine.transform.columns.numeric import NumericEncoder
from engine.transform.columns.passthrough import ConstantEncoder, EmptyEncoder, IdentifierEncoder
from engine.transform.dtypes import is_numeric, is_temporal_point
from engine.transform.params import TransformerParams
from engine.transform.statistics import (
    CategoryStatistics,
    ColumnStatistics,
    ConstantStatistics,
    DatetimeStatistics,
    EmptyStatistics,
    IdentifierStatistics,
    NumberStatistics,
)

__all__ = ["ColumnEncoder", "FitContext", "build_encoder", "encoder_from_dict", "measure_column"]


def _refuse(s: pl.Series, kind: SemanticType, allowed: str) -> ConfigError:
    return ConfigError(
        f"column {s.name!r} is declared {kind.value}, but its dtype is {s.dtype}; {kind.value} needs {allowed}"
    )


def build_encoder(stats: ColumnStatistics, params: TransformerParams) -> ColumnEncoder:
    """The encoder these statistics describe (exact ones or private ones alike)."""
    if isinstance(stats, NumberStatistics):
        return NumericEncoder.from_statistics(stats)
    if isinstance(stats, DatetimeStatistics):
        return DatetimeEncoder.from_statistics(stats)
    if isinstance(stats, CategoryStatistics):
        return CategoricalEncoder.from_statistics(stats, params)
    if isinstance(stats, IdentifierStatistics):
        return IdentifierEncoder.from_statistics(stats)
    if isinstance(stats, ConstantStatistics):
        return ConstantEncoder.from_statistics(stats)
    if isinstance(stats, EmptyStatistics):
        return EmptyEncoder.from_statistics(stats)
    raise ConfigError(f"statistics of type {type(stats).__name__} describe no column encoder")


def measure_column(s: pl.Series, kind: SemanticType, ctx: FitContext) -> ColumnStatistics:
    """The exact statistics of the encoder that ``kind`` and the dtype of ``s`` call for (see the table above)."""
    present = len(s) - s.null_count()
    if kind is SemanticType.EMPTY:
        if present:
            raise ConfigError(f"column {s.name!r} is declared empty, but {present} of its values are not null")
        return EmptyEncoder.measure(s, kind, ctx)
    if present == 0:
        raise ConfigError(f"column {s.name!r} is declared {kind.value}, but all its values are null; declare it empty")
    dtype = s.dtype
    if kind is SemanticType.CONSTANT:
        distinct = s.drop_nulls().n_unique()
        if distinct > 1:
            raise ConfigError(f"column {s.name!r} is declared constant, but has {distinct} distinct values")
        if s.null_count():
            return CategoricalEncoder.measure(s, kind, ctx, merge_rare=False)
        return ConstantEncoder.measure(s, kind, ctx)
    if kind is SemanticType.IDENTIFIER:
        if not (dtype.is_integer() or isinstance(dtype, (pl.String, pl.Categorical))):
            raise _refuse(s, kind, "an integer or string dtype")
        return IdentifierEncoder.measure(s, kind, ctx)
    if kind is SemanticType.DATETIME:
        if not (is_temporal_point(dtype) or isinstance(dtype, pl.String)):
            raise _refuse(s, kind, "a Date, Datetime or date-string dtype")
        return DatetimeEncoder.measure(s, kind, ctx)
    if kind is SemanticType.CONTINUOUS:
        if is_temporal_point(dtype):
            return DatetimeEncoder.measure(s, kind, ctx)
        if not is_numeric(dtype):
            raise _refuse(s, kind, "a numeric dtype (integer, float, decimal, duration, time)")
        return NumericEncoder.measure(s, kind, ctx)
    if kind is SemanticType.BOOLEAN:
        return CategoricalEncoder.measure(s, kind, ctx, merge_rare=False)
    if kind is SemanticType.DISCRETE and (is_numeric(dtype) or is_temporal_point(dtype)):
        counts = s.drop_nulls().value_counts(name="__doppel_count__").get_column("__doppel_count__").to_numpy()
        frequent = int(np.count_nonzero(counts >= ctx.params.rare_category_k))
        if frequent > ctx.params.max_onehot:
            return DatetimeEncoder.measure(s, kind, ctx) if is_temporal_point(dtype) else NumericEncoder.measure(s, kind, ctx)
    return CategoricalEncoder.measure(s, kind, ctx, merge_rare=True)
