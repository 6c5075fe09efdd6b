"""Turn columns into small integer codes, so that joint distributions are one ``np.bincount``.

Two binnings are used, each named for the metric it reproduces:

- *accuracy bins* (mostlyai-qa): numeric and datetime columns cut at the deciles of the real
  (training) values, or one bin per value when the real column has at most ``bins`` distinct
  values; categorical columns keep their ``top_k`` most frequent real categories and pool the
  rest into one "other" bin. Null is always a bin of its own.
- *contingency bins* (sdmetrics ContingencySimilarity): numeric and datetime columns cut into
  ``bins`` equal-width intervals over the real range (values beyond the range fall into the
  outer bins); categorical columns keep up to ``max_categories`` categories. Null is a bin.

Codes are int32 in ``0 .. n_levels - 1``; the same edges and category order serve the real,
synthetic and holdout tables, so a code means the same thing in all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.quality.columns import Prepared


@dataclass(frozen=True)
class Binned:
    """One column binned: the codes per table role and the number of levels."""

    codes: dict[str, np.ndarray]
    n_levels: int


def quantile_edges(real: np.ndarray, bins: int) -> np.ndarray:
    """Interior cut points at the real quantiles (duplicates dropped); one bin per value if few."""
    x = real[~np.isnan(real)]
    if x.size == 0:
        return np.empty(0)
    distinct = np.unique(x)
    if distinct.size <= bins:
        return distinct[1:]
    return np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1))[1:-1])


def uniform_edges(real: np.ndarray, bins: int) -> np.ndarray:
    """Interior cut points of ``bins`` equal-width intervals over the real range (as numpy's histogram)."""
    x = real[~np.isnan(real)]
    if x.size == 0:
        return np.empty(0)
    return np.histogram_bin_edges(x, bins=bins)[1:-1]


def cut(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value: ``#edges <= value`` (0 .. len(edges)); null gets ``len(edges) + 1``."""
    codes = np.searchsorted(edges, values, side="right").astype(np.int32)
    codes[np.isnan(values)] = edges.size + 1
    return codes


def top_categories(codes: np.ndarray, n_categories: int, k: int) -> np.ndarray:
    """Keep codes ``< k`` (the k most frequent real categories), pool the rest, null last.

    The shared dictionary lists categories by real frequency, so the top k are codes 0..k-1.
    With ``n_categories <= k`` nothing is pooled and the codes are returned as they are.
    """
    if n_categories <= k:
        return codes
    out = np.where(codes < k, codes, k).astype(np.int32)
    out[codes == n_categories] = k + 1
    return out


def levels_of_top(n_categories: int, k: int) -> int:
    return n_categories + 1 if n_categories <= k else k + 2


def bin_all(prep: Prepared, *, scheme: str, bins: int, top_k: int) -> dict[str, Binned]:
    """Bin every compared column of every table with ``scheme`` "accuracy" or "contingency"."""
    out: dict[str, Binned] = {}
    tables = prep.tables()
    for spec in prep.compared:
        if spec.kind == "categorical":
            n_cat = len(prep.categories[spec.name])
            codes = {t.role: top_categories(t.codes[spec.name], n_cat, top_k) for t in tables}
            out[spec.name] = Binned(codes, levels_of_top(n_cat, top_k))
        else:
            real = prep.real.values[spec.name]
            edges = quantile_edges(real, bins) if scheme == "accuracy" else uniform_edges(real, bins)
            codes = {t.role: cut(t.values[spec.name], edges) for t in tables}
            out[spec.name] = Binned(codes, edges.size + 2)
    return out


def joint_counts(a: np.ndarray, la: int, b: np.ndarray, lb: int) -> np.ndarray:
    """Counts of the pair of codes, as a flat vector of ``la * lb`` cells."""
    return np.bincount(a * lb + b, minlength=la * lb)


def tvd(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Total-variation distance ``0.5 * sum |p - q|`` between two count vectors (normalised here)."""
    p_total = p_counts.sum()
    q_total = q_counts.sum()
    if p_total == 0 or q_total == 0:
        return 0.0 if p_total == q_total else 1.0
    return float(0.5 * np.abs(p_counts / p_total - q_counts / q_total).sum())
