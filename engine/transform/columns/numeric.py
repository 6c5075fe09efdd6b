"""Continuous columns: numbers (and, through ``NumericCore``, the linear part of datetimes).

Float encoding: ``value`` (tanh, 1) + ``mode`` (softmax, one per kept Gaussian mode) + ``null``
(softmax [present, missing], only when the column had nulls); see ``engine.transform.vgm``.
Token encoding: ``coarse`` bin (the last code means missing when the column had nulls) +
``fine`` bin (omitted when every value is an exact atom); see ``engine.transform.bins``.

Restoration: values are clipped to the protected training range (``engine.transform.protect``), rounded to the column's
precision (whole numbers for integer dtypes, the detected number of decimals for floats,
the scale for decimals) and cast back to the original dtype.

Integer-backed columns (integers, durations, times of day) are encoded as distances from
their smallest released value (the low clip value; the state holds no value beyond the clip
values) and restored in integer arithmetic (``engine.transform.integers``):
a UInt64 near 2**64 or an Int64 near +-2**63 comes back inside its range, never wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.schema import SemanticType
from engine.transform.bins import QuantileBins
from engine.transform.columns.base import ColumnEncoder, FitContext, check_no_new_nulls, null_block
from engine.transform.dtypes import from_float, is_integer, to_float
from engine.transform.integers import IntegerOffsets
from engine.transform.protect import cap_record, clip_bounds
from engine.transform.spans import Span, TokenColumn
from engine.transform.statistics import NumberStatistics, RangeStatistics
from engine.transform.vgm import ModeNormalizer

MAX_DECIMALS = 6


def detect_decimals(x: np.ndarray, *, single_precision: bool) -> int | None:
    """Fewest decimals (0..6) that represent every value of ``x``; None when more are needed.

    None means "do not round": rounding data that has more than six decimals (tiny
    magnitudes, computed ratios) would destroy it.
    """
    tol = 2.0**-20 if single_precision else 1e-9
    for d in range(MAX_DECIMALS + 1):
        y = x * 10.0**d
        if np.all(np.abs(y - np.rint(y)) <= tol * np.maximum(1.0, np.abs(y))):
            return d
    return None


@dataclass
class NumericCore:
    """Extreme-value clipping, mode normalisation, bins and rounding of one float64 view of a column."""

    lo: float
    hi: float
    decimals: int | None
    has_nulls: bool
    fill: float
    vgm: ModeNormalizer
    bins: QuantileBins
    cap: dict[str, Any] | None

    @staticmethod
    def measure(x: np.ndarray, missing: np.ndarray, *, decimals: int | None, ctx: FitContext) -> RangeStatistics:
        """The exact statistics of one float64 view: clip values, Gaussian modes, quantile bins, median.

        The clip values of the ``extremes`` rule are token atoms of their own, so the most
        extreme value a model may release (held by at least k rows) comes back exactly.
        """
        p = ctx.params
        values = x[~missing]
        lo, hi = clip_bounds(values, extremes=p.extremes, k=p.rare_category_k)
        cap = None if p.extremes is None else cap_record(values, lo, hi)
        values = np.clip(values, lo, hi)
        vgm = ModeNormalizer.fit(
            values, lo=lo, hi=hi, n_modes=p.n_modes, sample_rows=p.gmm_sample_rows, max_iter=p.gmm_max_iter, rng=ctx.rng
        )
        pinned = () if cap is None else (lo, hi)
        bins = QuantileBins.fit(values, n_bins=p.n_bins, n_fine=p.n_fine_bins, pinned=pinned)
        fill = float(np.quantile(values, 0.5, method="inverted_cdf"))
        return RangeStatistics(lo, hi, decimals, bool(missing.any()), fill, vgm, bins, cap)

    @classmethod
    def from_statistics(cls, stats: RangeStatistics) -> NumericCore:
        return cls(stats.lo, stats.hi, stats.decimals, stats.nullable, stats.fill, stats.vgm, stats.bins, stats.cap)

    # layout
    def spans(self, column: str) -> list[Span]:
        spans = [Span(column, "value", 1, "tanh"), Span(column, "mode", self.vgm.n_modes, "softmax")]
        return spans + ([Span(column, "null", 2, "softmax")] if self.has_nulls else [])

    def tokens(self, column: str) -> list[TokenColumn]:
        n_coarse = self.bins.n_coarse
        out = [TokenColumn(column, "coarse", n_coarse + self.has_nulls, n_coarse if self.has_nulls else None)]
        if len(self.bins.interval_codes):
            out.append(TokenColumn(column, "fine", self.bins.n_fine, None))
        return out

    def _prepare(self, name: str, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
        if not self.has_nulls:
            check_no_new_nulls(name, missing)
        return np.where(missing, self.fill, np.clip(np.nan_to_num(x, nan=self.fill), self.lo, self.hi))

    def finish(self, x: np.ndarray) -> np.ndarray:
        """Clip to the protected range and round to the column's decimals."""
        x = np.clip(x, self.lo, self.hi)
        return x if self.decimals is None else np.round(x, self.decimals)

    # float encoding
    def encode(
        self, name: str, x: np.ndarray, missing: np.ndarray, out: np.ndarray, rng: np.random.Generator | None
    ) -> None:
        """Write value, mode one-hot and (if any) null indicator into ``out``'s first columns."""
        modes, z = self.vgm.encode(self._prepare(name, x, missing), rng=rng)
        out[:, 0] = z
        out[np.arange(len(z)), 1 + modes] = 1.0
        if self.has_nulls:
            k = 1 + self.vgm.n_modes
            null_block(missing, out[:, k : k + 2])

    def decode(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.vgm.n_modes
        modes = np.argmax(block[:, 1 : 1 + k], axis=1)
        x = self.finish(self.vgm.decode(modes, block[:, 0]))
        missing = np.argmax(block[:, 1 + k : 3 + k], axis=1) == 1 if self.has_nulls else np.zeros(len(x), bool)
        return x, missing

    @property
    def float_width(self) -> int:
        return 1 + self.vgm.n_modes + 2 * self.has_nulls

    # token encoding
    def encode_tokens(self, name: str, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
        coarse, fine = self.bins.encode(self._prepare(name, x, missing))
        if self.has_nulls:
            coarse[missing] = self.bins.n_coarse
        if len(self.bins.interval_codes):
            return np.column_stack([coarse, fine])
        return coarse[:, None]

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        coarse = codes[:, 0]
        missing = coarse >= self.bins.n_coarse if self.has_nulls else np.zeros(len(coarse), bool)
        fine = codes[:, 1] if codes.shape[1] > 1 else np.zeros(len(coarse), dtype=np.int64)
        x = self.finish(self.bins.decode(np.where(missing, 0, coarse), fine, rng))
        return x, missing

    def max_error(self, encoding: str) -> float:
        """Bound on |restored - original| in the view's units, rounding included."""
        raw = self.vgm.max_error() if encoding == "float" else self.bins.max_error()
        rounding = 0.0 if self.decimals is None else 0.5 * 10.0**-self.decimals
        return raw + rounding

    def to_dict(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "decimals": self.decimals,
            "has_nulls": self.has_nulls,
            "fill": self.fill,
            "vgm": self.vgm.to_dict(),
            "bins": self.bins.to_dict(),
            "cap": self.cap,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericCore:
        return cls(
            float(d["lo"]),
            float(d["hi"]),
            d["decimals"],
            bool(d["has_nulls"]),
            float(d["fill"]),
            ModeNormalizer.from_dict(d["vgm"]),
            QuantileBins.from_dict(d["bins"]),
            d["cap"],
        )


class NumericEncoder(ColumnEncoder):
    """A continuous number column (integers, floats, decimals, durations, times of day)."""

    tag = "numeric"

    def __init__(
        self, name: str, dtype: pl.DataType, kind: SemanticType, core: NumericCore, offsets: IntegerOffsets | None = None
    ) -> None:
        super().__init__(name, dtype, kind)
        self.core = core
        # Integer-backed columns: the core sees distances from the smallest training value.
        # None: the core sees the values themselves (floats, decimals, private transformers).
        self.offsets = offsets

    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> NumberStatistics:
        """The exact statistics of ``s``: offsets for integer-backed dtypes, decimals, the range's."""
        dtype = s.dtype
        if is_integer(dtype) or isinstance(dtype, (pl.Duration, pl.Time)):
            offsets = IntegerOffsets.fit(s)
            x, missing = offsets.to_float(s)
            if ctx.params.extremes is not None:
                # Origin and span on the clip values: the state holds no value beyond them.
                lo, hi = clip_bounds(x[~missing], extremes=ctx.params.extremes, k=ctx.params.rare_category_k)
                low, high = offsets.value(lo), offsets.value(hi)
                offsets = IntegerOffsets(low, high - low, offsets.signed)
                x, missing = offsets.to_float(s)
            stats = NumericCore.measure(x, missing, decimals=0, ctx=ctx)
            return NumberStatistics(s.name, dtype, kind, stats, offsets)
        x, missing = to_float(s)
        if isinstance(dtype, pl.Decimal):
            decimals: int | None = dtype.scale
        else:
            decimals = detect_decimals(x[~missing], single_precision=isinstance(dtype, pl.Float32))
        return NumberStatistics(s.name, dtype, kind, NumericCore.measure(x, missing, decimals=decimals, ctx=ctx))

    @classmethod
    def from_statistics(cls, stats: NumberStatistics) -> NumericEncoder:
        return cls(stats.name, stats.dtype, stats.kind, NumericCore.from_statistics(stats.range), stats.offsets)

    @property
    def spans(self) -> list[Span]:
        return self.core.spans(self.name)

    @property
    def tokens(self) -> list[TokenColumn]:
        return self.core.tokens(self.name)

    def _view(self, s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        return to_float(s) if self.offsets is None else self.offsets.to_float(s)

    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        x, missing = self._view(s)
        self.core.encode(self.name, x, missing, out, rng)

    def decode(self, block: np.ndarray) -> pl.Series:
        x, missing = self.core.decode(block)
        return self._restore(x, missing)

    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        x, missing = self._view(s)
        return self.core.encode_tokens(self.name, x, missing)

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        x, missing = self.core.decode_tokens(codes, rng)
        return self._restore(x, missing)

    def _restore(self, x: np.ndarray, missing: np.ndarray) -> pl.Series:
        if self.offsets is not None:
            return self.offsets.restore(self.name, x, missing, self.dtype)
        decimals = 0 if is_integer(self.dtype) else self.core.decimals
        return from_float(self.name, x, missing, self.dtype, decimals)

    def protection(self) -> dict[str, Any] | None:
        if self.core.cap is None:
            return None
        cap = dict(self.core.cap)
        if self.offsets is not None:  # the clip values in the column's own values
            cap["lower"] = self.offsets.value(cap["lower"])
            cap["upper"] = self.offsets.value(cap["upper"])
        return {"capping": cap}

    def max_error(self, encoding: str) -> float:
        return self.core.max_error(encoding)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"core": self.core.to_dict()}
        if self.offsets is not None:
            out["offsets"] = self.offsets.to_dict()
        return out

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> NumericEncoder:
        offsets = IntegerOffsets.from_dict(state["offsets"]) if "offsets" in state else None
        return cls(name, dtype, kind, NumericCore.from_dict(state["core"]), offsets)
