"""Privacy by entity: each whole history as one vector, attacked with the single-table privacy code.

The unit of privacy of a sequence model is the entity with all its steps, so the attacks must
look at whole histories, not at single steps (one entity's steps are not independent: an attack
on steps reads an unseen entity's other days as leaked). Each history becomes one row
(``entity_vectors``):

- its length and its context columns (as they are);
- per numeric step column: mean, standard deviation, minimum, maximum, first and last value,
  and the history resampled at ``points`` evenly spaced steps (a fixed-length outline of its
  shape, whatever its length);
- per categorical step column: the share of each of the real table's five most common categories.

``engine.quality.privacy.assess_privacy`` then runs on those rows: training entities are the
members, holdout entities the non-members. ``dcr_share`` (share of synthetic histories closer to
a training history than to a holdout one; 0.5 is ideal, 1.0 = copies), the membership advantage
(worst attack) and the exact copies of whole histories. Few entities are normal here (a hundred
companies), so the attacks run from 10 entities per side, and their error bars say how much
that can tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.quality.sequences.histories import Histories

_SHARES = 5
MIN_ENTITIES_PER_SIDE = 10


def entity_vectors(h: Histories, context: pl.DataFrame, *, numeric: list[str], categorical: list[str],
                   top_codes: Mapping[str, np.ndarray], points: int) -> pl.DataFrame:
    """One row per entity of ``h`` (see the module docstring); ``top_codes``: the categorical codes whose share is kept."""
    n = h.n_entities
    columns: dict[str, np.ndarray] = {"length": h.lengths.astype(np.float64)}
    spots = np.linspace(0.0, 1.0, points)
    picked = h.starts[:, None] + np.round(spots[None, :] * (h.lengths[:, None] - 1)).astype(np.int64)
    last = h.starts + h.lengths - 1
    for name in numeric:
        x = h.values[name]
        ok = ~np.isnan(x)
        count = np.bincount(h.entity[ok], minlength=n)
        total = np.bincount(h.entity[ok], weights=x[ok], minlength=n)
        with np.errstate(all="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            square = np.bincount(h.entity[ok], weights=(x[ok] - mean[h.entity[ok]]) ** 2, minlength=n)
            std = np.where(count > 1, np.sqrt(square / np.maximum(count - 1, 1)), np.nan)
        filled_low = np.where(ok, x, np.inf)
        filled_high = np.where(ok, x, -np.inf)
        low = np.minimum.reduceat(filled_low, h.starts)
        high = np.maximum.reduceat(filled_high, h.starts)
        columns.update({
            f"{name}:mean": mean, f"{name}:std": std,
            f"{name}:min": np.where(np.isfinite(low), low, np.nan), f"{name}:max": np.where(np.isfinite(high), high, np.nan),
            f"{name}:first": x[h.starts], f"{name}:last": x[last],
        })
        for k in range(points):
            columns[f"{name}:at{k}"] = x[picked[:, k]]
    for name in categorical:
        codes = h.codes[name]
        for code in top_codes[name]:
            hits = np.bincount(h.entity, weights=(codes == code).astype(np.float64), minlength=n)
            columns[f"{name}:share{int(code)}"] = hits / h.lengths
    frame = pl.DataFrame(columns)
    if context.width:
        clash = sorted(set(context.columns) & set(frame.columns))
        if clash:
            raise InputError(f"context column(s) {clash} are named like the entity summaries; rename them")
        frame = pl.concat([context, frame], how="horizontal")
    return frame


def top_category_codes(real: Histories, categorical: list[str], n_categories: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Per categorical column: the codes of its most common real values (nulls excluded), at most five."""
    out = {}
    for name in categorical:
        counts = np.bincount(real.codes[name], minlength=n_categories[name] + 1)[: n_categories[name]]
        order = np.argsort(-counts, kind="stable")
        out[name] = order[: min(_SHARES, int((counts > 0).sum()))]
    return out


def assess_entity_privacy(vectors: Mapping[str, pl.DataFrame], *, settings: Mapping[str, Any], confidence: float,
                          mia_threshold: float, seed: int) -> dict[str, Any]:
    """``assess_privacy`` on the entity vectors (role -> frame), as a JSON-safe dict."""
    from engine.quality.privacy import PrivacyConfig, assess_privacy

    config = PrivacyConfig.from_mapping({"mia_min_rows_per_side": MIN_ENTITIES_PER_SIDE, **settings,
                                         "confidence": confidence, "mia_threshold": mia_threshold})
    return assess_privacy(real=vectors["real"], synthetic=vectors["synthetic"], holdout=vectors.get("holdout"),
                          config=config, seed=seed).to_dict()
