"""Columns that are restored without being learned: identifiers, constants, empty columns.

They own no span and no token. On inverse an identifier gets new unique keys in its format
(``engine.transform.identifiers``), a constant column its one value on every row, an empty
column nulls of its dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.schema import SemanticType
from engine.transform.columns.base import ColumnEncoder, FitContext
from engine.transform.dtypes import series_from_json, series_to_json
from engine.transform.identifiers import IdFormat
from engine.transform.spans import Span, TokenColumn
from engine.transform.statistics import ConstantStatistics, EmptyStatistics, IdentifierStatistics


class _Unlearned(ColumnEncoder):
    """Shared no-op encoding: nothing goes into either matrix."""

    @property
    def spans(self) -> list[Span]:
        return []

    @property
    def tokens(self) -> list[TokenColumn]:
        return []

    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        return None

    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        return np.empty((len(s), 0), dtype=np.int64)

    def decode(self, block: np.ndarray) -> pl.Series:
        return self.regenerate(block.shape[0])

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        return self.regenerate(codes.shape[0])

    def regenerate(self, n: int) -> pl.Series:
        raise NotImplementedError


class IdentifierEncoder(_Unlearned):
    """A key column: regenerated as new unique values in the same format."""

    tag = "identifier"

    def __init__(self, name: str, dtype: pl.DataType, kind: SemanticType, fmt: IdFormat) -> None:
        super().__init__(name, dtype, kind)
        self.fmt = fmt

    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> IdentifierStatistics:
        return IdentifierStatistics(s.name, s.dtype, kind, IdFormat.fit(s, rng=ctx.rng))

    @classmethod
    def from_statistics(cls, stats: IdentifierStatistics) -> IdentifierEncoder:
        return cls(stats.name, stats.dtype, stats.kind, stats.fmt)

    def regenerate(self, n: int) -> pl.Series:
        return self.fmt.generate(self.name, n, self.dtype)

    def state(self) -> dict[str, Any]:
        return {"format": self.fmt.to_dict()}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> IdentifierEncoder:
        return cls(name, dtype, kind, IdFormat.from_dict(state["format"]))


class ConstantEncoder(_Unlearned):
    """One value on every row (a column with nulls as well is encoded as categorical instead)."""

    tag = "constant"

    def __init__(self, name: str, dtype: pl.DataType, kind: SemanticType, value: pl.Series) -> None:
        super().__init__(name, dtype, kind)
        self.value = value

    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> ConstantStatistics:
        return ConstantStatistics(s.name, s.dtype, kind, s.drop_nulls().head(1))

    @classmethod
    def from_statistics(cls, stats: ConstantStatistics) -> ConstantEncoder:
        return cls(stats.name, stats.dtype, stats.kind, stats.value)

    def regenerate(self, n: int) -> pl.Series:
        return self.value.gather(np.zeros(n, dtype=np.int64))

    def state(self) -> dict[str, Any]:
        return {"value": series_to_json(self.value)}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> ConstantEncoder:
        return cls(name, dtype, kind, series_from_json(state["value"], dtype, name))


class EmptyEncoder(_Unlearned):
    """A column with nulls only."""

    tag = "empty"

    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> EmptyStatistics:
        return EmptyStatistics(s.name, s.dtype, kind)

    @classmethod
    def from_statistics(cls, stats: EmptyStatistics) -> EmptyEncoder:
        return cls(stats.name, stats.dtype, stats.kind)

    def regenerate(self, n: int) -> pl.Series:
        return pl.Series(self.name, [None], dtype=self.dtype).gather(np.zeros(n, dtype=np.int64))

    def state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> EmptyEncoder:
        return cls(name, dtype, kind)
