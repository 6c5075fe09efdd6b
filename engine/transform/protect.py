"""Privacy protections applied before anything is learned: capping and rare-level merging.

Extreme values identify people (the one 98-year-old, the one income of 99,999), and so do
rare labels (the one person from a small country). Before a column's encoder is fitted:

- numeric and datetime values are capped at the ``cap_quantiles`` (P1/P99 by default): values
  below the low quantile become the low quantile, above the high one the high one. The caps
  are data values (inverted-CDF quantiles), so restored integers stay integers.
- categorical levels seen on fewer than ``rare_category_k`` rows (5 by default) are merged:
  string labels into the reserved bucket ``OTHER_LABEL``; numeric and temporal levels into the
  nearest level that has enough rows (so an integer column stays an integer column); enum
  levels into the most frequent level (an enum cannot hold a new label).

The fitted transformer records, per column, how many values were capped or merged, and
never the rare labels themselves: the model file must not leak them.
"""

from __future__ import annotations

import numpy as np

OTHER_LABEL = "__other__"


def cap_bounds(x: np.ndarray, quantiles: tuple[float, float] | None) -> tuple[float, float]:
    """Low and high caps of the finite values ``x`` (their min and max when not capping)."""
    if quantiles is None or len(x) == 0:
        return float(np.min(x)), float(np.max(x))
    lo, hi = np.quantile(x, quantiles, method="inverted_cdf")
    return float(lo), float(hi)


def cap_record(x: np.ndarray, lo: float, hi: float) -> dict[str, float | int]:
    """What capping did to one column, for the metadata: the caps and how many values moved."""
    return {
        "lower": lo,
        "upper": hi,
        "capped_below": int(np.count_nonzero(x < lo)),
        "capped_above": int(np.count_nonzero(x > hi)),
    }


def rare_levels(counts: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the levels (given their row counts) that must be merged."""
    return counts < k
