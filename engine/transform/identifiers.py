"""New unique keys in the format of an identifier column, never the real ones.

Identifiers are not learned (a model that learned them would memorise people); on inverse
they are regenerated:

- integer keys: a run ``start, start + 1, ...`` from the smallest training key, in the
  column's integer dtype;
- string keys: the longest prefix every key shares, then the most common *shape* of the rest
  (each ASCII digit -> a digit, lowercase letter -> a lowercase letter, uppercase -> an
  uppercase letter, anything else kept as is), filled with a counter in mixed radix, so
  ``aardsda01`` style keys come back as ``aaaaaaa00``, ``aaaaaaa01``, ... When the shape has
  too few free positions for the number of rows, digits are appended.

Keys are unique within one call and come out ascending. Only the smallest integer key, or the
prefix and the shape, are stored, no other real key. Ordered keys
(``engine.transform.key_order``) are keys like these handed out in a learned order.

A sampling call that generates in several rounds continues each round's keys after the
previous round's (``engine.transform.key_rounds``): integer keys are shifted past the last key
handed out (``shift_keys``), string keys continue the counter (``IdFormat.string_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError

_SHAPE_SAMPLE = 10_000
_RADIX = {"9": (10, ord("0")), "a": (26, ord("a")), "A": (26, ord("A"))}


@dataclass
class IdFormat:
    """How to make keys: ``start`` for integers, ``prefix`` + ``shape`` for strings."""

    start: int | None = None
    prefix: str = ""
    shape: str = ""

    @classmethod
    def fit(cls, s: pl.Series, *, rng: np.random.Generator) -> IdFormat:
        values = s.drop_nulls()
        if s.dtype.is_integer():
            return cls(start=int(values.min()) if len(values) else 0)
        values = values.cast(pl.String)
        if len(values) == 0:
            return cls()
        prefix = common_prefix(str(values.min()), str(values.max()))
        if len(values) > _SHAPE_SAMPLE:
            values = values.gather(rng.choice(len(values), size=_SHAPE_SAMPLE, replace=False))
        return cls(prefix=prefix, shape=most_common(value_shapes(values.str.slice(len(prefix)))))

    def generate(self, name: str, n: int, dtype: pl.DataType) -> pl.Series:
        """``n`` distinct keys of ``dtype``, ascending."""
        if self.start is not None:
            return _integer_keys(name, self.start, n, dtype)
        return self.string_keys(name, n, dtype)

    def string_keys(self, name: str, n: int, dtype: pl.DataType, *, counted: int = 0) -> pl.Series:
        """``n`` string keys for the counter values ``counted, ..., counted + n - 1``, ascending.

        ``counted`` is how many keys earlier rounds of the same call handed out, so the keys
        continue theirs. The shape gets extra digits when it has too few positions for the
        counter; keys of different lengths never collide, so keys stay unique across rounds
        even when a later round's are longer.
        """
        shape = self.shape
        free = [c for c in shape if c in _RADIX]
        capacity = int(np.prod([_RADIX[c][0] for c in free], dtype=object)) if free else 1
        while capacity < max(counted + n, 1) or not free:
            shape += "9"
            free.append("9")
            capacity *= 10
        text = self.prefix + shape
        points = np.empty((n, len(text)), dtype=np.uint32)
        counter = np.arange(counted, counted + n, dtype=np.int64)
        for pos in range(len(text) - 1, -1, -1):
            char = text[pos]
            if pos >= len(self.prefix) and char in _RADIX:
                radix, base = _RADIX[char]
                points[:, pos] = base + counter % radix
                counter //= radix
            else:
                points[:, pos] = ord(char)
        strings = points.view(f"<U{len(text)}")[:, 0] if n else np.array([], dtype=str)
        return pl.Series(name, strings, dtype=pl.String).cast(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "prefix": self.prefix, "shape": self.shape}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IdFormat:
        return cls(start=d["start"], prefix=d["prefix"], shape=d["shape"])


def shift_keys(name: str, keys: pl.Series, first: int, dtype: pl.DataType) -> pl.Series:
    """Integer ``keys`` (no nulls) moved so that the smallest is ``first``; order and gaps kept.

    ``InputError`` naming the column when the largest would pass the dtype's maximum: unlike
    a call's first run, a later round cannot start lower without repeating earlier keys.
    Computed in the dtype's own width, like ``_integer_keys``.
    """
    if len(keys) == 0:
        return keys
    kind = numpy_kind(dtype)
    info = np.iinfo(kind)
    low, high = int(keys.min()), int(keys.max())
    if first + high - low > info.max:
        raise InputError(
            f"column {name!r}: keeping its keys unique across generation rounds needs keys up to "
            f"{first + high - low:,}, past {info.max:,}, the largest its dtype {dtype} holds; "
            "sample fewer rows in one call, or cast the key to a wider integer dtype before training"
        )
    wide = np.uint64 if kind.kind == "u" else np.int64
    moved = keys.to_numpy().astype(wide) - wide(low) + wide(first)  # exact: the result fits the dtype
    return pl.Series(name, moved).cast(dtype)


def numpy_kind(dtype: pl.DataType) -> np.dtype:
    """The numpy dtype of an integer polars ``dtype`` (int64 for any other dtype)."""
    return np.dtype(type(dtype).__name__.lower()) if dtype.is_integer() else np.dtype(np.int64)


def _integer_keys(name: str, start: int, n: int, dtype: pl.DataType) -> pl.Series:
    """``start, start + 1, ...`` in ``dtype``; started lower when the run would pass the dtype's maximum.

    Built in the dtype's own width (a UInt64 key may be near 2**64, past any int64), so keys
    never wrap around.
    """
    kind = numpy_kind(dtype)
    info = np.iinfo(kind)
    start = max(min(start, info.max - n + 1), info.min)
    if n > info.max - info.min + 1:
        raise InputError(f"column {name!r}: {n:,} distinct keys do not fit its dtype {dtype}")
    wide = np.uint64 if kind.kind == "u" else np.int64
    keys = np.arange(n, dtype=wide) + wide(start)
    return pl.Series(name, keys).cast(dtype)


def value_shapes(values: pl.Series) -> pl.Series:
    """Each string's shape: an ASCII digit -> "9", lowercase letter -> "a", uppercase -> "A", the rest kept."""
    return values.str.replace_all(r"[0-9]", "9").str.replace_all(r"[a-z]", "a").str.replace_all(r"[A-Z]", "A")


def most_common(values: pl.Series) -> str:
    """The most frequent value of ``values`` (no nulls), the smallest among equally frequent ones."""
    counts = values.alias("value").value_counts(name="n").sort(["n", "value"], descending=[True, False])
    return str(counts.item(0, "value"))


def common_prefix(a: str, b: str) -> str:
    """The longest prefix ``a`` and ``b`` share (of the smallest and largest value: every value's)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]
