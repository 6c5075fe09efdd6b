"""Seeded row sampling over a stream of batches, without holding more than the sample.

Every row of the stream, in order, gets a uniform random key from
``numpy.random.default_rng(seed)``; keys are drawn batch after batch, so row i gets the same key
however the stream is cut into batches. Then:

- ``fraction=p`` keeps each row whose key is below ``p`` (each row independently, about
  ``p`` of them);
- ``n=k`` keeps the ``k`` rows with the smallest keys (exactly ``k``, or all rows when there
  are fewer), a uniform sample without replacement.

The same seed over the same rows gives the same sample; the kept rows come out in their
original order. Only the kept rows (plus one batch) are ever in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from engine.data.names import unique_name
from engine.errors import ConfigError

_KEY = "__doppel_sample_key"
_POSITION = "__doppel_sample_pos"


def check_sampling(sample: float | None, n: int | None) -> None:
    """ConfigError unless at most one of ``sample`` (0 < p <= 1) and ``n`` (>= 1) is given."""
    if sample is not None and n is not None:
        raise ConfigError("pass either sample= (a fraction) or n= (a row count), not both")
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not 0 < float(sample) <= 1:
            raise ConfigError(f"sample={sample!r} must be a fraction in (0, 1], e.g. sample=0.1 for about 10% of rows")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n={n!r} must be a positive whole number of rows")


class RowSampler:
    """Accumulates a seeded sample from batches given to :meth:`add`; :meth:`result` returns it."""

    def __init__(self, *, fraction: float | None = None, n: int | None = None, seed: int = 0) -> None:
        check_sampling(fraction, n)
        if fraction is None and n is None:
            raise ConfigError("RowSampler needs fraction= or n=")
        self._fraction = fraction
        self._n = n
        self._rng = np.random.default_rng(seed)
        self._position = 0
        self._parts: list[pl.DataFrame] = []
        self._kept: pl.DataFrame | None = None
        self._key = _KEY
        self._pos = _POSITION
        self.rows_seen = 0

    def add(self, batch: pl.DataFrame) -> None:
        """Offer one batch of rows (batches must share column names; types are unified)."""
        height = batch.height
        keys = self._rng.random(height)
        positions = np.arange(self._position, self._position + height, dtype=np.int64)
        self._position += height
        self.rows_seen += height
        if self._fraction is not None:
            mask = keys < self._fraction
            if mask.any():
                self._parts.append(batch.filter(pl.Series(mask)))
            return
        assert self._n is not None
        if self._kept is None:  # helper columns named apart from the user's columns
            self._key = unique_name(_KEY, batch.columns)
            self._pos = unique_name(_POSITION, [*batch.columns, self._key])
        candidate = batch.with_columns(pl.Series(self._key, keys), pl.Series(self._pos, positions))
        if self._kept is not None and self._kept.height >= self._n:
            threshold = self._kept.get_column(self._key).max()
            candidate = candidate.filter(pl.col(self._key) < threshold)
        merged = candidate if self._kept is None else pl.concat([self._kept, candidate], how="vertical_relaxed")
        if merged.height > self._n:
            merged = merged.sort(self._key).head(self._n)
        self._kept = merged

    def add_all(self, batches: Iterable[pl.DataFrame]) -> RowSampler:
        for batch in batches:
            self.add(batch)
        return self

    def result(self, empty: pl.DataFrame | None = None) -> pl.DataFrame:
        """The sampled rows in their original order (``empty`` when nothing was kept)."""
        if self._fraction is not None:
            if self._parts:
                return pl.concat(self._parts, how="vertical_relaxed")
        elif self._kept is not None:
            return self._kept.sort(self._pos).drop(self._key, self._pos)
        if empty is not None:
            return empty
        return pl.DataFrame()
