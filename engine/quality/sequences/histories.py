"""Long tables of histories, checked and laid out as flat arrays with entity offsets.

Every sequence metric reads a table the same way: rows sorted by (entity, time), each row's
entity as a dense code 0..n-1, each entity's length and first row, the numeric step columns as
float64 (NaN = null; dates as microseconds since the epoch) and the categorical step columns as
integer codes shared by the real, synthetic and holdout tables (``engine.quality.columns.prepare``
decides the kinds and the dictionaries, exactly as the single-table report does). Per-entity
statistics are then segment sums (``np.bincount`` on the entity codes), never a Python loop over
rows or entities.

The columns play four roles: the entity, the time (``order_by``), the context (constant within
each entity: given, or inferred from the real table as the columns constant within every real
entity) and the steps (the rest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.quality.columns import Prepared, Table, as_polars, infer_kinds, prepare


@dataclass
class Histories:
    """One table of histories as arrays (rows sorted by entity, then time)."""

    role: str
    entity: np.ndarray  # per row: dense entity code 0..n-1
    lengths: np.ndarray  # per entity: its number of steps
    starts: np.ndarray  # per entity: its first row
    time: np.ndarray  # per row: the time as float64 (microseconds for dates and timestamps)
    values: dict[str, np.ndarray] = field(default_factory=dict)  # numeric step columns, float64, NaN = null
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # categorical step columns, int32, null = last code

    @property
    def n_entities(self) -> int:
        return int(self.lengths.size)

    @property
    def n_rows(self) -> int:
        return int(self.entity.size)

    def position(self) -> np.ndarray:
        """Per row: its step number within its entity (0 for the first step)."""
        return np.arange(self.n_rows) - self.starts[self.entity]

    def next_same(self, lag: int = 1) -> np.ndarray:
        """Mask over rows 0..n-lag-1: True where the row ``lag`` steps later belongs to the same entity."""
        return self.entity[lag:] == self.entity[:-lag] if self.n_rows > lag else np.zeros(0, dtype=bool)

    def take(self, rows: np.ndarray, role: str) -> Histories:
        """The histories of the rows where ``rows`` (a boolean mask) is True, entities renumbered."""
        kept = self.entity[rows]
        _, entity = np.unique(kept, return_inverse=True)
        lengths = np.bincount(entity)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        return Histories(role=role, entity=entity.astype(np.int64), lengths=lengths, starts=starts,
                         time=self.time[rows], values={k: v[rows] for k, v in self.values.items()},
                         codes={k: v[rows] for k, v in self.codes.items()})


@dataclass
class Layout:
    """The roles of the columns and the prepared step and entity tables of every role."""

    entity: str
    order_by: str
    context: list[str]
    steps: list[str]
    context_source: str  # "given" | "inferred"
    histories: dict[str, Histories]  # role -> arrays
    step_frames: dict[str, pl.DataFrame]  # role -> the step columns, rows sorted like the arrays
    entity_frames: dict[str, pl.DataFrame]  # role -> one row per entity: its context columns
    prepared: Prepared | None  # the step columns' kinds and codes (None when there is no step column)
    notes: list[str] = field(default_factory=list)

    @property
    def numeric(self) -> list[str]:
        return [s.name for s in self.prepared.compared if s.kind in ("numeric", "datetime")] if self.prepared else []

    @property
    def categorical(self) -> list[str]:
        return [s.name for s in self.prepared.compared if s.kind == "categorical"] if self.prepared else []

    def categories(self, name: str) -> list[str]:
        assert self.prepared is not None
        return self.prepared.categories[name]


def _checked(data: Any, role: str, entity: str, order_by: str) -> pl.DataFrame:
    frame = as_polars(data, role)
    for what, column in (("entity", entity), ("order_by", order_by)):
        if column not in frame.columns:
            raise InputError(f"the {role} table has no {what} column {column!r}; its columns: {frame.columns}")
    if frame.height == 0:
        hint = "; pass holdout=None to assess without one" if role == "holdout" else ""
        raise InputError(f"the {role} table has no rows{hint}")
    for column in (entity, order_by):
        nulls = frame.get_column(column).null_count()
        if nulls:
            raise InputError(f"the {role} table has {nulls:,} null value(s) in {column!r}; every step needs an "
                             "entity and a time")
    dtype = frame.schema[order_by]
    if not (dtype.is_numeric() or dtype.is_temporal()):
        raise InputError(f"order_by column {order_by!r} of the {role} table is {dtype}; it must hold numbers, dates "
                         "or timestamps (parse text times first, e.g. with engine.read)")
    return frame


def _time_values(frame: pl.DataFrame, order_by: str) -> np.ndarray:
    dtype = frame.schema[order_by]
    column = pl.col(order_by)
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        column = column.cast(pl.Datetime("us")).dt.epoch("us")
    elif dtype.is_temporal():
        column = column.to_physical()
    return frame.select(column.cast(pl.Float64)).to_series().to_numpy()


def infer_context(real: pl.DataFrame, *, entity: str, order_by: str) -> list[str]:
    """The columns (besides entity and time) constant within every entity of ``real``; nulls count as a value."""
    candidates = [c for c in real.columns if c not in (entity, order_by)]
    if not candidates:
        return []
    distinct = real.group_by(entity).agg([pl.col(c).n_unique() for c in candidates])
    return [c for c in candidates if int(distinct.get_column(c).max()) <= 1]  # type: ignore[arg-type]


def load_histories(
    frames: Mapping[str, Any],
    *,
    entity: str,
    order_by: str,
    context: list[str] | None,
    column_types: Mapping[str, str],
    max_int_levels: int,
) -> Layout:
    """Check ``frames`` (role -> long table: "real", "synthetic" and maybe "holdout"), sort them and lay them out.

    Raises InputError naming the table and the column for a missing entity or time column, an
    empty table, nulls in the entity or time column, a time column that is neither numbers nor
    dates, or a table without the real table's columns; ConfigError for a bad ``context``.
    """
    if not isinstance(entity, str) or not isinstance(order_by, str):
        raise ConfigError(f"entity and order_by must be column names (str), got {entity!r} and {order_by!r}")
    if entity == order_by:
        raise ConfigError(f"entity and order_by must be two different columns, both are {entity!r}")
    checked = {role: _checked(data, role, entity, order_by) for role, data in frames.items()}
    real = checked["real"]
    for role, frame in checked.items():
        missing = [c for c in real.columns if c not in frame.columns]
        extra = [c for c in frame.columns if c not in real.columns]
        if missing or extra:
            raise InputError(f"the {role} table must have the real table's columns: missing {missing}, unexpected {extra}")
    notes: list[str] = []
    if context is None:
        context = infer_context(real, entity=entity, order_by=order_by)
        source = "inferred"
        if context:
            notes.append(f"context columns inferred as those constant within every real entity: {context}; "
                         "pass context= to choose")
    else:
        if isinstance(context, str) or not all(isinstance(c, str) for c in context):
            raise ConfigError(f"context must be a list of column names, got {context!r}")
        bad = [c for c in context if c not in real.columns or c in (entity, order_by)]
        if bad:
            raise InputError(f"context column(s) {bad} are not columns of the real table besides the entity and the "
                             f"time; columns: {real.columns}")
        context = list(context)
        source = "given"
    steps = [c for c in real.columns if c not in (entity, order_by, *context)]
    stray = sorted(set(column_types) - set(steps) - set(context))
    if stray:
        raise ConfigError(f"config['steps']['column_types'] names column(s) {stray} that are neither step nor "
                          "context columns")

    ordered = {role: frame.sort([entity, order_by], maintain_order=True) for role, frame in checked.items()}
    step_frames = {role: frame.select(steps) for role, frame in ordered.items()}
    prepared = None
    if steps:
        step_types = {c: k for c, k in column_types.items() if c in steps}
        kinds = infer_kinds(step_frames["real"], overrides=step_types, max_int_levels=max_int_levels)
        if any(spec.kind != "skip" for spec in kinds):
            prepared = prepare(step_frames["real"], step_frames["synthetic"], step_frames.get("holdout"),
                               column_types=step_types, max_int_levels=max_int_levels)
    if steps and prepared is None:
        notes.append(f"no step column can be compared ({steps}: identifiers, free text or skipped): only the "
                     "lengths, the spacing and the context are judged")
    tables: dict[str, Table | None] = {"real": None, "synthetic": None, "holdout": None}
    if prepared is not None:
        tables.update(real=prepared.real, synthetic=prepared.synthetic, holdout=prepared.holdout)
    histories: dict[str, Histories] = {}
    entity_frames: dict[str, pl.DataFrame] = {}
    for role, frame in ordered.items():
        codes = frame.select(pl.col(entity).rle_id().cast(pl.Int64)).to_series().to_numpy()
        lengths = np.bincount(codes)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        table = tables[role]
        histories[role] = Histories(
            role=role, entity=codes, lengths=lengths, starts=starts, time=_time_values(frame, order_by),
            values=dict(table.values) if table is not None else {}, codes=dict(table.codes) if table is not None else {})
        entity_frames[role] = frame.group_by(entity, maintain_order=True).agg(
            [pl.col(c).first() for c in context]).select(context)
    return Layout(entity=entity, order_by=order_by, context=context, steps=steps, context_source=source,
                  histories=histories, step_frames=step_frames, entity_frames=entity_frames, prepared=prepared,
                  notes=notes)
