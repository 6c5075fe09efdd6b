"""A long table checked and put in order before a sequence model reads it.

``prepare_long`` takes the user's long table (one row per step: an entity id, a time or
order column, the entity's static context columns and the step columns) and returns it
sorted by (entity, time), with the context columns resolved and the histories truncated at
the maximum length. Every problem is refused with a message that names it and shows an
example, before anything is trained:

- a missing column, an entity or time column with nulls;
- a time column given as text whose values carry different UTC offsets (mixed time zones:
  the order of such times is ambiguous to whoever wrote them, and a model of their gaps
  would mix clocks); one offset throughout is parsed and converted back on output;
- a duplicated (entity, time) pair (how many, and one of them): two steps at the same time
  have no order;
- a context column that is not constant within an entity;
- a table in which no entity has more than one row (that is a flat table: ``engine.train``).

Handled and said in ``notes``: rows out of order (sorted), entities with a single row
(allowed: a history of length 1 is a history; they are counted), histories truncated at
``max_length`` (the privacy protection: no entity's history is released past that length).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import polars as pl

from engine.errors import ConfigError, InputError

# Histories are cut at this many steps unless ``max_length`` says otherwise (beijing's 35,064
# hourly steps per station fit; a history longer than this is not one entity's to release whole).
DEFAULT_MAX_LENGTH = 50_000
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s?([+-]\d{2}:?\d{2}|Z)$"  # a UTC offset after a clock time


@dataclass(frozen=True)
class TimeColumn:
    """How the time column is read: ``kind`` "date", "datetime" or "number"; ``text`` when the
    input held it as text (parsed here, written back as text in ISO form); ``dtype``: the
    input's dtype; ``parsed``: the dtype the model works in."""

    kind: str
    dtype: pl.DataType
    parsed: pl.DataType
    text: bool = False


@dataclass(frozen=True)
class LongTable:
    """The checked long table: sorted by (entity, time), the time column parsed, histories truncated."""

    frame: pl.DataFrame
    entity: str
    order_by: str
    context: tuple[str, ...]
    steps: tuple[str, ...]
    time: TimeColumn
    max_length: int
    notes: tuple[str, ...] = ()
    dtypes: dict[str, pl.DataType] = field(default_factory=dict)  # the input's columns and dtypes, in order


def prepare_long(frame: pl.DataFrame, *, entity: str, order_by: str, context: Sequence[str] | None,
                 max_length: int | None) -> LongTable:
    """The checked, sorted, truncated long table (see the module doc for what is refused)."""
    _check_names(frame, entity=entity, order_by=order_by, context=context)
    max_length = _max_length(max_length)
    if frame.height == 0:
        raise InputError("the long table has no rows; a sequence model needs at least one entity with two or more steps")
    dtypes = dict(frame.schema)
    for name in (entity, order_by):
        nulls = frame.get_column(name).null_count()
        if nulls:
            role = "entity" if name == entity else "order_by (time)"
            raise InputError(f"the {role} column {name!r} has {nulls} null value(s); every step needs an entity and a time")
    time, parsed = parse_time(frame.get_column(order_by))
    frame = frame.with_columns(parsed)
    notes: list[str] = []
    _check_duplicates(frame, entity, order_by)
    frame, moved = _sorted(frame, entity, order_by)
    if moved:
        notes.append(f"the rows were not in (entity, time) order: {moved} of {frame.get_column(entity).n_unique()} "
                     f"entities' histories were sorted by {order_by!r}")
    lengths = frame.group_by(entity).len()
    if lengths.get_column("len").max() == 1:
        raise InputError(
            f"every one of the {lengths.height} entities in {entity!r} has a single row: there is no history to learn. "
            "This is a flat table; train it with engine.train, or check the entity column"
        )
    single = int((lengths.get_column("len") == 1).sum())
    if single:
        notes.append(f"{single} of {lengths.height} entities have a single row; they are kept as histories of length 1")
    others = [c for c in frame.columns if c not in (entity, order_by)]
    resolved = _context(frame, entity, others, context)
    if context is None and resolved:
        notes.append(f"context columns inferred as constant within every entity: {', '.join(resolved)}")
    frame, cut, dropped = _truncate(frame, entity, max_length)
    if cut:
        notes.append(f"histories are truncated at max_length={max_length} steps (privacy protection): "
                     f"{cut} entities lost {dropped} steps past it")
    else:
        notes.append(f"histories are truncated at max_length={max_length} steps (privacy protection); none was longer")
    steps = tuple(c for c in others if c not in resolved)
    return LongTable(frame=frame, entity=entity, order_by=order_by, context=tuple(resolved), steps=steps, time=time,
                     max_length=max_length, notes=tuple(notes), dtypes=dtypes)


def _check_names(frame: pl.DataFrame, *, entity: str, order_by: str, context: Sequence[str] | None) -> None:
    for what, name in (("entity", entity), ("order_by", order_by)):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{what} must be the name of a column; got {name!r}")
        if name not in frame.columns:
            raise InputError(f"{what} column {name!r} is not in the table; its columns: {', '.join(frame.columns)}")
    if entity == order_by:
        raise ConfigError(f"entity and order_by must be different columns; both are {entity!r}")
    if context is None:
        return
    if isinstance(context, str) or not all(isinstance(c, str) for c in context):
        raise ConfigError(f"context must be a list of column names or None; got {context!r}")
    missing = [c for c in context if c not in frame.columns]
    if missing:
        raise InputError(f"context columns {missing} are not in the table; its columns: {', '.join(frame.columns)}")
    roles = [c for c in context if c in (entity, order_by)]
    if roles:
        raise ConfigError(f"context columns {roles} are the entity or order_by column; context holds the other static columns")
    if len(set(context)) != len(context):
        raise ConfigError(f"context columns repeat: {list(context)}")


def _max_length(value: int | None) -> int:
    if value is None:
        return DEFAULT_MAX_LENGTH
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"max_length must be a positive whole number of steps or None (default {DEFAULT_MAX_LENGTH}); got {value!r}")
    return value


def parse_time(series: pl.Series) -> tuple[TimeColumn, pl.Series]:
    """How the time column is modelled, and its values in the dtype the model works in."""
    dtype = series.dtype
    if dtype == pl.Date:
        return TimeColumn("date", dtype, dtype), series
    if isinstance(dtype, pl.Datetime):
        return TimeColumn("datetime", dtype, dtype), series
    if dtype.is_numeric():
        if series.is_nan().any() if dtype.is_float() else False:
            raise InputError(f"the order_by column {series.name!r} holds NaN; every step needs a time")
        return TimeColumn("number", dtype, dtype), series
    if dtype in (pl.String, pl.Categorical):
        return _parse_text(series.cast(pl.String))
    raise InputError(f"the order_by column {series.name!r} has dtype {dtype}; a time column must be a date, a datetime, "
                     "a number or text holding dates or datetimes")


def _parse_text(series: pl.Series) -> tuple[TimeColumn, pl.Series]:
    """Text times: dates, naive datetimes, or datetimes with one UTC offset throughout (mixed ones refused)."""
    offsets = series.str.extract(_OFFSET, 1).drop_nulls()
    if offsets.len():
        distinct = offsets.unique(maintain_order=True)
        if distinct.len() > 1:
            raise InputError(
                f"the time column {series.name!r} mixes time zones: {distinct.len()} different UTC offsets "
                f"({', '.join(distinct.head(4).to_list())}); convert the times to one zone (e.g. UTC) first"
            )
        if offsets.len() != series.len():
            raise InputError(f"the time column {series.name!r} mixes times with a UTC offset ({distinct[0]}) and times "
                             "without one; give every time in the same zone")
    for target in (pl.Date, pl.Datetime("us", "UTC") if offsets.len() else pl.Datetime("us")):
        try:
            parsed = series.str.strip_chars().str.to_datetime(time_zone="UTC" if offsets.len() else None, time_unit="us",
                                                               strict=True) if target != pl.Date else series.str.to_date(strict=True)
        except Exception:  # noqa: BLE001 - polars raises several kinds on unparsable text
            continue
        kind = "date" if target == pl.Date else "datetime"
        return TimeColumn(kind, pl.String, parsed.dtype, text=True), parsed.rename(series.name)
    example = series.head(3).to_list()
    raise InputError(f"the time column {series.name!r} holds text that is not dates or datetimes (e.g. {example}); "
                     "give dates (2019-01-02), datetimes (2019-01-02 13:00) or numbers")


def time_as_input(series: pl.Series, time: TimeColumn) -> pl.Series:
    """The time column back in the input's form (text in ISO form where it came as text)."""
    if not time.text:
        return series.cast(time.dtype)
    if time.kind == "date":
        return series.dt.strftime("%Y-%m-%d")
    zone = getattr(time.parsed, "time_zone", None)
    return series.dt.strftime("%Y-%m-%dT%H:%M:%S%:z" if zone else "%Y-%m-%d %H:%M:%S")


def _check_duplicates(frame: pl.DataFrame, entity: str, order_by: str) -> None:
    dup = frame.select(entity, order_by).is_duplicated()
    count = int(dup.sum())
    if count:
        first = frame.filter(dup).row(0, named=True)
        pairs = frame.filter(dup).select(entity, order_by).unique().height
        raise InputError(
            f"{pairs} (entity, time) pair(s) appear more than once ({count} rows), e.g. {entity}={first[entity]!r} at "
            f"{order_by}={first[order_by]}; two steps of one history cannot share a time. Drop or aggregate the duplicates"
        )


def _sorted(frame: pl.DataFrame, entity: str, order_by: str) -> tuple[pl.DataFrame, int]:
    """The frame sorted by (entity, time), and how many entities were out of order (or not contiguous)."""
    out = frame.sort([entity, order_by], maintain_order=True)
    with_row = frame.with_row_index("\x00row")
    check = with_row.group_by(entity).agg(
        (pl.col(order_by) > pl.col(order_by).shift(1)).fill_null(True).all().alias("ordered"),
        ((pl.col("\x00row").max() - pl.col("\x00row").min() + 1) == pl.len()).alias("contiguous"),
    )
    moved = int((~(check.get_column("ordered") & check.get_column("contiguous"))).sum())
    return out, moved


def _context(frame: pl.DataFrame, entity: str, others: Sequence[str], given: Sequence[str] | None) -> list[str]:
    """The context columns: given ones checked to be constant within every entity, else those that are."""
    if not others:
        return []
    distinct = frame.group_by(entity).agg([pl.col(c).n_unique().alias(c) for c in others])
    varying = {c: int((distinct.get_column(c) > 1).sum()) for c in others}
    if given is None:
        return [c for c in others if varying[c] == 0]
    for c in given:
        if varying[c]:
            example = distinct.filter(pl.col(c) > 1).get_column(entity)[0]
            raise InputError(
                f"context column {c!r} is not constant within {varying[c]} entities (e.g. {entity}={example!r}); a context "
                "column holds one value per entity. Leave it out of context= to model it as a step column"
            )
    return list(given)


def _truncate(frame: pl.DataFrame, entity: str, max_length: int) -> tuple[pl.DataFrame, int, int]:
    """Each history's first ``max_length`` steps; how many entities were cut and how many steps went."""
    rank = pl.int_range(pl.len()).over(entity)
    keep = frame.select(rank < max_length).to_series()
    if keep.all():
        return frame, 0, 0
    lengths = frame.group_by(entity).len().get_column("len")
    return frame.filter(keep), int((lengths > max_length).sum()), int((~keep).sum())


def entity_lengths(frame: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Steps per entity, in order of first appearance: columns ``entity`` and ``len``."""
    return frame.group_by(entity, maintain_order=True).len()

