"""Rows whose number carries no spread: nulls and a spike, kept out of a scalar's normal scores.

A scalar's normal scores spread its values over a standard normal through its quantiles. Two
kinds of row would crowd that spread: rows where the column is null (they hold a fill value)
and a spike, one value held by a large share of the rows (no capital gain in 92 % of adult's).
Left in, either one squeezes every other value into a tail of the normal, where the denoiser
cannot tell nearby amounts apart. So:

- a null row's score is 0 and means nothing (the column's null block says it is missing);
- a spike (the most frequent value, held by at least ``SPIKE_SHARE`` of the column's present
  rows while other values remain) becomes a category block of two levels, [other, spike],
  drawn like any category; its rows' score is 0 too;
- the knots are fitted to the remaining rows only.

Under differential privacy nothing here is measured: the null indicators are part of the
encoded rows DP-SGD trains on, and no spike is looked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPIKE_SHARE = 0.1


def present_mask(matrix: np.ndarray, spans: list[Any]) -> np.ndarray:
    """(rows, scalar columns) bool: where each scalar's column is not null (from its null block)."""
    missing_of: dict[str, int] = {}
    position = 0
    for span in spans:
        if span.kind == "null":
            missing_of[span.column] = position + 1  # [present, missing]
        position += span.size
    columns: list[np.ndarray] = []
    for span in spans:
        if span.activation == "tanh":
            at = missing_of.get(span.column)
            flag = np.ones(matrix.shape[0], dtype=bool) if at is None else matrix[:, at] < 0.5
            columns.extend([flag] * span.size)
    return np.stack(columns, axis=1) if columns else np.ones((matrix.shape[0], 0), dtype=bool)


def find_spikes(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(scalar columns,) float32: each column's spike value, NaN where it has none."""
    spikes = np.full(values.shape[1], np.nan, dtype=np.float32)
    for j in range(values.shape[1]):  # one count per column, vectorised over rows
        held = values[present[:, j], j]
        if held.size == 0:
            continue
        levels, counts = np.unique(held, return_counts=True)
        if len(levels) > 1 and counts.max() >= SPIKE_SHARE * held.size:
            spikes[j] = levels[counts.argmax()]
    return spikes


def spiked_columns(spikes: np.ndarray) -> np.ndarray:
    """The scalar columns that have a spike, in order (their blocks follow the transformer's)."""
    return np.flatnonzero(~np.isnan(spikes))


def at_spikes(values: np.ndarray, present: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """(rows, spiked columns) bool: where each spiked column holds its spike."""
    spiked = spiked_columns(spikes)
    return (values[:, spiked] == spikes[spiked][None, :]) & present[:, spiked]


__all__ = ["SPIKE_SHARE", "at_spikes", "find_spikes", "present_mask", "spiked_columns"]
