"""Benchmark of the ARGN model on Adult, by the project's protocol (argn only; peers elsewhere).

Protocol: adult.csv with leading spaces stripped (pandas' skipinitialspace), 80/20 split
stratified on ``income`` with random_state=0; fit on the 80 %, synthesize as many rows as it
has; then, computed in-process:

- column shapes: mean over columns of 1 - KS statistic (numeric columns) or 1 - total
  variation distance (the others), synthetic vs training part (sdmetrics' KSComplement /
  TVComplement);
- pair trends: mean over column pairs of 1 - |corr_real - corr_syn| / 2 (Pearson, both
  numeric) or 1 - TV distance of the joint contingency table (numbers cut into 10 equal-width
  bins over the real range) (sdmetrics' CorrelationSimilarity / ContingencySimilarity);
- quality: the mean of the two;
- TSTR AUC: HistGradientBoostingClassifier(random_state=0) on one-hot features, trained on
  the synthetic rows, ROC AUC for ``>50K`` on the real 20 %;
- DCR share: 5,000 synthetic rows, 5,000 training rows and 5,000 holdout rows; numbers scaled
  by the training P1-P99 range and clipped to [0, 1], categories one-hot x 0.7; Euclidean
  nearest neighbour; the share of synthetic rows closer to the training rows than to the
  holdout rows (ties count half). 0.5 is ideal: no closer to the training rows than to
  unseen ones;
- fit wall seconds, sampling rows/s, and the P50/P95 latency of one streamed row.

The "ceiling" row scores the real 20 % holdout as if it were synthetic (TSTR: train on the
real 80 %, i.e. train-real-test-real).

Run: ``/work/main/.venv/bin/python tests/bench/bench_argn.py`` (options: ``--param k=v`` to
override ARGN parameters, ``--seed``, ``--rows`` to subsample the training part). The CPU is
shared with other processes: timings are noisy, note ``uptime`` alongside.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

DATA = Path(os.environ.get("DOPPEL_DATASETS", "/work/shared/datasets")) / "adult.csv"
TARGET = "income"
POSITIVE = ">50K"


def load_split(seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    from sklearn.model_selection import train_test_split

    df = pl.read_csv(DATA)
    df = df.with_columns(pl.col(pl.String).str.strip_chars_start())
    idx = np.arange(df.height)
    train_idx, test_idx = train_test_split(idx, test_size=0.2, stratify=df[TARGET].to_numpy(), random_state=seed)
    return df[np.sort(train_idx)], df[np.sort(test_idx)]


def numeric_columns(df: pl.DataFrame) -> list[str]:
    return [c for c, t in df.schema.items() if t.is_numeric()]


# -- fidelity proxies ----------------------------------------------------------------------
def ks_complement(real: np.ndarray, syn: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    real, syn = real[~np.isnan(real)], syn[~np.isnan(syn)]
    return 1.0 - float(ks_2samp(real, syn).statistic)


def tv_complement(real: pl.Series, syn: pl.Series) -> float:
    p = real.cast(pl.String).fill_null("<null>").value_counts(normalize=True, name="p")
    q = syn.cast(pl.String).fill_null("<null>").value_counts(normalize=True, name="q")
    joined = p.join(q, on=real.name, how="full", coalesce=True).fill_null(0.0)
    return 1.0 - 0.5 * float(np.abs(joined["p"].to_numpy() - joined["q"].to_numpy()).sum())


def _discrete(real: pl.Series, syn: pl.Series, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    if numeric:
        r = real.cast(pl.Float64).to_numpy()
        s = syn.cast(pl.Float64).to_numpy()
        edges = np.linspace(np.nanmin(r), np.nanmax(r), 11)
        return np.clip(np.digitize(r, edges[1:-1]), 0, 9), np.clip(np.digitize(s, edges[1:-1]), 0, 9)
    levels = {v: i for i, v in enumerate(real.cast(pl.String).fill_null("<null>").unique().to_list())}
    r = np.array([levels[v] for v in real.cast(pl.String).fill_null("<null>").to_list()])
    s = np.array([levels.get(v, len(levels)) for v in syn.cast(pl.String).fill_null("<null>").to_list()])
    return r, s


def pair_trends(real: pl.DataFrame, syn: pl.DataFrame) -> float:
    numeric = set(numeric_columns(real))
    codes = {c: _discrete(real[c], syn[c], c in numeric) for c in real.columns}
    scores = []
    for a, b in itertools.combinations(real.columns, 2):
        if a in numeric and b in numeric:
            ra = np.corrcoef(real[a].cast(pl.Float64).to_numpy(), real[b].cast(pl.Float64).to_numpy())[0, 1]
            sa = np.corrcoef(syn[a].cast(pl.Float64).to_numpy(), syn[b].cast(pl.Float64).to_numpy())[0, 1]
            scores.append(1.0 - abs(ra - (0.0 if np.isnan(sa) else sa)) / 2.0)
        else:
            (ra, sa), (rb, sb) = codes[a], codes[b]
            width = int(max(rb.max(), sb.max())) + 1
            p = np.bincount(ra * width + rb, minlength=(int(max(ra.max(), sa.max())) + 1) * width) / len(ra)
            q = np.bincount(sa * width + sb, minlength=len(p)) / len(sa)
            scores.append(1.0 - 0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(scores))


def column_shapes(real: pl.DataFrame, syn: pl.DataFrame) -> tuple[float, dict[str, float]]:
    numeric = set(numeric_columns(real))
    per = {}
    for c in real.columns:
        if c in numeric:
            per[c] = ks_complement(real[c].cast(pl.Float64).to_numpy(), syn[c].cast(pl.Float64).to_numpy())
        else:
            per[c] = tv_complement(real[c], syn[c])
    return float(np.mean(list(per.values()))), per


# -- utility -------------------------------------------------------------------------------
def tstr_auc(train: pl.DataFrame, test: pl.DataFrame) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    features = [c for c in train.columns if c != TARGET]
    cats = [c for c in features if c not in numeric_columns(train)]
    nums = [c for c in features if c in numeric_columns(train)]
    enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train.select(cats).to_numpy())

    def features_of(df: pl.DataFrame) -> np.ndarray:
        return np.hstack([df.select(nums).cast(pl.Float64).to_numpy(), enc.transform(df.select(cats).to_numpy())])

    y_train = (train[TARGET] == POSITIVE).to_numpy()
    if y_train.all() or not y_train.any():
        return float("nan")
    clf = HistGradientBoostingClassifier(random_state=0).fit(features_of(train), y_train)
    return float(roc_auc_score((test[TARGET] == POSITIVE).to_numpy(), clf.predict_proba(features_of(test))[:, 1]))


# -- privacy -------------------------------------------------------------------------------
def dcr_share(train: pl.DataFrame, holdout: pl.DataFrame, syn: pl.DataFrame, *, rows: int = 5_000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)

    def pick(df: pl.DataFrame) -> pl.DataFrame:
        return df[np.sort(rng.choice(df.height, size=min(rows, df.height), replace=False))]

    tr, ho, sy = pick(train), pick(holdout), pick(syn)
    numeric = numeric_columns(train)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for c in train.columns:
        if c in numeric:
            base = train[c].cast(pl.Float64).to_numpy()
            lo, hi = np.nanpercentile(base, [1, 99])
            scale = hi - lo if hi > lo else 1.0

            def f(df: pl.DataFrame, c: str = c, lo: float = lo, scale: float = scale) -> np.ndarray:
                return np.clip((df[c].cast(pl.Float64).to_numpy() - lo) / scale, 0, 1)[:, None]
        else:
            levels = train[c].cast(pl.String).unique().drop_nulls().sort().to_list()

            def f(df: pl.DataFrame, c: str = c, levels: list = levels) -> np.ndarray:
                values = df[c].cast(pl.String).to_numpy()
                return 0.7 * (values[:, None] == np.array(levels, dtype=object)[None, :]).astype(np.float64)
        blocks.append((f(tr), f(ho), f(sy)))
    xt, xh, xs = (np.hstack([b[i] for b in blocks]) for i in range(3))

    def nearest(q: np.ndarray, ref: np.ndarray) -> np.ndarray:
        d2 = (q * q).sum(1)[:, None] - 2 * q @ ref.T + (ref * ref).sum(1)[None, :]
        return np.sqrt(np.maximum(d2.min(1), 0.0))

    dt, dh = nearest(xs, xt), nearest(xs, xh)
    return float(np.mean((dt < dh) + 0.5 * (dt == dh)))


# -- run -----------------------------------------------------------------------------------
def evaluate(name: str, train: pl.DataFrame, test: pl.DataFrame, syn: pl.DataFrame, *, tstr_train: pl.DataFrame | None = None) -> dict:
    shapes, per_column = column_shapes(train, syn)
    trends = pair_trends(train, syn)
    return {
        "model": name,
        "column_shapes": shapes,
        "pair_trends": trends,
        "quality": (shapes + trends) / 2,
        "tstr_auc": tstr_auc(tstr_train if tstr_train is not None else syn, test),
        "dcr_share": dcr_share(train, test, syn) if tstr_train is None else float("nan"),
        "worst_columns": sorted(per_column.items(), key=lambda kv: kv[1])[:3],
    }


def streaming_latency(model, n: int = 200) -> tuple[float, float]:
    stream = model.stream(batch_size=1, seed=1)
    next(stream)  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        next(stream)
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 95) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", action="append", default=[], help="ARGN parameter override, k=v (python literal)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="subsample the training part to this many rows")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    import torch

    from engine.models.argn import ARGN

    params = {}
    for item in args.param:
        key, value = item.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    train, test = load_split()
    if args.rows:
        train = train.sample(args.rows, seed=0)
    print(f"adult: train {train.height} rows, test {test.height}; torch threads {torch.get_num_threads()}; load {os.getloadavg()}")

    model = ARGN(seed=args.seed, **params)
    t = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    syn = model.sample(train.height, seed=args.seed)
    sample_s = time.perf_counter() - t
    p50, p95 = streaming_latency(model)
    rows = [
        {
            **evaluate("argn", train, test, syn),
            "fit_s": fit_s,
            "rows_per_s": train.height / sample_s,
            "stream_p50_ms": p50,
            "stream_p95_ms": p95,
            "epochs": model.metrics_.get("epochs_run"),
            "best_epoch": model.metrics_.get("best_epoch"),
            "best_val_loss": model.metrics_.get("best_val_loss"),
        }
    ]
    if not args.no_ceiling:
        rows.append(evaluate("real holdout (ceiling)", train, test, test, tstr_train=train))
    cols = ["model", "fit_s", "rows_per_s", "quality", "column_shapes", "pair_trends", "tstr_auc", "dcr_share", "stream_p50_ms", "stream_p95_ms"]
    print(" | ".join(f"{c:>14}" for c in cols))
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append(f"{v:>14}" if isinstance(v, str) else (f"{v:>14,.4f}" if isinstance(v, float) and v < 100 else f"{(v or 0):>14,.0f}"))
        print(" | ".join(cells))
    print(f"params {params}; epochs run {rows[0]['epochs']}, best epoch {rows[0]['best_epoch']}, best val loss {rows[0]['best_val_loss']:.4f}")
    print(f"worst columns (argn): {rows[0]['worst_columns']}; order {model._model_config()['order_columns']}")
    print(f"order nll: {model.metrics_.get('generation_order_nll')}; load after {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"params": params, "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
