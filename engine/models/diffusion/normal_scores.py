"""Normal scores of the scalar columns: each mapped through its empirical quantiles to a standard normal.

Diffusion assumes data near a standard normal; the transformer's scalars are skewed,
spiky and bounded. Each column's ``knots`` (its values at evenly spaced probabilities) map a
value to its probability and then through the normal quantile function; the inverse runs
back through the same knots. Ties (a spike of equal values) map to the middle of their
probability range, as in scikit-learn's QuantileTransformer. Scores are bounded at
``BOUND`` standard deviations, far inside the learned range, so nothing is pushed to the
range ends: a generated score beyond the last knot maps to the largest training value.

Under DP the knots are not measured: a data-free grid treats each scalar as uniform on
[-1, 1] (the transformer's private range), which spends no budget.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

PROB_LOW, PROB_HIGH = 1e-6, 1 - 1e-6
BOUND = float(ndtri(PROB_HIGH))


def fit_knots(values: np.ndarray, n_knots: int, keep: np.ndarray | None = None) -> np.ndarray:
    """(columns, knots) float32: each column's quantiles at ``n_knots`` evenly spaced probabilities,
    over the rows ``keep`` (rows, columns) marks (all rows by default; a column with none kept gets
    knots at 0)."""
    if values.shape[1] == 0:
        return np.zeros((0, n_knots), dtype=np.float32)
    k = max(2, min(n_knots, values.shape[0]))
    probs = np.linspace(0.0, 1.0, k)
    if keep is None:
        return np.quantile(values, probs, axis=0).T.astype(np.float32)
    knots = np.zeros((values.shape[1], k), dtype=np.float32)
    for j in range(values.shape[1]):  # each column its own rows, vectorised over them
        kept = values[keep[:, j], j]
        if kept.size:
            knots[j] = np.quantile(kept, probs)
    return knots


def uniform_knots(n_columns: int, n_knots: int) -> np.ndarray:
    """Data-free knots: every column uniform on [-1, 1] (the DP path)."""
    return np.tile(np.linspace(-1.0, 1.0, n_knots, dtype=np.float32), (n_columns, 1))


def to_scores(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Values (rows, columns) -> normal scores, float32."""
    out = np.empty(values.shape, dtype=np.float32)
    if knots.shape[0] == 0:
        return out
    probs = np.linspace(0.0, 1.0, knots.shape[1])
    for j in range(knots.shape[0]):  # one interpolation per column, vectorised over rows
        xp = knots[j].astype(np.float64)
        up = np.interp(values[:, j], xp, probs)
        down = 1.0 - np.interp(-values[:, j], -xp[::-1], probs)
        out[:, j] = ndtri(np.clip(0.5 * (up + down), PROB_LOW, PROB_HIGH))
    return out


def from_scores(scores: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Normal scores (rows, columns) -> values, float32."""
    out = np.empty(scores.shape, dtype=np.float32)
    if knots.shape[0] == 0:
        return out
    probs = np.linspace(0.0, 1.0, knots.shape[1])
    uniform = ndtr(scores.astype(np.float64))
    for j in range(knots.shape[0]):
        out[:, j] = np.interp(uniform[:, j], probs, knots[j])
    return out


__all__ = ["BOUND", "fit_knots", "from_scores", "to_scores", "uniform_knots"]
