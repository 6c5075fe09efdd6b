"""Infer column types from text cells, and refuse columns that look corrupted.

For each text column (after cleaning, nulls ignored):

1. ``true``/``false`` in any case only -> Boolean.
2. Every cell a plain number -> Int64 when all are integers (Float64 otherwise). The
   non-finite spellings ``inf``, ``-inf``, ``Infinity``, ``nan``, ``NaN`` (any case) are
   numbers too: they make a column Float64 holding ±inf/NaN (with the default missing
   markers, ``nan``/``NaN`` cells are already null by then, see :mod:`engine.data.cleaning`). Two
   exceptions stay text, because they are identifiers rather than quantities: integers written
   with a leading zero (``"02134"``, a ZIP code) and integers too large for Int64.
3. Every cell an ISO date ``YYYY-MM-DD`` -> Date; every cell an ISO date-time
   (``YYYY-MM-DD[T ]HH:MM[:SS[.f]]`` with an optional zone) -> Datetime (zoned ones in UTC).
4. Anything else stays text, including columns that genuinely mix numbers and words.

**Mixed types.** A column of numbers with a handful of text cells is the signature of a
corrupted file (a shifted field, a typo, an undeclared missing marker), not of a text column.
The rule: when at least :data:`STRAY_MIN_NUMBERS` (50) cells are numbers and the text cells are
at most :data:`STRAY_MAX_FRACTION` (1 %) of the filled cells, :func:`plan_types` raises an
:class:`InputError` naming the column, the line of the first text cell, its value, and how many
there are. The caller resolves it by fixing the file, declaring the marker in
``null_values=``, or forcing the column's type with ``dtypes=`` (``pl.String`` keeps the text).

**Explicit types.** ``dtypes={"col": pl.Int64}`` skips inference for that column; a cell that
does not parse as the requested type is an :class:`InputError` with its line and value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from engine.errors import ConfigError, InputError

STRAY_MIN_NUMBERS = 50
STRAY_MAX_FRACTION = 0.01

_NUMBER = r"^[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|(?i:inf|infinity|nan))$"
_INTEGER = r"^[+-]?\d+$"
_LEADING_ZERO = r"^[+-]?0\d"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
_TRUE_FALSE = ("true", "false")

Where = Callable[[int], str]
"""Turns a row position (the ``row_ids`` value of a cell) into 'line N' for messages."""


@dataclass(frozen=True)
class TypePlan:
    """Target dtype of each converted column; columns not listed stay as they are."""

    dtypes: dict[str, pl.DataType]


def _first_bad(mask: pl.Series, values: pl.Series, row_ids: pl.Series | None) -> tuple[int, str]:
    position = int(mask.arg_true()[0])
    row = int(row_ids[position]) if row_ids is not None else position
    return row, str(values[position])


def _infer_one(
    name: str,
    values: pl.Series,
    *,
    numbers_from_text: bool,
    label: str,
    where: Where,
    row_ids: pl.Series | None,
) -> pl.DataType | None:
    present = values.drop_nulls()
    if present.len() == 0:
        return None
    distinct = present.unique()  # categorical columns have few: test patterns on those
    if numbers_from_text and distinct.len() <= 2 and distinct.str.to_lowercase().is_in(_TRUE_FALSE).all():
        return pl.Boolean()

    numeric = distinct.str.contains(_NUMBER)
    if numeric.all():
        if not numbers_from_text:
            return None
        if distinct.str.contains(_INTEGER).all():
            if distinct.str.contains(_LEADING_ZERO).any():
                return None
            if distinct.cast(pl.Int64, strict=False).null_count() == 0:
                return pl.Int64()
            return None
        return pl.Float64()
    if numeric.any():
        _refuse_stray_text(name, values, label=label, where=where, row_ids=row_ids)

    if distinct.str.contains(_DATE).all():
        parsed = distinct.str.to_date("%Y-%m-%d", strict=False)
        if parsed.null_count() == 0:
            return pl.Date()
    if distinct.str.contains(_DATETIME).all():
        try:
            parsed = distinct.str.to_datetime(strict=False)
        except pl.exceptions.PolarsError:
            return None
        if parsed.null_count() == 0:
            return parsed.dtype
    return None


def _refuse_stray_text(name: str, values: pl.Series, *, label: str, where: Where, row_ids: pl.Series | None) -> None:
    """Raise when a mostly-numeric column has a few text cells (see the module docstring)."""
    filled = values.is_not_null()
    is_number = values.str.contains(_NUMBER).fill_null(False)
    n_filled = int(filled.sum())
    n_numeric = int(is_number.sum())
    n_text = n_filled - n_numeric
    if n_numeric < STRAY_MIN_NUMBERS or n_text > STRAY_MAX_FRACTION * n_filled:
        return
    stray = filled & ~is_number
    row, value = _first_bad(stray, values, row_ids)
    examples = values.filter(stray).unique(maintain_order=True).head(3).to_list()
    raise InputError(
        f"{label}: column '{name}' holds numbers in {n_numeric:,} of {n_filled:,} filled cells, "
        f"but {where(row)} has {value!r} ({n_text:,} such cell{'s' if n_text != 1 else ''}: "
        f"{', '.join(repr(v) for v in examples)}). A few text cells in a numeric column usually "
        f"mean a corrupted file: fix them, list them in null_values= if they mean missing, "
        f"or pass dtypes={{'{name}': pl.String}} to read the column as text"
    )


def plan_types(
    frame: pl.DataFrame,
    *,
    columns: list[str],
    label: str,
    where: Where,
    overrides: Mapping[str, pl.DataType] | None = None,
    row_ids: pl.Series | None = None,
    numbers_from_text: bool = True,
) -> TypePlan:
    """Infer the dtype of each text column in ``columns`` (see the module docstring).

    ``numbers_from_text=False`` (JSON, whose strings were written as strings) infers only dates
    and datetimes, but still refuses a numeric column with stray text cells.
    """
    overrides = dict(overrides or {})
    dtypes: dict[str, pl.DataType] = {}
    for name in columns:
        if name in overrides:
            continue
        dtype = _infer_one(
            name,
            frame.get_column(name),
            numbers_from_text=numbers_from_text,
            label=label,
            where=where,
            row_ids=row_ids,
        )
        if dtype is not None:
            dtypes[name] = dtype
    for name, dtype in overrides.items():
        dtypes[name] = dtype
    return TypePlan(dtypes=dtypes)


def check_overrides(overrides: Mapping[str, object] | None, columns: list[str], label: str) -> dict[str, pl.DataType]:
    """Validate ``dtypes=``: known columns, polars data types. Returns instantiated dtypes."""
    if not overrides:
        return {}
    from polars.datatypes import parse_into_dtype

    checked: dict[str, pl.DataType] = {}
    for name, dtype in overrides.items():
        if name not in columns:
            raise ConfigError(f"dtypes= names column {name!r}, which {label} does not have; its columns are {columns}")
        try:
            parsed = parse_into_dtype(dtype)  # type: ignore[arg-type]
            if isinstance(parsed, type):
                parsed = parsed()
        except TypeError:
            parsed = None
        if not isinstance(parsed, pl.DataType):
            raise ConfigError(f"dtypes[{name!r}] = {dtype!r} is not a polars data type (e.g. pl.Int64, pl.String)")
        checked[name] = parsed
    return checked


def _parse_text(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    if dtype == pl.String:
        return values
    if dtype == pl.Boolean:
        lowered = values.str.to_lowercase()
        return (
            pl.select(
                pl.when(lowered.is_in(["true", "1"]))
                .then(True)
                .when(lowered.is_in(["false", "0"]))
                .then(False)
                .otherwise(None)
            )
            .to_series()
            .alias(values.name)
        )
    if dtype == pl.Date:
        return values.str.to_date(strict=False)
    if isinstance(dtype, pl.Datetime):
        parsed = values.str.to_datetime(strict=False)
        if dtype.time_zone is not None and parsed.dtype.time_zone is None:  # type: ignore[union-attr]
            parsed = parsed.dt.replace_time_zone(dtype.time_zone)
        return parsed.cast(dtype, strict=False)
    return values.cast(dtype, strict=False)


def apply_types(
    frame: pl.DataFrame,
    plan: TypePlan,
    *,
    label: str,
    where: Where,
    row_ids: pl.Series | None = None,
) -> pl.DataFrame:
    """Convert the planned columns; a cell that does not convert is an InputError with its line."""
    converted = []
    for name, dtype in plan.dtypes.items():
        values = frame.get_column(name)
        if values.dtype == dtype:
            continue
        try:
            result = _parse_text(values, dtype) if values.dtype == pl.String else values.cast(dtype, strict=False)
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"{label}: column '{name}' cannot be read as {dtype}: {exc}") from None
        failed = values.is_not_null() & result.is_null()
        if failed.any():
            row, value = _first_bad(failed, values, row_ids)
            raise InputError(
                f"{label}: column '{name}' should hold {dtype} values but {where(row)} has {value!r}"
            )
        converted.append(result.alias(name))
    return frame.with_columns(converted) if converted else frame
