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


def histogram(values: pl.Series, facts: ColumnFacts, semantic: SemanticType) -> dict[str, list[Any]] | None:
    """``{"edges": [...], "counts": [...]}`` for continuous, discrete and datetime columns, else None."""
    if semantic not in (SemanticType.CONTINUOUS, SemanticType.DISCRETE, SemanticType.DATETIME):
        return None
    if facts.minimum is None or facts.maximum is None:
        return None
    if facts.kind == "temporal":
        values = values.to_physical()
    data = values.drop_nulls().cast(pl.Float64).to_numpy()
    if data.size == 0:
        return None
    lo, hi = facts.minimum, facts.maximum
    integral = facts.kind in ("integer",) or bool(facts.whole)
    if semantic == SemanticType.DISCRETE and integral and hi - lo <= UNIT_BINS_MAX_RANGE:
        edges = np.arange(lo - 0.5, hi + 1.5, 1.0)
    elif facts.time_unit == "d":
        # Whole days: the last bin is [max, max + 1 day) so edges stay on midnight.
        edges = np.unique(np.round(np.linspace(lo, hi + 1, HISTOGRAM_BINS + 1)))
    elif hi == lo:
        edges = np.array([lo - 0.5, lo + 0.5])
    else:
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(data, bins=edges)
    if facts.kind == "temporal" and facts.time_unit is not None:
        edge_list: list[Any] = [to_iso(float(e), facts.time_unit) for e in edges]
    else:
        edge_list = [float(e) for e in edges]
    return {"edges": edge_list, "counts": [int(c) for c in counts]}
