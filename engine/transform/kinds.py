"""Which SemanticType a column gets when the caller does not say.

The profile (engine.profile) is the real authority on column kinds and will pass its decision
through ``column_types``. Without it, the transformer falls back on this small dtype and
cardinality rule, kept deliberately simple:

- all null -> empty; one distinct value (nulls aside) -> constant;
- Boolean -> boolean; Date / Datetime -> datetime;
- floats, decimals, durations, times -> continuous;
- integers: unique, no nulls and a key-like name (``id``, ``*_id``, ``*Id``, ``*_key``) ->
  identifier; at most 20 distinct values -> discrete (encoded as level codes, restored as the
  same integers); otherwise continuous;
- strings: every value distinct and no nulls (at least 20 rows) -> identifier; else
  categorical; Categorical / Enum dtypes -> categorical.
"""

from __future__ import annotations

import re

import polars as pl

from engine.schema import SemanticType
from engine.transform.dtypes import is_numeric, is_temporal_point

DISCRETE_MAX_LEVELS = 20
_MIN_ROWS_FOR_STRING_ID = 20
_KEY_NAME = re.compile(r"(^id$|^ID$|_id$|_ID$|[a-z]Id$|_key$|^key$)")


def infer_kind(s: pl.Series) -> SemanticType:
    """Apply the fallback rule above to one column."""
    n = len(s)
    nulls = s.null_count()
    if nulls == n:
        return SemanticType.EMPTY
    dtype = s.dtype
    n_unique = s.drop_nulls().n_unique()
    if n_unique <= 1:
        return SemanticType.CONSTANT
    if isinstance(dtype, pl.Boolean):
        return SemanticType.BOOLEAN
    if is_temporal_point(dtype):
        return SemanticType.DATETIME
    if dtype.is_integer():
        if nulls == 0 and n_unique == n and _KEY_NAME.search(s.name):
            return SemanticType.IDENTIFIER
        return SemanticType.DISCRETE if n_unique <= DISCRETE_MAX_LEVELS else SemanticType.CONTINUOUS
    if is_numeric(dtype):
        return SemanticType.CONTINUOUS
    if isinstance(dtype, pl.String) and nulls == 0 and n_unique == n and n >= _MIN_ROWS_FOR_STRING_ID:
        return SemanticType.IDENTIFIER
    return SemanticType.CATEGORICAL
