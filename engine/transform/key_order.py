"""Ordered keys: identifiers whose order follows other columns, as the real keys' order did.

Real keys are often handed out in order (an auto-increment id rises with the row's date, a
child table's key with its parent's key). Keys regenerated as a plain run in random relation to
the row lose that: the synthetic Spearman correlation of the key with the date is about 0.

When ``find_key_order`` (called on an exact fit) measures a rank correlation of at least
``relation_threshold(n)`` between a key and a learned column with an order, the key becomes
*ordered*: its normalised rank among the keys being encoded, a number in [0, 1], is learned
as a hidden column (one tanh scalar in the float encoding; one of ``RANK_COARSE_BINS`` coarse
bins and a fine sub-bin in the token encoding), and on inverse the fresh keys, the same run
or shape as for a plain key, are handed out in the order of the generated ranks. The keys
stay unique and fresh; only their order follows the other columns.

Integer keys also keep their spacing, so that sparse or uneven keys cover about the range the
real ones covered, in about the same density: the gaps between consecutive sorted training keys
are cut into ``SPACING_SEGMENTS`` equal-count segments and each segment's average gap is kept,
cut (not rounded) to two significant digits (at least 1). Fresh keys start at ``start`` and
step by those gaps, segment by segment of the output, floored to whole numbers. What is stored
of the real keys is the smallest one (as for a plain key) and those coarse gaps: no other key
value, no key's row, and the real quantile keys cannot be read back exactly (each is off by
up to a tenth of its distance from the smallest key).

Under differential privacy no relation can be measured without spending budget, so private
statistics (``engine.privacy``) keep keys plainly regenerated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.transform.identifiers import numpy_kind
from engine.transform.spans import Span, TokenColumn

RELATION_SAMPLE_ROWS = 10_000
RELATION_MIN = 0.3
# Coarse bins of a rank's token encoding; the fine sub-bins are the transformer's n_fine_bins.
# A rank is uniform, so its bins are equal; the coarse bin is what ARGN's other columns see and
# are predicted from. Few of them are easier to learn: berka order (order_id ~ account_id,
# 6,471 rows) and one beijing station (No ~ time, 3,000 rows), ARGN 50 epochs, seeds 0 and 1,
# synthetic Spearman (real 1.0): 100 bins 0.89-0.90 / 0.55-0.66; 20 bins 0.93-0.94 /
# 0.76-0.82; 10 bins 0.94-0.97 / 0.88-0.91; 5 bins 0.92-0.95 / 0.76-0.79.
RANK_COARSE_BINS = 10
SPACING_SEGMENTS = 10
_GAP_DIGITS = 2


def relation_threshold(n_pairs: int) -> float:
    """Smallest |Spearman| that makes a key ordered, measured on ``n_pairs`` rows.

    0.3: below it a regenerated key loses at most 0.15 of a pair-trend score (1 - |diff| / 2)
    on that pair, not worth a hidden column; unrelated keys on the shared tables (berka
    account, card, loan against their dates) measure |rho| <= 0.08. On few rows the bar rises
    to three standard errors of a zero correlation (1 / sqrt(n - 1)), so noise alone rarely
    orders a key.
    """
    return max(RELATION_MIN, 3.0 / math.sqrt(max(n_pairs - 1, 1)))


@dataclass(frozen=True)
class KeyOrder:
    """An ordered key: the column its order follows, the measured Spearman correlation, the
    integer keys' average ``gaps`` per segment (empty for string keys) and the token
    resolution (``coarse`` bins x ``fine`` sub-bins)."""

    column: str
    spearman: float
    gaps: tuple[float, ...]
    coarse: int
    fine: int

    def spans(self, name: str) -> list[Span]:
        return [Span(name, "value", 1, "tanh")]

    def tokens(self, name: str) -> list[TokenColumn]:
        out = [TokenColumn(name, "coarse", self.coarse, None)]
        if self.fine > 1:
            out.append(TokenColumn(name, "fine", self.fine, None))
        return out

    def encode(self, s: pl.Series, out: np.ndarray) -> None:
        out[:, 0] = 2.0 * ranks(s) - 1.0

    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        scaled = ranks(s) * self.coarse
        coarse = np.minimum(np.floor(scaled), self.coarse - 1)
        fine = np.minimum(np.floor((scaled - coarse) * self.fine), self.fine - 1)
        codes = [coarse] if self.fine == 1 else [coarse, fine]
        return np.stack(codes, axis=1).astype(np.int64)

    def decode(self, block: np.ndarray) -> np.ndarray:
        """Ranks from the hidden column's float output."""
        return (np.clip(block[:, 0], -1.0, 1.0) + 1.0) / 2.0

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Ranks from the token codes, drawn uniformly inside the (sub-)bin."""
        coarse = np.clip(codes[:, 0], 0, self.coarse - 1)
        fine = np.clip(codes[:, 1], 0, self.fine - 1) if self.fine > 1 else np.zeros_like(coarse)
        return (coarse + (fine + rng.random(len(coarse))) / self.fine) / self.coarse

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "spearman": self.spearman,
            "gaps": list(self.gaps),
            "coarse": self.coarse,
            "fine": self.fine,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyOrder:
        gaps = tuple(float(g) for g in d["gaps"])
        return cls(str(d["column"]), float(d["spearman"]), gaps, int(d["coarse"]), int(d["fine"]))

    def spaced_keys(self, name: str, start: int, n: int, dtype: pl.DataType) -> pl.Series | None:
        """``n`` ascending integer keys from ``start``, ``gaps`` apart segment by segment; None
        when there are no gaps or the keys would pass the dtype's maximum (a dense run is then used)."""
        if not self.gaps or n == 0:
            return None
        segment = np.minimum(np.arange(n - 1) * len(self.gaps) // max(n - 1, 1), len(self.gaps) - 1)
        offsets = np.floor(np.concatenate([[0.0], np.cumsum(np.asarray(self.gaps)[segment])]))
        kind = numpy_kind(dtype)
        if int(start) + int(offsets[-1]) > int(np.iinfo(kind).max):
            return None
        wide = np.uint64 if kind.kind == "u" else np.int64
        return pl.Series(name, offsets.astype(wide) + wide(start)).cast(dtype)


def ranks(s: pl.Series) -> np.ndarray:
    """Each key's position among the keys of ``s``, scaled to [0, 1] (0.5 for a single key)."""
    n = len(s)
    if n <= 1:
        return np.full(n, 0.5)
    return (s.rank(method="ordinal").to_numpy().astype(np.float64) - 1.0) / (n - 1)


def hand_out(fresh: pl.Series, generated: np.ndarray) -> pl.Series:
    """``fresh`` keys (ascending) given to the rows in the order of their ``generated`` ranks."""
    position = np.empty(len(generated), dtype=np.int64)
    position[np.argsort(generated, kind="stable")] = np.arange(len(generated))
    return fresh.gather(position)


def key_gaps(s: pl.Series) -> tuple[float, ...]:
    """Average gap between consecutive sorted integer keys in each of ``SPACING_SEGMENTS``
    equal-count segments, cut to two significant digits, at least 1 (empty for non-integer
    keys or too few keys)."""
    values = s.drop_nulls()
    if not s.dtype.is_integer() or len(values) <= SPACING_SEGMENTS:
        return ()
    gaps = np.diff(np.sort(values.to_numpy().astype(np.float64)))
    return tuple(max(1.0, _cut(float(chunk.mean()))) for chunk in np.array_split(gaps, SPACING_SEGMENTS))


def _cut(x: float) -> float:
    """``x`` > 0 cut down to ``_GAP_DIGITS`` significant digits."""
    scale = 10.0 ** (_GAP_DIGITS - 1 - math.floor(math.log10(x)))
    return math.floor(x * scale) / scale


def _orderable(s: pl.Series) -> pl.Series | None:
    """``s`` as something ranks can be taken of, or None for columns without a natural order."""
    dtype = s.dtype
    if dtype.is_numeric() or dtype.is_temporal():
        return s.to_physical().cast(pl.Float64)
    return None


def strongest_relation(
    frame: pl.DataFrame, key: str, candidates: list[str], *, rng: np.random.Generator
) -> tuple[str, float] | None:
    """The candidate column with the largest |Spearman| against ``key`` that clears the threshold.

    Candidates are compared when they have an order (numbers and dates; strings have none);
    ``key`` is ranked in its sort order. Measured on a seeded sample of at most
    ``RELATION_SAMPLE_ROWS`` rows, on the rows where both values are present.
    """
    if frame.height > RELATION_SAMPLE_ROWS:
        frame = frame.select([key, *candidates])[np.sort(rng.choice(frame.height, RELATION_SAMPLE_ROWS, replace=False))]
    key_rank = frame.get_column(key).rank(method="average").cast(pl.Float64)
    best: tuple[str, float] | None = None
    for name in candidates:
        other = _orderable(frame.get_column(name))
        if other is None:
            continue
        pair = pl.DataFrame({"k": key_rank, "o": other}).drop_nulls()
        if pair.dtypes[1].is_float():
            pair = pair.filter(pl.col("o").is_finite())
        if pair.height < 3 or pair.get_column("o").n_unique() < 2:
            continue
        rho = pair.select(pl.corr(pl.col("k"), pl.col("o").rank(method="average"), method="pearson")).item()
        if rho is None or not math.isfinite(rho) or abs(rho) < relation_threshold(pair.height):
            continue
        if best is None or abs(rho) > abs(best[1]):
            best = (name, round(float(rho), 3))
    return best


def find_key_order(
    frame: pl.DataFrame, key: str, candidates: list[str], *, n_fine_bins: int, rng: np.random.Generator
) -> KeyOrder | None:
    """The ``KeyOrder`` of ``key`` when it relates to a candidate column; None otherwise.

    Keys with nulls or repeated values stay plain: ranks of them would not hand out one fresh
    key per row in a meaningful order.
    """
    s = frame.get_column(key)
    if s.null_count() or s.n_unique() != len(s) or not candidates:
        return None
    found = strongest_relation(frame, key, candidates, rng=rng)
    if found is None:
        return None
    return KeyOrder(found[0], found[1], key_gaps(s), coarse=RANK_COARSE_BINS, fine=max(1, n_fine_bins))


__all__ = ["KeyOrder", "RELATION_MIN", "find_key_order", "hand_out", "key_gaps", "ranks", "relation_threshold"]
