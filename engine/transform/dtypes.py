"""Polars dtypes and values to JSON and back, and the numeric view of a column.

The transformer's state is stored as JSON in model files (never pickle), so every dtype and
every value it keeps (category levels, constants) needs a JSON form that restores exactly:
temporal values are stored as their physical integers, decimals as strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError

_SIMPLE: dict[str, pl.DataType] = {
    name: getattr(pl, name)()
    for name in (
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
        "Float32", "Float64", "Boolean", "String", "Date", "Time", "Categorical", "Null",
    )
}  # fmt: skip
SUPPORTED = "integers, floats, decimals, booleans, strings, categoricals, enums, dates, datetimes, durations, times"


def dtype_to_json(dtype: pl.DataType) -> dict[str, Any]:
    """A JSON form of ``dtype`` that ``dtype_from_json`` turns back into an equal dtype."""
    if isinstance(dtype, pl.Datetime):
        return {"name": "Datetime", "time_unit": dtype.time_unit, "time_zone": dtype.time_zone}
    if isinstance(dtype, pl.Duration):
        return {"name": "Duration", "time_unit": dtype.time_unit}
    if isinstance(dtype, pl.Decimal):
        return {"name": "Decimal", "precision": dtype.precision, "scale": dtype.scale}
    if isinstance(dtype, pl.Enum):
        return {"name": "Enum", "categories": dtype.categories.to_list()}
    name = type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__
    if name not in _SIMPLE:
        raise InputError(f"dtype {dtype} is not supported by the transformer; supported: {SUPPORTED}")
    return {"name": name}


def dtype_from_json(d: dict[str, Any]) -> pl.DataType:
    name = d["name"]
    if name == "Datetime":
        return pl.Datetime(d["time_unit"], d["time_zone"])
    if name == "Duration":
        return pl.Duration(d["time_unit"])
    if name == "Decimal":
        return pl.Decimal(d["precision"], d["scale"])
    if name == "Enum":
        return pl.Enum(d["categories"])
    if name not in _SIMPLE:
        raise InputError(f"unknown dtype {name!r} in transformer state")
    return _SIMPLE[name]


def check_supported(name: str, dtype: pl.DataType) -> None:
    """Raise ``InputError`` if column ``name`` has a dtype the transformer cannot encode."""
    try:
        dtype_to_json(dtype)
    except InputError:
        raise InputError(
            f"column {name!r} has dtype {dtype}, which the transformer cannot encode; supported: {SUPPORTED}"
        ) from None


def is_integer(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


def is_numeric(dtype: pl.DataType) -> bool:
    """Numbers on a scale: integers, floats, decimals, durations and times of day."""
    return dtype.is_numeric() or isinstance(dtype, (pl.Decimal, pl.Duration, pl.Time))


def is_temporal_point(dtype: pl.DataType) -> bool:
    """Dates and datetimes: points in calendar time."""
    return isinstance(dtype, (pl.Date, pl.Datetime))


def is_label(dtype: pl.DataType) -> bool:
    """Labels compared by equality only: strings, categoricals, enums, booleans, null."""
    return isinstance(dtype, (pl.String, pl.Categorical, pl.Enum, pl.Boolean, pl.Null))


def series_to_json(s: pl.Series) -> list[Any]:
    """Values of ``s`` as a JSON-safe list (nulls as None)."""
    dtype = s.dtype
    if isinstance(dtype, (pl.Date, pl.Datetime, pl.Duration, pl.Time)):
        return s.to_physical().to_list()
    if isinstance(dtype, pl.Decimal):
        return s.cast(pl.String).to_list()
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return s.cast(pl.String).to_list()
    if dtype.is_float():
        values = s.to_list()
        bad = [v for v in values if v is not None and not np.isfinite(v)]
        if bad:
            raise InputError(f"column {s.name!r}: non-finite value {bad[0]!r} cannot be stored")
        return values
    return s.to_list()


def series_from_json(values: list[Any], dtype: pl.DataType, name: str = "") -> pl.Series:
    """Inverse of ``series_to_json``."""
    if isinstance(dtype, (pl.Date, pl.Datetime, pl.Duration, pl.Time)):
        physical = pl.Int32 if isinstance(dtype, pl.Date) else pl.Int64
        return pl.Series(name, values, dtype=physical).cast(dtype)
    if isinstance(dtype, (pl.Decimal, pl.Categorical, pl.Enum)):
        return pl.Series(name, values, dtype=pl.String).cast(dtype)
    return pl.Series(name, values, dtype=dtype)


def to_float(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The numeric view of a numeric or temporal column: (float64 values, missing mask).

    Temporal columns use their physical integers. Not-a-number and infinities count as
    missing: the encodings keep one kind of missing value, null.
    """
    dtype = s.dtype
    if isinstance(dtype, (pl.Date, pl.Datetime, pl.Duration, pl.Time)):
        s = s.to_physical()
    x = s.cast(pl.Float64).to_numpy(allow_copy=True)
    if x.dtype != np.float64:
        x = x.astype(np.float64)
    missing = ~np.isfinite(x)
    return x, missing


def from_float(name: str, x: np.ndarray, missing: np.ndarray, dtype: pl.DataType, decimals: int | None) -> pl.Series:
    """Build a column of ``dtype`` from float64 values (already clipped), nulls where ``missing``.

    Integers (and temporal physical integers) are rounded to whole numbers and clipped to the
    dtype's range; floats and decimals are rounded to ``decimals`` places when given.
    """
    x = np.where(missing, 0.0, x)
    if is_integer(dtype) or isinstance(dtype, (pl.Date, pl.Datetime, pl.Duration, pl.Time)):
        x = np.rint(x)
        if is_integer(dtype):
            info = np.iinfo(_numpy_int(dtype))
            x = np.clip(x, *_float_bounds(info))
            values = pl.Series(name, x.astype(_numpy_int(dtype)))
        else:
            physical = np.int32 if isinstance(dtype, pl.Date) else np.int64
            values = pl.Series(name, x.astype(physical))
    else:
        if decimals is not None:
            x = np.round(x, decimals)
        values = pl.Series(name, x)
    values = values.cast(dtype)
    if missing.any():
        values = values.scatter(np.flatnonzero(missing), None)
    return values


def _float_bounds(info: np.iinfo) -> tuple[float, float]:
    """The widest float64 range whose every value casts into the integer type without wrapping.

    ``float(2**63 - 1)`` rounds up to 2**63, which an int64 cannot hold (numpy's cast wraps it
    to -2**63): the upper bound steps down to the largest float below the type's maximum.
    """
    low, high = float(info.min), float(info.max)
    if high > info.max:
        high = float(np.nextafter(high, -np.inf))
    return low, high


def _numpy_int(dtype: pl.DataType) -> str:
    return type(dtype).__name__.lower() if not isinstance(dtype, type) else dtype.__name__.lower()
