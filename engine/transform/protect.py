"""Privacy protections applied before anything is learned: extreme-value clipping and rare-level merging.

Extreme values identify people (the one 98-year-old, the one income of 99,999), and so do
rare labels (the one person from a small country). Before a column's encoder is fitted:

- numeric and datetime values are clipped by the ``extremes`` rule:

  - ``"kth"`` (the default): no value is released beyond the k-th most extreme one on each
    side (k = ``rare_category_k``): the k-1 smallest values become the k-th smallest, the k-1
    largest the k-th largest. Every released extreme is then held by at least k training rows,
    and the tail is kept up to that point (a quantile cap would cut the top percent of every
    column, however many people share it).
  - a quantile pair ``(low, high)``, e.g. P1/P99, the stricter option: values below the low
    quantile become it, above the high one the high one; never looser than the k-th rule, so
    on a small table a quantile cap still leaves at least k rows at each end.
  - ``None``: nothing is clipped.

  The clip values are data values (the k-th value, or inverted-CDF quantiles), so restored
  integers stay integers and dates stay on their granularity.
- categorical levels seen on fewer than ``rare_category_k`` rows (5 by default) are merged:
  string labels into the reserved bucket ``OTHER_LABEL``; numeric and temporal levels into the
  nearest level that has enough rows (so an integer column stays an integer column); enum
  levels into the most frequent level (an enum cannot hold a new label).

The fitted transformer records, per column, the clip values and how many values were clipped
or merged, and never the values beyond the clip values nor the rare labels themselves: the
model file must not leak them.
"""

from __future__ import annotations

import numpy as np

OTHER_LABEL = "__other__"
KTH = "kth"
# The default rule (DESIGN, Privacy semantics): the k-th most extreme value on each side. It keeps
# the tails a quantile cap would cut, and scores higher unconditionally on all four shared
# datasets. Saved transformer states name their rule (``extremes``, or ``cap_quantiles`` before
# it existed), so models fitted under the former P1/P99 default load with their caps unchanged.
DEFAULT_EXTREMES = KTH

Extremes = str | tuple[float, float] | None


def kth_extremes(x: np.ndarray, k: int) -> tuple[float, float]:
    """The k-th smallest and k-th largest of the finite values ``x`` (at least one).

    With fewer than ``2k - 1`` values the two would cross; every value then collapses onto the
    median, the one value that no side can single out.
    """
    n = len(x)
    k = max(min(k, n), 1)
    low_at, high_at = k - 1, n - k
    part = np.partition(x, sorted({low_at, high_at}))
    lo, hi = float(part[low_at]), float(part[high_at])
    if lo > hi:
        lo = hi = float(np.quantile(x, 0.5, method="inverted_cdf"))
    return lo, hi


def clip_bounds(x: np.ndarray, *, extremes: Extremes, k: int) -> tuple[float, float]:
    """Low and high clip values of the finite values ``x`` under the ``extremes`` rule.

    Their min and max when ``extremes`` is None (nothing clipped).
    """
    if extremes is None:
        return float(np.min(x)), float(np.max(x))
    lo, hi = kth_extremes(x, k)
    if extremes == KTH:
        return lo, hi
    q_lo, q_hi = np.quantile(x, extremes, method="inverted_cdf")
    lo, hi = max(lo, float(q_lo)), min(hi, float(q_hi))
    if lo > hi:  # quantiles on one side of the k-th values: one value is all that may be released
        lo = hi = float(np.quantile(x, 0.5, method="inverted_cdf"))
    return lo, hi


def cap_record(x: np.ndarray, lo: float, hi: float) -> dict[str, float | int]:
    """What clipping did to one column, for the metadata: the clip values and how many values moved."""
    return {
        "lower": lo,
        "upper": hi,
        "capped_below": int(np.count_nonzero(x < lo)),
        "capped_above": int(np.count_nonzero(x > hi)),
    }


def rare_levels(counts: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the levels (given their row counts) that must be merged."""
    return counts < k
