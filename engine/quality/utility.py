"""Utility: does a model trained on the synthetic table work on real data?

Train-synthetic-test-real (TSTR) against train-real-test-real (TRTR), with one fixed learner
so that the comparison measures the data and nothing else: scikit-learn's
HistGradientBoostingClassifier / HistGradientBoostingRegressor (``random_state=0``,
``max_iter`` from the config, native categorical support, nulls handled natively).

- TSTR trains on the synthetic table, TRTR on the real (training) table; both are scored on
  the holdout. Without a holdout, the real table is split (80/20, seeded) and the note says so.
- Classification (categorical target): ROC AUC (binary: of the rarer real class; multiclass:
  mean one-vs-rest AUC over the classes present in the test rows), F1 (binary: of the rarer
  class; multiclass: macro) and accuracy. Regression (numeric target): R^2 and MAE.
- The ratio TSTR / TRTR per metric (for MAE, TRTR / TSTR, so that higher is better again); the
  primary ratio (AUC or R^2) is what the utility gate reads.
- The learner runs on ``threads`` threads (``config['threads']`` in ``engine.assess``, default 1;
  see there why).
- Feature-importance rank agreement: permutation importance of both models on the same
  holdout subsample, compared by Spearman's rank correlation (1 = the synthetic-trained model
  relies on the same features in the same order).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.quality.columns import Prepared, Table
from engine.quality.config import UtilityConfig

ProgressCallback = Callable[[str, float], None]

LEARNER = "scikit-learn HistGradientBoosting (random_state=0, native categorical support)"
_MAX_CATEGORY_CODES = 250  # HistGradientBoosting takes at most 255 categories per feature
_TARGET_HINTS = {
    "target", "label", "class", "income", "churn", "churned", "outcome", "default", "fraud", "y",
    "response", "survived", "status", "price", "value", "salary", "diagnosis", "result", "converted",
}


def suggest_target(prep: Prepared) -> tuple[str | None, str]:
    """A plausible prediction target from the column names and kinds, with the reason.

    A column whose name holds a usual target word (income, label, churn, price, value, ...)
    and is categorical with 2-20 categories or numeric; otherwise the last column when it
    qualifies; otherwise none.
    """
    def qualifies(name: str, kind: str) -> bool:
        if kind == "categorical":
            return 2 <= len(prep.categories[name]) <= 20
        return kind == "numeric"

    if len(prep.compared) < 2:
        return None, "the table has one compared column: there is nothing to predict a target from"
    specs = [s for s in prep.compared if qualifies(s.name, s.kind)]
    named = [s for s in specs if set(re.split(r"[^a-z0-9]+", s.name.lower())) & _TARGET_HINTS]
    if named:
        chosen = sorted(named, key=lambda s: (s.kind != "categorical", -prep.compared.index(s)))[0]
        return chosen.name, f"its name ({chosen.name!r}) is a usual prediction target"
    if specs and specs[-1].name == prep.compared[-1].name:
        return specs[-1].name, "it is the last column, where targets usually sit"
    return None, "no column looks like a prediction target"


def _features(table: Table, prep: Prepared, names: list[str]) -> np.ndarray:
    cols = []
    for name in names:
        if name in table.codes:
            n_cat = len(prep.categories[name])
            codes = table.codes[name].astype(np.float64)
            codes[codes >= min(n_cat, _MAX_CATEGORY_CODES)] = _MAX_CATEGORY_CODES  # rare and unseen pooled
            codes[table.codes[name] == n_cat] = np.nan  # null: HistGradientBoosting's missing value
            cols.append(codes)
        else:
            cols.append(table.values[name])
    return np.column_stack(cols) if cols else np.empty((table.n_rows, 0))


def _target(table: Table, prep: Prepared, target: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Target values and the mask of rows where it is present."""
    if task == "classification":
        codes = table.codes[target]
        keep = codes != len(prep.categories[target])
        return codes, keep
    values = table.values[target]
    return values, ~np.isnan(values)


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=cap, replace=False)) if n > cap else np.arange(n)


class _ConstantModel:
    """Stands in when a training set holds a single class: predicts it with probability 1."""

    def __init__(self, value: Any) -> None:
        self.classes_ = np.array([value])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], self.classes_[0])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((x.shape[0], 1))


class _NoDataModel(_ConstantModel):
    """Stands in when the synthetic table has no row with the target: a model that learned nothing.

    It predicts no real class (classification: AUC 0.5, accuracy 0) or 0 (regression), so the
    TSTR score is the floor and the utility gate gets a verdict instead of the run failing.
    """

    def __init__(self, task: str) -> None:
        super().__init__(-1 if task == "classification" else 0.0)


def _fit(task: str, x: np.ndarray, y: np.ndarray, categorical: np.ndarray, max_iter: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "classification":
        if np.unique(y).size < 2:
            return _ConstantModel(y[0])
        # Above 10,000 rows scikit-learn stops early on a stratified validation split, which
        # cannot place a class held by one row: such a table trains all ``max_iter`` rounds.
        singleton = int(np.unique(y, return_counts=True)[1].min()) < 2
        model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=0, categorical_features=categorical,
                                               early_stopping=False if singleton else "auto")
    else:
        model = HistGradientBoostingRegressor(max_iter=max_iter, random_state=0, categorical_features=categorical)
    # A feature with no finite value in the training rows (an all-null, all-NaN or all-inf
    # synthetic column) carries nothing to learn, and scikit-learn's binning fails on it
    # ("window shape cannot be larger than input array shape"): it becomes a constant.
    empty = ~np.isfinite(x).any(axis=0) if x.size else np.zeros(x.shape[1], dtype=bool)
    if empty.any():
        x = x.copy()
        x[:, empty] = 0.0
    return model.fit(x, y)


def _scores(task: str, model: Any, x: np.ndarray, y: np.ndarray, positive: int | None) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

    if task == "regression":
        pred = model.predict(x)
        return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred))}
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    pred = model.predict(x)

    def column(c: int) -> np.ndarray:
        return proba[:, classes.index(c)] if c in classes else np.zeros(x.shape[0])

    if positive is not None:
        truth = y == positive
        auc = float(roc_auc_score(truth, column(positive))) if 0 < truth.sum() < truth.size else float("nan")
        f1 = float(f1_score(truth, pred == positive, zero_division=0))
    else:
        aucs = []
        for c in np.unique(y):
            truth = y == c
            if 0 < truth.sum() < truth.size:
                aucs.append(roc_auc_score(truth, column(int(c))))
        auc = float(np.mean(aucs)) if aucs else float("nan")
        f1 = float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0))
    return {"auc": auc, "f1": f1, "accuracy": float(accuracy_score(y, pred))}


def _importance(task: str, model: Any, x: np.ndarray, y: np.ndarray, binary: bool, repeats: int, seed: int) -> np.ndarray:
    from sklearn.inspection import permutation_importance

    if isinstance(model, _ConstantModel):
        return np.zeros(x.shape[1])
    scoring = "r2" if task == "regression" else ("roc_auc" if binary and len(model.classes_) == 2 else "accuracy")
    if scoring == "roc_auc" and np.unique(y).size < 2:
        scoring = "accuracy"
    result = permutation_importance(model, x, y, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1)
    return result.importances_mean


def assess_utility(
    prep: Prepared,
    *,
    target: str,
    target_source: str,
    config: UtilityConfig,
    seed: int = 0,
    threads: int = 1,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """TSTR vs TRTR for ``target`` (see the module docstring); a JSON-safe dict.

    ``threads``: OpenMP/BLAS threads of the learner (see ``engine.assess`` for why 1 is the default).
    """
    import sklearn.ensemble  # noqa: F401 - loads libgomp first, so that the limit below reaches it
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _assess_utility(prep, target=target, target_source=target_source, config=config, seed=seed,
                               on_progress=on_progress)


def _assess_utility(
    prep: Prepared,
    *,
    target: str,
    target_source: str,
    config: UtilityConfig,
    seed: int,
    on_progress: ProgressCallback | None,
) -> dict[str, Any]:
    from scipy.stats import spearmanr

    spec = next((s for s in prep.specs if s.name == target), None)
    if spec is None:
        raise InputError(f"target {target!r} is not a column of the real table; columns: {[s.name for s in prep.specs]}")
    if spec.kind == "skip":
        raise InputError(f"target {target!r} cannot be predicted: {spec.reason}")
    task = "classification" if spec.kind == "categorical" else "regression"
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    features = [s.name for s in prep.compared if s.name != target]
    if not features:
        raise InputError(f"target {target!r} is the only compared column: there is nothing to predict it from")
    categorical = np.array([n in prep.categories for n in features])

    real_x, synth_x = _features(prep.real, prep, features), _features(prep.synthetic, prep, features)
    real_y, real_keep = _target(prep.real, prep, target, task)
    synth_y, synth_keep = _target(prep.synthetic, prep, target, task)
    if prep.holdout is not None:
        test_x = _features(prep.holdout, prep, features)
        test_y, test_keep = _target(prep.holdout, prep, target, task)
        test_source = "holdout"
        train_idx = np.arange(prep.real.n_rows)
    else:
        order = rng.permutation(prep.real.n_rows)
        n_test = max(1, int(round(config.holdout_share * prep.real.n_rows)))
        test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
        test_x, test_y, test_keep = real_x[test_idx], real_y[test_idx], real_keep[test_idx]
        test_source = "split"
        notes.append(
            f"no holdout: the real table was split {1 - config.holdout_share:.0%}/{config.holdout_share:.0%} "
            f"(seed {seed}); TRTR trains on the larger part, both models are tested on the smaller"
        )
    train_idx = train_idx[real_keep[train_idx]]
    sets = {
        "real": (real_x[train_idx], real_y[train_idx]),
        "synthetic": (synth_x[synth_keep], synth_y[synth_keep]),
    }
    test_x, test_y = test_x[test_keep], test_y[test_keep]
    if test_y.size == 0:
        raise InputError(f"target {target!r} is null in every test row: utility cannot be measured")
    for role, (x, y) in list(sets.items()):
        if y.size == 0 and role == "synthetic":
            notes.append(
                f"the synthetic table has no row with a value of {target!r}: TSTR is scored as a model that "
                "learned nothing"
            )
            continue
        if y.size == 0:
            raise InputError(f"target {target!r} is null in every {role} row: utility cannot be measured")
        idx = _subsample(y.size, config.max_train_rows, rng)
        if idx.size < y.size:
            notes.append(f"{role} model trained on a seeded sample of {idx.size:,} of {y.size:,} rows")
        sets[role] = (x[idx], y[idx])
    idx = _subsample(test_y.size, config.max_test_rows, rng)
    if idx.size < test_y.size:
        notes.append(f"scored on a seeded sample of {idx.size:,} of {test_y.size:,} test rows")
    test_x, test_y = test_x[idx], test_y[idx]

    positive = None
    binary = task == "classification" and len(prep.categories[target]) == 2
    if binary:
        counts = np.bincount(sets["real"][1], minlength=2)
        positive = int(np.argmin(counts[:2]))

    models, scores = {}, {}
    for step, role in enumerate(("real", "synthetic")):
        x, y = sets[role]
        models[role] = _NoDataModel(task) if y.size == 0 else _fit(task, x, y, categorical, config.max_iter)
        scores[role] = _scores(task, models[role], test_x, test_y, positive)
        if on_progress is not None:
            on_progress(f"utility: {'TRTR' if role == 'real' else 'TSTR'}", 0.3 + 0.3 * step)

    imp_idx = _subsample(test_y.size, config.importance_rows, rng)
    importance = {
        role: _importance(task, models[role], test_x[imp_idx], test_y[imp_idx], binary, config.importance_repeats, seed)
        for role in models
    }
    if on_progress is not None:
        on_progress("utility: importance", 1.0)
    agreement = None
    if len(features) >= 3 and np.ptp(importance["real"]) > 0 and np.ptp(importance["synthetic"]) > 0:
        agreement = float(spearmanr(importance["real"], importance["synthetic"]).statistic)
    top = min(5, len(features))
    top_real = set(np.argsort(-importance["real"])[:top])
    top_syn = set(np.argsort(-importance["synthetic"])[:top])

    primary = "auc" if task == "classification" else "r2"
    ratios = {}
    for metric, trtr in scores["real"].items():
        tstr = scores["synthetic"][metric]
        if metric == "mae":
            ratios[metric] = trtr / tstr if tstr > 0 else (1.0 if trtr == 0 else None)
        else:
            ratios[metric] = tstr / trtr if trtr > 0 and np.isfinite(trtr) and np.isfinite(tstr) else None
    if ratios.get(primary) is None:
        notes.append(f"the real-trained model's {primary.upper()} is not positive, so the TSTR/TRTR ratio is undefined")
    if isinstance(models["synthetic"], _ConstantModel) and not isinstance(models["synthetic"], _NoDataModel):
        notes.append(f"the synthetic table holds a single class of {target!r}: its model can only predict that class")
    return {
        "target": target,
        "target_source": target_source,
        "task": task,
        "positive_class": prep.categories[target][positive] if positive is not None else None,
        "learner": LEARNER + f", max_iter={config.max_iter}",
        "test_source": test_source,
        "rows": {"train_real": int(sets["real"][1].size), "train_synthetic": int(sets["synthetic"][1].size), "test": int(test_y.size)},
        "primary_metric": primary,
        "trtr": scores["real"],
        "tstr": scores["synthetic"],
        "ratio": ratios,
        "primary_ratio": ratios.get(primary),
        "feature_importance": {
            "features": features,
            "real": [float(v) for v in importance["real"]],
            "synthetic": [float(v) for v in importance["synthetic"]],
            "rank_agreement": agreement,
            "top_overlap": len(top_real & top_syn) / top if top else None,
            "rows": int(imp_idx.size),
        },
        "notes": notes,
    }
