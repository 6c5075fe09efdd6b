"""Turning what the caller hands in into one polars DataFrame the profiler can trust.

pandas frames are converted; NaN in float columns counts as missing (as pandas users expect);
Categorical/Enum become strings, Decimal becomes Float64, Duration and Time become seconds.
The original dtype of every column is kept for the report.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from engine.errors import InputError

# dtypes the profiler rewrites before computing statistics, and how.
_TO_STRING = (pl.Categorical, pl.Enum)


def to_polars(data: Any, *, what: str = "data") -> pl.DataFrame:
    """Accept a polars or pandas DataFrame (or a polars LazyFrame) and return a polars DataFrame."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"{what}: duplicate column names {dupes}; every column needs its own name")
        frame = data.copy(deep=False)
        frame.columns = names
        try:
            return pl.from_pandas(frame, nan_to_null=True)
        except Exception as err:  # pyarrow/polars conversion errors name the column
            raise InputError(f"{what}: could not convert the pandas DataFrame to polars: {err}") from err
    raise InputError(
        f"{what}: expected a polars or pandas DataFrame, got {type(data).__module__}.{type(data).__name__}"
    )


def normalise(frame: pl.DataFrame, *, what: str = "data") -> tuple[pl.DataFrame, dict[str, str], dict[str, str]]:
    """Return (frame ready for statistics, original dtype per column, note per rewritten column).

    Columns with a note were rewritten from a non-string type; their text is not re-parsed.
    """
    if frame.width == 0:
        raise InputError(f"{what}: the table has no columns; nothing to profile")
    dtypes = {name: str(dtype) for name, dtype in frame.schema.items()}
    notes: dict[str, str] = {}
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype.is_float():
            exprs.append(col.fill_nan(None))
        elif isinstance(dtype, _TO_STRING):
            exprs.append(col.cast(pl.String))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64))
        elif isinstance(dtype, pl.Duration):
            exprs.append(col.dt.total_microseconds().cast(pl.Float64) / 1e6)
            notes[name] = "duration in seconds"
        elif dtype == pl.Time:
            exprs.append(col.cast(pl.Int64).cast(pl.Float64) / 1e9)
            notes[name] = "time of day in seconds since midnight"
        elif dtype == pl.Null:
            exprs.append(col.cast(pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(col.dt.convert_time_zone("UTC").dt.replace_time_zone(None))
            if dtype.time_zone != "UTC":
                notes[name] = f"timestamps converted from {dtype.time_zone} to UTC"
        elif dtype.is_nested() or dtype in (pl.Binary, pl.Object):
            # Not tabular scalars: profile their text form so the column still appears.
            exprs.append(pl.when(col.is_null()).then(None).otherwise(_as_text(col, dtype)).alias(name))
            notes[name] = f"{dtype} values profiled as their text form"
    if exprs:
        frame = frame.with_columns(exprs)
    return frame, dtypes, notes


def _as_text(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Binary:
        return col.bin.encode("hex")
    if dtype == pl.Object:  # arbitrary Python objects: only their repr is available
        return col.map_elements(str, return_dtype=pl.String)
    if isinstance(dtype, pl.Struct):
        return col.struct.json_encode()
    return col.cast(pl.List(pl.String)).list.join(",")
