"""Second-parent matching: give each synthetic child row a row of its other parent.

A child with two parents (berka ``disp`` under ``account`` and ``client``) is generated under
its context parent; its other parent's key is assigned here. The child model also generates,
per child row, the *wanted* attributes of the other parent (that parent's non-key columns as
the child would have it); :func:`match_parents` gives each wanted row an *offered* (synthetic
parent) row whose attributes are close, while each offered row receives about as many children
as its own generated count says (its *capacity*).

Distance. Two rows are at distance sqrt(sum of squared number gaps + categories that differ):

- numbers, dates, times and durations: the offered values' empirical CDF (mid-ranks, linear
  between distinct values), scaled by sqrt(12) so a uniform spread has sd 1. Ranks are robust
  to outliers and to skewed scales; values outside the offered range clip to its ends;
- strings, categoricals and booleans: a mismatch counts 1 (about one sd), whatever the number
  of levels;
- nulls: in a category column null is a level of its own; in a number column an indicator
  (null against a value weighs 1) and the value sits at the median.

Search. k-d trees only find candidates; candidates are ranked on the exact distance. The
*blocked* tree holds the numbers (at most ``_TREE_DIMS`` - 1 principal axes) plus one axis on
which each combination of category levels sits ``_BLOCK_GAP`` from the next, so a row's
neighbours there share its categories. The *general* tree holds the numbers and the categories
as directions (one-hot times 1/sqrt(2) up to ``_ONE_HOT_MAX`` levels, random unit directions in
``_EMBED_DIMS`` dimensions above), on at most ``_TREE_DIMS`` principal axes, for matches across
categories. Above 4 coordinates the search is approximate (``_TREE_EPS``). A tiny jitter on the
coordinates breaks ties between identical rows at random (from ``seed``), so identical rows
spread over identical parents instead of queueing for one.

Capacities. When they sum to less than the wanted rows they are scaled up proportionally
(ceil) so every row can be placed; offered rows of capacity 0 are used only when no other row
has room (all capacities 0). With ``at_most_one`` (a 1:0..1 relation) no offered row takes two
children: rows of capacity >= 1 are filled first, then those of capacity 0, and rows left over
get -1.

Assignment: capacity-constrained nearest neighbours in vectorised rounds. Each round builds
the trees on the offered rows with room and asks for every unplaced row's k nearest; then, in
sub-rounds over those candidate lists, every unplaced row proposes to its nearest candidate
that still has room and each offered row accepts its closest proposals up to its room. The
first round uses the blocked tree only and keeps candidates closer than 1 (a category mismatch
alone is 1, so no other row could be closer); later rounds use both trees, with k doubled.
Rows still unplaced after ``_ROUNDS`` go, in random order, round-robin to the rows with room
left. Loops run over rounds and columns, never over rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from engine.cpus import default_threads
from engine.errors import ConfigError

_ONE_HOT_MAX = 8  # category levels (null included) encoded one-hot; more get random directions
_EMBED_DIMS = 8  # dimensions of a high-cardinality category's random directions
_TREE_DIMS = 8  # principal axes the k-d tree searches for candidates; they are ranked on exact distances
_TREE_EPS = 1.0  # approximate search (k-th neighbour within 1 + eps of the true one) above 4 tree dims
_RERANK_CELLS = 4_000_000  # candidate coordinates (rows x k x columns) ranked at once
_PCA_SAMPLE = 100_000  # rows the principal axes are estimated on
_JITTER = 1e-9  # tie-breaking noise, far below any real distance (1 / 500k ranks ~ 7e-6)
_FIRST_K = 8  # candidates asked per row in the first round at least; doubled each round
_MAX_K = 128
_CANDIDATE_CELLS = 1_000_000  # few unplaced rows ask for more candidates: up to this many in all
_ROUNDS = 6  # k-d tree rounds before the round-robin fill
_MAX_CELLS = 8_000_000  # unplaced rows x k held at once (memory bound on the neighbour lists)
_BLOCK_GAP = 1e4  # distance between category combinations on the blocking axis
_CATEGORY_WEIGHT = 1.0 / math.sqrt(2.0)  # two one-hot levels differ at distance 1
_NUMBER_SCALE = math.sqrt(12.0)  # a uniform CDF has sd 1 / sqrt(12)


def match_parents(
    *, wanted: pl.DataFrame, offered: pl.DataFrame, capacity: np.ndarray, at_most_one: bool, seed: int
) -> np.ndarray:
    """For each row of `wanted` (n rows), the row index into `offered` (m rows) it is assigned, or -1.

    `wanted` and `offered` have the same columns (numbers, dates, booleans, strings or
    categoricals, with nulls); column order does not matter. ``capacity`` is (m,) non-negative
    integers, the children each offered row should get. -1 only happens with ``at_most_one``
    when n > m, or when there is no offered row. Deterministic for a given ``seed``.
    """
    names = _same_columns(wanted, offered)
    room = _checked_capacity(capacity, offered.height)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be a whole number; got {seed!r}")
    n, m = wanted.height, offered.height
    assigned = np.full(n, -1, dtype=np.int64)
    if n == 0 or m == 0:
        return assigned
    rng = np.random.default_rng(seed)
    space = _encode(wanted.select(names), offered.select(names), rng)
    for phase_room in _rooms(room, n, at_most_one):
        if (assigned >= 0).all():
            break
        _assign(space, phase_room, assigned, rng)
    return assigned


# --- checks ---------------------------------------------------------------------------------


def _same_columns(wanted: pl.DataFrame, offered: pl.DataFrame) -> list[str]:
    """The shared column names in `wanted`'s order; ConfigError naming any column on one side only."""
    only_wanted = [c for c in wanted.columns if c not in offered.columns]
    only_offered = [c for c in offered.columns if c not in wanted.columns]
    if only_wanted or only_offered:
        parts = []
        if only_wanted:
            parts.append(f"only in wanted: {', '.join(map(repr, only_wanted))}")
        if only_offered:
            parts.append(f"only in offered: {', '.join(map(repr, only_offered))}")
        raise ConfigError(f"wanted and offered must have the same columns; {'; '.join(parts)}")
    return list(wanted.columns)


def _checked_capacity(capacity: np.ndarray, m: int) -> np.ndarray:
    """Capacity as int64 of shape (m,); ConfigError for a wrong shape, fractions, negatives."""
    values = np.asarray(capacity)
    if values.shape != (m,):
        raise ConfigError(f"capacity must have shape ({m},), one count per offered row; got shape {values.shape}")
    if values.dtype.kind not in "biuf":
        raise ConfigError(f"capacity must hold integer counts; got dtype {values.dtype}")
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise ConfigError("capacity must hold whole, finite counts; it has fractions, NaN or infinity")
    if (values < 0).any():
        raise ConfigError(f"capacity must be non-negative; {int((values < 0).sum())} offered rows have a negative count")
    return values.astype(np.int64)


def _rooms(capacity: np.ndarray, n: int, at_most_one: bool) -> list[np.ndarray]:
    """The room of each offered row per phase: the capacities, then the zero-capacity rows if needed."""
    zero = capacity == 0
    if at_most_one:
        return [np.minimum(capacity, 1), zero.astype(np.int64)]
    total = int(capacity.sum())
    if total >= n:
        return [capacity]
    if total > 0:
        return [(capacity * n + total - 1) // total]  # ceil(capacity * n / total), in integers
    return [np.full(capacity.shape, -(-n // capacity.size), dtype=np.int64)]


# --- encoding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Space:
    """The encoded rows (wanted first, then offered): exact distances and the k-d tree's coordinates.

    The distance between two rows is sqrt(|numbers difference|^2 + categories that differ): a
    category mismatch weighs exactly 1 whatever the number of levels. The k-d trees only find
    candidates: one on the numbers within each combination of categories (combinations far
    apart on an extra axis), one on numbers and categories as directions, across combinations.
    """

    n: int  # wanted rows; offered rows follow
    numbers: np.ndarray  # (n + m, number dims) ranks scaled to sd 1, null indicators
    codes: np.ndarray  # (n + m, category columns) level codes, null a level of its own
    general: np.ndarray  # (n + m, <= _TREE_DIMS) numbers and category directions, jittered
    blocked: np.ndarray | None  # (n + m, <= _TREE_DIMS) numbers, category combinations far apart


def _encode(wanted: pl.DataFrame, offered: pl.DataFrame, rng: np.random.Generator) -> _Space:
    """Both frames in one space (about 1 per sd or per category mismatch)."""
    rows = wanted.height + offered.height
    numbers, codes, tree = [], [], []
    for name in wanted.columns:
        kind = _kind(name, wanted[name].dtype, offered[name].dtype)
        if kind == "category":
            level = _category_codes(pl.concat([wanted[name].cast(pl.String), offered[name].cast(pl.String)]))
            if level is not None:
                codes.append(level)
                tree.append(_category_directions(level, rng))
        elif kind is not None:
            block = _number_block(_as_float(wanted[name], kind), _as_float(offered[name], kind))
            if block is not None:
                numbers.append(block)
                tree.append(block)
    number_matrix = np.hstack(numbers) if numbers else np.zeros((rows, 0))
    general = _narrowed(np.hstack(tree) if tree else np.zeros((rows, 1)), wanted.height, _TREE_DIMS, rng)
    blocked = None
    if codes:
        within = _narrowed(number_matrix, wanted.height, _TREE_DIMS - 1, rng) if numbers else np.zeros((rows, 1))
        combination = _combinations(np.column_stack(codes)).astype(np.float64) * _BLOCK_GAP
        blocked = _jittered(np.column_stack([within, combination]), rng)
    return _Space(
        n=wanted.height,
        numbers=number_matrix,
        codes=np.column_stack(codes) if codes else np.zeros((rows, 0), dtype=np.int64),
        general=_jittered(general, rng),
        blocked=blocked,
    )


def _jittered(coordinates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The coordinates plus a tiny noise: identical rows get distinct, random neighbour orders."""
    return np.ascontiguousarray(coordinates + rng.normal(scale=_JITTER, size=coordinates.shape))


def _narrowed(coordinates: np.ndarray, n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """The coordinates, projected on their ``dims`` principal axes when wider."""
    return _principal_axes(coordinates, n, rng, dims) if coordinates.shape[1] > dims else coordinates


def _combinations(codes: np.ndarray) -> np.ndarray:
    """One dense code per combination of category levels (column by column, never overflowing)."""
    combined = np.zeros(codes.shape[0], dtype=np.int64)
    for column in codes.T:
        _, combined = np.unique(combined * (int(column.max()) + 1) + column, return_inverse=True)
    return combined.ravel()


def _kind(name: str, want: pl.DataType, offer: pl.DataType) -> str | None:
    """'number', 'datetime', 'duration', 'time' or 'category'; None when both sides are all-null typed."""
    dtypes = [d for d in (want, offer) if d != pl.Null]
    if not dtypes:
        return None
    if all(d.is_numeric() or d == pl.Boolean for d in dtypes) and any(d.is_numeric() for d in dtypes):
        return "number"  # a boolean against numbers counts as 0/1
    if all(d in (pl.Date, pl.Datetime) for d in dtypes):
        return "datetime"
    if all(d == pl.Duration for d in dtypes):
        return "duration"
    if all(d == pl.Time for d in dtypes):
        return "time"
    text = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
    if any(d in text for d in dtypes) and all(d in text or d.is_numeric() for d in dtypes):
        return "category"
    raise ConfigError(
        f"column {name!r} cannot be matched: wanted is {want}, offered is {offer}; "
        "both sides must be numbers, dates/datetimes, durations, times, or strings/categoricals/booleans"
    )


def _as_float(series: pl.Series, kind: str) -> np.ndarray:
    """The values as float64 with NaN for nulls and non-finite values."""
    if series.dtype == pl.Null:
        return np.full(series.len(), np.nan)
    if kind == "datetime":
        if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        series = series.cast(pl.Datetime("us")).to_physical()
    elif kind == "duration":
        series = series.cast(pl.Duration("us")).to_physical()
    elif kind == "time":
        series = series.to_physical()
    values = series.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
    return np.where(np.isfinite(values), values, np.nan)


def _number_block(want: np.ndarray, offer: np.ndarray) -> np.ndarray | None:
    """Mid-rank CDF of the offered values (all values if offered has fewer than 2), plus a null indicator."""
    both = np.concatenate([want, offer])
    missing = np.isnan(both)
    reference = offer[~np.isnan(offer)]
    if np.unique(reference).size < 2:
        reference = both[~missing]
    levels, counts = np.unique(reference, return_counts=True)
    columns = []
    if levels.size >= 2:
        cdf = (np.cumsum(counts) - counts / 2.0) / reference.size
        position = np.interp(np.where(missing, levels[0], both), levels, cdf)
        columns.append(np.where(missing, 0.0, (position - 0.5) * _NUMBER_SCALE))
    if missing.any() and not missing.all():
        columns.append(missing.astype(np.float64))
    return np.column_stack(columns) if columns else None


def _category_codes(values: pl.Series) -> np.ndarray | None:
    """Level codes in sorted order, 0 for null; None when the column has a single level."""
    levels = values.drop_nulls().unique().sort()
    codes = values.replace_strict(levels, pl.int_range(1, levels.len() + 1, eager=True), default=0)
    codes = codes.fill_null(0).to_numpy().astype(np.int64)
    present = np.bincount(codes) > 0
    return codes if int(present.sum()) >= 2 else None


def _category_directions(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Search coordinates of a category: one-hot (few levels) or random unit directions, times 1/sqrt(2)."""
    levels = int(codes.max()) + 1
    if levels <= _ONE_HOT_MAX:
        directions = np.eye(levels)
    else:
        directions = rng.normal(size=(levels, _EMBED_DIMS))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions[codes] * _CATEGORY_WEIGHT


def _principal_axes(search: np.ndarray, n: int, rng: np.random.Generator, dims: int) -> np.ndarray:
    """Project on the ``dims`` principal axes of the offered rows (a sample when many)."""
    offered = search[n:]
    if offered.shape[0] > _PCA_SAMPLE:
        offered = offered[rng.choice(offered.shape[0], _PCA_SAMPLE, replace=False)]
    centre = offered.mean(axis=0)
    _, axes = np.linalg.eigh(np.cov(offered - centre, rowvar=False))
    return (search - centre) @ axes[:, ::-1][:, :dims]


# --- assignment -----------------------------------------------------------------------------


def _assign(space: _Space, room: np.ndarray, assigned: np.ndarray, rng: np.random.Generator) -> None:
    """Place the unplaced rows of ``assigned`` (in place) on offered rows within ``room``."""
    room = room.copy()
    rows = np.flatnonzero(assigned < 0)
    k = _FIRST_K
    for round_no in range(_ROUNDS):
        available = np.flatnonzero(room > 0)
        if rows.size == 0 or available.size == 0:
            return
        if round_no == 0 and space.blocked is not None:
            # same categories and closer than 1 (any category mismatch is at least 1): sure picks
            rows = _nearest_round(space, available, k, rows, room, assigned, rng, general=False, limit=1.0)
        else:
            rows = _nearest_round(space, available, k, rows, room, assigned, rng, general=True, limit=np.inf)
        k = min(2 * k, _MAX_K)
    _round_robin(rows, room, assigned, rng)


def _nearest_round(
    space: _Space,
    available: np.ndarray,
    k: int,
    rows: np.ndarray,
    room: np.ndarray,
    assigned: np.ndarray,
    rng: np.random.Generator,
    *,
    general: bool,
    limit: float,
) -> np.ndarray:
    """One round over the offered rows with room: candidates from the trees (the blocked one
    within a row's own combination of categories, the general one when ``general``), ranked by
    exact distance, those farther than ``limit`` left out. Returns the rows still unplaced."""
    searches = [c for c in (space.blocked, space.general if general else None) if c is not None]
    k = max(k, min(_MAX_K, _CANDIDATE_CELLS // rows.size))
    k = max(1, min(k, available.size, _MAX_CELLS // (rows.size * len(searches))))
    found, valid = [], []
    for coordinates in searches:
        eps = _TREE_EPS if coordinates.shape[1] > 4 else 0.0
        tree = cKDTree(coordinates[space.n + available])
        gap, near = tree.query(coordinates[rows], k=k, eps=eps, workers=default_threads())
        found.append(available[near.reshape(rows.size, k)])
        valid.append(gap.reshape(rows.size, k) < _BLOCK_GAP / 2)  # the blocked tree: same combination
    near = np.hstack(found)
    dist = np.where(np.hstack(valid), _distances(space, rows, near), np.inf)
    dist[dist > limit] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")  # candidates by exact distance, tree order on ties
    dist, near = np.take_along_axis(dist, order, axis=1), np.take_along_axis(near, order, axis=1)
    while rows.size:
        open_ = (room[near] > 0) & np.isfinite(dist)
        proposing = np.flatnonzero(open_.any(axis=1))
        if proposing.size == 0:
            break
        choice = open_[proposing].argmax(axis=1)
        target = near[proposing, choice]
        accepted = _accept(target, dist[proposing, choice], room, rng)
        placed = proposing[accepted]
        assigned[rows[placed]] = target[accepted]
        room -= np.bincount(target[accepted], minlength=room.size)
        keep = np.ones(rows.size, dtype=bool)
        keep[placed] = False
        rows, near, dist = rows[keep], near[keep], dist[keep]
    return rows


def _distances(space: _Space, rows: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Exact distances from each wanted row to its offered candidates, in chunks of bounded memory."""
    out = np.empty(near.shape)
    width = max(1, space.numbers.shape[1] + space.codes.shape[1])
    chunk = max(1, _RERANK_CELLS // (near.shape[1] * width))
    for start in range(0, rows.size, chunk):
        want, offer = rows[start : start + chunk], space.n + near[start : start + chunk]
        gap = space.numbers[offer] - space.numbers[want][:, None, :]
        squared = np.einsum("rkd,rkd->rk", gap, gap)
        squared += (space.codes[offer] != space.codes[want][:, None, :]).sum(axis=2)
        out[start : start + chunk] = np.sqrt(squared)
    return out


def _accept(target: np.ndarray, dist: np.ndarray, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which proposals each target accepts: its closest ones up to its room (ties at random)."""
    order = np.lexsort((rng.random(target.size), dist, target))
    sorted_target = target[order]
    starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
    sizes = np.diff(np.r_[starts, target.size])
    rank = np.arange(target.size) - np.repeat(starts, sizes)
    accepted = np.empty(target.size, dtype=bool)
    accepted[order] = rank < room[sorted_target]
    return accepted


def _round_robin(rows: np.ndarray, room: np.ndarray, assigned: np.ndarray, rng: np.random.Generator) -> None:
    """Leftover rows in random order, dealt one per offered row with room (random order) per pass."""
    available = rng.permutation(np.flatnonzero(room > 0))
    if rows.size == 0 or available.size == 0:
        return
    rows = rng.permutation(rows)
    left = room[available]
    slots = min(rows.size, int(left.sum()))
    passes = _passes_needed(left, slots)  # smallest p with sum(min(room, p)) >= slots
    per_parent = np.minimum(left, passes)
    target = np.repeat(available, per_parent)
    position = np.repeat(np.arange(available.size), per_parent)
    pass_no = np.arange(target.size) - np.repeat(np.cumsum(per_parent) - per_parent, per_parent)
    order = np.lexsort((position, pass_no))[:slots]
    assigned[rows[:slots]] = target[order]
    room -= np.bincount(target[order], minlength=room.size)


def _passes_needed(left: np.ndarray, slots: int) -> int:
    """Binary search for the round-robin passes that give at least ``slots`` places."""
    low, high = 1, max(1, int(left.max()))
    while low < high:
        middle = (low + high) // 2
        if int(np.minimum(left, middle).sum()) >= slots:
            high = middle
        else:
            low = middle + 1
    return low


__all__ = ["match_parents"]
