"""Column statistics in few passes: selects over the full data, selects over the sample.

The full pass takes what is cheap and must be exact (null counts, distinct counts, min, max,
mean, std); the sample pass takes what costs more (quantiles, skew, string shapes, date
granularity). Top categories are counted on the full data for low-cardinality columns and
on the sample otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}
TOP_CATEGORIES = 20
# Columns with at most this many distinct values get exact top-category counts on the full data.
TOP_EXACT_MAX_DISTINCT = 10_000
# A string "looks like a code" when it is one token of word characters and a few punctuation marks.
_CODE_PATTERN = r"^[\w\-.:/@+#]+$"
# Columns per multi-column expression and select in ``measure``.
_SELECT_COLUMNS = 500


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
    # Statistics that overflowed float64 (values near +-1.8e308: a mean, a spread or an
    # interpolated quantile past the largest float) and are left out rather than reported as inf.
    overflowed: list[str] = field(default_factory=list)

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
    """Measure every column: selects over ``data`` and over ``sample``, a few hundred columns each."""
    # The schema is read once: ``DataFrame.schema`` builds a new mapping of every column on each
    # call, so looking a dtype up through it inside the per-column loop made this quadratic in
    # the number of columns (10 rows x 10,000 columns took minutes).
    schema = dict(data.schema)
    names = list(schema)
    kinds = {name: kind_of(dtype) for name, dtype in schema.items()}

    # Vectorised over columns: the frames are seen under positional names ("0", "1", ...), and
    # each statistic is one multi-column expression per chunk of columns of a kind, so the
    # cost grows with the number of columns, not with the number of expressions polars plans.
    positional = [str(i) for i in range(len(names))]
    full_frame, sample_frame = data.clone(), sample.clone()
    full_frame.columns = positional
    sample_frame.columns = positional
    by_kind: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        by_kind.setdefault(kinds[name], []).append(str(i))
    temporal = by_kind.get("temporal", [])
    is_temporal = set(temporal)

    full: dict[str, Any] = {}
    part: dict[str, Any] = {}
    for chunk in _chunks(positional):
        full.update(_row(full_frame, [_each(chunk, lambda c: c.null_count(), "nulls"), _each(chunk, lambda c: c.n_unique(), "nu")]))
        part.update(_row(sample_frame, [_each(chunk, lambda c: c.count(), "count")]))
    numeric = [c for kind in ("integer", "float") for c in by_kind.get(kind, [])] + temporal
    for chunk in _chunks(numeric):
        in_temporal = [c for c in chunk if c in is_temporal]
        plain = [c for c in chunk if c not in is_temporal]
        views = [pl.col(plain).cast(pl.Float64)] if plain else []
        views += [pl.col(in_temporal).to_physical().cast(pl.Float64)] if in_temporal else []
        full.update(_row(full_frame, [
            e for v in views for e in (
                v.min().name.suffix("|min"), v.max().name.suffix("|max"),
                v.mean().name.suffix("|mean"), v.std().name.suffix("|std"),
            )
        ]))  # fmt: skip
        sample_exprs = [
            v.quantile(q, interpolation="linear").name.suffix(f"|{k}") for v in views for k, q in QUANTILES.items()
        ]
        if plain:
            sample_exprs.append(views[0].skew().name.suffix("|skew"))
        part.update(_row(sample_frame, sample_exprs))
    for chunk in _chunks(by_kind.get("float", [])):
        part.update(_row(sample_frame, [(pl.col(chunk) == pl.col(chunk).round()).all().name.suffix("|whole")]))
    for chunk in _chunks(temporal):
        part.update(_row(sample_frame, [e for c in chunk for e in _granularity_exprs(pl.col(c), schema[names[int(c)]], int(c))]))
    for chunk in _chunks(by_kind.get("string", [])):
        col = pl.col(chunk)
        part.update(_row(sample_frame, [
            col.str.len_chars().mean().name.suffix("|len"),
            col.str.count_matches(" ", literal=True).mean().name.suffix("|spaces"),
            col.str.contains(_CODE_PATTERN).mean().name.suffix("|code"),
        ]))  # fmt: skip

    facts: dict[str, ColumnFacts] = {}
    n_rows = data.height
    for i, name in enumerate(names):
        kind = kinds[name]
        nulls = int(full[f"{i}|nulls"])
        distinct = int(full[f"{i}|nu"]) - (1 if nulls else 0)
        dtype = schema[name]
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
            derived = {"mean": full[f"{i}|mean"], "std": full[f"{i}|std"], "skew": part.get(f"{i}|skew")}
            derived.update({k: part[f"{i}|{k}"] for k in QUANTILES})
            if f.minimum is not None and f.maximum is not None and math.isfinite(f.minimum) and math.isfinite(f.maximum):
                # Finite data, infinite statistic: an overflow, not a property of the data.
                f.overflowed = [k for k, v in derived.items() if v is not None and math.isinf(float(v))]
            clean = {k: (None if k in f.overflowed else _num(v)) for k, v in derived.items()}
            f.mean, f.std, f.skew = clean["mean"], clean["std"], clean["skew"]
            f.quantiles = {k: v for k in QUANTILES if (v := clean[k]) is not None}
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


def _chunks(columns: list[str]) -> list[list[str]]:
    return [columns[i : i + _SELECT_COLUMNS] for i in range(0, len(columns), _SELECT_COLUMNS)]


def _each(columns: list[str], stat: Any, key: str) -> pl.Expr:
    """``stat`` of every column of ``columns``, each named ``"<column>|<key>"``."""
    return stat(pl.col(columns)).name.suffix(f"|{key}")


def _row(frame: pl.DataFrame, exprs: list[pl.Expr]) -> dict[str, Any]:
    """The one-row result of ``exprs`` over ``frame``, as {name: value}."""
    return frame.select(exprs).row(0, named=True) if exprs else {}


def top_categories(
    data: pl.DataFrame, sample: pl.DataFrame, names: list[str], facts: dict[str, ColumnFacts]
) -> dict[str, tuple[list[tuple[str, int, float]], bool]]:
    """The most frequent values of the named columns: (value, count, share of non-null), from_sample.

    Counted on the full data when a column has few distinct values (cheap and exact), on the
    sample otherwise (near-unique columns: the values are examples, counts are the sample's).
    """
    # One eager count per column (polars runs each group-by in parallel). Not one
    # ``pl.collect_all`` of per-column queries: its cost grows with the square of the number of
    # queries (10,000 columns took minutes). The column is renamed so that a user column
    # called "count" or "value" cannot clash with the count's name.
    plan: list[tuple[str, bool]] = []
    results: list[pl.DataFrame] = []
    for name in names:
        exact = facts[name].n_distinct <= TOP_EXACT_MAX_DISTINCT or data.height == sample.height
        source = data if exact else sample
        results.append(
            source.get_column(name)
            .drop_nulls()
            .rename("value")
            .value_counts(name="count")
            .sort(["count", "value"], descending=[True, False], nulls_last=True)
            .head(TOP_CATEGORIES)
        )
        plan.append((name, not exact))
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
