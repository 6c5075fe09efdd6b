"""Categorical, discrete and boolean columns: a code per level.

Levels are coded 0..n-1 by falling row count (ties by value), after the rare-level merge of
``engine.transform.protect``. A null is a level of its own (so the one-hot block stays a true
one-hot and missingness is modelled with the other levels).

- Float encoding: one ``category`` one-hot block when there are at most ``max_onehot`` levels,
  else base-k ``digit`` blocks (``engine.transform.digits``).
- Token encoding: one ``category`` sub-column holding the code.

Two ways to match values to levels:

- *label* (strings, categoricals, enums, booleans): exact match. A value not seen at fit goes
  to the ``OTHER_LABEL`` bucket when the column has one (for an enum with merged levels: the
  level they were merged into), and is an error otherwise.
- *ordinal* (numbers and temporal values, e.g. a discrete integer column): the nearest level,
  which is also how rare levels are merged; unseen values go to their nearest level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.schema import SemanticType
from engine.transform import digits
from engine.transform.columns.base import ColumnEncoder, FitContext
from engine.transform.dtypes import is_label, series_from_json, series_to_json, to_float
from engine.transform.params import TransformerParams
from engine.transform.protect import OTHER_LABEL, rare_levels
from engine.transform.spans import Span, TokenColumn
from engine.transform.statistics import CategoryStatistics

_COUNT = "__doppel_count__"
MOST_FREQUENT = "most frequent level"


def _label_view(s: pl.Series) -> pl.Series:
    """Categoricals and enums are matched through their string labels."""
    return s.cast(pl.String) if isinstance(s.dtype, (pl.Categorical, pl.Enum)) else s


class CategoricalEncoder(ColumnEncoder):
    """Level codes, one-hot or base-k digits in the float encoding, one token."""

    tag = "categorical"

    def __init__(
        self,
        name: str,
        dtype: pl.DataType,
        kind: SemanticType,
        *,
        levels: pl.Series,
        onehot: bool,
        base: int,
        merge: dict[str, Any] | None,
    ) -> None:
        super().__init__(name, dtype, kind)
        self.levels = levels  # in code order, in the column's dtype; a null entry is the null level
        self.onehot = onehot
        self.base = base
        self.merge = merge
        self.ordinal = not is_label(dtype)
        nulls = levels.is_null().to_numpy()
        self.null_code: int | None = int(np.flatnonzero(nulls)[0]) if nulls.any() else None
        present = np.flatnonzero(~nulls)
        self._codes = present
        if self.ordinal:
            values, _ = to_float(levels.gather(present))
            order = np.argsort(values, kind="stable")
            self._sorted_values, self._sorted_codes = values[order], present[order]
            self.other_code = None
        else:
            labels = _label_view(levels.gather(present))
            self._labels = labels
            is_other = (labels == OTHER_LABEL).to_numpy() if isinstance(labels.dtype, pl.String) else np.zeros(0, bool)
            # Where rare and unseen labels go: the bucket, or for enums (which cannot hold a new
            # label) the most frequent level they were merged into; None: they are an error.
            if is_other.any():
                self.other_code = int(present[np.flatnonzero(is_other)[0]])
            elif merge is not None and merge["merged_into"] == MOST_FREQUENT:
                self.other_code = int(present[0])
            else:
                self.other_code = None
        self._digit_sizes = [] if onehot else digits.digit_sizes(len(levels), base)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    # -- fitting --------------------------------------------------------------------------
    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext, *, merge_rare: bool) -> CategoryStatistics:
        """The exact statistics of ``s``: levels by falling row count after the rare-level merge."""
        k = ctx.params.rare_category_k if merge_rare else 1
        counts = s.value_counts(name=_COUNT)
        values, n = counts.get_column(s.name), counts.get_column(_COUNT).to_numpy().astype(np.int64)
        null_rows = int(n[values.is_null().to_numpy()].sum())
        present = values.is_not_null().to_numpy()
        values, n = values.filter(pl.Series(present)), n[present]
        rare = rare_levels(n, k)
        record: dict[str, Any] | None = None
        if rare.any():
            values, n, merged = CategoricalEncoder._merge(values, n, rare)
            record = {"rare_category_k": k, **merged}
        table = pl.DataFrame({"value": values, "n": n})
        if null_rows:
            table = pl.concat([table, pl.DataFrame({"value": pl.Series([None], dtype=s.dtype), "n": [null_rows]})])
        table = table.sort(["n", "value"], descending=[True, False], nulls_last=True, maintain_order=True)
        levels = table.get_column("value").alias(s.name)
        counts = table.get_column("n").to_numpy().astype(np.float64)
        return CategoryStatistics(s.name, s.dtype, kind, levels, counts, record)

    @classmethod
    def from_statistics(cls, stats: CategoryStatistics, params: TransformerParams) -> CategoricalEncoder:
        """One-hot up to ``params.max_onehot`` levels, base-``params.code_base`` digits above."""
        onehot = len(stats.levels) <= params.max_onehot
        return cls(
            stats.name, stats.dtype, stats.kind, levels=stats.levels, onehot=onehot, base=params.code_base, merge=stats.merge
        )

    @staticmethod
    def _merge(values: pl.Series, n: np.ndarray, rare: np.ndarray) -> tuple[pl.Series, np.ndarray, dict[str, Any]]:
        """Drop the rare levels, giving their rows to the bucket, the nearest or the top level.

        Returns the kept levels, their row counts and what was merged (for the metadata).
        """
        dtype = values.dtype
        if isinstance(dtype, (pl.String, pl.Categorical)):
            moved, into = rare, OTHER_LABEL
            kept_values, kept_n = values.filter(pl.Series(~moved)), n[~moved]
            hit = (_label_view(kept_values) == OTHER_LABEL).to_numpy()
            if hit.any():  # the data already uses the bucket's label
                kept_n = kept_n.copy()
                kept_n[hit] += int(n[moved].sum())
            else:
                bucket = pl.Series([OTHER_LABEL], dtype=pl.String).cast(dtype)
                kept_values, kept_n = kept_values.append(bucket), np.append(kept_n, int(n[moved].sum()))
        else:
            # Numbers, dates, enums, booleans cannot hold a new label: a level must survive, so
            # when none is frequent the most frequent one stays.
            moved = rare if (~rare).any() else np.arange(len(n)) != np.argmax(n)
            kept_values, kept_n = values.filter(pl.Series(~moved)), n[~moved].copy()
            if is_label(dtype):
                kept_n[np.argmax(kept_n)] += int(n[moved].sum())
                into = MOST_FREQUENT
            else:
                into = "nearest level"
        record = {"merged_levels": int(moved.sum()), "merged_rows": int(n[moved].sum()), "merged_into": into}
        return kept_values, kept_n, record

    # -- codes ----------------------------------------------------------------------------
    def codes(self, s: pl.Series) -> np.ndarray:
        """Level code of every value (nulls -> the null level; unseen -> bucket or nearest)."""
        missing = s.is_null().to_numpy()
        if self.ordinal:
            x, nan = to_float(s)
            missing = missing | nan
            codes = self._nearest(np.where(missing, 0.0, x))
        else:
            view = _label_view(s)
            codes = view.replace_strict(
                self._labels, pl.Series(self._codes, dtype=pl.Int64), default=-1, return_dtype=pl.Int64
            ).to_numpy()
            unseen = (codes < 0) & ~missing
            if unseen.any():
                if self.other_code is None:
                    examples = view.filter(pl.Series(unseen)).unique().head(5).to_list()
                    raise InputError(
                        f"column {self.name!r} has values never seen when the transformer was fitted, e.g. "
                        f"{examples}; it has no {OTHER_LABEL!r} bucket to put them in (no level was rare at fit)"
                    )
                codes = np.where(unseen, self.other_code, codes)
        if missing.any():
            if self.null_code is None:
                raise InputError(
                    f"column {self.name!r} has {int(missing.sum())} missing values, but had none when the "
                    "transformer was fitted; refit on data that includes missing values"
                )
            codes = np.where(missing, self.null_code, codes)
        return codes.astype(np.int64)

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        values = self._sorted_values
        pos = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
        left = np.clip(pos - 1, 0, len(values) - 1)
        pick = np.where(np.abs(x - values[left]) <= np.abs(x - values[pos]), left, pos)
        return self._sorted_codes[pick]

    def from_codes(self, codes: np.ndarray) -> pl.Series:
        return self.levels.gather(np.clip(codes, 0, self.n_levels - 1))

    # -- layout ---------------------------------------------------------------------------
    @property
    def spans(self) -> list[Span]:
        if self.onehot:
            return [Span(self.name, "category", self.n_levels, "softmax")]
        return [Span(self.name, "digit", size, "softmax") for size in self._digit_sizes]

    @property
    def tokens(self) -> list[TokenColumn]:
        return [TokenColumn(self.name, "category", self.n_levels, self.null_code)]

    # -- encodings ------------------------------------------------------------------------
    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        codes = self.codes(s)
        rows = np.arange(len(codes))
        if self.onehot:
            out[rows, codes] = 1.0
            return
        start = 0
        for digit, size in zip(digits.split(codes, len(self._digit_sizes), self.base), self._digit_sizes):
            out[rows, start + digit] = 1.0
            start += size

    def decode(self, block: np.ndarray) -> pl.Series:
        if self.onehot:
            return self.from_codes(np.argmax(block, axis=1))
        bounds = np.cumsum([0] + self._digit_sizes)
        blocks = [block[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return self.from_codes(digits.join(blocks, self.n_levels, self.base))

    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        return self.codes(s)[:, None]

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        return self.from_codes(codes[:, 0])

    # -- metadata and state ---------------------------------------------------------------
    def protection(self) -> dict[str, Any] | None:
        return None if self.merge is None else {"rare_merge": self.merge}

    def state(self) -> dict[str, Any]:
        return {"levels": series_to_json(self.levels), "onehot": self.onehot, "base": self.base, "merge": self.merge}

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> CategoricalEncoder:
        levels = series_from_json(state["levels"], dtype, name)
        onehot, base = bool(state["onehot"]), int(state["base"])
        return cls(name, dtype, kind, levels=levels, onehot=onehot, base=base, merge=state["merge"])
