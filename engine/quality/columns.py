"""Line the real, synthetic and holdout tables up column by column, in one canonical form.

The quality report must judge any pair of tables, including another tool's output, so it
cannot lean on a model's schema. Each column gets one *kind*, decided from the real table
(or forced through ``config['column_types']``):

- ``numeric``: integers and floats with many values; compared by the KS statistic.
- ``datetime``: dates and timestamps; compared as numbers (microseconds since the epoch).
- ``categorical``: strings, booleans, and numbers with at most ``categorical_max_int_levels``
  distinct whole values (codes, ratings, flags); compared by total-variation distance.
- ``skip``: columns whose distribution is not comparable between two tables: mostly-unique
  strings (identifiers, free text), unique integers that are densely packed or in a
  key-named column (keys: generators regenerate them), nested types.

All three tables are then cast to the real table's kinds (numbers to Float64, datetimes to
Datetime("us"), categories to String) and every categorical column gets one dictionary shared
by the three tables, so that integer codes mean the same value everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.profiling.names import is_strong_key_name, is_weak_key_name

_ROLES = ("real", "synthetic", "holdout")


@dataclass(frozen=True)
class ColumnSpec:
    """One compared column: its kind and the one-sentence reason for it."""

    name: str
    kind: str  # "numeric" | "datetime" | "categorical" | "skip"
    reason: str
    dtype: str  # the real table's polars dtype, as text

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "reason": self.reason, "dtype": self.dtype}


@dataclass
class Table:
    """One table in canonical form: float arrays for numbers, shared integer codes for categories."""

    role: str
    frame: pl.DataFrame  # the compared columns, canonical dtypes
    values: dict[str, np.ndarray] = field(default_factory=dict)  # numeric/datetime: float64, NaN = null
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # categorical: int32, null = len(categories)

    @property
    def n_rows(self) -> int:
        return self.frame.height


@dataclass
class Prepared:
    """The three tables aligned, with the column kinds and the shared category dictionaries."""

    specs: list[ColumnSpec]
    categories: dict[str, list[str]]
    real: Table
    synthetic: Table
    holdout: Table | None

    @property
    def compared(self) -> list[ColumnSpec]:
        return [s for s in self.specs if s.kind != "skip"]

    def tables(self) -> list[Table]:
        return [t for t in (self.real, self.synthetic, self.holdout) if t is not None]


def as_polars(data: Any, role: str) -> pl.DataFrame:
    """A polars DataFrame from a polars DataFrame or LazyFrame or a pandas DataFrame; else InputError naming ``role``."""
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":
        return pl.from_pandas(data)
    raise InputError(f"{role} must be a polars or pandas DataFrame, got {type(data).__name__}")


def to_polars(data: Any, role: str) -> pl.DataFrame:
    """``as_polars``, refusing a table without columns or rows (the role is named)."""
    frame = as_polars(data, role)
    if frame.width == 0:
        raise InputError(f"{role} has no columns")
    if frame.height == 0:
        hint = "; pass holdout=None to assess without one" if role == "holdout" else ""
        raise InputError(f"{role} has no rows{hint}")
    return frame


def infer_kinds(real: pl.DataFrame, *, overrides: Mapping[str, str], max_int_levels: int) -> list[ColumnSpec]:
    """Decide each column's kind from the real table (see the module docstring)."""
    unknown = sorted(set(overrides) - set(real.columns))
    if unknown:
        raise ConfigError(f"config['column_types'] names column(s) not in the real table: {unknown}")
    specs = []
    for name, dtype in real.schema.items():
        if name in overrides:
            specs.append(ColumnSpec(name, overrides[name], "set in config['column_types']", str(dtype)))
        else:
            kind, reason = _kind_of(real.get_column(name), max_int_levels)
            specs.append(ColumnSpec(name, kind, reason, str(dtype)))
    return specs


# Why keys are skipped: a generator makes fresh keys (``engine.transform.identifiers``), so
# their values say nothing about fidelity, and their pairs only how the fresh keys were ordered.
_REGENERATED = (
    "which generators regenerate as fresh identifiers (in the real keys' order where that "
    "followed another column); its values and pairs are not compared"
)


def _kind_of(s: pl.Series, max_int_levels: int) -> tuple[str, str]:
    dtype = s.dtype
    non_null = s.len() - s.null_count()
    if dtype == pl.Null or non_null == 0:
        return "categorical", "no values: compared on its null share only"
    if dtype == pl.Boolean:
        return "categorical", "boolean"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        distinct = s.drop_nulls().n_unique()
        if distinct > 100 and distinct > 0.5 * non_null:
            return "skip", f"{distinct:,} distinct strings in {non_null:,} values: an identifier or free text"
        return "categorical", f"text with {distinct:,} distinct values"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "datetime", "date or timestamp"
    if dtype.is_numeric():
        values = s.drop_nulls()
        if dtype.is_float():
            values = values.filter(values.is_finite())
        distinct = values.n_unique()
        integral = dtype.is_integer() or bool((values == values.round(0)).all())
        if integral and distinct <= max_int_levels:
            return "categorical", f"whole numbers with {distinct} distinct values (a code or a count)"
        if dtype.is_integer() and distinct == s.len() and distinct >= 100:
            span = float(values.max()) - float(values.min()) + 1  # type: ignore[arg-type]
            if span <= 2 * distinct:
                return "skip", f"unique, densely packed integers: a row key, {_REGENERATED}"
            if is_strong_key_name(s.name) or is_weak_key_name(s.name):
                return "skip", f"unique integers in a key-named column: a key, {_REGENERATED}"
        return "numeric", f"numbers with {distinct:,} distinct values"
    if dtype in (pl.Duration, pl.Time) or isinstance(dtype, pl.Duration):
        return "numeric", "duration or time of day, compared as a number"
    return "skip", f"{dtype} values are not compared"


def prepare(
    real: Any,
    synthetic: Any,
    holdout: Any | None,
    *,
    column_types: Mapping[str, str],
    max_int_levels: int,
) -> Prepared:
    """Validate the inputs, decide the kinds, cast the three tables and encode them."""
    frames = {"real": to_polars(real, "real"), "synthetic": to_polars(synthetic, "synthetic")}
    if holdout is not None:
        frames["holdout"] = to_polars(holdout, "holdout")
    columns = frames["real"].columns
    for role, frame in frames.items():
        if role == "real":
            continue
        missing = [c for c in columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks column(s) {missing}")
            if extra:
                parts.append(f"has column(s) the real table lacks {extra}")
            raise InputError(f"{role} {' and '.join(parts)}; every table must have the real table's columns")
        frames[role] = frame.select(columns)
    specs = infer_kinds(frames["real"], overrides=column_types, max_int_levels=max_int_levels)
    if not any(s.kind != "skip" for s in specs):
        raise InputError("no column can be compared: every column is an identifier, free text or unsupported")

    cast: dict[str, list[pl.Series]] = {role: [] for role in frames}
    categories: dict[str, list[str]] = {}
    for spec in specs:
        if spec.kind == "skip":
            continue
        series = {role: frame.get_column(spec.name) for role, frame in frames.items()}
        if spec.kind == "numeric":
            out = {role: _as_float(s, role) for role, s in series.items()}
        elif spec.kind == "datetime":
            out = {role: _as_datetime(s, role) for role, s in series.items()}
        else:
            out = _as_text(series)
            categories[spec.name] = _dictionary(out)
        for role, s in out.items():
            cast[role].append(s.alias(spec.name))

    tables = {}
    for role in frames:
        table = Table(role=role, frame=pl.DataFrame(cast[role]))
        for spec in specs:
            if spec.kind in ("numeric", "datetime"):
                s = table.frame.get_column(spec.name)
                if spec.kind == "datetime":
                    s = s.to_physical()
                arr = s.cast(pl.Float64).to_numpy()
                arr = np.where(np.isfinite(arr), arr, np.nan)  # +-inf would break bins: treated as null
                table.values[spec.name] = arr
            elif spec.kind == "categorical":
                cats = categories[spec.name]
                codes = table.frame.get_column(spec.name).cast(pl.Enum(cats)).to_physical()
                table.codes[spec.name] = codes.fill_null(len(cats)).cast(pl.Int32).to_numpy()
        tables[role] = table
    return Prepared(specs, categories, tables["real"], tables["synthetic"], tables.get("holdout"))


def _as_float(s: pl.Series, role: str) -> pl.Series:
    if s.dtype.is_numeric() or s.dtype == pl.Boolean or s.dtype == pl.Null:
        return s.cast(pl.Float64)
    if s.dtype in (pl.Duration, pl.Time) or isinstance(s.dtype, pl.Duration):
        return s.to_physical().cast(pl.Float64)
    if s.dtype == pl.String:
        parsed = s.str.strip_chars().cast(pl.Float64, strict=False)
        bad = s.filter(parsed.is_null() & s.is_not_null())
        if bad.len():
            raise InputError(
                f"{role} column {s.name!r} holds text that is not a number (e.g. {bad[0]!r}); "
                "the real column is numeric"
            )
        return parsed
    raise InputError(f"{role} column {s.name!r} has dtype {s.dtype}; the real column is numeric")


def _as_datetime(s: pl.Series, role: str) -> pl.Series:
    if s.dtype == pl.Date:
        return s.cast(pl.Datetime("us"))
    if isinstance(s.dtype, pl.Datetime):
        if s.dtype.time_zone is not None:
            s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return s.dt.cast_time_unit("us")
    if s.dtype == pl.Null:
        return s.cast(pl.Datetime("us"))
    if s.dtype == pl.String:
        try:
            return s.str.to_datetime(time_unit="us", strict=True)
        except pl.exceptions.PolarsError as err:
            raise InputError(f"{role} column {s.name!r} holds text that is not a date or timestamp: {err}") from err
    raise InputError(f"{role} column {s.name!r} has dtype {s.dtype}; the real column is a date or timestamp")


def _as_text(series: dict[str, pl.Series]) -> dict[str, pl.Series]:
    """Categories as strings, spelled the same way in every table (1 and 1.0 are one category)."""
    numeric = [s for s in series.values() if s.dtype.is_numeric()]
    if numeric and len(numeric) == len(series):
        floats = {role: s.cast(pl.Float64) for role, s in series.items()}
        finite = [f.drop_nulls().filter(f.drop_nulls().is_finite()) for f in floats.values()]
        if all(bool((f == f.round(0)).all()) for f in finite):
            return {role: f.cast(pl.Int64, strict=False).cast(pl.String) for role, f in floats.items()}
        return {role: f.cast(pl.String) for role, f in floats.items()}
    return {role: s.cast(pl.String) for role, s in series.items()}


def _dictionary(series: dict[str, pl.Series]) -> list[str]:
    """Categories ordered by frequency in the real table, then the ones only other tables hold."""
    ordered: list[str] = []
    seen: set[str] = set()
    for role in _ROLES:
        s = series.get(role)
        if s is None:
            continue
        counts = s.drop_nulls().value_counts(sort=True, name="n")
        counts = counts.sort(["n", s.name], descending=[True, False])
        for value in counts.get_column(s.name).to_list():
            if value not in seen:
                seen.add(value)
                ordered.append(value)
    return ordered
