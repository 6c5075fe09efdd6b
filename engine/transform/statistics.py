"""The statistics every column encoder is built from, as plain typed objects.

A ``DataTransformer`` is built in one way: per column, a statistics object (range, modes,
bins, nullability and fill of a number or date; levels and counts of a categorical; the
format of an identifier or of a faked personal-data column; ...) becomes an encoder
(``engine.transform.columns.build_encoder``; a faked column's ``FakeEncoder``).
Where the statistics come from is the only difference between the two kinds of run:

- *exact* statistics are measured from the rows (``engine.transform.columns.measure_column``:
  extreme-value clipping, rare-level merge, Gaussian mixtures, quantile bins, formats, decimals);
- *private* statistics are measured by ``engine.privacy`` with its accounted mechanisms and
  handed to ``DataTransformer.fit(frame, statistics=...)``, which then reads no row.

The objects hold learned values only; the layout choices that follow from the transformer's
parameters (one-hot or digits, code base) are made when the encoder is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.schema import SemanticType
from engine.transform.bins import QuantileBins
from engine.transform.fakes import FakeFormat
from engine.transform.identifiers import IdFormat
from engine.transform.integers import IntegerOffsets
from engine.transform.key_order import KeyOrder
from engine.transform.vgm import ModeNormalizer


@dataclass(frozen=True)
class RangeStatistics:
    """One float64 view of a number (or of a date's steps): what its encodings are built from.

    ``lo``/``hi``: the protected range values are clipped to (``engine.transform.protect``);
    ``decimals``: rounding on restore (None: none); ``nullable``: whether the column may hold nulls; ``fill``: what a null is
    encoded as in the value part (the median); ``vgm``: the Gaussian modes of the float
    encoding; ``bins``: the atoms and quantile bins of the token encoding; ``cap``: what
    clipping did (the clip values and counts; None when no rule applied).
    """

    lo: float
    hi: float
    decimals: int | None
    nullable: bool
    fill: float
    vgm: ModeNormalizer
    bins: QuantileBins
    cap: dict[str, Any] | None = None


@dataclass(frozen=True)
class NumberStatistics:
    """A number column (integer, float, decimal, duration, time of day).

    ``offsets``: integer-backed columns seen as distances from their smallest value (exact
    over the whole dtype range); None: the range describes the values themselves.
    """

    name: str
    dtype: pl.DataType
    kind: SemanticType
    range: RangeStatistics
    offsets: IntegerOffsets | None = None


@dataclass(frozen=True)
class DatetimeStatistics:
    """A Date/Datetime column (or date strings in ``fmt``): steps of ``step`` ticks since ``origin``."""

    name: str
    dtype: pl.DataType
    kind: SemanticType
    fmt: str | None
    origin: int
    step: int
    ticks_per_day: int
    range: RangeStatistics


@dataclass(frozen=True)
class CategoryStatistics:
    """A categorical, discrete or boolean column: its levels in code order (a null entry is
    the null level), their row counts when known, and what the rare-level merge did."""

    name: str
    dtype: pl.DataType
    kind: SemanticType
    levels: pl.Series
    counts: np.ndarray | None = None
    merge: dict[str, Any] | None = None


@dataclass(frozen=True)
class IdentifierStatistics:
    """A key column: regenerated in ``fmt``, its values never learned.

    ``order``: set when the key's order follows another column (``engine.transform.key_order``):
    its rank is then learned and the fresh keys are handed out in that order. None (always so
    for private statistics, which measure no relation): keys in random relation to the rows.
    """

    name: str
    dtype: pl.DataType
    kind: SemanticType
    fmt: IdFormat
    order: KeyOrder | None = None


@dataclass(frozen=True)
class ConstantStatistics:
    """One value on every row (a one-element series of the column's dtype)."""

    name: str
    dtype: pl.DataType
    kind: SemanticType
    value: pl.Series


@dataclass(frozen=True)
class EmptyStatistics:
    """A column of nulls only."""

    name: str
    dtype: pl.DataType
    kind: SemanticType


@dataclass(frozen=True)
class FakeStatistics:
    """A personal-data column that is faked, never learned: the kind and shape of its values
    (``engine.transform.fakes.FakeFormat``), no value itself."""

    name: str
    dtype: pl.DataType
    kind: SemanticType
    fmt: FakeFormat


ColumnStatistics = (
    NumberStatistics
    | DatetimeStatistics
    | CategoryStatistics
    | IdentifierStatistics
    | ConstantStatistics
    | EmptyStatistics
    | FakeStatistics
)


@dataclass(frozen=True)
class TableStatistics:
    """Every column's statistics, in the table's column order, and the number of rows they describe.

    ``protections``: what protected the statistics, kept as the transformer's ``protections_``
    (a private run records its mechanisms here); None: the clipping and merge records of the
    columns, as an exact fit has them.
    """

    columns: tuple[ColumnStatistics, ...]
    n_rows: int
    protections: dict[str, Any] | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


__all__ = [
    "CategoryStatistics",
    "ColumnStatistics",
    "ConstantStatistics",
    "DatetimeStatistics",
    "EmptyStatistics",
    "FakeStatistics",
    "IdentifierStatistics",
    "NumberStatistics",
    "RangeStatistics",
    "TableStatistics",
]
