"""Integer columns seen as float64 distances from their smallest value, and restored exactly.

A float64 holds every integer up to 2**53 exactly, but a UInt64 column reaches 2**64 - 1 and
an Int64 column +-2**63. Cast straight to float64, such values round to 2**64 or 2**63,
which no longer fit the dtype: numpy's cast back then wraps them around (2**64 - 1 came
back as 0, 2**63 - 1 as -2**63). So integer-valued columns are encoded relative to an
origin, their smallest training value:

- every value is first mapped, exactly and in order, onto an unsigned 64-bit *key*
  (signed values are shifted by 2**63), and its distance from the origin's key is taken in
  unsigned integer arithmetic, then made a float. Distances below 2**53 are exact, so a
  column whose range is under 2**53 round-trips exactly wherever it sits;
- on the way back the float distance is rounded, clipped to ``[0, span]`` (the training
  range) *as an integer*, added to the origin's key and mapped back: a value can never leave
  the column's real range, whatever a model outputs.

Used for integers, durations and times of day (``NumericEncoder``) and for the ticks of
dates and datetimes (``DatetimeEncoder``, whose nanosecond range also spans all of Int64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

_SIGN = np.uint64(1 << 63)
# The largest float64 below 2**64: the most a float may be before it is cast to uint64.
_BELOW_2_64 = float(np.nextafter(np.float64(2.0**64), 0.0))


def physical_ints(s: pl.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """(integer values with nulls as 0, missing mask, signed?) of an integer-backed column."""
    physical = s.to_physical() if not s.dtype.is_integer() else s
    missing = physical.is_null().to_numpy()
    values = physical.fill_null(0).to_numpy()
    return values, missing, physical.dtype not in (pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def to_keys(values: np.ndarray, *, signed: bool) -> np.ndarray:
    """Integers mapped exactly and in order onto uint64 (signed values shifted by 2**63)."""
    if not signed:
        return values.astype(np.uint64)
    return values.astype(np.int64).view(np.uint64) ^ _SIGN


def from_keys(keys: np.ndarray, *, signed: bool) -> np.ndarray:
    """Inverse of ``to_keys``: int64 for signed columns, uint64 for unsigned ones."""
    if not signed:
        return keys
    return (keys ^ _SIGN).view(np.int64)


def key_of(value: int, *, signed: bool) -> int:
    """``to_keys`` of one Python integer."""
    return value + (1 << 63) if signed else value


def distances(keys: np.ndarray, origin_key: int) -> np.ndarray:
    """Signed float64 distances of ``keys`` from ``origin_key``, taken in exact integer arithmetic."""
    origin = np.uint64(origin_key)
    above = keys >= origin
    out = np.empty(len(keys), dtype=np.float64)
    out[above] = (keys[above] - origin).astype(np.float64)
    out[~above] = -(origin - keys[~above]).astype(np.float64)
    return out


def clip_distances(x: np.ndarray, span: int, step: int = 1) -> np.ndarray:
    """Float distances (in steps) rounded and clipped to ``[0, span]``, as uint64 multiples of ``step``."""
    r = np.clip(np.rint(np.nan_to_num(x, nan=0.0)), 0.0, min(float(span), _BELOW_2_64))
    whole = np.minimum(r.astype(np.uint64), np.uint64(span))
    return whole * np.uint64(step)


@dataclass(frozen=True)
class IntegerOffsets:
    """The origin (smallest training value) and span (largest minus smallest) of an integer view."""

    origin: int
    span: int
    signed: bool

    @classmethod
    def fit(cls, s: pl.Series) -> IntegerOffsets:
        values, missing, signed = physical_ints(s)
        present = values[~missing]
        if len(present) == 0:
            return cls(0, 0, signed)
        low, high = int(present.min()), int(present.max())
        return cls(low, high - low, signed)

    def to_float(self, s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(float64 distances from the origin, missing mask) of ``s``."""
        values, missing, _ = physical_ints(s)
        return distances(to_keys(values, signed=self.signed), key_of(self.origin, signed=self.signed)), missing

    def restore(self, name: str, x: np.ndarray, missing: np.ndarray, dtype: pl.DataType) -> pl.Series:
        """A column of ``dtype`` from float distances: rounded, clipped to the training range, exact."""
        keys = np.uint64(key_of(self.origin, signed=self.signed)) + clip_distances(x, self.span)
        values = pl.Series(name, from_keys(keys, signed=self.signed))
        values = values.cast(dtype.to_physical() if hasattr(dtype, "to_physical") else dtype).cast(dtype)
        if missing.any():
            values = values.scatter(np.flatnonzero(missing), None)
        return values

    def value(self, distance: float) -> int:
        """The integer at a (float) distance from the origin, clipped to the training range."""
        return self.origin + int(min(max(round(distance), 0), self.span))

    def to_dict(self) -> dict[str, Any]:
        # Strings: JSON readers other than Python's may not hold integers beyond 2**53 exactly.
        return {"origin": str(self.origin), "span": str(self.span), "signed": self.signed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntegerOffsets:
        return cls(int(d["origin"]), int(d["span"]), bool(d["signed"]))
