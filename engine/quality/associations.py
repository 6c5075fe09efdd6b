"""How strongly two columns go together, one measure per pair of kinds.

- numeric / datetime pairs: Pearson's r and Spearman's rho (signed, -1..1), on the rows where
  both values are present. All pairs at once through masked matrix products, never per row.
  Spearman's rho here is Pearson's r of the column ranks, each column ranked over its own
  non-null values (ties averaged). Without nulls this is exactly Spearman's rho; with nulls it
  differs slightly from re-ranking each pair's complete rows (sdmetrics does the latter).
- categorical pairs: Cramér's V with the Bergsma-Wicher bias correction (0..1). The correction
  matters because the real and synthetic tables rarely have the same number of rows, and plain
  V grows as the sample shrinks.
- numeric x categorical pairs: the correlation ratio eta (0..1), the square root of the share of
  the variance explained by the categories, adjusted for the number of groups like an adjusted
  R^2 (same reason). It is taken on the numeric column's ranks, not its raw values: on
  heavy-tailed columns (incomes, capital gains) a handful of extreme rows would otherwise decide
  it, and two samples of the same population would disagree by 0.2.

Undefined values (a constant column) count as no association (0).
"""

from __future__ import annotations

import numpy as np


def pearson_matrix(x: np.ndarray) -> np.ndarray:
    """Pairwise-complete Pearson correlation of the columns of ``x`` (n x p, NaN = null)."""
    if x.shape[1] == 0:
        return np.empty((0, 0))
    valid = ~np.isnan(x)
    m = valid.astype(np.float64)
    count = np.maximum(valid.sum(axis=0), 1)
    mean = np.where(valid, x, 0.0).sum(axis=0) / count
    centred = np.where(valid, x - mean, 0.0)
    scale = np.sqrt((centred**2).sum(axis=0) / count)
    scale[scale == 0] = 1.0
    z = centred / scale  # standardised: keeps the sums below O(n) and the subtraction exact
    n = m.T @ m
    sx = z.T @ m  # sx[i, j]: sum of column i over the rows where i and j are both present
    sxx = (z * z).T @ m
    sxy = z.T @ z
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx**2 / n
        var_j = var_i.T
        r = cov / np.sqrt(var_i * var_j)
    r = np.where(np.isfinite(r) & (var_i > 1e-12 * n) & (var_j > 1e-12 * n), r, 0.0)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, -1.0, 1.0)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-d array without NaN, ties sharing the average of their ranks."""
    n = values.size
    if n == 0:
        return np.empty(0)
    order = np.argsort(values)
    ordered = values[order]
    starts_flag = np.empty(n, dtype=bool)
    starts_flag[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_flag[1:])
    group = np.cumsum(starts_flag) - 1
    starts = np.flatnonzero(starts_flag)
    ends = np.append(starts[1:], n)
    ranks = np.empty(n)
    ranks[order] = ((starts + ends + 1) / 2.0)[group]
    return ranks


def rank_columns(x: np.ndarray) -> np.ndarray:
    """Average ranks of each column over its non-null values; NaN stays NaN."""
    out = np.full(x.shape, np.nan, dtype=np.float64)
    for j in range(x.shape[1]):
        col = x[:, j]
        valid = ~np.isnan(col)
        if valid.all():
            out[:, j] = average_ranks(col)
        else:
            out[valid, j] = average_ranks(col[valid])
    return out


def cramers_v(table: np.ndarray) -> float:
    """Bias-corrected Cramér's V of a 2-d table of counts (Bergsma 2013)."""
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    table = table[rows > 0][:, cols > 0]
    rows = rows[rows > 0]
    cols = cols[cols > 0]
    r, k = table.shape
    n = float(table.sum())
    if r < 2 or k < 2 or n < 2:
        return 0.0
    phi2 = float((table.astype(np.float64) ** 2 / np.outer(rows, cols)).sum()) - 1.0
    phi2_corr = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    denom = min(k_corr - 1, r_corr - 1)
    if denom <= 0:
        return 0.0
    return float(min(1.0, np.sqrt(phi2_corr / denom)))


def cramers_v_many(tables: np.ndarray) -> np.ndarray:
    """``cramers_v`` of each table in a stack ``(B, r, c)`` at once (for resampled tables)."""
    t = tables.astype(np.float64)
    n = t.sum(axis=(1, 2))
    rows, cols = t.sum(axis=2), t.sum(axis=1)
    r, k = (rows > 0).sum(axis=1).astype(np.float64), (cols > 0).sum(axis=1).astype(np.float64)
    expected = rows[:, :, None] * cols[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        phi2 = np.where(expected > 0, t * t / expected, 0.0).sum(axis=(1, 2)) - 1.0
        phi2_corr = np.maximum(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
        denom = np.minimum(k - (k - 1) ** 2 / (n - 1) - 1, r - (r - 1) ** 2 / (n - 1) - 1)
        v = np.sqrt(np.minimum(1.0, phi2_corr / denom))
    return np.where((r >= 2) & (k >= 2) & (n >= 2) & (denom > 0) & np.isfinite(v), v, 0.0)


class CentredColumn:
    """A numeric column prepared once for many correlation ratios: centred values, valid rows, total SS."""

    __slots__ = ("x", "valid", "total")

    def __init__(self, values: np.ndarray) -> None:
        mask = ~np.isnan(values)
        self.valid = None if mask.all() else np.flatnonzero(mask)
        x = values if self.valid is None else values[self.valid]
        self.x = x - x.mean() if x.size else x
        scale = float(np.abs(self.x).max()) if x.size else 0.0
        total = float((self.x * self.x).sum())
        self.total = total if total > 1e-12 * max(x.size, 1) * max(1.0, scale) ** 2 else 0.0


def correlation_ratio(values: np.ndarray | CentredColumn, codes: np.ndarray, n_levels: int) -> float:
    """Adjusted correlation ratio eta of a numeric column (NaN = null, dropped) by categories."""
    col = values if isinstance(values, CentredColumn) else CentredColumn(values)
    n = col.x.size
    if n < 3 or col.total == 0.0:
        return 0.0
    c = codes if col.valid is None else codes[col.valid]
    counts = np.bincount(c, minlength=n_levels).astype(np.float64)
    sums = np.bincount(c, weights=col.x, minlength=n_levels)
    used = counts > 0
    groups = int(used.sum())
    if groups < 2 or n <= groups:
        return 0.0
    between = float((sums[used] ** 2 / counts[used]).sum())
    eta2 = min(1.0, between / col.total)
    adjusted = 1.0 - (1.0 - eta2) * (n - 1) / (n - groups)
    return float(np.sqrt(max(0.0, adjusted)))
