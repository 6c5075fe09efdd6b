"""Columns whose values are restored without being learned: identifiers, faked personal data,
constants, empty columns.

They own no span and no token, except an ordered identifier, which owns its hidden rank column
(``engine.transform.key_order``). On inverse an identifier gets new unique keys in its format
(``engine.transform.identifiers``), in the order of the generated ranks when it is ordered; a
faked column new fake values of its kind (``engine.transform.fakes``), drawn from the
generator the transformer hands it; a constant column its one value on every row, an empty
column nulls of its dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.schema import SemanticType
from engine.transform.columns.base import ColumnEncoder, FitContext, check_no_new_nulls
from engine.transform.dtypes import series_from_json, series_to_json
from engine.transform.fakes import FakeFormat, check_dtype
from engine.transform.identifiers import IdFormat, shift_keys
from engine.transform.key_order import KeyOrder, hand_out
from engine.transform.spans import Span, TokenColumn
from engine.transform.statistics import ConstantStatistics, EmptyStatistics, FakeStatistics, IdentifierStatistics


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
    """A key column: regenerated as new unique values in the same format.

    With an ``order`` its rank is encoded (one tanh value; coarse and fine tokens) and the new
    keys are handed out in the order of the decoded ranks; without, it owns nothing.
    """

    tag = "identifier"

    def __init__(self, name: str, dtype: pl.DataType, kind: SemanticType, fmt: IdFormat, order: KeyOrder | None = None) -> None:
        super().__init__(name, dtype, kind)
        self.fmt = fmt
        self.order = order

    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> IdentifierStatistics:
        """The key's format; its order is measured across columns by the transformer."""
        return IdentifierStatistics(s.name, s.dtype, kind, IdFormat.fit(s, rng=ctx.rng))

    @classmethod
    def from_statistics(cls, stats: IdentifierStatistics) -> IdentifierEncoder:
        return cls(stats.name, stats.dtype, stats.kind, stats.fmt, stats.order)

    @property
    def spans(self) -> list[Span]:
        return [] if self.order is None else self.order.spans(self.name)

    @property
    def tokens(self) -> list[TokenColumn]:
        return [] if self.order is None else self.order.tokens(self.name)

    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        if self.order is not None:
            check_no_new_nulls(self.name, s.is_null().to_numpy())  # ordered keys had none at fit
            self.order.encode(s, out)

    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        if self.order is None:
            return super().encode_tokens(s)
        check_no_new_nulls(self.name, s.is_null().to_numpy())
        return self.order.encode_tokens(s)

    def decode(self, block: np.ndarray) -> pl.Series:
        if self.order is None:
            return self.regenerate(block.shape[0])
        return hand_out(self.regenerate(block.shape[0]), self.order.decode(block))

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        if self.order is None:
            return self.regenerate(codes.shape[0])
        return hand_out(self.regenerate(codes.shape[0]), self.order.decode_tokens(codes, rng))

    def regenerate(self, n: int) -> pl.Series:
        """``n`` fresh keys, ascending (ordered integer keys spread like the training keys)."""
        if self.order is not None and self.fmt.start is not None:
            spaced = self.order.spaced_keys(self.name, self.fmt.start, n, self.dtype)
            if spaced is not None:
                return spaced
        return self.fmt.generate(self.name, n, self.dtype)

    def continue_keys(self, keys: pl.Series, cursor: int | None) -> tuple[pl.Series, int | None]:
        """One generation round's ``keys`` (``regenerate``'s, in any order) moved past the keys of
        the rounds before, and the cursor to hand the next round.

        ``cursor`` is None for a call's first round, whose keys stay exactly as they are. After
        that it is, for integer keys, the smallest key the next round may use: the previous
        round's largest key plus one step (1 for a run, the spacing's last gap for spaced ordered
        keys), to which the round's keys are shifted, order and gaps kept (``shift_keys``, which
        refuses keys past the dtype's maximum); for string keys, how many keys were counted so
        far, from which the counter goes on, each row keeping its key's place in the round's
        order. Vectorised: one shift or one rank and gather per round.
        """
        n = len(keys)
        if n == 0:
            return keys, cursor
        if self.fmt.start is not None:
            low, high = int(keys.min()), int(keys.max())
            if cursor is not None:
                keys = shift_keys(self.name, keys, cursor, self.dtype)
                high = cursor + high - low
            return keys, high + self._step()
        if cursor is None:
            return keys, n
        # a round's keys share one length, so their string order is their counter order
        position = keys.cast(pl.String).rank(method="ordinal").to_numpy().astype(np.int64) - 1
        return self.fmt.string_keys(self.name, n, self.dtype, counted=cursor).gather(position), cursor + n

    def _step(self) -> int:
        """Gap between one round's last integer key and the next round's first."""
        if self.order is None or not self.order.gaps:
            return 1
        return max(1, int(self.order.gaps[-1]))

    def state(self) -> dict[str, Any]:
        if self.order is None:
            return {"format": self.fmt.to_dict()}
        return {"format": self.fmt.to_dict(), "order": self.order.to_dict()}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> IdentifierEncoder:
        order = state.get("order")  # states saved before ordered keys have none
        return cls(name, dtype, kind, IdFormat.from_dict(state["format"]), None if order is None else KeyOrder.from_dict(order))


class FakeEncoder(_Unlearned):
    """A personal-data column that is faked: never learned, new fakes of its kind on every inverse.

    Its state is the ``FakeFormat`` (kind, shape, shared prefix, null share), never a value.
    The fakes are drawn from the generator given to ``fakes``/``decode_tokens``: the
    transformer seeds it per generation round, so the same seed gives the same fakes and
    each round new ones. ``decode`` (no generator in the float contract) draws from a
    generator seeded by the row count alone; the transformer does not use it.
    """

    tag = "fake"

    def __init__(self, name: str, dtype: pl.DataType, kind: SemanticType, fmt: FakeFormat) -> None:
        super().__init__(name, dtype, kind)
        self.fmt = fmt

    @staticmethod
    def measure(s: pl.Series, pii_kind: str, ctx: FitContext) -> FakeStatistics:
        """The format of the column's values for ``pii_kind``; its semantic kind is text (nothing to condition on)."""
        return FakeStatistics(s.name, s.dtype, SemanticType.TEXT, FakeFormat.fit(pii_kind, s, rng=ctx.rng))

    @staticmethod
    def unread(name: str, dtype: pl.DataType, pii_kind: str) -> FakeStatistics:
        """Statistics that read no row (a DP run): the kind's default format, no nulls."""
        check_dtype(name, pii_kind, dtype)
        return FakeStatistics(name, dtype, SemanticType.TEXT, FakeFormat.default(pii_kind, name))

    @classmethod
    def from_statistics(cls, stats: FakeStatistics) -> FakeEncoder:
        return cls(stats.name, stats.dtype, stats.kind, stats.fmt)

    def fakes(self, n: int, rng: np.random.Generator) -> pl.Series:
        """``n`` fakes drawn from ``rng``."""
        return self.fmt.generate(self.name, n, self.dtype, rng)

    def decode(self, block: np.ndarray) -> pl.Series:
        return self.fakes(block.shape[0], np.random.default_rng(block.shape[0]))

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        return self.fakes(codes.shape[0], rng)

    def state(self) -> dict[str, Any]:
        return {"format": self.fmt.to_dict()}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> FakeEncoder:
        return cls(name, dtype, kind, FakeFormat.from_dict(state["format"]))


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
