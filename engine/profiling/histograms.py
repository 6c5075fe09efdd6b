"""Histogram data for numeric and datetime columns, ready for a plotly bar chart.

Counts come from the sample; the edges span the full data's min..max. Discrete columns with a
short range get one bin per integer so that bars sit on the values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.profiling.datetimes import to_iso
from engine.profiling.stats import ColumnFacts
from engine.schema import SemanticType

HISTOGRAM_BINS = 30
# Discrete columns whose range spans at most this many integers get one bin per integer.
UNIT_BINS_MAX_RANGE = 60


HISTOGRAM_TYPES = (SemanticType.CONTINUOUS, SemanticType.DISCRETE, SemanticType.DATETIME)


def physical_values(sample: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The named numeric/temporal columns of ``sample`` as float64 arrays (physical units, nulls
    as NaN), converted in one pass over all of them rather than column by column."""
    if not names:
        return {}
    matrix = sample.select(pl.col(names).to_physical().cast(pl.Float64)).to_numpy()
    return {name: matrix[:, j] for j, name in enumerate(names)}


def histogram(
    values: pl.Series | np.ndarray, facts: ColumnFacts, semantic: SemanticType
) -> dict[str, list[Any]] | None:
    """``{"edges": [...], "counts": [...]}`` for continuous, discrete and datetime columns, else None.

    ``values``: the column (a Series) or its ``physical_values`` array.
    """
    if semantic not in HISTOGRAM_TYPES:
        return None
    if facts.minimum is None or facts.maximum is None:
        return None
    if isinstance(values, pl.Series):
        values = values.to_physical().cast(pl.Float64).to_numpy()
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]  # nulls (NaN) and +-inf have no bin; inf counts in the column's stats
    if data.size == 0:
        return None
    lo, hi = facts.minimum, facts.maximum
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo, hi = float(data.min()), float(data.max())
    integral = facts.kind in ("integer",) or bool(facts.whole)
    if semantic == SemanticType.DISCRETE and integral and hi - lo <= UNIT_BINS_MAX_RANGE:
        edges = np.arange(lo - 0.5, hi + 1.5, 1.0)
    elif facts.time_unit == "d":
        # Whole days: the last bin is [max, max + 1 day) so edges stay on midnight.
        edges = np.unique(np.round(np.linspace(lo, hi + 1, HISTOGRAM_BINS + 1)))
    elif hi == lo:
        edges = np.array([lo - 0.5, lo + 0.5])
    else:
        edges = _linspace(lo, hi, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(data, bins=edges)
    if facts.kind == "temporal" and facts.time_unit is not None:
        edge_list: list[Any] = [to_iso(float(e), facts.time_unit) for e in edges]
    else:
        edge_list = [float(e) for e in edges]
    return {"edges": edge_list, "counts": [int(c) for c in counts]}


def _linspace(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` evenly spaced edges from ``lo`` to ``hi``, also when ``hi - lo`` overflows float64.

    Values near +-1.8e308 have a span past the largest float: the edges are then laid out on
    the range divided by its largest magnitude and scaled back, which stays finite.
    """
    if np.isfinite(hi - lo):
        return np.linspace(lo, hi, n)
    scale = max(abs(lo), abs(hi))
    edges = np.linspace(lo / scale, hi / scale, n) * scale
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(edges)
