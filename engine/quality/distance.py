"""One mixed-type geometry for every privacy distance, and exact nearest neighbours in blocks.

The privacy metrics (distance to closest record, nearest-neighbour distance ratio, the
membership-inference attacks) all ask "how far is this row from that one". They must ask it
in the same space, so :class:`DistanceEncoder` turns a table into float32 vectors once, with
rules fitted on the *training* table only (the benchmark protocol's DCR definition):

- numbers, and dates/timestamps/durations as their epoch value, are scaled by their training
  P1-P99 range and clipped to [0, 1], so one column contributes at most 1 to a distance and an
  outlier cannot dominate;
- categories (strings, booleans) are one-hot vectors scaled by ``category_scale`` (0.7), so two
  different categories are sqrt(2 * 0.49) ~ 0.99 apart, about one full numeric range; the
  ``top_k`` most frequent training levels get their own dimension and every other level
  (rare, or unseen in training) shares an "other" dimension;
- a null is a value of its own: categorical nulls get a dimension, and a numeric column that
  has nulls gets an indicator dimension (1 when null) while the null's value sits at the
  training median.

:func:`nearest_neighbors` then finds the k nearest reference rows of each query row by
Euclidean distance, exactly: squared distances come from blocked matrix products
(||r||^2 - 2 q.r in float32, a block of query rows against a block of reference rows at a
time), so no all-pairs matrix is ever held, and the distances of the winners are recomputed
in float64 so that an exact copy is at distance 0.0, not at float32 rounding noise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.quality.columns import as_polars

_NUMERIC = "numeric"
_TEMPORAL = "temporal"
_CATEGORICAL = "categorical"


def column_kind(dtype: pl.DataType) -> str | None:
    """How a polars dtype enters the distance space: numeric, temporal, categorical, or None (left out)."""
    if dtype == pl.Boolean or dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return _CATEGORICAL
    if dtype.is_numeric():
        return _NUMERIC
    if dtype.is_temporal():
        return _TEMPORAL
    return None


def _temporal_as_number(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Epoch value of a temporal column in one fixed unit, so that frames in other units agree."""
    if isinstance(dtype, pl.Datetime):
        return expr.cast(pl.Datetime("us", dtype.time_zone)).to_physical().cast(pl.Float64)
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("us")).to_physical().cast(pl.Float64)
    if isinstance(dtype, pl.Duration):
        return expr.cast(pl.Duration("us")).to_physical().cast(pl.Float64)
    return expr.to_physical().cast(pl.Float64)  # Time: nanoseconds since midnight


class DistanceEncoder:
    """Encode a table as float32 vectors for Euclidean distances (rules in the module docstring).

    Follows the scikit-learn estimator contract: parameters are stored untouched by
    ``__init__`` and validated by :meth:`fit`, which returns ``self``; what is learned from
    the training table ends in ``_``.

    Parameters
    ----------
    top_k:
        Categorical levels kept per column (most frequent in training; ties by value). The
        rest share one "other" dimension.
    category_scale:
        Value of a one-hot entry (0.7 by the benchmark protocol).
    null_columns:
        Columns that get a null dimension. ``None`` means the columns with a null in the
        table passed to ``fit``; pass the columns with nulls in any table you will encode
        so that a null in a synthetic table is not silently read as a value.
    ignore_columns:
        Columns left out of the distance.

    Attributes
    ----------
    columns_ : list of the encoded column names, in order.
    kinds_ : dict column -> "numeric" | "temporal" | "categorical".
    dtypes_ : dict column -> the training polars dtype.
    lows_, spans_, medians_ : dict column -> float, numeric scaling (P1, P99 - P1, scaled median).
    levels_ : dict column -> list of the kept levels (as strings).
    null_columns_ : set of columns with a null dimension.
    dropped_ : dict column -> why it was left out (nested or binary dtype, or ignored).
    numeric_columns_ : numeric and temporal columns; their values are the first dimensions.
    indicator_columns_ : numeric columns with a null indicator (the dimensions that follow).
    category_offsets_ : dict categorical column -> first dimension of its one-hot block
        (kept levels, then "other", then null when the column has one).
    n_features_out_ : width of the encoded vectors.
    """

    def __init__(
        self,
        *,
        top_k: int = 20,
        category_scale: float = 0.7,
        null_columns: Sequence[str] | None = None,
        ignore_columns: Sequence[str] = (),
    ) -> None:
        self.top_k = top_k
        self.category_scale = category_scale
        self.null_columns = null_columns
        self.ignore_columns = ignore_columns

    # -- scikit-learn contract -------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "top_k": self.top_k,
            "category_scale": self.category_scale,
            "null_columns": self.null_columns,
            "ignore_columns": self.ignore_columns,
        }

    def set_params(self, **params: Any) -> DistanceEncoder:
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(f"DistanceEncoder has no parameter {key!r}; parameters are {sorted(valid)}")
            setattr(self, key, value)
        return self

    def _validate_params(self) -> None:
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError(f"top_k must be a positive integer (levels kept per categorical column), got {self.top_k!r}")
        scale = self.category_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 10:
            raise ConfigError(f"category_scale must be a number in (0, 10] (value of a one-hot entry), got {scale!r}")
        for name in ("null_columns", "ignore_columns"):
            value = getattr(self, name)
            if value is None and name == "null_columns":
                continue
            if isinstance(value, str) or not all(isinstance(c, str) for c in value):
                raise ConfigError(f"{name} must be a list of column names, got {value!r}")

    def fit(self, X: pl.DataFrame, y: Any = None) -> DistanceEncoder:
        """Learn the scaling of every column from the training table ``X``."""
        self._validate_params()
        X = as_polars(X, "X")
        if X.height == 0:
            raise InputError("cannot fit the distance encoding on a table with no rows")
        ignored = set(self.ignore_columns)
        unknown = sorted(ignored - set(X.columns))
        if unknown:
            raise InputError(f"ignore_columns names column(s) {unknown} that the table does not have")
        if self.null_columns is None:
            counts = X.null_count().row(0, named=True)
            with_nulls = {c for c, n in counts.items() if n > 0}
        else:
            with_nulls = set(self.null_columns)

        columns, kinds, dtypes, dropped = [], {}, {}, {}
        for name, dtype in X.schema.items():
            if name in ignored:
                dropped[name] = "ignored by configuration"
                continue
            kind = column_kind(dtype)
            if kind is None:
                dropped[name] = f"dtype {dtype} has no distance (nested, binary or all-null)"
                continue
            columns.append(name)
            kinds[name] = kind
            dtypes[name] = dtype

        numeric = [c for c in columns if kinds[c] != _CATEGORICAL]
        lows, spans, medians = {}, {}, {}
        if numeric:
            values = X.select([_raw_number(c, dtypes[c], dtypes[c]) for c in numeric])
            stats = values.select(
                [pl.col(c).quantile(q, "linear").alias(f"{c}\0{q}") for c in numeric for q in (0.01, 0.99)]
                + [pl.col(c).min().alias(f"{c}\0min") for c in numeric]
                + [pl.col(c).max().alias(f"{c}\0max") for c in numeric]
                + [pl.col(c).median().alias(f"{c}\0median") for c in numeric]
            ).row(0, named=True)
            for c in numeric:
                lo, hi = stats[f"{c}\x000.01"], stats[f"{c}\x000.99"]
                if lo is None:  # every training value is null
                    lo, hi = 0.0, 1.0
                if not hi > lo:
                    lo, hi = stats[f"{c}\0min"], stats[f"{c}\0max"]
                span = hi - lo if hi > lo else 1.0
                median = stats[f"{c}\0median"]
                lows[c], spans[c] = float(lo), float(span)
                medians[c] = 0.0 if median is None else float(np.clip((median - lo) / span, 0.0, 1.0))

        levels = {}
        for c in (c for c in columns if kinds[c] == _CATEGORICAL):
            counts = (
                X.select(pl.col(c).cast(pl.String).alias("v"))
                .drop_nulls()
                .group_by("v")
                .len()
                .sort(["len", "v"], descending=[True, False])
                .head(self.top_k)
            )
            levels[c] = counts["v"].to_list()

        self.columns_ = columns
        self.kinds_ = kinds
        self.dtypes_ = dtypes
        self.lows_, self.spans_, self.medians_ = lows, spans, medians
        self.levels_ = levels
        self.null_columns_ = {c for c in columns if c in with_nulls}
        self.dropped_ = dropped
        self._layout()
        return self

    def _layout(self) -> None:
        # numeric value dims first (one per numeric column), then numeric null indicators,
        # then one block per categorical column: kept levels, "other", and null if any.
        numeric = [c for c in self.columns_ if self.kinds_[c] != _CATEGORICAL]
        self.numeric_columns_ = numeric
        self.indicator_columns_ = [c for c in numeric if c in self.null_columns_]
        offset = len(numeric) + len(self.indicator_columns_)
        self.category_offsets_: dict[str, int] = {}
        for c in (c for c in self.columns_ if self.kinds_[c] == _CATEGORICAL):
            self.category_offsets_[c] = offset
            offset += len(self.levels_[c]) + 1 + (1 if c in self.null_columns_ else 0)
        self.n_features_out_ = offset

    def transform(self, X: pl.DataFrame) -> np.ndarray:
        """Encode ``X`` (same columns as the training table) as a float32 array (rows x ``n_features_out_``)."""
        if not hasattr(self, "columns_"):
            raise InputError("DistanceEncoder is not fitted yet; call fit(train) first")
        X = as_polars(X, "X")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise InputError(f"table lacks column(s) {missing} that the distance encoding was fitted on")
        n = X.height
        out = np.zeros((n, self.n_features_out_), dtype=np.float32)
        if n == 0:
            return out

        if self.numeric_columns_:
            exprs = []
            for c in self.numeric_columns_:
                raw = _raw_number(c, self.dtypes_[c], X.schema[c])
                scaled = ((raw - self.lows_[c]) / self.spans_[c]).clip(0.0, 1.0)
                exprs.append(scaled.fill_null(self.medians_[c]).alias(c))
            exprs += [pl.col(c).is_null().alias(f"{c}\0null") for c in self.indicator_columns_]
            out[:, : len(exprs)] = _select_cast(X, exprs).to_numpy().astype(np.float32, copy=False)

        rows = np.arange(n)
        scale = np.float32(self.category_scale)
        for c, offset in self.category_offsets_.items():
            kept = self.levels_[c]
            other = len(kept)
            values = _select_cast(X, [pl.col(c).cast(pl.String)]).to_series()
            codes = values.replace_strict(kept, list(range(other)), default=other, return_dtype=pl.Int32)
            if c in self.null_columns_:
                codes = pl.select(pl.when(values.is_null()).then(other + 1).otherwise(codes)).to_series()
            out[rows, offset + codes.to_numpy()] = scale
        return out

    def fit_transform(self, X: pl.DataFrame, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)


def _raw_number(name: str, trained: pl.DataType, frame_dtype: pl.DataType) -> pl.Expr:
    """The column as Float64 (temporal: epoch microseconds), NaN as null; kind checked."""
    expr = pl.col(name)
    if trained.is_temporal():
        if frame_dtype in (pl.String, pl.Null):
            expr, frame_dtype = expr.cast(trained), trained
        elif not frame_dtype.is_temporal():
            raise InputError(f"column {name!r} is {frame_dtype} here but {trained} in training; expected a date or time")
        expr = _temporal_as_number(expr, frame_dtype)
    else:
        if frame_dtype.is_temporal():
            raise InputError(f"column {name!r} is {frame_dtype} here but {trained} in training; expected a number")
        expr = expr.cast(pl.Float64)
    return expr.fill_nan(None).alias(name)


def _select_cast(X: pl.DataFrame, exprs: list[pl.Expr]) -> pl.DataFrame:
    try:
        return X.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"cannot encode the table for distances: a column does not cast to its training type ({exc})") from exc


# -- exact nearest neighbours ------------------------------------------------------------------


def sq_distance_blocks(
    queries: np.ndarray,
    reference: np.ndarray,
    *,
    block_rows: int = 2048,
    block_cols: int = 8192,
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Yield ``(rows, cols, partial)`` with ``partial = ||r||^2 - 2 q.r`` for one block of pairs.

    Add ``||q||^2`` of the block's query rows to get squared Euclidean distances; the term is
    left out because ranking neighbours does not need it. Both inputs are centred on the
    reference mean first (distances do not change, float32 cancellation shrinks). The yielded
    array is a reused buffer: consume it before the next iteration.
    """
    if queries.ndim != 2 or reference.ndim != 2 or queries.shape[1] != reference.shape[1]:
        raise InputError(
            f"queries and reference must be 2-D with the same width, got {queries.shape} and {reference.shape}"
        )
    center = reference.mean(axis=0, dtype=np.float64).astype(np.float32) if len(reference) else 0.0
    q = np.ascontiguousarray(queries, dtype=np.float32) - center
    r = np.ascontiguousarray(reference, dtype=np.float32) - center
    # [q, 1] . [-2r, ||r||^2] = ||r||^2 - 2 q.r : one product, no extra pass over the block.
    qa = np.empty((len(q), q.shape[1] + 1), dtype=np.float32)
    qa[:, :-1] = q
    qa[:, -1] = 1.0
    ra = np.empty((len(r), r.shape[1] + 1), dtype=np.float32)
    ra[:, :-1] = -2.0 * r
    ra[:, -1] = np.einsum("ij,ij->i", r, r)
    buffer = np.empty((min(block_rows, max(len(q), 1)), min(block_cols, max(len(r), 1))), dtype=np.float32)
    for r0 in range(0, len(qa), block_rows):
        rows = slice(r0, min(r0 + block_rows, len(qa)))
        for c0 in range(0, len(ra), block_cols):
            cols = slice(c0, min(c0 + block_cols, len(ra)))
            out = buffer[: rows.stop - rows.start, : cols.stop - cols.start]
            np.matmul(qa[rows], ra[cols].T, out=out)
            yield rows, cols, out


def nearest_neighbors(
    queries: np.ndarray,
    reference: np.ndarray,
    *,
    k: int = 1,
    block_rows: int = 2048,
    block_cols: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest reference rows of every query row, by Euclidean distance.

    Returns ``(distances, indices)``, both of shape (queries, k), sorted nearest first;
    distances are float64, recomputed from the vectors, so identical rows are at exactly 0.
    Memory is one block_rows x block_cols float32 buffer plus the inputs.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 16:
        raise ConfigError(f"k must be an integer between 1 and 16, got {k!r}")
    if len(reference) < k:
        raise InputError(f"need at least k={k} reference rows for nearest neighbours, got {len(reference)}")
    for name, value in (("block_rows", block_rows), ("block_cols", block_cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    n = len(queries)
    best_val = np.full((n, k), np.inf, dtype=np.float32)
    best_idx = np.zeros((n, k), dtype=np.int64)
    for rows, cols, partial in sq_distance_blocks(queries, reference, block_rows=block_rows, block_cols=block_cols):
        m = rows.stop - rows.start
        kk = min(k, cols.stop - cols.start)
        cand_val = np.empty((m, kk), dtype=np.float32)
        cand_idx = np.empty((m, kk), dtype=np.int64)
        line = np.arange(m)
        for j in range(kk):
            arg = partial.argmin(axis=1)
            cand_idx[:, j] = arg + cols.start
            cand_val[:, j] = partial[line, arg]
            if j + 1 < kk:
                partial[line, arg] = np.inf
        merged_val = np.concatenate([best_val[rows], cand_val], axis=1)
        merged_idx = np.concatenate([best_idx[rows], cand_idx], axis=1)
        order = np.argsort(merged_val, axis=1, kind="stable")[:, :k]
        best_val[rows] = np.take_along_axis(merged_val, order, axis=1)
        best_idx[rows] = np.take_along_axis(merged_idx, order, axis=1)

    distances = np.empty((n, k), dtype=np.float64)
    for r0 in range(0, n, 16384):  # bounded float64 copies
        rows = slice(r0, min(r0 + 16384, n))
        q64 = queries[rows].astype(np.float64)
        for j in range(k):
            diff = q64 - reference[best_idx[rows, j]].astype(np.float64)
            distances[rows, j] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    order = np.argsort(distances, axis=1, kind="stable")
    return np.take_along_axis(distances, order, axis=1), np.take_along_axis(best_idx, order, axis=1)
