"""Histories drawn step by step, all entities at once.

``draw_histories`` walks the steps ``t = 0, 1, ...`` once; at each step every entity whose
history is still running (``t < length``) gets one row, drawn by the step model given its
context (``engine.models.argn.ARGN.sample_given``): the entity's context and length, the step
index and share done, the previous step's calendar and the previous ``LAGS`` steps' values. The
entities are held in order of length, longest first, so the running ones are always a leading
slice: no Python loop over rows, one batched draw per step. The time of step 0 is the entity's
start; each later time is the previous one plus the drawn gap (never below the smallest real
gap, so times stay strictly increasing). A ``Prefix`` holds given steps: where an entity has a
given step, it replaces the drawn one, so the continuation is drawn given the real history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.seeds import derive_seed
from engine.sequences.layout import (
    CTX, DELTA, DEV, DOW, FIRST, GAP, HOUR, LENGTH, LEVEL, SHARE, STEP, SequenceLayout, apply_delta, deviation, from_deviation,
    lag_name, phi_of, times_from_units,
)

ENTITY_INDEX = "\x00entity"
STEP_INDEX = "\x00step"
TIME = "\x00time"


@dataclass(frozen=True)
class Prefix:
    """Given steps: per step index ``t``, the entity positions that have a given step ``t`` and
    the given rows (``GAP``, the step columns and ``TIME`` in time units), in that order."""

    steps: dict[int, tuple[np.ndarray, pl.DataFrame]]


@dataclass(frozen=True)
class TimeRules:
    """What keeps drawn times sound: the gap used where the model draws none, the smallest gap."""

    fill_gap: float
    min_gap: float


def draw_histories(step_model: Any, layout: SequenceLayout, *, static: pl.DataFrame, lengths: np.ndarray,
                   starts: np.ndarray, rules: TimeRules, seed: int, prefix: Prefix | None = None) -> pl.DataFrame:
    """All steps of all entities: ``ENTITY_INDEX`` (row of ``static``), ``STEP_INDEX``, ``TIME``
    (in time units), ``GAP`` and the step columns, sorted by entity then step.

    ``static``: one row per entity with the step model's entity context (``@ctx:`` columns and
    ``@length``) and the first values of the columns drawn as changes (``@first:``); ``lengths``
    and ``starts`` (time units) per entity.
    """
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    static = static[order]
    starts = starts[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    prefix_steps = _permuted(prefix, inverse)
    total = int(lengths.max()) if lengths.size else 0
    running = np.searchsorted(-lengths, -np.arange(total), side="right")  # entities with length > t, per t
    history: list[pl.DataFrame] = []
    parts: list[pl.DataFrame] = []
    fills = _null_fills(step_model)
    previous = starts.copy()
    for t in range(total):
        n = int(running[t])
        context = _context(layout, static[:n], lengths[:n], previous[:n], t, history, fills)
        drawn = step_model.sample_given(context, seed=derive_seed(seed, "step", t)).select(layout.step_outputs)
        drawn = _levels(drawn, static[:n], history, layout, t)
        times = _times(drawn.get_column(GAP), previous[:n], starts[:n], t, rules)
        given = prefix_steps.get(t)
        if given is not None:
            drawn, times = _overwrite(drawn, times, given, layout)
        if t > 0:
            drawn = drawn.with_columns(pl.Series(GAP, times - previous[:n]).cast(layout.gap_dtype))
        else:
            drawn = drawn.with_columns(pl.lit(0, dtype=layout.gap_dtype).alias(GAP))
        previous = np.concatenate([times, previous[n:]]) if n < previous.size else times
        history = [drawn, *history][: layout.lags]
        parts.append(drawn.with_columns(pl.Series(ENTITY_INDEX, order[:n]), pl.lit(t, dtype=pl.Int64).alias(STEP_INDEX),
                                        pl.Series(TIME, times)))
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="vertical").sort([ENTITY_INDEX, STEP_INDEX])


def _permuted(prefix: Prefix | None, inverse: np.ndarray) -> dict[int, tuple[np.ndarray, pl.DataFrame]]:
    if prefix is None:
        return {}
    return {t: (inverse[positions], rows) for t, (positions, rows) in prefix.steps.items()}


def _null_fills(step_model: Any) -> dict[str, Any]:
    """What a null becomes in the columns the step model holds no null for (a private run may
    leave the rare nulls of the first steps' lags out): the value its training filled them with."""
    from engine.privacy.private_statistics import fill_values

    return fill_values(step_model.transformer_)


def _context(layout: SequenceLayout, static: pl.DataFrame, lengths: np.ndarray, previous: np.ndarray, t: int,
             history: list[pl.DataFrame], fills: dict[str, Any]) -> pl.DataFrame:
    """The step model's context part for step ``t`` of the ``n`` running entities."""
    n = static.height
    columns: list[pl.Series] = [static.get_column(CTX + c) for c in layout.step_context]
    columns += [static.get_column(LENGTH), pl.Series(STEP, np.full(n, t, dtype=np.int64)),
                pl.Series(SHARE, t / lengths.astype(np.float64))]
    columns += [static.get_column(name) for name in layout.entity_levels]
    levels = dict(layout.levels)
    if layout.calendar:
        when = times_from_units(previous, layout, "t")
        if DOW in layout.calendar:
            columns.append(when.dt.weekday().cast(pl.Int64).alias(DOW))
        if HOUR in layout.calendar:
            columns.append(when.dt.hour().cast(pl.Int64).alias(HOUR))
    for j in range(1, layout.lags + 1):
        past = history[j - 1] if j <= len(history) else None
        for c in layout.lagged:
            name = lag_name(j, c)
            if past is not None and c in levels:  # lagged as its deviation from the entity's level
                values = past.get_column(c)[:n].cast(pl.Float64).to_numpy()
                with np.errstate(all="ignore"):
                    series = pl.Series(name, deviation(values, static.get_column(LEVEL + c).cast(pl.Float64).to_numpy(), levels[c]))
                series = series.fill_nan(None)
            elif past is not None:
                series = past.get_column(c)[:n].alias(name)
            else:
                series = pl.Series(name, np.zeros(n)).cast(layout.gap_dtype) if c == GAP else pl.repeat(None, n, eager=True).alias(name)
            columns.append(series.fill_null(fills[name]) if name in fills and series.null_count() else series)
    return pl.DataFrame(columns)


def _levels(drawn: pl.DataFrame, static: pl.DataFrame, history: list[pl.DataFrame], layout: SequenceLayout,
            t: int) -> pl.DataFrame:
    """The drawn step with the columns drawn as changes turned into levels: the entity's first
    value at step 0, else the reference column's previous level moved by the change."""
    if not layout.deltas and not layout.levels:
        return drawn
    dtypes = dict(layout.output)
    levels = []
    for column, how in layout.levels:
        level = static.get_column(LEVEL + column).cast(pl.Float64).to_numpy()
        innovation = np.nan_to_num(drawn.get_column(DEV + column).cast(pl.Float64).fill_null(np.nan).to_numpy(), nan=0.0)
        if t > 0:  # the deviation keeps its share of the previous one (``persistence``), then the drawn innovation
            previous = history[0].get_column(column).cast(pl.Float64).to_numpy()[: drawn.height]
            with np.errstate(all="ignore"):
                before = np.nan_to_num(deviation(previous, level, how), nan=0.0, posinf=0.0, neginf=0.0)
            innovation = innovation + phi_of(layout, column) * before
        values = from_deviation(level, innovation, how)
        series = pl.Series(column, values)
        levels.append(series.round(0).cast(dtypes[column], strict=False) if dtypes[column].is_integer() else series.cast(dtypes[column]))
    for column, how, reference in layout.deltas:
        if t == 0 and column in layout.anchored:
            first = static.get_column(FIRST + reference).cast(pl.Float64).to_numpy()
            values = apply_delta(first, drawn.get_column(DELTA + column).cast(pl.Float64).fill_null(np.nan).to_numpy(), how)
        elif t == 0:
            values = static.get_column(FIRST + column).cast(pl.Float64).to_numpy()
        else:
            previous = history[0].get_column(reference).cast(pl.Float64).to_numpy()[: drawn.height]
            change = drawn.get_column(DELTA + column).cast(pl.Float64).fill_null(np.nan).to_numpy()
            values = apply_delta(previous, change, how)
        series = pl.Series(column, values)
        levels.append(series.round(0).cast(dtypes[column], strict=False) if dtypes[column].is_integer() else series.cast(dtypes[column]))
    return drawn.with_columns(levels).select([GAP, *layout.steps])


def _times(gap: pl.Series, previous: np.ndarray, starts: np.ndarray, t: int, rules: TimeRules) -> np.ndarray:
    """Step ``t``'s times (time units): the start at step 0, else the previous time plus the drawn gap."""
    if t == 0:
        return starts.copy()
    values = gap.cast(pl.Float64, strict=False).fill_nan(None).fill_null(rules.fill_gap).to_numpy()
    return previous + np.maximum(values, rules.min_gap)


def _overwrite(drawn: pl.DataFrame, times: np.ndarray, given: tuple[np.ndarray, pl.DataFrame],
               layout: SequenceLayout) -> tuple[pl.DataFrame, np.ndarray]:
    """The drawn rows with the given steps in their places (the prefix's rows and times)."""
    positions, rows = given
    index = pl.Series(positions.astype(np.int64))
    columns = [drawn.get_column(c).clone().scatter(index, rows.get_column(c).cast(drawn.schema[c], strict=False))
               for c in layout.steps]
    times = times.copy()
    times[positions] = rows.get_column(TIME).to_numpy()
    return drawn.with_columns(columns), times


__all__ = ["ENTITY_INDEX", "STEP_INDEX", "TIME", "Prefix", "TimeRules", "draw_histories"]
