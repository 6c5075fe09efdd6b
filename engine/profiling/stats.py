"""Column statistics in few passes: one select on the full data, one on the sample.

The full pass takes what is cheap and must be exact (null counts, distinct counts, min, max,
mean, std); the sample pass takes what costs more (quantiles, skew, string shapes, date
granularity). Top categories are counted on the full data for low-cardinality columns and
on the sample otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}
TOP_CATEGORIES = 20
# Columns with at most this many distinct values get exact top-category counts on the full data.
TOP_EXACT_MAX_DISTINCT = 10_000
# A string "looks like a code" when it is one token of word characters and a few punctuation marks.
_CODE_PATTERN = r"^[\w\-.:/@+#]+$"


@dataclass
class ColumnFacts:
    """Raw measurements of one column, before any decision is taken on them."""

    name: str
    dtype: str  # original dtype, as the caller handed it in
    kind: str  # "boolean", "integer", "float", "temporal", "string"
    n_rows: int
    null_count: int
    n_distinct: int
    is_unique: bool
    parsed_from: str | None = None
    note: str | None = None
    time_unit: str | None = None  # temporal: "d" (Date) or the Datetime unit
    minimum: float | None = None  # temporal: physical units
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    sample_nonnull: int = 0
    quantiles: dict[str, float] = field(default_factory=dict)
    skew: float | None = None
    whole: bool | None = None  # float columns: every value a whole number
    mean_len: float | None = None
    mean_spaces: float | None = None
    code_share: float | None = None
    granularity: str | None = None

    @property
    def nonnull(self) -> int:
        return self.n_rows - self.null_count

    @property
    def null_share(self) -> float:
        return self.null_count / self.n_rows if self.n_rows else 0.0


def kind_of(dtype: pl.DataType) -> str:
    """The profiler's coarse kind of a (normalised) polars dtype."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype.is_temporal():
        return "temporal"
    return "string"


def measure(
    data: pl.DataFrame,
    sample: pl.DataFrame,
    *,
    dtypes: dict[str, str],
    parsed_from: dict[str, str],
    notes: dict[str, str],
) -> dict[str, ColumnFacts]:
    """Measure every column: one select over ``data``, one over ``sample``."""
    names = data.columns
    kinds = {name: kind_of(dtype) for name, dtype in data.schema.items()}

    full_exprs: list[pl.Expr] = []
    sample_exprs: list[pl.Expr] = []
    for i, name in enumerate(names):
        col = pl.col(name)
        kind = kinds[name]
        full_exprs += [col.null_count().alias(f"{i}|nulls"), col.n_unique().alias(f"{i}|nu")]
        sample_exprs.append(col.count().alias(f"{i}|count"))
        if kind in ("integer", "float", "temporal"):
            num = col.to_physical().cast(pl.Float64) if kind == "temporal" else col.cast(pl.Float64)
            full_exprs += [
                num.min().alias(f"{i}|min"),
                num.max().alias(f"{i}|max"),
                num.mean().alias(f"{i}|mean"),
                num.std().alias(f"{i}|std"),
            ]
            sample_exprs += [num.quantile(q, interpolation="linear").alias(f"{i}|{k}") for k, q in QUANTILES.items()]
            if kind != "temporal":
                sample_exprs.append(num.skew().alias(f"{i}|skew"))
            if kind == "float":
                sample_exprs.append((col == col.round()).all().alias(f"{i}|whole"))
            if kind == "temporal":
                sample_exprs += _granularity_exprs(col, data.schema[name], i)
        elif kind == "string":
            sample_exprs += [
                col.str.len_chars().mean().alias(f"{i}|len"),
                col.str.count_matches(" ", literal=True).mean().alias(f"{i}|spaces"),
                col.str.contains(_CODE_PATTERN).mean().alias(f"{i}|code"),
            ]

    full = data.select(full_exprs).row(0, named=True)
    part = sample.select(sample_exprs).row(0, named=True)

    facts: dict[str, ColumnFacts] = {}
    n_rows = data.height
    for i, name in enumerate(names):
        kind = kinds[name]
        nulls = int(full[f"{i}|nulls"])
        distinct = int(full[f"{i}|nu"]) - (1 if nulls else 0)
        dtype = data.schema[name]
        f = ColumnFacts(
            name=name,
            dtype=dtypes[name],
            kind=kind,
            n_rows=n_rows,
            null_count=nulls,
            n_distinct=distinct,
            is_unique=n_rows > 0 and nulls == 0 and distinct == n_rows,
            parsed_from=parsed_from.get(name),
            note=notes.get(name),
            sample_nonnull=int(part[f"{i}|count"]),
        )
        if kind in ("integer", "float", "temporal"):
            f.minimum, f.maximum = _num(full[f"{i}|min"]), _num(full[f"{i}|max"])
            f.mean, f.std = _num(full[f"{i}|mean"]), _num(full[f"{i}|std"])
            f.quantiles = {k: v for k in QUANTILES if (v := _num(part[f"{i}|{k}"])) is not None}
            f.skew = _num(part.get(f"{i}|skew"))
            if kind == "float":
                f.whole = bool(part[f"{i}|whole"]) if part[f"{i}|whole"] is not None else None
            if kind == "temporal":
                f.time_unit = "d" if dtype == pl.Date else getattr(dtype, "time_unit", "us")
                f.granularity = _granularity(part, i, dtype) if f.sample_nonnull else None
        elif kind == "string":
            f.mean_len = _num(part[f"{i}|len"])
            f.mean_spaces = _num(part[f"{i}|spaces"])
            f.code_share = _num(part[f"{i}|code"])
        facts[name] = f
    return facts


def top_categories(
    data: pl.DataFrame, sample: pl.DataFrame, names: list[str], facts: dict[str, ColumnFacts]
) -> dict[str, tuple[list[tuple[str, int, float]], bool]]:
    """The most frequent values of the named columns: (value, count, share of non-null), from_sample.

    Counted on the full data when a column has few distinct values (cheap and exact), on the
    sample otherwise (near-unique columns: the values are examples, counts are the sample's).
    """
    queries: list[pl.LazyFrame] = []
    plan: list[tuple[str, bool]] = []
    for name in names:
        exact = facts[name].n_distinct <= TOP_EXACT_MAX_DISTINCT or data.height == sample.height
        source = data if exact else sample
        queries.append(
            source.lazy()
            .select(pl.col(name))
            .drop_nulls()
            .group_by(name)
            .len()
            .sort(["len", name], descending=[True, False], nulls_last=True)
            .head(TOP_CATEGORIES)
        )
        plan.append((name, not exact))
    results = pl.collect_all(queries) if queries else []
    out: dict[str, tuple[list[tuple[str, int, float]], bool]] = {}
    for (name, from_sample), frame in zip(plan, results, strict=True):
        denominator = facts[name].sample_nonnull if from_sample else facts[name].nonnull
        rows = []
        for value, count in frame.iter_rows():
            rows.append((_label(value), int(count), count / denominator if denominator else 0.0))
        out[name] = (rows, from_sample)
    return out


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value else None  # NaN -> None


def _granularity_exprs(col: pl.Expr, dtype: pl.DataType, i: int) -> list[pl.Expr]:
    exprs = [
        (col.dt.day() != 1).any().alias(f"{i}|g_day"),
        (col.dt.month() != 1).any().alias(f"{i}|g_month"),
    ]
    if isinstance(dtype, pl.Datetime):
        exprs += [
            (col.dt.nanosecond() != 0).any().alias(f"{i}|g_subsecond"),
            (col.dt.second() != 0).any().alias(f"{i}|g_second"),
            (col.dt.minute() != 0).any().alias(f"{i}|g_minute"),
            (col.dt.hour() != 0).any().alias(f"{i}|g_hour"),
        ]
    return exprs


def _granularity(part: dict[str, Any], i: int, dtype: pl.DataType) -> str | None:
    order = [("sub-second", "g_subsecond"), ("second", "g_second"), ("minute", "g_minute"), ("hour", "g_hour")]
    if isinstance(dtype, pl.Datetime):
        for label, key in order:
            if part.get(f"{i}|{key}"):
                return label
    if part.get(f"{i}|g_day"):
        return "day"
    if part.get(f"{i}|g_month"):
        return "month"
    return "year"
