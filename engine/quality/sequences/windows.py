"""Fixed-length windows of histories, and the two learned figures read off them.

**Windows.** A window is ``width`` consecutive steps of one entity (a history shorter than that
is padded with nulls). Each table gives about ``max_windows`` windows, spread evenly over its
entities, at seeded random starts. An entity's history is cut into ``blocks`` contiguous
blocks and a window never crosses a block's end, so that the cross-validation can keep each
(entity, block) whole in one fold: overlapping windows of one entity on both sides of a fold
would let a classifier recognise the entity instead of telling real from synthetic. Features
of a window: its values flattened (numeric columns, categorical codes) and per numeric column
its mean, standard deviation, minimum, maximum and mean absolute step change. The length of the
whole history is left out: the length distribution is judged on its own (KS), and a holdout
split by time has shorter histories by construction, which would make the ceiling trivial.

**Discriminative score** (TimeGAN's): a HistGradientBoosting classifier tells real windows from
synthetic ones, with group cross-validation over (table, entity, block); both tables give the
same number of windows. ``score = accuracy - 0.5`` where the accuracy is above chance, else 0:
0 is indistinguishable, 0.5 fully told apart. Below-chance accuracy is no evidence of a
difference: it is what group cross-validation gives when the same histories sit in both tables
(a copy of real data): the classifier learns an entity's windows under one label and meets its
copy, under the other label, in the held-out fold. Read as |accuracy - 0.5| it would score a
table against itself near the worst value; ``accuracy`` is reported as measured. The error bar
treats each (entity, block) group as one observation (windows of one entity are not
independent): sd <= 0.5 / sqrt(groups). The ceiling is the same score for the
holdout against the real table, when a holdout is given: what two real samples score.

**Predictive score** (train on synthetic, test on real): from the previous ``width`` steps a
HistGradientBoosting regressor predicts each numeric column's next step from the numeric
values of those steps. Trained on synthetic windows and on real (training) windows, both tested
on the test histories' windows; the error of a column is its mean absolute error over the test
targets' standard deviation. ``predictive_synthetic`` and ``predictive_real`` are the mean errors over the columns, and
``predictive_score`` = synthetic / real: 1 is as useful as the real data, above 1 is worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.quality.sequences.histories import Histories


@dataclass
class Windows:
    """Sampled windows: (windows, width) row indices (-1 = padding) and each window's group."""

    rows: np.ndarray
    groups: np.ndarray
    entities: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def subset(self, keep: np.ndarray) -> Windows:
        return Windows(self.rows[keep], self.groups[keep], self.entities[keep])


def blocks_for(n_entities: int, min_groups: int) -> int:
    """Blocks per entity so that a table has at least ``min_groups`` (entity, block) groups."""
    return max(1, math.ceil(min_groups / max(n_entities, 1)))


def sample_windows(h: Histories, *, width: int, max_windows: int, blocks: int, rng: np.random.Generator) -> Windows:
    """About ``max_windows`` windows of ``width`` steps, spread evenly over entities and their blocks."""
    lengths = h.lengths
    per_entity = max(1, math.ceil(max_windows / h.n_entities))
    n_blocks = np.clip(lengths // width, 1, blocks)  # a block holds at least one whole window where the history allows
    count = np.minimum(per_entity, np.maximum(lengths - width + 1, 1))  # no more windows than distinct starts
    entity = np.repeat(np.arange(h.n_entities), count)
    block = np.floor(rng.random(entity.size) * n_blocks[entity]).astype(np.int64)
    size = lengths[entity] / n_blocks[entity]
    lo = np.floor(block * size).astype(np.int64)
    hi = np.floor((block + 1) * size).astype(np.int64)  # exclusive
    room = np.maximum(hi - lo - width + 1, 1)
    start = lo + np.floor(rng.random(entity.size) * room).astype(np.int64)
    offsets = np.arange(width)
    step = start[:, None] + offsets[None, :]
    rows = np.where(step < lengths[entity][:, None], h.starts[entity][:, None] + step, -1)
    groups = entity * blocks + block
    return Windows(rows=rows, groups=groups, entities=entity)


def _gather(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = x[np.maximum(rows, 0)].astype(np.float64)
    out[rows < 0] = np.nan
    return out


def window_features(h: Histories, w: Windows, numeric: list[str], categorical: list[str], *,
                    statistics: bool = True) -> np.ndarray:
    """(windows, features): flattened values and per numeric column summary statistics."""
    parts = []
    for name in numeric:
        v = _gather(h.values[name], w.rows)
        parts.append(v)
        if not statistics:
            continue
        with np.errstate(all="ignore"):
            present = np.isfinite(v).any(axis=1)
            stats = np.full((len(w), 5), np.nan)
            if present.any():
                sub = v[present]
                change = np.abs(np.diff(sub, axis=1)) if sub.shape[1] > 1 else np.full((sub.shape[0], 1), np.nan)
                stats[present] = np.column_stack([
                    np.nanmean(sub, axis=1), np.nanstd(sub, axis=1), np.nanmin(sub, axis=1), np.nanmax(sub, axis=1),
                    _row_nanmean(change),
                ])
        parts.append(stats)
    for name in categorical:
        parts.append(_gather(h.codes[name], w.rows))
    return np.hstack(parts)


def _row_nanmean(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def _classifier(max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # early stopping on a seeded tenth of the training windows: most tables need far fewer rounds
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed, early_stopping=True,
                                          validation_fraction=0.1, n_iter_no_change=10)


def discriminate(a: Histories, b: Histories, *, numeric: list[str], categorical: list[str], width: int,
                 max_windows: int, folds: int, max_iter: int, seed: int) -> dict[str, Any]:
    """Cross-validated accuracy of telling ``a``'s windows from ``b``'s, and the score (see the module docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(seed)
    min_groups = 2 * folds
    sides = []
    for h in (a, b):
        w = sample_windows(h, width=width, max_windows=max_windows, blocks=blocks_for(h.n_entities, min_groups), rng=rng)
        sides.append((h, w))
    n = min(len(sides[0][1]), len(sides[1][1]))
    features, labels, groups = [], [], []
    offset = 0
    for label, (h, w) in enumerate(sides):
        if len(w) > n:
            w = w.subset(np.sort(rng.choice(len(w), n, replace=False)))
        features.append(window_features(h, w, numeric, categorical))
        labels.append(np.full(len(w), label))
        groups.append(w.groups + offset)
        offset += int(w.groups.max()) + 1
    x, y, g = np.vstack(features), np.concatenate(labels), np.concatenate(groups)
    n_groups = [np.unique(gr).size for gr in groups]
    splits = min(folds, *n_groups)
    if splits < 2:
        return {"score": None, "accuracy": None, "windows_per_side": n, "groups": n_groups,
                "note": "fewer than two (entity, block) groups on a side: the discriminator was not trained"}
    correct = 0
    for train, test in StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed).split(x, y, g):
        if np.unique(y[train]).size < 2:
            correct += int((y[test] == y[train][0]).sum())
            continue
        model = _classifier(max_iter, seed).fit(x[train], y[train])
        correct += int((model.predict(x[test]) == y[test]).sum())
    accuracy = correct / y.size
    return {"score": max(0.0, accuracy - 0.5), "accuracy": accuracy, "windows_per_side": n, "groups": n_groups,
            "folds": splits, "note": None}


def discriminative_bounds(score: float, groups: int, confidence: float) -> tuple[float, float]:
    """(lower, upper) of the true score: each (entity, block) group one observation, sd <= 0.5 / sqrt(groups)."""
    from scipy.special import ndtri

    half = float(ndtri(0.5 + confidence / 2)) * 0.5 / math.sqrt(max(groups, 1))
    return max(0.0, score - half), min(0.5, score + half)


# ----------------------------------------------------------------------------- predictive


def _next_step_data(h: Histories, numeric: list[str], *, width: int, max_windows: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Features of the ``width`` steps before each sampled target step, and the targets (windows, columns)."""
    w = sample_windows(h, width=width + 1, max_windows=max_windows, blocks=1, rng=rng)
    w = w.subset(w.rows[:, -1] >= 0)  # the target step must exist
    history = Windows(w.rows[:, :-1], w.groups, w.entities)
    x = window_features(h, history, numeric, [], statistics=False)
    y = np.column_stack([h.values[name][w.rows[:, -1]] for name in numeric]) if len(w) else np.empty((0, len(numeric)))
    return x, y


def predict_next(train_real: Histories, synthetic: Histories, test: Histories, *, numeric: list[str], width: int,
                 max_windows: int, max_iter: int, seed: int) -> dict[str, Any]:
    """Next-step errors of models trained on synthetic and on real histories, tested on ``test``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng([seed, 7])
    data = {role: _next_step_data(h, numeric, width=width, max_windows=max_windows, rng=rng)
            for role, h in (("real", train_real), ("synthetic", synthetic), ("test", test))}
    columns: dict[str, Any] = {}
    for j, name in enumerate(numeric):
        x_test, y_test = data["test"][0], data["test"][1][:, j]
        keep = np.isfinite(y_test)
        scale = float(np.std(y_test[keep])) if keep.sum() > 1 else 0.0
        if scale == 0.0:
            continue
        errors = {}
        for role in ("real", "synthetic"):
            x, y = data[role][0], data[role][1][:, j]
            ok = np.isfinite(y)
            if ok.sum() < 2:
                errors[role] = None
                continue
            model = HistGradientBoostingRegressor(max_iter=max_iter, random_state=seed, early_stopping=True,
                                                  validation_fraction=0.1, n_iter_no_change=10)
            model.fit(x[ok], y[ok])
            errors[role] = float(np.mean(np.abs(model.predict(x_test[keep]) - y_test[keep]))) / scale
        columns[name] = errors
    real = [c["real"] for c in columns.values() if c["real"] is not None and c["synthetic"] is not None]
    syn = [c["synthetic"] for c in columns.values() if c["real"] is not None and c["synthetic"] is not None]
    real_mean = float(np.mean(real)) if real else None
    syn_mean = float(np.mean(syn)) if syn else None
    ratio = syn_mean / real_mean if real_mean and syn_mean is not None else None
    return {"columns": columns, "predictive_real": real_mean, "predictive_synthetic": syn_mean,
            "predictive_score": ratio, "test_windows": int(len(data["test"][1]))}
