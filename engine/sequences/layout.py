"""What the two models of a sequence model learn: the entity table and the flat step table.

A long table becomes two flat frames (names with ``@`` are the model's own columns):

- the **entity table**, one row per entity: the context columns (first, so a context given at
  sampling time is fixed and the rest drawn given it), the entity id (an identifier: new ids
  in the real ids' format), ``@length`` (the history's number of steps, learned jointly with
  the context, as the related-tables model learns children counts) and ``@start`` (the time of
  the first step);
- the **step table**, one row per step, in this column order: the step's *context* (the
  entity's context columns as ``@ctx:<name>``, ``@length``, ``@step`` the step index,
  ``@share`` the share of the history done, the calendar of the previous step's time
  ``@dow``/``@hour`` where the time is a date or datetime, and the previous ``LAGS`` steps'
  values ``@lag<j>:<column>``), then what is drawn: ``@gap`` (the time since the previous
  step: days for dates, seconds for datetimes, the difference for numbers; null at step 0,
  whose time is ``@start``) and the step columns. A step is drawn given its context, so the
  history (through the lags), the position and the calendar all inform it; generation walks
  the steps in order, all entities at once (``engine.sequences.generate``).

A number that moves like a level (a price: lag-1 correlation at least ``DELTA_CORRELATION``,
its steps small against its spread) is drawn as its *change* (``@delta:<name>``: the log ratio
for a positive column, else the difference) from a reference column's previous value (itself,
or the column its steps move least from: a day's open from the previous close), and its level
at step 0 is a column of the entity table (``@first:<name>``) or, for a column anchored to
another, the change from that column's first value. Drawn as absolute values, such a column's
quantile bins would blur its level from step to step (on nasdaq the lag-1 autocorrelation of
Close fell to 0.11 against the real 0.98; as changes it is 0.985, mean |daily return| 0.011
against 0.012).

A number whose entities sit at very different levels (nasdaq's Volume: the entities' means
explain most of its variance, see ``LEVEL_SHARE``) is drawn as its *deviation* from its entity's
level (``@dev:<name>``: the log ratio to the level for a positive column, else the difference);
the level (``@level:<name>``, the mean of its log or of itself over the history) is a column of
the entity table, drawn with the context, and an input of every step; the column's lags are its
deviations. The step model draws the *innovation*: the deviation less ``persistence`` (the
pooled lag-1 correlation of the deviations) times the previous one, so the series keeps its
persistence by construction (the step model, given a short time, learns little from a lag
input). Drawn absolute, its quantile bins mix the entities (on nasdaq a synthetic history's log
volume spread 0.87 against the real 0.43; as deviations 0.42).

Regular data stays regular: a gap with few distinct values (hourly data's 3,600 s; business
days' 1 and 3 days) is learned as a category, so it is drawn exactly, and a calendar position
(Friday) tells which one comes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.sequences.checks import LongTable, TimeColumn
from engine.transform.dtypes import dtype_from_json, dtype_to_json

LENGTH = "@length"
START = "@start"
STEP = "@step"
SHARE = "@share"
GAP = "@gap"
DOW = "@dow"
HOUR = "@hour"
CTX = "@ctx:"
FIRST = "@first:"
DELTA = "@delta:"
LEVEL = "@level:"
DEV = "@dev:"
_INNOVATION = "\x00innovation:"
# Previous steps each step is drawn given (the history's state carried from step to step).
LAGS = 2
# A gap with at most this many distinct values is learned as a category (drawn exactly).
MAX_GAP_LEVELS = 64
# A number is drawn as its change from the previous step (a random walk's state is its level:
# drawn absolute, its bins would blur it) when its lag-1 correlation within the histories is at
# least this, and its steps' spread at most DELTA_SPREAD of its values' spread.
DELTA_CORRELATION = 0.9
DELTA_SPREAD = 0.3
# A number is drawn as its deviation from its entity's level (``@level:``, learned with the
# context) when the entities' levels explain at least this share of its variance (nasdaq's
# Volume: companies trade from 1e5 to 1e8 shares a day; drawn absolute, its bins mix the
# companies and a history's volume wanders twice as far as a real one's).
LEVEL_SHARE = 0.5
# A text step column with more levels than this is not lagged (it carries no state a lag can use).
MAX_LAG_LEVELS = 1_000
_SECONDS = {"ns": 1e9, "us": 1e6, "ms": 1e3}


def lag_name(j: int, column: str) -> str:
    """The step table's column holding ``column``'s value ``j`` steps before."""
    return f"@lag{j}:{column}"


@dataclass(frozen=True)
class SequenceLayout:
    """The names and roles of every column of the two learned frames (see the module doc)."""

    entity: str
    order_by: str
    time: TimeColumn
    context: tuple[str, ...]
    steps: tuple[str, ...]
    lagged: tuple[str, ...]  # the step columns (and @gap) that are lagged
    output: tuple[tuple[str, pl.DataType], ...]  # the input's columns and dtypes, in order
    calendar: tuple[str, ...]
    step_context: tuple[str, ...]  # the entity context columns read by the step model (usable ones)
    gap_dtype: pl.DataType
    max_length: int
    lags: int = LAGS
    deltas: tuple[tuple[str, str, str], ...] = ()  # (step column, "ratio" | "diff", reference): drawn as a change
    levels: tuple[tuple[str, str], ...] = ()  # (step column, "ratio" | "diff"): drawn as a deviation from its entity's level
    persistence: tuple[float, ...] = ()  # per ``levels`` column: the share of the previous deviation each step keeps

    def drawn_name(self, column: str) -> str:
        """The step table's column that draws ``column``: its change (``@delta:``) or itself."""
        if any(c == column for c, _ in self.levels):
            return DEV + column
        return DELTA + column if any(c == column for c, _, _ in self.deltas) else column

    @property
    def step_inputs(self) -> list[str]:
        """The step table's context part, in order (the columns fixed when a step is drawn)."""
        lags = [lag_name(j, c) for j in range(1, self.lags + 1) for c in self.lagged]
        return [*(CTX + c for c in self.step_context), LENGTH, STEP, SHARE, *self.entity_levels, *self.calendar, *lags]

    @property
    def step_outputs(self) -> list[str]:
        """The step table's drawn part, in order."""
        return [GAP, *(self.drawn_name(c) for c in self.steps)]

    @property
    def entity_firsts(self) -> list[str]:
        """The entity table's first values of the columns drawn as changes (their level at step 0)."""
        return [FIRST + c for c, _, _ in self.deltas if c not in self.anchored]

    @property
    def entity_levels(self) -> list[str]:
        """The entity table's levels of the columns drawn as deviations (also inputs of every step)."""
        return [LEVEL + c for c, _ in self.levels]

    @property
    def anchored(self) -> dict[str, str]:
        """Columns drawn as changes from another column that is its own reference (a day's open
        from the previous close): at step 0 their change is from that column's first value."""
        own = {c for c, _, ref in self.deltas if ref == c}
        return {c: ref for c, _, ref in self.deltas if ref != c and ref in own}

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity, "order_by": self.order_by,
            "time": {"kind": self.time.kind, "dtype": dtype_to_json(self.time.dtype), "parsed": dtype_to_json(self.time.parsed),
                     "text": self.time.text},
            "context": list(self.context), "steps": list(self.steps), "lagged": list(self.lagged),
            "output": [[n, dtype_to_json(d)] for n, d in self.output], "calendar": list(self.calendar),
            "step_context": list(self.step_context), "gap_dtype": dtype_to_json(self.gap_dtype),
            "max_length": self.max_length, "lags": self.lags, "deltas": [list(d) for d in self.deltas],
            "levels": [list(d) for d in self.levels], "persistence": list(self.persistence),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SequenceLayout:
        t = d["time"]
        names = lambda key: tuple(str(c) for c in d[key])  # noqa: E731
        return cls(
            entity=str(d["entity"]), order_by=str(d["order_by"]),
            time=TimeColumn(str(t["kind"]), dtype_from_json(t["dtype"]), dtype_from_json(t["parsed"]), bool(t["text"])),
            context=names("context"), steps=names("steps"), lagged=names("lagged"),
            output=tuple((str(n), dtype_from_json(dt)) for n, dt in d["output"]), calendar=names("calendar"),
            step_context=names("step_context"), gap_dtype=dtype_from_json(d["gap_dtype"]),
            max_length=int(d["max_length"]), lags=int(d["lags"]),
            deltas=tuple((str(c), str(how), str(ref)) for c, how, ref in d.get("deltas", [])),
            levels=tuple((str(c), str(how)) for c, how in d.get("levels", [])),
            persistence=tuple(float(x) for x in d.get("persistence", [])),
        )


def build_layout(long: LongTable, *, step_context: Sequence[str], fakes: Sequence[str] = (),
                 private: bool = False) -> SequenceLayout:
    """The layout of a checked long table (``step_context``: the context columns the step model
    reads; ``fakes``: columns drawn as new fakes, never lagged). ``private`` (a DP run): decided
    from the dtypes alone, nothing read from the rows (no columns drawn as changes, every
    laggable dtype lagged, the hour whenever the time is a datetime)."""
    frame = long.frame
    lagged = [GAP, *(c for c in long.steps if c not in fakes and _laggable(frame.get_column(c), private=private))]
    calendar: list[str] = []
    if long.time.kind in ("date", "datetime"):
        calendar.append(DOW)
        if long.time.kind == "datetime" and (private or frame.get_column(long.order_by).dt.hour().n_unique() > 1):
            calendar.append(HOUR)
    gap_dtype = {"date": pl.Int64, "datetime": pl.Float64}.get(long.time.kind, long.time.parsed)
    deltas = () if private else _deltas(frame, long.entity, [c for c in long.steps if c not in fakes])
    changed = {c for c, _, _ in deltas}
    levels = () if private else _levels(frame, long.entity, [c for c in long.steps if c not in fakes and c not in changed])
    persistence = tuple(_persistence(frame, long.entity, c, how) for c, how in levels)
    layout = SequenceLayout(
        entity=long.entity, order_by=long.order_by, time=long.time, context=long.context, steps=long.steps,
        lagged=tuple(lagged), output=tuple(long.dtypes.items()), calendar=tuple(calendar), step_context=tuple(step_context),
        gap_dtype=gap_dtype, max_length=long.max_length, deltas=deltas, levels=levels, persistence=persistence,
    )
    names = [*layout.step_inputs, *layout.step_outputs]
    clash = sorted({c for c in names if names.count(c) > 1} | {c for c in (LENGTH, START) if c in long.dtypes})
    if clash:
        raise ConfigError(f"columns {clash} clash with the sequence model's own column names (those starting with '@'); rename them")
    return layout


def _deltas(frame: pl.DataFrame, entity: str, steps: Sequence[str]) -> tuple[tuple[str, str, str], ...]:
    """The step columns drawn as changes: ``(column, "ratio" | "diff", reference)``.

    A number qualifies when it behaves like a level (see ``DELTA_CORRELATION``); its change is
    taken from the reference's previous value: of the qualifying columns of its kind, the one
    its steps move least from (a day's open from the previous close). So columns that walk
    together stay together instead of drifting apart as separate walks.
    """
    kinds = {c: how for c in steps if (how := _delta_kind(frame, entity, c)) is not None}
    out = []
    for column, how in kinds.items():
        peers = [c for c, h in kinds.items() if h == how]
        level = (lambda c: pl.col(c).cast(pl.Float64).log()) if how == "ratio" else (lambda c: pl.col(c).cast(pl.Float64))
        spread = frame.select([(level(column) - level(c).shift(1).over(entity)).std().alias(c) for c in peers]).row(0, named=True)
        out.append((column, how, min(peers, key=lambda c: (spread[c] if spread[c] is not None else np.inf, c != column))))
    return tuple(out)


def _levels(frame: pl.DataFrame, entity: str, steps: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The step columns drawn as deviations from their entity's level: ``(column, "ratio" | "diff")``.

    A number qualifies when its entities' levels (the mean of its log for a positive column,
    else of itself) explain at least ``LEVEL_SHARE`` of its variance: then which entity a step
    belongs to says more about its value than anything else, and the entity's level (drawn
    with the context, once per history) keeps a history where it belongs.
    """
    out = []
    for column in steps:
        s = frame.get_column(column)
        if not s.dtype.is_numeric() or s.null_count() or (s.dtype.is_float() and not s.is_finite().all()) or s.n_unique() < 3:
            continue
        positive = bool(s.min() > 0)
        x = pl.col(column).cast(pl.Float64)
        level = x.log() if positive else x
        stats = frame.select(level.var().alias("total"), (level - level.mean().over(entity)).pow(2).mean().alias("within")).row(0)
        total, within = stats
        if total and within is not None and 1.0 - within / total >= LEVEL_SHARE:
            out.append((column, "ratio" if positive else "diff"))
    return tuple(out)


def _persistence(frame: pl.DataFrame, entity: str, column: str, how: str) -> float:
    """The lag-1 correlation of a column's deviations from its entity's level, pooled over the
    entities (clipped to [-0.95, 0.95]): each step draws only what its previous deviation does not
    predict (the innovation), so the series' persistence holds by construction instead of
    resting on a lag input the step model may not learn within its time."""
    dev = deviation(pl.col(column).cast(pl.Float64), _level_over(column, how, entity), how)
    value = frame.select(pl.corr(dev, dev.shift(1).over(entity)).alias("r")).item()
    return float(np.clip(value, -0.95, 0.95)) if value is not None and np.isfinite(value) else 0.0


def phi_of(layout: SequenceLayout, column: str) -> float:
    """The persistence of a column drawn as a deviation (0 for a layout saved without it)."""
    i = [c for c, _ in layout.levels].index(column)
    return layout.persistence[i] if i < len(layout.persistence) else 0.0


def level_exprs(layout: SequenceLayout) -> list[pl.Expr]:
    """Per entity (in a group-by), the level of each column drawn as a deviation (``LEVEL + column``)."""
    return [(pl.col(c).cast(pl.Float64).log() if how == "ratio" else pl.col(c).cast(pl.Float64)).mean().alias(LEVEL + c)
            for c, how in layout.levels]


def deviation(values: Any, level: Any, how: str) -> Any:
    """A value's deviation from its entity's level (log scale for "ratio"); numpy or polars alike."""
    if how != "ratio":
        return values - level
    return (values.log() if isinstance(values, (pl.Expr, pl.Series)) else np.log(values)) - level


def from_deviation(level: np.ndarray, dev: np.ndarray, how: str) -> np.ndarray:
    """The value ``dev`` away from the entity's ``level`` (a null deviation: the level itself)."""
    dev = np.nan_to_num(dev, nan=0.0)
    return np.exp(level + dev) if how == "ratio" else level + dev


def _delta_kind(frame: pl.DataFrame, entity: str, column: str) -> str | None:
    """"ratio" (a positive number's log change), "diff" (a number's change) or None (drawn as it is)."""
    s = frame.get_column(column)
    if not s.dtype.is_numeric() or s.null_count() or (s.dtype.is_float() and not s.is_finite().all()) or s.n_unique() < 3:
        return None
    x = pl.col(column).cast(pl.Float64)
    positive = bool(s.min() > 0)
    level = x.log() if positive else x
    stats = frame.select(
        pl.corr(x, x.shift(1).over(entity)).alias("corr"),
        (level - level.shift(1).over(entity)).std().alias("step"), level.std().alias("spread"),
    ).row(0, named=True)
    if stats["corr"] is None or not stats["spread"] or stats["corr"] < DELTA_CORRELATION:
        return None
    if stats["step"] is None or stats["step"] > DELTA_SPREAD * stats["spread"]:
        return None
    return "ratio" if positive else "diff"


def delta_expr(column: str, how: str, reference: str, entity: str, *, anchored: bool = False) -> pl.Expr:
    """The change of ``column`` from the reference's previous value in its entity; at step 0
    null, or for an ``anchored`` column the change from the reference's value at step 0."""
    level = (lambda c: pl.col(c).cast(pl.Float64).log()) if how == "ratio" else (lambda c: pl.col(c).cast(pl.Float64))
    previous = level(reference).shift(1).over(entity)
    return (level(column) - (previous.fill_null(level(reference)) if anchored else previous)).alias(DELTA + column)


def apply_delta(previous: np.ndarray, change: np.ndarray, how: str) -> np.ndarray:
    """The level after ``change`` from ``previous`` (a null change keeps the level)."""
    change = np.nan_to_num(change, nan=0.0)
    return previous * np.exp(change) if how == "ratio" else previous + change


def _laggable(s: pl.Series, *, private: bool = False) -> bool:
    if s.dtype.is_numeric() or s.dtype == pl.Boolean or s.dtype.is_temporal():
        return True
    if s.dtype in (pl.String, pl.Categorical, pl.Enum):
        return private or s.n_unique() <= MAX_LAG_LEVELS
    return False


def entity_frame(long: LongTable, layout: SequenceLayout) -> pl.DataFrame:
    """One row per entity: its context columns, its id, ``@length`` and ``@start`` (in order of appearance)."""
    e, t = layout.entity, layout.order_by
    firsts = [pl.col(name.removeprefix(FIRST)).first().alias(name) for name in layout.entity_firsts]
    return long.frame.group_by(e, maintain_order=True).agg(
        *(pl.col(c).first() for c in layout.context), pl.len().cast(pl.Int64).alias(LENGTH), pl.col(t).first().alias(START),
        *firsts, *level_exprs(layout),
    ).select([*layout.context, e, LENGTH, START, *layout.entity_firsts, *layout.entity_levels])


def gaps(time: pl.Expr, layout: SequenceLayout) -> pl.Expr:
    """The gap to the previous step, in the layout's unit (an expression over one entity's times)."""
    diff = time.diff()
    if layout.time.kind == "date":
        return diff.dt.total_days().cast(pl.Int64)
    if layout.time.kind == "datetime":
        return diff.dt.total_microseconds().cast(pl.Float64) / 1e6
    return diff.cast(layout.gap_dtype)


def calendar_exprs(time: pl.Expr, layout: SequenceLayout) -> list[pl.Expr]:
    """The calendar features of ``time`` (the previous step's time), as the step table holds them."""
    out = []
    if DOW in layout.calendar:
        out.append(time.dt.weekday().cast(pl.Int64).alias(DOW))
    if HOUR in layout.calendar:
        out.append(time.dt.hour().cast(pl.Int64).alias(HOUR))
    return out


def step_frame(long: LongTable, layout: SequenceLayout) -> pl.DataFrame:
    """The real steps in the step table's layout (one row per step, the step's context first)."""
    e, t = layout.entity, layout.order_by
    deltas = {c: (how, ref) for c, how, ref in layout.deltas}
    frame = long.frame.with_columns(gaps(pl.col(t), layout).over(e).fill_null(0).alias(GAP))
    step = pl.int_range(pl.len()).over(e)
    length = pl.len().over(e).cast(pl.Int64)
    previous = pl.col(t).shift(1).over(e).fill_null(pl.col(t))
    levels = dict(layout.levels)
    frame = frame.with_columns([_level_over(c, how, e) for c, how in layout.levels])
    frame = frame.with_columns([deviation(pl.col(c).cast(pl.Float64), pl.col(LEVEL + c), how).alias(DEV + c) for c, how in layout.levels])
    # what the step model draws for such a column: the innovation, its deviation less the share
    # ``persistence`` of the previous deviation (at step 0 the deviation itself)
    frame = frame.with_columns([(pl.col(DEV + c) - phi_of(layout, c) * pl.col(DEV + c).shift(1).over(e).fill_null(0.0))
                                .alias(_INNOVATION + c) for c, _ in layout.levels])
    # a column drawn as a deviation is lagged as its deviation (what the step model draws and reads)
    lags = [pl.col(DEV + c if c in levels else c).shift(j, fill_value=0 if c == GAP else None).over(e).alias(lag_name(j, c))
            for j in range(1, layout.lags + 1) for c in layout.lagged]
    return frame.select(
        *(pl.col(c).alias(CTX + c) for c in layout.step_context),
        length.alias(LENGTH), step.cast(pl.Int64).alias(STEP), (step / length).alias(SHARE), *layout.entity_levels,
        *calendar_exprs(previous, layout), *lags, pl.col(GAP),
        *(delta_expr(c, *deltas[c], e, anchored=c in layout.anchored) if c in deltas
          else pl.col(_INNOVATION + c).alias(DEV + c) if c in levels else pl.col(c) for c in layout.steps),
    )


def _level_over(column: str, how: str, entity: str) -> pl.Expr:
    x = pl.col(column).cast(pl.Float64)
    return (x.log() if how == "ratio" else x).mean().over(entity).alias(LEVEL + column)


def column_types(long: LongTable, layout: SequenceLayout, steps: pl.DataFrame, *, private: bool = False) -> dict[str, str]:
    """Column types the step model is given: its own columns', and each lag typed as its source.
    The gap is a category when it takes few values (``private``: when the time is a date, a
    public rule: whole days between steps)."""
    if private:
        gap_type = "categorical" if layout.time.kind == "date" else "continuous"
    else:
        gap_type = "categorical" if steps.get_column(GAP).drop_nulls().n_unique() <= MAX_GAP_LEVELS else "continuous"
    types = {STEP: "continuous", SHARE: "continuous", LENGTH: "continuous", GAP: gap_type}
    types |= {name: "categorical" for name in layout.calendar}
    types |= {lag_name(j, GAP): gap_type for j in range(1, layout.lags + 1)}
    types |= {DELTA + c: "continuous" for c, _, _ in layout.deltas}
    types |= {DEV + c: "continuous" for c, _ in layout.levels} | {name: "continuous" for name in layout.entity_levels}
    types |= {lag_name(j, c): "continuous" for j in range(1, layout.lags + 1) for c, _ in layout.levels}
    return types


def time_units(series: pl.Series, layout: SequenceLayout) -> np.ndarray:
    """Times as numbers in the gap's unit (days, seconds or the order values) as float64."""
    kind = layout.time.kind
    if kind == "date":
        return series.cast(pl.Int32).cast(pl.Float64).to_numpy()
    if kind == "datetime":
        unit = getattr(series.dtype, "time_unit", "us") or "us"
        return series.cast(pl.Int64).cast(pl.Float64).to_numpy() / _SECONDS[unit]
    return series.cast(pl.Float64).to_numpy()


def times_from_units(values: np.ndarray, layout: SequenceLayout, name: str) -> pl.Series:
    """The inverse of ``time_units``: numbers back to the time column's working dtype."""
    kind, dtype = layout.time.kind, layout.time.parsed
    if kind == "date":
        return pl.Series(name, np.rint(values).astype(np.int32)).cast(pl.Date)
    if kind == "datetime":
        unit = getattr(dtype, "time_unit", "us") or "us"
        return pl.Series(name, np.rint(values * _SECONDS[unit]).astype(np.int64)).cast(dtype)
    if dtype.is_integer():
        return pl.Series(name, np.rint(values).astype(np.int64)).cast(dtype)
    return pl.Series(name, values).cast(dtype)


__all__ = [
    "CTX", "DELTA", "DEV", "DOW", "FIRST", "GAP", "HOUR", "LAGS", "LENGTH", "LEVEL", "SHARE", "START", "STEP", "SequenceLayout", "apply_delta", "build_layout",
    "calendar_exprs", "column_types", "deviation", "from_deviation", "level_exprs", "entity_frame", "lag_name", "step_frame", "time_units", "times_from_units",
]
