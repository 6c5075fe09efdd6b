"""Figures of histories over time: lengths, spacing, autocorrelation, cross-correlation, coherence.

All are segment statistics over the entity codes of ``histories.Histories`` (``np.bincount``
with weights), so a table of a million steps costs a few array passes per column and lag.

- **Lengths**: ``length_ks_similarity`` = 1 - KS statistic of the real and synthetic entity
  lengths. **Spacing**: ``gap_ks_similarity`` = 1 - KS of the step-to-step time differences.
- **Autocorrelation** of a numeric column within one entity at lag k:
  ``sum_t d_t d_{t+k} / sum_t d_t^2`` with ``d`` the entity's centred values (the usual biased
  estimator; nulls count as the entity mean). Each lag's value is averaged over the entities
  (each entity counts once), for lags 1..k; ``autocorrelation_error`` is the mean |real -
  synthetic| over columns and lags.
- **Cross-correlation**: per entity, the Pearson matrix of the numeric columns (same step) and
  the lag-1 matrix ``corr(x_t, y_{t+1})`` (x != y), averaged over entities;
  ``cross_correlation_error`` is the mean |real - synthetic| over both sets of pairs.
- **Coherence** (MOSTLY AI's idea): a categorical column's distinct categories per history
  (1 - TV of their distributions) and its next-step transitions (1 - the real-weighted mean
  TV of the rows of the transition matrix P(next | this)); a numeric column's step-to-step
  changes (1 - KS). ``coherence`` is the mean of these similarities.

Error bars: an averaged curve's standard error is its entity-level spread / sqrt(entities),
per side; the error figures carry ``_se`` (the mean of those of their terms), which the gates
turn into confidence intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.quality.binning import tvd
from engine.quality.fidelity import ks_distance
from engine.quality.sequences.histories import Histories


def _mean_and_se(per_entity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise mean over entities (rows) ignoring NaN, and its standard error (inf below two entities)."""
    finite = np.isfinite(per_entity)
    n = finite.sum(axis=0)
    safe = np.where(finite, per_entity, 0.0)
    mean = np.where(n > 0, safe.sum(axis=0) / np.maximum(n, 1), np.nan)
    var = np.where(n > 1, (np.where(finite, per_entity - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1), np.nan)
    se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), np.inf)
    return mean, se


def _centred(h: Histories, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values minus their entity's mean (nulls at 0) and each entity's sum of squares."""
    ok = ~np.isnan(x)
    total = np.bincount(h.entity[ok], weights=x[ok], minlength=h.n_entities)
    count = np.bincount(h.entity[ok], minlength=h.n_entities)
    mean = total / np.maximum(count, 1)
    d = np.where(ok, x - mean[h.entity], 0.0)
    return d, np.bincount(h.entity, weights=d * d, minlength=h.n_entities)


def _lagged_sums(h: Histories, a: np.ndarray, b: np.ndarray, lag: int) -> np.ndarray:
    """Per entity: sum over t of a_t * b_{t+lag}, both steps in that entity."""
    if h.n_rows <= lag:
        return np.zeros(h.n_entities)
    same = h.next_same(lag)
    return np.bincount(h.entity[:-lag], weights=a[:-lag] * b[lag:] * same, minlength=h.n_entities)


def autocorrelation(h: Histories, name: str, lags: int) -> np.ndarray:
    """(entities, lags) autocorrelations of numeric column ``name``; NaN where undefined (constant or too short)."""
    d, ss = _centred(h, h.values[name])
    out = np.full((h.n_entities, lags), np.nan)
    defined = ss > 0
    for k in range(1, lags + 1):
        num = _lagged_sums(h, d, d, k)
        out[:, k - 1] = np.where(defined & (h.lengths > k), num / np.where(defined, ss, 1.0), np.nan)
    return out


def autocorrelation_figures(tables: dict[str, Histories], numeric: list[str], lags: int) -> dict[str, Any]:
    """Per column: the averaged curves of every table, the real-synthetic error and its standard error."""
    columns: dict[str, Any] = {}
    errors, ses, holdout_errors = [], [], []
    for name in numeric:
        curves = {role: _mean_and_se(autocorrelation(h, name, lags)) for role, h in tables.items()}
        real, real_se = curves["real"]
        syn, syn_se = curves["synthetic"]
        diff = np.abs(real - syn)
        entry: dict[str, Any] = {"lags": list(range(1, lags + 1)), **{role: c[0] for role, c in curves.items()},
                                 "error": _nanmean(diff)}
        if np.isfinite(diff).any():
            errors.append(diff[np.isfinite(diff)])
            ses.append(np.sqrt(real_se ** 2 + syn_se ** 2)[np.isfinite(diff)])
        if "holdout" in curves:
            hold_diff = np.abs(real - curves["holdout"][0])
            entry["holdout_error"] = _nanmean(hold_diff)
            if np.isfinite(hold_diff).any():
                holdout_errors.append(hold_diff[np.isfinite(hold_diff)])
        columns[name] = entry
    return {
        "columns": columns,
        "error": float(np.concatenate(errors).mean()) if errors else None,
        "error_se": float(np.concatenate(ses).mean()) if ses else None,
        "holdout_error": float(np.concatenate(holdout_errors).mean()) if holdout_errors else None,
    }


def cross_correlation(h: Histories, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per entity (entities, p, p): the same-step Pearson matrix and the lag-1 matrix corr(x_t, y_{t+1})."""
    p = len(names)
    centred = [_centred(h, h.values[n]) for n in names]
    same = np.full((h.n_entities, p, p), np.nan)
    lag1 = np.full((h.n_entities, p, p), np.nan)
    for i in range(p):
        di, ssi = centred[i]
        for j in range(p):
            dj, ssj = centred[j]
            scale = np.sqrt(ssi * ssj)
            ok = scale > 0
            if j > i:
                num = np.bincount(h.entity, weights=di * dj, minlength=h.n_entities)
                same[:, i, j] = same[:, j, i] = np.where(ok, num / np.where(ok, scale, 1.0), np.nan)
            if j != i:
                num = _lagged_sums(h, di, dj, 1)
                lag1[:, i, j] = np.where(ok & (h.lengths > 1), num / np.where(ok, scale, 1.0), np.nan)
    return same, lag1


def cross_correlation_figures(tables: dict[str, Histories], numeric: list[str]) -> dict[str, Any]:
    """Averaged same-step and lag-1 matrices per table, and the mean |real - synthetic| over the pairs."""
    if len(numeric) < 2:
        return {"columns": numeric, "error": None, "error_se": None, "holdout_error": None,
                "same_step_error": None, "lag1_error": None}
    p = len(numeric)
    upper = np.triu(np.ones((p, p), dtype=bool), k=1)
    off = ~np.eye(p, dtype=bool)
    out: dict[str, Any] = {"columns": numeric}
    means: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for role, h in tables.items():
        same, lag1 = cross_correlation(h, numeric)
        s_mean, s_se = _mean_and_se(same.reshape(h.n_entities, -1))
        l_mean, l_se = _mean_and_se(lag1.reshape(h.n_entities, -1))
        means[role] = (s_mean.reshape(p, p), s_se.reshape(p, p), l_mean.reshape(p, p), l_se.reshape(p, p))
        out[role] = {"same_step": means[role][0], "lag1": means[role][2]}

    def compare(other: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r, o = means["real"], means[other]
        return np.abs(r[0] - o[0])[upper], np.abs(r[2] - o[2])[off], \
            np.sqrt(r[1] ** 2 + o[1] ** 2)[upper], np.sqrt(r[3] ** 2 + o[3] ** 2)[off]

    same_diff, lag_diff, same_se, lag_se = compare("synthetic")
    both = np.concatenate([same_diff, lag_diff])
    both_se = np.concatenate([same_se, lag_se])
    keep = np.isfinite(both)
    out.update(same_step_error=_nanmean(same_diff), lag1_error=_nanmean(lag_diff),
               error=float(both[keep].mean()) if keep.any() else None,
               error_se=float(both_se[keep].mean()) if keep.any() else None, holdout_error=None)
    if "holdout" in means:
        hs, hl, _, _ = compare("holdout")
        out["holdout_error"] = _nanmean(np.concatenate([hs, hl]))
    return out


def length_figures(tables: dict[str, Histories]) -> dict[str, Any]:
    """Length distributions: KS similarity, the lengths' summary and a histogram per table."""
    real = tables["real"].lengths.astype(np.float64)
    out: dict[str, Any] = {}
    for role, h in tables.items():
        x = h.lengths.astype(np.float64)
        out[role] = {"entities": h.n_entities, "min": int(x.min()), "median": float(np.median(x)),
                     "max": int(x.max()), "mean": float(x.mean())}
    out["ks_distance"] = ks_distance(real, tables["synthetic"].lengths.astype(np.float64))
    out["ks_similarity"] = 1.0 - out["ks_distance"]
    if "holdout" in tables:
        out["holdout_ks_similarity"] = 1.0 - ks_distance(real, tables["holdout"].lengths.astype(np.float64))
    edges = np.unique(np.quantile(np.concatenate([h.lengths for h in tables.values()]), np.linspace(0, 1, 21)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    out["histogram"] = {"edges": edges, **{role: np.histogram(h.lengths, bins=edges)[0] for role, h in tables.items()}}
    return out


def gap_figures(tables: dict[str, Histories]) -> dict[str, Any]:
    """Step-to-step time differences: 1 - KS of real vs synthetic (None when no entity has two steps)."""
    gaps = {}
    for role, h in tables.items():
        same = h.next_same(1)
        gaps[role] = (h.time[1:] - h.time[:-1])[same]
    out: dict[str, Any] = {role: {"median": float(np.median(g)) if g.size else None} for role, g in gaps.items()}
    if gaps["real"].size == 0 or gaps["synthetic"].size == 0:
        out["ks_similarity"] = None
        return out
    out["ks_similarity"] = 1.0 - ks_distance(gaps["real"], gaps["synthetic"], null_as_category=False)
    return out


# ----------------------------------------------------------------------------- coherence


def _top_codes(codes: np.ndarray, n_categories: int, top: int) -> tuple[np.ndarray, int]:
    """Codes with categories past ``top`` pooled into one "other" code, nulls after it; and the code count."""
    pooled = np.where(codes < top, codes, top)
    pooled = np.where(codes == n_categories, top + 1, pooled)
    return pooled, top + 2


def distinct_per_entity(h: Histories, codes: np.ndarray, levels: int) -> np.ndarray:
    """Per entity: how many distinct codes its history holds."""
    pairs = np.unique(h.entity.astype(np.int64) * levels + codes)
    return np.bincount(pairs // levels, minlength=h.n_entities)


def transitions(h: Histories, codes: np.ndarray, levels: int) -> np.ndarray:
    """(levels, levels) counts of (this step's code, the next step's code) within entities."""
    same = h.next_same(1)
    pair = codes[:-1].astype(np.int64) * levels + codes[1:]
    return np.bincount(pair[same], minlength=levels * levels).reshape(levels, levels)


def transition_similarity(real: np.ndarray, other: np.ndarray) -> float | None:
    """1 - the mean over 'this' codes (weighted by the real counts) of the TV of P(next | this)."""
    total = real.sum()
    if total == 0:
        return None
    rows_real = real.sum(axis=1)
    rows_other = other.sum(axis=1)
    p = real / np.maximum(rows_real, 1)[:, None]
    q = other / np.maximum(rows_other, 1)[:, None]
    tv = np.where(rows_other > 0, 0.5 * np.abs(p - q).sum(axis=1), 1.0)
    return float(1.0 - (tv * rows_real).sum() / total)


def coherence_figures(tables: dict[str, Histories], numeric: list[str], categorical: list[str],
                      categories: dict[str, list[str]], top: int) -> dict[str, Any]:
    """Per column similarities of the coherence figures (see the module docstring) and their mean."""
    columns: dict[str, Any] = {}
    parts: list[float] = []
    hold_parts: list[float] = []
    for name in categorical:
        n_categories = len(categories[name])
        coded = {role: _top_codes(h.codes[name], n_categories, top) for role, h in tables.items()}
        levels = coded["real"][1]
        distinct = {role: distinct_per_entity(h, coded[role][0], levels) for role, h in tables.items()}
        trans = {role: transitions(h, coded[role][0], levels) for role, h in tables.items()}
        width = max(int(d.max()) for d in distinct.values()) + 1
        counts = {role: np.bincount(d, minlength=width) for role, d in distinct.items()}
        entry = {"distinct_similarity": 1.0 - tvd(counts["real"], counts["synthetic"]),
                 "transition_similarity": transition_similarity(trans["real"], trans["synthetic"])}
        if "holdout" in tables:
            entry["holdout_distinct_similarity"] = 1.0 - tvd(counts["real"], counts["holdout"])
            entry["holdout_transition_similarity"] = transition_similarity(trans["real"], trans["holdout"])
            hold_parts += [v for v in (entry["holdout_distinct_similarity"], entry["holdout_transition_similarity"])
                           if v is not None]
        parts += [v for v in (entry["distinct_similarity"], entry["transition_similarity"]) if v is not None]
        columns[name] = entry
    for name in numeric:
        changes = {}
        for role, h in tables.items():
            x = h.values[name]
            changes[role] = (x[1:] - x[:-1])[h.next_same(1)]
        if changes["real"].size == 0 or changes["synthetic"].size == 0:
            continue
        entry = {"change_similarity": 1.0 - ks_distance(changes["real"], changes["synthetic"])}
        if "holdout" in tables and changes["holdout"].size:
            entry["holdout_change_similarity"] = 1.0 - ks_distance(changes["real"], changes["holdout"])
            hold_parts.append(entry["holdout_change_similarity"])
        parts.append(entry["change_similarity"])
        columns[name] = entry
    return {"columns": columns, "score": float(np.mean(parts)) if parts else None,
            "holdout_score": float(np.mean(hold_parts)) if hold_parts else None}


def _nanmean(x: np.ndarray) -> float | None:
    finite = np.asarray(x)[np.isfinite(x)]
    return float(finite.mean()) if finite.size else None
