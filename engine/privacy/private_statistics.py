"""Private statistics: what a DP run's ``DataTransformer`` is built from, measured with accounted mechanisms.

The transformer is built in one way, from per-column statistics
(``engine.transform.statistics``). Without DP they are measured exactly from the rows (kinds
from cardinality, extreme-value clipping, rare-level merge, Gaussian mixtures, quantile bins,
identifier formats, decimals). Under differential privacy none of that may happen outside an
accounted mechanism, so this module measures the same statistics
(``private_statistics``, charged to the ``PrivateRun``) from:

- *the schema and the user's declarations* (public): a column's role follows its dtype and
  ``column_types``; ``Privacy.bounds`` and ``Privacy.categories`` give ranges and category
  lists; booleans and enums carry their categories in their dtype;
- *one Gaussian histogram per column that needs one* (the preprocessing share of the budget,
  ``engine.privacy.mechanisms``):
  - a number or date without declared bounds: two histograms. The first counts on a fixed,
    data-independent partition of the real line (null, exactly zero, and 4 linear cells per
    power of two from 2^-20 to 2^64 on both sides); cells below a noise-level threshold are
    emptied (post-processing) and the range is the support of what remains (values too rare
    to rise above the noise are dropped: under DP this replaces the extreme-value clipping). The second
    counts on ``FINE_CELLS`` equal cells of that range (one per integer when it holds at most
    ``INTEGER_CELLS`` values), plus exactly zero, cleaned alike; its own support narrows the range; the bins are its quantiles (the DP stand-in for the Gaussian mixture: one "mode"
    per quantile bin, ``z`` the position inside it; and the token encoding's coarse bins).
    Exact zero becomes an atom when it holds at least 1/n_bins of the mass, and the column
    is nullable when the null cell survives;
  - a categorical without a declared list: noisy counts of the values present, and only
    values whose noisy count passes ``selection_threshold`` are kept (the DP stand-in for the
    rare-level merge; the rest fall into ``__other__``); the null level is a public candidate
    measured alongside;
  - a categorical with a public list, when the model needs its frequencies (CTGAN): noisy
    counts of its levels.
- Declared bounds without a histogram give uniform bins; integer ranges of at most
  ``n_bins`` values are exact atoms. Identifiers get a fixed format (``id0000001``... or
  1, 2, ...), no real key's shape; decimals follow the dtype (integers whole, floats not
  rounded); dates are counted in days, datetimes in seconds since 1970.

``private_transformer`` hands them to ``DataTransformer.fit(frame, statistics=...)``, which
reads no row. The frame handed to the model is then prepared (``prepare_frame``): nulls of a column judged not nullable are
filled (with ``__other__`` or the first level, or the private median), so encoding never
fails and never reads anything new. Nothing derived from the rows reaches the transformer
except through the histograms above.

With ``groups`` (``engine.privacy.groups.RowGroups``: entity-level DP, the unit is a group of
rows) every row counts ``1 / n_g`` in every histogram (``n_g``: its group's rows), so one
group adds at most 1 to a histogram, as one row does without groups: the noise and the
budget are unchanged, and the counts are in groups rather than rows. The threshold of a private
category list takes the group's ``max_rows`` new values into account (its delta is divided by
``max_rows``). The number of groups is treated as public, as the row count is.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.privacy.config import Privacy
from engine.privacy.groups import RowGroups
from engine.privacy.mechanisms import cleaning_threshold, gaussian_histogram, secure_rng, selection_threshold
from engine.privacy.run import PrivateRun
from engine.schema import SemanticType
from engine.transform import OTHER_LABEL, DataTransformer
from engine.transform.bins import QuantileBins
from engine.transform.columns.categorical import CategoricalEncoder
from engine.transform.columns.datetime import DatetimeEncoder
from engine.transform.columns.numeric import NumericEncoder
from engine.transform.dtypes import from_float, is_integer, is_numeric, is_temporal_point, to_float
from engine.transform.columns.passthrough import FakeEncoder
from engine.transform.identifiers import IdFormat
from engine.transform.params import TransformerParams
from engine.transform.statistics import (
    CategoryStatistics,
    ColumnStatistics,
    DatetimeStatistics,
    EmptyStatistics,
    IdentifierStatistics,
    NumberStatistics,
    RangeStatistics,
    TableStatistics,
)
from engine.transform.vgm import ModeNormalizer

# The public partition of the real line for columns without declared bounds.
OCTAVES = (-20, 64)
CELLS_PER_OCTAVE = 4
# Equal cells of the second histogram, over the range the first one found; the support of
# the ones above the noise narrows the range.
FINE_CELLS = 64
# An integer column with at most this many values gets one fine cell per value: a bin edge
# then never splits an integer's mass (the quantiles of a wider cell spread adult's
# hours-per-week = 40, 47 % of rows, uniformly over [39.3, 40.8], so a third of it came
# back as 39 or 41).
INTEGER_CELLS = 256
# Chance that noise alone makes an empty cell of the log partition survive the cleaning. The
# range is the support of what survives, so one spurious far cell stretches it by orders of
# magnitude (and the fine pass, whose linear cells then span the whole stretch, cannot undo
# it): one column in a million, not one in ten thousand (a 50-column table would have been hit
# once in 200 runs). It raises the bar of the first cell from 5.1 to 5.9 sigma.
# Cells within an octave of a survivor are cleaned at the usual 1 % (adult's education-num 1,
# 0.16 % of rows, sits 4 cells below the value 2; it would survive only half the time).
RANGE_MISS = 1e-6
# An integer column with at most this many values gets one float-encoding mode per value
# (what a categorical would get without DP); wider ones get private quantile modes.
MAX_INTEGER_MODES = 32
_SECOND_NS = 10**9
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}

Segment = tuple[float, float, float]  # (low, high, mass); low == high for a point mass


@dataclass
class ColumnPlan:
    """How one column is handled under DP, decided from the schema and declarations alone."""

    name: str
    dtype: pl.DataType
    kind: SemanticType
    role: str  # "numeric", "datetime", "categorical", "identifier", "empty", "fake"
    public: bool = False  # bounds or categories known without reading rows
    measured: bool = False  # gets a Gaussian histogram
    selected: bool = False  # its category list is selected privately (threshold)
    levels: list[Any] | None = None  # public categories
    bounds: tuple[Any, Any] | None = None  # public bounds


@dataclass(frozen=True)
class PrivateStatistics:
    """What the private measurement found: the statistics to build the transformer from, the
    private counts of the categories (column -> count per level code), a record per column."""

    statistics: TableStatistics
    counts: dict[str, np.ndarray]

    @property
    def columns(self) -> list[dict[str, Any]]:
        """The record per column (what the transformer keeps as its ``protections_``)."""
        return self.statistics.protections["differential_privacy"]  # type: ignore[index]


@dataclass
class PrivateDomain:
    """The outcome: the transformer (its ``protections_`` hold the record per column) and the
    private counts of the categories."""

    transformer: DataTransformer
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # column -> private counts per level code


def fill_values(transformer: DataTransformer) -> dict[str, Any]:
    """What the nulls of each not-nullable column become: ``__other__``, the first level, or the
    private median; a function of the transformer only (so a resumed run fills alike)."""
    fills: dict[str, Any] = {}
    for enc in transformer.encoders_:
        if isinstance(enc, CategoricalEncoder) and enc.null_code is None:
            fills[enc.name] = OTHER_LABEL if enc.other_code is not None and _is_string(enc.dtype) else enc.levels[0]
        elif isinstance(enc, (NumericEncoder, DatetimeEncoder)) and not enc.core.has_nulls:
            step = enc.step if isinstance(enc, DatetimeEncoder) else 1
            decimals = 0 if isinstance(enc, DatetimeEncoder) else enc.core.decimals
            fills[enc.name] = from_float(enc.name, np.array([enc.core.fill * step]), np.array([False]), enc.dtype, decimals).item()
    return fills


def prepare_frame(transformer: DataTransformer, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the nulls of not-nullable columns filled (a per-row transformation)."""
    fills = [
        pl.col(name).fill_null(pl.lit(value, dtype=frame.schema[name]))
        for name, value in fill_values(transformer).items()
        if name in frame.columns and frame.get_column(name).null_count()
    ]
    return frame.with_columns(fills) if fills else frame


# -- planning ---------------------------------------------------------------------------------
def plan_columns(schema: pl.Schema, *, privacy: Privacy, params: TransformerParams, needs_counts: bool) -> list[ColumnPlan]:
    """Every column's role and what must be measured, from dtypes and declarations only."""
    unknown = sorted((set(privacy.bounds) | set(privacy.categories)) - set(schema))
    if unknown:
        raise ConfigError(f"privacy declares bounds or categories for columns the data does not have: {unknown}")
    plans = []
    for name, dtype in schema.items():
        declared = params.column_types.get(name)
        plan = ColumnPlan(name, dtype, declared or SemanticType.CATEGORICAL, "categorical")
        numeric_like = is_numeric(dtype) or is_temporal_point(dtype)
        if name in params.fake_columns:  # faked in its kind's default format: nothing to measure
            plan.role = "fake"
        elif declared is SemanticType.EMPTY or isinstance(dtype, pl.Null):
            plan.role, plan.kind = "empty", SemanticType.EMPTY
        elif declared is SemanticType.IDENTIFIER:
            if not (dtype.is_integer() or isinstance(dtype, (pl.String, pl.Categorical))):
                raise ConfigError(f"column {name!r} is declared identifier, but its dtype is {dtype}; identifiers are integers or strings")
            plan.role = "identifier"
        elif name in privacy.categories:
            plan.levels = list(privacy.categories[name])
            plan.public = True
            plan.kind = declared if declared in (SemanticType.DISCRETE, SemanticType.BOOLEAN) else SemanticType.CATEGORICAL
        elif name in privacy.bounds or (numeric_like and declared in (None, SemanticType.CONTINUOUS, SemanticType.DATETIME, SemanticType.DISCRETE)):
            if not numeric_like:
                raise ConfigError(
                    f"column {name!r} has dtype {dtype}: bounds (and a {declared or 'continuous'} kind) need a numeric, Date or "
                    "Datetime column; under differential privacy date strings cannot be parsed (their format would be read "
                    "from the rows): convert the column to a Date/Datetime dtype first"
                )
            plan.role = "datetime" if is_temporal_point(dtype) else "numeric"
            plan.kind = SemanticType.DATETIME if plan.role == "datetime" else (declared or SemanticType.CONTINUOUS)
            plan.public = name in privacy.bounds
            plan.bounds = privacy.bounds.get(name)
        elif declared is SemanticType.DATETIME:
            raise ConfigError(
                f"column {name!r} is declared datetime but has dtype {dtype}: under differential privacy convert date "
                "strings to a Date/Datetime dtype first (their format would be read from the rows)"
            )
        elif isinstance(dtype, pl.Boolean):
            plan.levels, plan.public, plan.kind = [False, True, None], True, SemanticType.BOOLEAN
        elif isinstance(dtype, pl.Enum):
            plan.levels, plan.public = [*dtype.categories.to_list(), None], True
        elif isinstance(dtype, (pl.List, pl.Struct, pl.Array, pl.Object, pl.Binary)):
            raise ConfigError(f"column {name!r} has dtype {dtype}, which the transformer does not support")
        else:
            plan.kind = declared if declared in (SemanticType.TEXT, SemanticType.DISCRETE) else SemanticType.CATEGORICAL
        if plan.role in ("numeric", "datetime"):
            plan.measured = not plan.public
        elif plan.role == "categorical":
            plan.selected = not plan.public
            plan.measured = plan.selected or needs_counts
        plans.append(plan)
    return plans


# -- the real-line partition ----------------------------------------------------------------------
def log_partition() -> np.ndarray:
    """Sorted cell edges covering the real line: 4 linear cells per power of two, both signs."""
    k0, k1 = OCTAVES
    powers = 2.0 ** np.arange(k0, k1, dtype=np.float64)
    steps = np.arange(CELLS_PER_OCTAVE, dtype=np.float64) / CELLS_PER_OCTAVE
    positive = np.append((powers[:, None] * (1.0 + steps[None, :])).ravel(), 2.0**k1)
    return np.concatenate([-positive[::-1], positive])


def _histogram(x: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts of the interval cells [e_i, e_i+1), count of exact zeros); values outside go to the end cells.
    ``weights``: what each value counts (groups: ``1 / n_g``); None: 1."""
    zero = x == 0.0
    cells = np.clip(np.searchsorted(edges, x[~zero], side="right") - 1, 0, len(edges) - 2)
    if weights is None:
        return np.bincount(cells, minlength=len(edges) - 1).astype(np.float64), np.array([float(zero.sum())])
    counts = np.bincount(cells, weights=weights[~zero], minlength=len(edges) - 1).astype(np.float64)
    return counts, np.array([float(weights[zero].sum())])


def _quantile(segments: list[Segment], q: float) -> float:
    """The ``q`` quantile of a distribution given as segments, uniform within each."""
    total = sum(m for _, _, m in segments)
    target = q * total
    run = 0.0
    for low, high, mass in segments:
        if mass <= 0:
            continue
        if run + mass >= target:
            return low + (high - low) * min(1.0, max(0.0, (target - run) / mass))
        run += mass
    return segments[-1][1]


def _clip_segments(segments: list[Segment], low: float, high: float) -> list[Segment]:
    out = []
    for a, b, m in segments:
        if b < low or a > high:
            continue
        if a == b:
            out.append((a, b, m))
            continue
        a2, b2 = max(a, low), min(b, high)
        if b2 >= a2:
            out.append((a2, b2, m * (b2 - a2) / (b - a)))
    return out


# -- numbers and dates ----------------------------------------------------------------------
@dataclass
class _Numeric:
    lo: float
    hi: float
    segments: list[Segment] | None  # private distribution within [lo, hi] (None: uniform, public bounds)
    zero_share: float
    nullable: bool
    null_share: float = 0.0  # the private share of nulls when nullable (measured, not public bounds)


def _noisy_segments(
    x: np.ndarray, edges: np.ndarray, *, sigma: float, rng: np.random.Generator, extra_cells: int, miss: float = 0.01, near: int = 0,
    weights: np.ndarray | None = None,
) -> tuple[list[Segment], float]:
    """One Gaussian histogram of ``x`` on ``edges`` plus an exact-zero cell, cleaned of noise.

    A cell survives when its noisy count passes the threshold of a ``miss`` chance of a
    spurious cell over all cells; with ``near`` > 0, also a cell at most ``near`` cells from a
    survivor that passes the threshold of a 1 % chance over those ``2 * near`` neighbours (a
    thin tail next to the bulk is far likelier real than a far cell; post-processing either
    way). When no cell survives, adjacent cells are summed in groups of 2, 4, 8, ... and the
    first grouping in which some group rises above its own noise gives the segments
    (``_coarser_survivors``): a thin spread of values that no single cell shows can stand out
    together. Returns the segments and the surviving zero mass; no segment at all when nothing
    rises above the noise at any grouping (the caller says what is then known).
    """
    cells, zero = _histogram(x, edges, weights)
    noisy = gaussian_histogram(cells, sigma, rng)
    noisy_zero = float(gaussian_histogram(zero, sigma, rng)[0])
    floor = cleaning_threshold(sigma, len(noisy) + 1 + extra_cells, miss=miss)
    keep = noisy >= floor
    if near:  # the survivors' neighbourhoods: keep dilated by ``near`` cells
        close = np.convolve(keep, np.ones(2 * near + 1), mode="same") > 0
        keep |= close & (noisy >= cleaning_threshold(sigma, 2 * near))
    segments: list[Segment] = [(float(edges[i]), float(edges[i + 1]), float(noisy[i])) for i in np.flatnonzero(keep)]
    zero_mass = noisy_zero if noisy_zero >= floor else 0.0
    if zero_mass:
        segments.append((0.0, 0.0, zero_mass))
    if not segments:
        segments = _coarser_survivors(noisy, edges, sigma=sigma, miss=miss)
    segments.sort(key=lambda s: (s[0], s[1]))
    return segments, zero_mass


def _coarser_survivors(noisy: np.ndarray, edges: np.ndarray, *, sigma: float, miss: float) -> list[Segment]:
    """The groups of adjacent cells (2, 4, 8, ... per group; the first grouping where any
    survives) whose summed noisy count passes the threshold of a ``miss`` chance of a spurious
    group over all groups and groupings: a sum of ``m`` cells carries noise ``sigma * sqrt(m)``.
    Post-processing of the same noisy counts: it costs no budget."""
    n = len(noisy)
    groupings = max(1, math.ceil(math.log2(max(n, 2))))
    m = 2
    while m < 2 * n:
        k = -(-n // m)
        sums = np.zeros(k * m)
        sums[:n] = noisy
        sums = sums.reshape(k, m).sum(axis=1)
        floor = math.sqrt(m) * cleaning_threshold(sigma, k * groupings, miss=miss)
        keep = np.flatnonzero(sums >= floor)
        if keep.size:
            return [(float(edges[i * m]), float(edges[min((i + 1) * m, n)]), float(sums[i])) for i in keep]
        m *= 2
    return []


def _measure_numeric(
    x: np.ndarray,
    missing: np.ndarray,
    *,
    sigma: float,
    rng: np.random.Generator,
    integer: bool,
    limits: tuple[float, float] = (-math.inf, math.inf),
    weights: np.ndarray | None = None,
) -> _Numeric | None:
    """Two histograms: where the values lie (the log partition, and the null share: it gives
    the range, whose wide cells keep a thin tail above the noise), then how they spread within
    (``FINE_CELLS`` equal cells over the support, one per integer up to ``INTEGER_CELLS``
    values: it gives the bins).

    The range is the support of the cells that rise above the noise, not the ``extremes``
    clipping of the plain transformer: the cleaning already drops values too rare to stand out
    from the noise (DP's own protection of extremes, which is why DESIGN asks for clipping only
    without DP), and a quantile cap would cut real, well-populated values (adult's
    education-num 1 and 2, 0.7 % of rows) and with them the pairs they form.

    ``limits``: the values the column's dtype can hold (public); the partition is cut to them.
    None when no value range rises above the noise at all (too few rows for the budget): the
    caller then knows nothing of the column but its dtype."""
    values = x[~missing]
    kept = None if weights is None else weights[~missing]
    partition = np.unique(np.clip(log_partition(), *limits))
    coarse, _ = _noisy_segments(values, partition, sigma=sigma, rng=rng, extra_cells=1, miss=RANGE_MISS, near=CELLS_PER_OCTAVE,
                                weights=kept)
    nulls, total = (float(missing.sum()), len(x)) if weights is None else (float(weights[missing].sum()), float(weights.sum()))
    noisy_null = float(gaussian_histogram(np.array([nulls]), sigma, rng)[0])
    nullable = noisy_null >= cleaning_threshold(sigma, 1, miss=0.001)
    null_share = min(max(noisy_null, 0.0) / max(total, 1), 1.0) if nullable else 0.0
    if not coarse:
        return None
    lo, hi = coarse[0][0], coarse[-1][1]
    if integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    if not hi > lo:
        hi = lo + (1.0 if integer else max(1e-9, abs(lo) * 1e-6))
    if integer and hi - lo + 1 <= INTEGER_CELLS:
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    else:
        edges = np.linspace(lo, hi, FINE_CELLS + 1)
    fine, zero_mass = _noisy_segments(np.clip(values, lo, hi), edges, sigma=sigma, rng=rng, extra_cells=0, weights=kept)
    fine = fine or [(lo, hi, 1.0)]  # no finer cell above the noise: uniform over the range found
    lo2, hi2 = max(lo, fine[0][0]), min(hi, fine[-1][1])  # the finer cells above the noise: the tighter range
    if integer:
        lo2, hi2 = math.floor(lo2 + 0.5), math.ceil(hi2 - 0.5)
    if hi2 > lo2:
        lo, hi = float(lo2), float(hi2)
    inside = _clip_segments(fine, lo, hi) or _clip_segments(coarse, lo, hi)
    total = sum(m for _, _, m in inside)
    zero_share = (zero_mass / total) if (total > 0 and lo <= 0.0 <= hi) else 0.0
    return _Numeric(float(lo), float(hi), inside, zero_share, bool(nullable), null_share)


def _limits(dtype: pl.DataType, step: float) -> tuple[float, float]:
    """The values a column of ``dtype`` can hold, in the units it is measured in (dates: ``step``s)."""
    if is_integer(dtype):
        info = np.iinfo(np.dtype(type(dtype).__name__.lower()))
    elif is_temporal_point(dtype) or isinstance(dtype, (pl.Duration, pl.Time)):
        info = np.iinfo(np.int64)
    else:
        return -math.inf, math.inf
    return float(info.min) / step, float(info.max) / step


def _uniform_numeric(lo: float, hi: float) -> _Numeric:
    return _Numeric(float(lo), float(hi), None, 0.0, True)


def _edges(num: _Numeric, k: int) -> np.ndarray:
    """``k`` bins' edges over [lo, hi]: private quantiles of the non-zero mass, or uniform."""
    if num.segments is None:
        return np.linspace(num.lo, num.hi, k + 1)
    rest = [s for s in num.segments if not (s[0] == s[1] == 0.0 and num.zero_share)]
    if not rest or sum(m for _, _, m in rest) <= 0:
        return np.linspace(num.lo, num.hi, k + 1)
    qs = np.array([_quantile(rest, q) for q in np.linspace(0.0, 1.0, k + 1)])
    qs[0], qs[-1] = num.lo, num.hi
    return np.unique(np.clip(qs, num.lo, num.hi))


def _quantile_modes(num: _Numeric, *, params: TransformerParams, span: float, integer: bool) -> ModeNormalizer:
    """Float encoding: one "mode" per private quantile bin, z = position inside it (an atom at zero when it holds 1/n_bins).

    For integers the inner edges move to the nearest half-integer below, so that no bin holds
    part of an integer's mass (which it would spread over its whole width)."""
    atom = num.zero_share >= 1.0 / params.n_bins
    edges = _edges(num, params.n_modes)
    if integer and len(edges) > 2:
        edges = np.unique(np.concatenate([[edges[0]], np.floor(edges[1:-1]) + 0.5, [edges[-1]]]))
    if len(edges) < 2:
        edges = np.array([num.lo, num.hi])
    means = (edges[:-1] + edges[1:]) / 2.0
    stds = np.maximum((edges[1:] - edges[:-1]) / 8.0, span * 1e-6)
    weights = np.full(len(means), 1.0 / len(means))
    if num.segments is not None:
        mass = np.array([sum(m for a, b, m in _clip_segments(num.segments, lo, hi) if a != b) for lo, hi in zip(edges[:-1], edges[1:])])
        if mass.sum() > 0:
            weights = mass / mass.sum()
    if atom:
        means, stds = np.append(means, 0.0), np.append(stds, span * 1e-6)
        weights = np.append(weights * (1.0 - num.zero_share), num.zero_share)
    weights = np.maximum(weights, 1e-6)
    return ModeNormalizer(means.astype(np.float64), stds.astype(np.float64), weights / weights.sum())


def _integer_modes(num: _Numeric) -> ModeNormalizer:
    """Float encoding of a small integer range: one mode per value, covering exactly that value's
    cell (4 std = 0.5), weighted by the private histogram (one cell per integer) or uniform."""
    means = np.arange(num.lo, num.hi + 1.0)
    weights = np.ones(len(means))
    if num.segments is not None:
        weights = np.array([sum(m for _, _, m in _clip_segments(num.segments, v - 0.5, v + 0.5)) for v in means])
        weights = np.maximum(weights, 1e-6) if weights.sum() > 0 else np.ones(len(means))
    return ModeNormalizer(means, np.full(len(means), 0.125), weights / weights.sum())


def _core(num: _Numeric, *, params: TransformerParams, integer: bool, decimals: int | None) -> RangeStatistics:
    """The range statistics of the encodings, from the private (or public uniform) distribution."""
    span = num.hi - num.lo
    small_integers = integer and span + 1 <= params.n_bins
    if integer and span + 1 <= MAX_INTEGER_MODES:
        vgm = _integer_modes(num)
    else:
        vgm = _quantile_modes(num, params=params, span=span, integer=integer)
    # token encoding: exact atoms for a small integer range, else private quantile bins
    atom = num.zero_share >= 1.0 / params.n_bins
    if small_integers:
        bins = QuantileBins(np.arange(num.lo, num.hi + 1.0), np.empty(0), params.n_fine_bins)
    else:
        n_even = max(params.n_bins // 4, 1)
        quantile_edges = _edges(num, max(params.n_bins - n_even - int(atom), 1))
        even = np.linspace(num.lo, num.hi, n_even + 1)
        token_edges = np.unique(np.concatenate([quantile_edges, even]))
        bins = QuantileBins(np.array([0.0]) if atom else np.empty(0), token_edges, params.n_fine_bins)
    fill = _quantile(num.segments, 0.5) if num.segments else (num.lo + num.hi) / 2.0
    if integer:
        fill = float(np.clip(round(fill), num.lo, num.hi))
    return RangeStatistics(num.lo, num.hi, decimals, num.nullable, float(fill), vgm, bins, None)


def _datetime_step(dtype: pl.DataType) -> tuple[int, int]:
    """(step in ticks, ticks per day): one day for dates, one second for datetimes."""
    if isinstance(dtype, pl.Date):
        return 1, 1
    unit = _UNIT_NS[dtype.time_unit]
    return _SECOND_NS // unit, 86_400 * _SECOND_NS // unit


def _public_steps(column: str, value: Any, dtype: pl.DataType) -> float:
    """A declared date bound in steps since 1970 (days for dates, seconds for datetimes)."""
    if not isinstance(value, str):
        return float(value)
    moment = dt.datetime.fromisoformat(value)
    if isinstance(dtype, pl.Date):
        return float((moment.date() - dt.date(1970, 1, 1)).days)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return float(moment.timestamp())


# -- categories -----------------------------------------------------------------------------
def _levels_series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    try:
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            return pl.Series(name, values, dtype=pl.String).cast(dtype, strict=True)
        return pl.Series(name, values, dtype=dtype, strict=True)
    except Exception as err:
        raise ConfigError(f"categories[{name!r}] holds values that do not fit the column's dtype {dtype}: {err}") from None


def _is_string(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.String, pl.Categorical))


def _value_counts(s: pl.Series, weights: np.ndarray | None = None) -> tuple[list[Any], np.ndarray, float]:
    """(present values, their counts, null count); ``weights``: what each row counts (None: 1)."""
    if weights is None:
        counts = s.drop_nulls().value_counts(name="__n__")
        values = counts.get_column(s.name).to_list()
        return values, counts.get_column("__n__").to_numpy().astype(np.float64), int(s.null_count())
    rows = pl.DataFrame([s.alias("v"), pl.Series("w", weights, dtype=pl.Float64)])
    missing = rows.get_column("v").is_null().to_numpy()
    sums = rows.filter(pl.col("v").is_not_null()).group_by("v", maintain_order=True).agg(pl.col("w").sum())
    return sums.get_column("v").to_list(), sums.get_column("w").to_numpy().astype(np.float64), float(weights[missing].sum())


def _public_level_codes(name: str, s: pl.Series, levels: pl.Series, kind: SemanticType) -> np.ndarray:
    """The level code of every value of ``s`` (unseen labels -> ``__other__``, numbers -> the
    nearest level), as the transformer built from these levels codes them."""
    stats = TableStatistics((CategoryStatistics(name, s.dtype, kind, levels),), len(s))
    coder = DataTransformer(n_jobs=1).fit(s.to_frame(), statistics=stats)
    return coder.transform_tokens(s.to_frame())[:, 0]


def _categorical(
    plan: ColumnPlan, s: pl.Series, *, sigma: float, tau: float, rng: np.random.Generator, n_rows: float,
    weights: np.ndarray | None = None,
) -> tuple[CategoryStatistics, np.ndarray | None, dict[str, Any]]:
    """The statistics, private counts per level code (None when not measured), a record.
    ``n_rows``: the total count (rows, or groups with ``weights``)."""
    name, dtype = plan.name, plan.dtype
    string = _is_string(dtype)
    record: dict[str, Any] = {"column": name, "role": "categorical"}
    if plan.selected:
        values, counts, nulls = _value_counts(s, weights)
        noisy = gaussian_histogram(counts, sigma, rng)
        noisy_null = gaussian_histogram(np.array([float(nulls)]), sigma, rng)[0]
        keep = np.flatnonzero(noisy >= tau)
        keep = keep[np.argsort(-noisy[keep], kind="stable")]
        levels = [values[i] for i in keep]
        level_counts = [float(noisy[i]) for i in keep]
        nullable = bool(noisy_null >= cleaning_threshold(sigma, 1))
        if string:
            levels.append(OTHER_LABEL)
            level_counts.append(max(1.0, n_rows - sum(level_counts) - max(noisy_null, 0.0)))
        elif not levels:  # numbers: a level must exist; a public one, not a rare real value
            levels, level_counts = [0], [1.0]
            record["note"] = "no value passed the private threshold; every value maps to 0"
        if nullable:
            levels.append(None)
            level_counts.append(float(noisy_null))
        record.update(categories="private selection", threshold=tau, kept=len(keep))
        counts_out: np.ndarray | None = np.maximum(np.asarray(level_counts, dtype=np.float64), 0.0)
    else:
        declared = list(plan.levels or [])
        nullable = None in declared
        levels = [v for v in declared if v is not None]
        if string and OTHER_LABEL not in levels:
            levels.append(OTHER_LABEL)
        if nullable:
            levels.append(None)
        counts_out = None
        if plan.measured:
            filled = s if nullable else s.fill_null(levels[0])
            codes = _public_level_codes(name, filled, _levels_series(name, levels, dtype), plan.kind)
            counts_out = np.maximum(gaussian_histogram(np.bincount(codes, weights=weights, minlength=len(levels)), sigma, rng), 0.0)
            order = np.argsort(-counts_out, kind="stable")
            levels, counts_out = [levels[i] for i in order], counts_out[order]
        record.update(categories="public", kept=len(levels))
    stats = CategoryStatistics(name, dtype, plan.kind, _levels_series(name, levels, dtype), counts_out)
    record["nullable"] = nullable
    return stats, counts_out, record


# -- the measurement ----------------------------------------------------------------------
def private_statistics(
    frame: pl.DataFrame, *, run: PrivateRun, params: TransformerParams, needs_counts: bool = False, groups: RowGroups | None = None
) -> PrivateStatistics:
    """Measure every column's statistics from ``frame``, spending the preprocessing share of ``run``.

    ``params``: the transformer's (``DataTransformer.validated_params()``); ``needs_counts``:
    also measure the counts of publicly declared categories (CTGAN's conditional sampling
    with ``frequencies="dp"``); ``groups``: the rows' entities (entity-level DP, see the module
    docstring; None: each row is its own unit).
    """
    privacy = run.privacy
    unknown = sorted(set(params.column_types) - set(frame.columns))
    if unknown:
        raise ConfigError(f"column_types names columns the frame does not have: {unknown}; it has {frame.columns}")
    plans = plan_columns(frame.schema, privacy=privacy, params=params, needs_counts=needs_counts)
    weights = None
    if groups is not None:
        groups.check_rows(frame.height)
        weights = groups.weights()
    n_units = frame.height if groups is None else groups.n_groups
    new_values = 1 if groups is None else groups.max_rows  # distinct values one unit can add to a category list
    measured = [p for p in plans if p.measured]
    selected = [p for p in plans if p.selected]
    sigma = tau = 0.0
    if selected:
        run.reserve_threshold_delta()
    if measured:
        share = privacy.preprocessing_share
        rho = share * run.rho_total
        histograms = sum(2 if p.role in ("numeric", "datetime") else 1 for p in measured)
        sigma = math.sqrt(histograms / (2.0 * rho))
        run.spend_gaussian(
            "preprocessing histograms (ranges, bins, category lists and counts)",
            rho=rho,
            share=share,
            columns=[p.name for p in measured],
            histograms=histograms,
            noise_per_histogram=sigma,
        )
        if selected:
            tau = selection_threshold(sigma, run.delta_threshold / (len(selected) * new_values))
            run.record_threshold("private category selection (noisy threshold)", columns=[p.name for p in selected])
    rng = secure_rng()
    columns: list[ColumnStatistics] = []
    counts: dict[str, np.ndarray] = {}
    records: list[dict[str, Any]] = []
    for plan in plans:
        s = frame.get_column(plan.name)
        if plan.role == "empty":
            columns.append(EmptyStatistics(plan.name, plan.dtype, SemanticType.EMPTY))
            records.append({"column": plan.name, "role": "empty"})
        elif plan.role == "fake":
            columns.append(FakeEncoder.unread(plan.name, plan.dtype, params.fake_columns[plan.name]))
            records.append({"column": plan.name, "role": "fake"})
        elif plan.role == "identifier":
            fmt = IdFormat(start=1) if plan.dtype.is_integer() else IdFormat(prefix="id", shape="9999999")
            columns.append(IdentifierStatistics(plan.name, plan.dtype, SemanticType.IDENTIFIER, fmt))
            records.append({"column": plan.name, "role": "identifier"})
        elif plan.role == "categorical":
            stats, level_counts, record = _categorical(plan, s, sigma=sigma, tau=tau, rng=rng, n_rows=n_units, weights=weights)
            columns.append(stats)
            if level_counts is not None:
                counts[plan.name] = level_counts
            records.append(record)
        else:
            stats, record = _numeric_statistics(plan, s, sigma=sigma, rng=rng, params=params, weights=weights)
            columns.append(stats)
            records.append(record)
            if "note" in record:
                run.notes.append(f"{plan.name}: {record['note']}")
    table = TableStatistics(tuple(columns), frame.height, protections={"differential_privacy": records})
    return PrivateStatistics(table, counts)


def private_transformer(
    frame: pl.DataFrame, *, run: PrivateRun, transformer_kwargs: dict[str, Any], needs_counts: bool = False,
    groups: RowGroups | None = None,
) -> PrivateDomain:
    """The DP run's transformer: ``DataTransformer(**transformer_kwargs).fit(frame, statistics=...)``
    with the statistics of ``private_statistics`` (which charges ``run``; ``groups``: the rows'
    entities), and their counts."""
    transformer = DataTransformer(**transformer_kwargs)
    measured = private_statistics(frame, run=run, params=transformer.validated_params(), needs_counts=needs_counts, groups=groups)
    transformer.fit(frame, statistics=measured.statistics)
    return PrivateDomain(transformer=transformer, counts=measured.counts)


def _numeric_statistics(
    plan: ColumnPlan, s: pl.Series, *, sigma: float, rng: np.random.Generator, params: TransformerParams,
    weights: np.ndarray | None = None,
) -> tuple[NumberStatistics | DatetimeStatistics, dict[str, Any]]:
    name, dtype = plan.name, plan.dtype
    x, missing = to_float(s)
    if plan.role == "datetime":
        step, per_day = _datetime_step(dtype)
        x = np.where(missing, 0.0, x) / step
        integer, decimals = True, 0
    else:
        step = per_day = 1
        integer = is_integer(dtype) or isinstance(dtype, (pl.Duration, pl.Time))
        decimals = 0 if integer else (dtype.scale if isinstance(dtype, pl.Decimal) else None)
    if plan.public:
        low, high = (_public_steps(name, bound, dtype) for bound in plan.bounds)
        num = _uniform_numeric(low, high)
        record = {"column": name, "role": plan.role, "bounds": "public", "low": low, "high": high}
    else:
        measured = _measure_numeric(x, missing, sigma=sigma, rng=rng, integer=integer, limits=_limits(dtype, step), weights=weights)
        if measured is None:  # nothing rose above the noise: one value, zero, and a record that says why
            num = _Numeric(0.0, 0.0, [(0.0, 0.0, 1.0)], 1.0, False)
            record = {"column": name, "role": plan.role, "bounds": "unknown", "low": 0.0, "high": 0.0,
                      "note": "no value range rose above the noise at this epsilon and row count: the column is "
                              "generated as zero; declare its bounds (Privacy.bounds) to learn it"}
        else:
            num = measured
            record = {"column": name, "role": plan.role, "bounds": "private quantiles", "low": num.lo, "high": num.hi}
    stats = _core(num, params=params, integer=integer, decimals=decimals)
    record["nullable"] = num.nullable
    if num.nullable and not plan.public:
        record["null_share"] = num.null_share
    if plan.role == "datetime":
        return DatetimeStatistics(name, dtype, plan.kind, None, 0, step, per_day, stats), record
    return NumberStatistics(name, dtype, plan.kind, stats), record


__all__ = [
    "ColumnPlan",
    "PrivateDomain",
    "PrivateStatistics",
    "fill_values",
    "log_partition",
    "plan_columns",
    "prepare_frame",
    "private_statistics",
    "private_transformer",
]
