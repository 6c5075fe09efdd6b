"""Turning the physical values of Date/Datetime columns back into ISO strings for the report.

Statistics of temporal columns are computed on their physical integers (days for Date, the
time unit for Datetime) so that one code path serves numbers and times; these helpers turn
the results back into strings a person (and plotly) reads.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

_EPOCH = dt.datetime(1970, 1, 1)
_PER_SECOND = {"d": 1 / 86_400, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def to_seconds(value: float, unit: str) -> float:
    """A span in the physical unit of a temporal column, in seconds."""
    return value / _PER_SECOND[unit]


def to_iso(value: float, unit: str) -> str:
    """A physical temporal value as an ISO string: a date for whole days of a Date column.

    Polars dates reach beyond Python's years 1..9999 (and a histogram's last edge may sit one
    day past 9999-12-31): such values are written by numpy, whose calendar has no such limit.
    """
    try:
        return _python_iso(value, unit)
    except (OverflowError, ValueError):
        return _numpy_iso(value, unit)


def _numpy_iso(value: float, unit: str) -> str:
    if unit == "d":
        return str(np.datetime_as_string(np.datetime64(math.floor(value), "D"), unit="D"))
    moment = np.datetime64(round(value), unit)
    fine = moment.astype("datetime64[us]") != moment.astype("datetime64[s]")
    return str(np.datetime_as_string(moment, unit="us" if fine else "s"))


def _python_iso(value: float, unit: str) -> str:
    if unit == "d" and float(value).is_integer():
        return (_EPOCH + dt.timedelta(days=value)).date().isoformat()
    seconds = to_seconds(value, unit)
    whole = math.floor(seconds)
    micros = round((seconds - whole) * 1_000_000)
    moment = _EPOCH + dt.timedelta(seconds=whole, microseconds=micros)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")


def floor_day(value: float, unit: str) -> float:
    """Round a Date column's physical value (days) down to a whole day; other units unchanged."""
    return float(math.floor(value)) if unit == "d" else value
