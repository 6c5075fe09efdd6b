"""Datetime columns: Date, Datetime (any unit, with or without time zone) and date strings.

The column is read as integer ticks (days for Date, the time unit for Datetime), and its
*granularity* is detected: the coarsest of day / hour / minute / second / ms / us / ns that
divides every distance from the earliest value. The linear part is then the number of
granularity steps since the origin, the earliest value released (the low clip value of the
extreme-value protection, so the state holds no date beyond it), encoded like a continuous
number (mode-normalised floats, or quantile-bin tokens), its extremes clipped like one's, and
restored to a whole number of steps, so dates stay whole days and hourly data stays on the hour.

Float encoding adds cyclical parts, each a (sin, cos) pair: ``day_of_week`` and
``day_of_year`` always, ``time_of_day`` when the granularity is finer than a day. On inverse
the linear part decides the value; for time-zone-naive columns the cyclical parts then snap
it (time of day within +-12 h, at second granularity or coarser; then weekday within +-3
days) so that a model which learned, say, "trading days are weekdays" keeps that in its
output even when its linear part is a few days off. Encoding then decoding is unaffected:
the parts already agree.

Strings declared as datetimes (``column_types={"last_review": "datetime"}``) are parsed with
the first of ``FORMATS`` that reads every value and writes it back identically, and are
restored as strings in that format.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.schema import SemanticType
from engine.transform.columns.base import ColumnEncoder, FitContext
from engine.transform.columns.numeric import NumericCore
from engine.transform.integers import clip_distances, distances, from_keys, key_of, to_keys
from engine.transform.protect import clip_bounds
from engine.transform.spans import Span, TokenColumn
from engine.transform.statistics import DatetimeStatistics

# Tried in order for string columns; date-only formats give Date, the others Datetime("us").
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d")
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
)
FORMATS = DATE_FORMATS + DATETIME_FORMATS

_DAY_NS = 86_400 * 10**9
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}
_STEPS_NS = (_DAY_NS, 3_600 * 10**9, 60 * 10**9, 10**9, 10**6, 10**3, 1)
_TWO_PI = 2.0 * np.pi
# A float32 (sin, cos) pair pins an angle to about 1e-7 rad: enough to name the second of a
# day, not the millisecond. Finer granularities are not snapped to their time of day.
_MAX_SNAP_STEPS_PER_DAY = 86_400


def _parse(s: pl.Series, fmt: str) -> pl.Series:
    if fmt in DATE_FORMATS:
        return s.str.to_date(fmt, strict=False)
    return s.str.to_datetime(fmt, time_unit="us", strict=False)


def _shift(ticks: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``ticks + delta`` saturating at the ends of Int64 instead of wrapping around."""
    with np.errstate(over="ignore"):
        moved = ticks + delta
    up = (delta > 0) & (moved < ticks)
    down = (delta < 0) & (moved > ticks)
    return np.where(up, _INT64_MAX, np.where(down, _INT64_MIN, moved))


def detect_format(s: pl.Series) -> str:
    """The first of ``FORMATS`` that parses every string of ``s`` and formats it back unchanged."""
    values = s.drop_nulls()
    sample = values.head(1000)
    for fmt in FORMATS:
        head = _parse(sample, fmt)
        if head.null_count() or not (head.dt.strftime(fmt) == sample).all():
            continue
        parsed = _parse(values, fmt)
        if parsed.null_count() == 0 and (parsed.dt.strftime(fmt) == values).all():
            return fmt
    example = values[0] if len(values) else None
    raise ConfigError(
        f"column {s.name!r} is declared datetime, but its strings (e.g. {example!r}) do not all match one "
        f"of the formats {', '.join(FORMATS)}; declare it categorical or convert it to a Date/Datetime first"
    )


class DatetimeEncoder(ColumnEncoder):
    """Linear part (mode-normalised steps since the earliest value) plus cyclical parts."""

    tag = "datetime"

    def __init__(
        self,
        name: str,
        dtype: pl.DataType,
        kind: SemanticType,
        *,
        fmt: str | None,
        origin: int,
        step: int,
        ticks_per_day: int,
        core: NumericCore,
    ) -> None:
        super().__init__(name, dtype, kind)
        self.fmt = fmt
        self.origin = origin
        self.step = step
        self.ticks_per_day = ticks_per_day
        self.core = core
        self.parts = ["day_of_week", "day_of_year"] + (["time_of_day"] if step < ticks_per_day else [])

    # -- reading and writing the column as ticks ------------------------------------------
    @property
    def _temporal(self) -> pl.DataType:
        """The temporal dtype the ticks belong to (the parsed dtype for strings)."""
        if self.fmt is None:
            return self.dtype
        return pl.Date() if self.fmt in DATE_FORMATS else pl.Datetime("us")

    @property
    def _zone(self) -> str | None:
        temporal = self._temporal
        return temporal.time_zone if isinstance(temporal, pl.Datetime) else None

    def _as_temporal(self, s: pl.Series) -> pl.Series:
        if self.fmt is None:
            return s
        parsed = _parse(s, self.fmt)
        bad = parsed.is_null() & s.is_not_null()
        if bad.any():
            raise InputError(
                f"column {self.name!r}: value {s.filter(bad)[0]!r} does not match the date format {self.fmt!r} "
                "seen when the transformer was fitted"
            )
        return parsed

    @staticmethod
    def _ticks(temporal: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        missing = temporal.is_null().to_numpy()
        ticks = temporal.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
        return ticks, missing

    def _local_ticks(self, temporal: pl.Series, ticks: np.ndarray) -> np.ndarray:
        if self._zone is None:
            return ticks
        return temporal.dt.replace_time_zone(None).to_physical().cast(pl.Int64).fill_null(0).to_numpy()

    def _steps(self, ticks: np.ndarray) -> np.ndarray:
        # In integer arithmetic: a nanosecond column's range can span all of Int64, where
        # ``ticks - origin`` would wrap around.
        return distances(to_keys(ticks, signed=True), key_of(self.origin, signed=True)) / self.step

    def _ticks_of(self, steps: np.ndarray) -> np.ndarray:
        """Ticks of (float) step counts: rounded, clipped to the training range, never wrapped."""
        # core.hi is a float: near the ends of Int64 it may round past the last representable tick.
        span = min(max(int(round(self.core.hi)), 0), (_INT64_MAX - self.origin) // self.step)
        keys = np.uint64(key_of(self.origin, signed=True)) + clip_distances(steps, span, self.step)
        return from_keys(keys, signed=True)

    # -- fitting --------------------------------------------------------------------------
    @staticmethod
    def measure(s: pl.Series, kind: SemanticType, ctx: FitContext) -> DatetimeStatistics:
        """The exact statistics of ``s``: format, origin (the earliest released value), granularity, the steps' range."""
        fmt = detect_format(s) if isinstance(s.dtype, pl.String) else None
        temporal = _parse(s, fmt) if fmt else s
        dtype = temporal.dtype
        if isinstance(dtype, pl.Date):
            ticks_per_day, steps = 1, (1,)
        else:
            unit = _UNIT_NS[dtype.time_unit]
            ticks_per_day = _DAY_NS // unit
            steps = tuple(step // unit for step in _STEPS_NS if step >= unit)
        ticks, missing = DatetimeEncoder._ticks(temporal)
        present = ticks[~missing]
        origin = int(present.min())
        # Distances from the earliest value as uint64: exact over the whole Int64 range.
        offsets = to_keys(present, signed=True) - np.uint64(key_of(origin, signed=True))
        gcd = int(np.gcd.reduce(offsets)) if len(present) > 1 else 0
        step = next((st for st in steps if gcd % st == 0), steps[-1])
        linear = distances(to_keys(ticks, signed=True), key_of(origin, signed=True)) / step
        if ctx.params.extremes is not None:
            # The origin on the low clip value: the state holds no date before it.
            lo, _ = clip_bounds(linear[~missing], extremes=ctx.params.extremes, k=ctx.params.rare_category_k)
            origin += int(round(lo)) * step
            linear = distances(to_keys(ticks, signed=True), key_of(origin, signed=True)) / step
        stats = NumericCore.measure(linear, missing, decimals=0, ctx=ctx)
        return DatetimeStatistics(s.name, s.dtype, kind, fmt, origin, step, ticks_per_day, stats)

    @classmethod
    def from_statistics(cls, stats: DatetimeStatistics) -> DatetimeEncoder:
        return cls(
            stats.name,
            stats.dtype,
            stats.kind,
            fmt=stats.fmt,
            origin=stats.origin,
            step=stats.step,
            ticks_per_day=stats.ticks_per_day,
            core=NumericCore.from_statistics(stats.range),
        )

    # -- layout ---------------------------------------------------------------------------
    @property
    def spans(self) -> list[Span]:
        core = self.core.spans(self.name)
        linear, null = core[:2], core[2:]
        return linear + [Span(self.name, part, 2, "tanh") for part in self.parts] + null

    @property
    def tokens(self) -> list[TokenColumn]:
        return self.core.tokens(self.name)

    # -- float encoding -------------------------------------------------------------------
    def _angles(self, local: np.ndarray) -> dict[str, np.ndarray]:
        days = np.floor_divide(local, self.ticks_per_day)
        angles = {"day_of_week": _TWO_PI * ((days + 3) % 7) / 7.0}  # 1970-01-01 was a Thursday (3)
        calendar = days.astype("datetime64[D]")
        day_of_year = (calendar - calendar.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
        angles["day_of_year"] = _TWO_PI * day_of_year / 365.25
        if "time_of_day" in self.parts:
            angles["time_of_day"] = _TWO_PI * (local - days * self.ticks_per_day) / self.ticks_per_day
        return angles

    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        temporal = self._as_temporal(s)
        ticks, missing = self._ticks(temporal)
        k = 1 + self.core.vgm.n_modes
        linear = np.zeros((len(ticks), self.core.float_width), dtype=np.float32)
        self.core.encode(self.name, self._steps(ticks), missing, linear, rng)
        out[:, :k] = linear[:, :k]
        # cyclical parts of the value the linear part encodes (capped; the fill value for nulls)
        steps = self.core.finish(np.where(missing, self.core.fill, self._steps(ticks)))
        local = self._ticks_of(steps)
        if self._zone is not None:
            local = np.where(missing, local, self._local_ticks(temporal, ticks))
        angles = self._angles(local)
        for i, part in enumerate(self.parts):
            out[:, k + 2 * i] = np.sin(angles[part])
            out[:, k + 2 * i + 1] = np.cos(angles[part])
        if self.core.has_nulls:
            out[:, -2:] = linear[:, k:]

    def decode(self, block: np.ndarray) -> pl.Series:
        k = 1 + self.core.vgm.n_modes
        linear = np.concatenate([block[:, :k], block[:, k + 2 * len(self.parts) :]], axis=1)
        steps, missing = self.core.decode(linear)
        ticks = self._ticks_of(steps)
        if self._zone is None:
            ticks = self._snap(ticks, block[:, k : k + 2 * len(self.parts)])
        return self._restore(ticks, missing)

    def _snap(self, ticks: np.ndarray, cyclic: np.ndarray) -> np.ndarray:
        """Move each value to agree with its time-of-day, then its weekday (see module doc)."""
        angle = {
            part: np.mod(np.arctan2(cyclic[:, 2 * i], cyclic[:, 2 * i + 1]), _TWO_PI)
            for i, part in enumerate(self.parts)
        }
        per_day = self.ticks_per_day // self.step
        if "time_of_day" in angle and per_day <= _MAX_SNAP_STEPS_PER_DAY:
            target = np.rint(angle["time_of_day"] / _TWO_PI * per_day).astype(np.int64) % per_day
            current = (ticks // self.step) % per_day
            half = per_day // 2
            ticks = _shift(ticks, ((target - current + half) % per_day - half) * self.step)
        target = np.rint(angle["day_of_week"] / _TWO_PI * 7).astype(np.int64) % 7
        current = (np.floor_divide(ticks, self.ticks_per_day) + 3) % 7
        ticks = _shift(ticks, ((target - current + 3) % 7 - 3) * self.ticks_per_day)
        low = self.origin + int(round(self.core.lo)) * self.step
        high = self.origin + int(round(self.core.hi)) * self.step
        return np.clip(ticks, max(low, _INT64_MIN), min(high, _INT64_MAX))

    # -- token encoding -------------------------------------------------------------------
    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        ticks, missing = self._ticks(self._as_temporal(s))
        return self.core.encode_tokens(self.name, self._steps(ticks), missing)

    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        steps, missing = self.core.decode_tokens(codes, rng)
        return self._restore(self._ticks_of(steps), missing)

    # -- restoring ------------------------------------------------------------------------
    def _restore(self, ticks: np.ndarray, missing: np.ndarray) -> pl.Series:
        temporal = self._temporal
        physical = np.int32 if isinstance(temporal, pl.Date) else np.int64
        s = pl.Series(self.name, ticks.astype(physical))
        if isinstance(temporal, pl.Datetime):
            s = s.cast(pl.Datetime(temporal.time_unit, temporal.time_zone))
        else:
            s = s.cast(pl.Date)
        if missing.any():
            s = s.scatter(np.flatnonzero(missing), None)
        return s.dt.strftime(self.fmt) if self.fmt is not None else s

    def protection(self) -> dict[str, Any] | None:
        if self.core.cap is None:
            return None
        cap = dict(self.core.cap)
        cap["lower"] = self.origin + int(round(cap["lower"])) * self.step
        cap["upper"] = self.origin + int(round(cap["upper"])) * self.step
        cap["unit"] = "days" if self.ticks_per_day == 1 else self._temporal.time_unit
        return {"capping": cap}

    def max_error(self, encoding: str) -> float:
        """Bound in the column's ticks (days for dates, the time unit for datetimes)."""
        return self.core.max_error(encoding) * self.step

    def state(self) -> dict[str, Any]:
        return {
            "fmt": self.fmt,
            "origin": self.origin,
            "step": self.step,
            "ticks_per_day": self.ticks_per_day,
            "core": self.core.to_dict(),
        }

    @classmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> DatetimeEncoder:
        return cls(
            name,
            dtype,
            kind,
            fmt=state["fmt"],
            origin=int(state["origin"]),
            step=int(state["step"]),
            ticks_per_day=int(state["ticks_per_day"]),
            core=NumericCore.from_dict(state["core"]),
        )
