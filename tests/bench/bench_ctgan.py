"""CTGAN on the adult protocol: fit time, sampling speed, fidelity, utility, privacy.

Run: ``.venv/bin/python tests/bench/bench_ctgan.py [--epochs 300] [--device auto]``

Protocol (the one SDV's CTGAN was measured with on this project's 2-core machine: 300
epochs, fit 996 s, 49,666 rows/s, quality 0.886 = column shapes 0.910 / pair trends 0.861,
TSTR AUC 0.886, DCR share 0.484):

- adult.csv (leading spaces stripped, '?' as missing), split 80/20 stratified on ``income``
  with ``random_state=0``; the model fits the 80%.
- fit for ``--epochs`` epochs (seed 0); the per-epoch time is reported too, so a 300-epoch
  time can be extrapolated from a shorter run.
- sampling speed: rows/s of ``sample(n)`` after one warm-up call.
- column shapes: mean over columns of 1 - KS statistic (numbers) or 1 - total variation
  distance (categories), synthetic vs training rows (SDMetrics' ColumnShapes, in-process).
- pair trends: mean over column pairs of 1 - |Pearson r difference| / 2 for two numbers, and
  1 - total variation between the joint frequency tables otherwise (numbers cut into 10
  quantile bins of the real column) (SDMetrics' ColumnPairTrends, in-process).
- TSTR AUC: HistGradientBoostingClassifier(random_state=0) on one-hot features, trained on as
  many synthetic rows as the training split has, AUC of ``>50K`` on the real 20%.
- DCR share: for 5,000 synthetic rows, the share whose nearest record (Euclidean; numbers
  scaled by the real P1-P99 range and clipped, categories one-hot times 0.7) lies in 5,000
  training rows rather than in 5,000 holdout rows (0.5 is ideal; ties count half).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.models.ctgan import CTGAN  # noqa: E402

DATASETS = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
TARGET = "income"
POSITIVE = ">50K"
SDV = {"fit_s": 996.0, "rows_per_s": 49_666.0, "quality": 0.886, "shapes": 0.910, "pairs": 0.861, "tstr_auc": 0.886, "dcr_share": 0.484}


def read_adult() -> pl.DataFrame:
    frame = pl.read_csv(DATASETS / "adult.csv")
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(strings).str.strip_chars_start())
    return frame.with_columns(pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c in strings)


def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    from sklearn.model_selection import train_test_split

    index = np.arange(frame.height)
    train, test = train_test_split(index, test_size=0.2, stratify=frame.get_column(TARGET).to_numpy(), random_state=0)
    return frame[np.sort(train)], frame[np.sort(test)]


def numeric_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c, t in frame.schema.items() if t.is_numeric()]


# -- fidelity ------------------------------------------------------------------------------
def column_shapes(real: pl.DataFrame, fake: pl.DataFrame) -> dict[str, float]:
    from scipy.stats import ks_2samp

    scores = {}
    numeric = set(numeric_columns(real))
    for name in real.columns:
        r, f = real.get_column(name), fake.get_column(name)
        if name in numeric:
            scores[name] = 1.0 - ks_2samp(r.drop_nulls().to_numpy(), f.drop_nulls().to_numpy()).statistic
        else:
            p = r.fill_null("<null>").value_counts(normalize=True)
            q = f.fill_null("<null>").value_counts(normalize=True)
            joined = p.join(q, on=name, how="full", coalesce=True).fill_null(0.0)
            scores[name] = 1.0 - 0.5 * float(np.abs(joined["proportion"] - joined["proportion_right"]).sum())
    return scores


def _codes(real: pl.Series, fake: pl.Series, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Category codes shared by both columns (numbers: 10 quantile bins of the real column)."""
    if numeric:
        edges = np.unique(np.quantile(real.drop_nulls().to_numpy(), np.linspace(0, 1, 11)[1:-1]))
        return np.searchsorted(edges, real.fill_null(np.nan).to_numpy(), side="right"), np.searchsorted(
            edges, fake.fill_null(np.nan).to_numpy(), side="right"
        )
    levels = {v: i for i, v in enumerate(sorted(set(real.fill_null("<null>").to_list()) | set(fake.fill_null("<null>").to_list())))}
    to_code = lambda s: np.array([levels[v] for v in s.fill_null("<null>").to_list()])  # noqa: E731
    return to_code(real), to_code(fake)


def pair_trends(real: pl.DataFrame, fake: pl.DataFrame) -> float:
    numeric = set(numeric_columns(real))
    names = real.columns
    codes = {n: _codes(real.get_column(n), fake.get_column(n), n in numeric) for n in names}
    scores = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a in numeric and b in numeric:
                r = np.corrcoef(real.get_column(a).to_numpy(), real.get_column(b).to_numpy())[0, 1]
                f = np.corrcoef(fake.get_column(a).to_numpy(), fake.get_column(b).to_numpy())[0, 1]
                scores.append(1.0 - abs(r - f) / 2.0)
            else:
                (ra, fa), (rb, fb) = codes[a], codes[b]
                width = int(max(rb.max(), fb.max())) + 1
                p = np.bincount(ra * width + rb, minlength=(max(ra.max(), fa.max()) + 1) * width) / len(ra)
                q = np.bincount(fa * width + fb, minlength=len(p)) / len(fa)
                scores.append(1.0 - 0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(scores))


# -- utility -------------------------------------------------------------------------------
def features(frames: list[pl.DataFrame]) -> list[np.ndarray]:
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in numeric_columns(frames[0]) if c != TARGET]
    categorical = [c for c in frames[0].columns if c not in numeric and c != TARGET]
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    encoder.fit(np.vstack([f.select(categorical).fill_null("<null>").to_numpy() for f in frames]))
    return [
        np.hstack([f.select(numeric).to_numpy().astype(float), encoder.transform(f.select(categorical).fill_null("<null>").to_numpy())])
        for f in frames
    ]


def tstr_auc(train: pl.DataFrame, test: pl.DataFrame) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    x_train, x_test = features([train, test])
    y_train = (train.get_column(TARGET) == POSITIVE).to_numpy()
    y_test = (test.get_column(TARGET) == POSITIVE).to_numpy()
    if y_train.all() or not y_train.any():
        return float("nan")
    clf = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
    return float(roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1]))


# -- privacy -------------------------------------------------------------------------------
def dcr_share(train: pl.DataFrame, holdout: pl.DataFrame, fake: pl.DataFrame, *, rows: int = 5_000) -> float:
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    pick = lambda f: f[np.sort(rng.choice(f.height, size=min(rows, f.height), replace=False))]  # noqa: E731
    train, holdout, fake = pick(train), pick(holdout), pick(fake)
    numeric = numeric_columns(train)
    categorical = [c for c in train.columns if c not in numeric]
    reference = pl.concat([train, holdout])
    low = {c: float(reference.get_column(c).quantile(0.01)) for c in numeric}
    high = {c: float(reference.get_column(c).quantile(0.99)) for c in numeric}
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(reference.select(categorical).fill_null("<null>").to_numpy())

    def embed(f: pl.DataFrame) -> np.ndarray:
        nums = [
            np.clip((f.get_column(c).to_numpy().astype(float) - low[c]) / max(high[c] - low[c], 1e-12), 0.0, 1.0)
            for c in numeric
        ]
        return np.hstack([np.column_stack(nums), 0.7 * encoder.transform(f.select(categorical).fill_null("<null>").to_numpy())])

    x_fake = embed(fake)
    d_train = NearestNeighbors(n_neighbors=1).fit(embed(train)).kneighbors(x_fake)[0][:, 0]
    d_hold = NearestNeighbors(n_neighbors=1).fit(embed(holdout)).kneighbors(x_fake)[0][:, 0]
    return float(np.mean(np.where(d_train < d_hold, 1.0, np.where(d_train == d_hold, 0.5, 0.0))))


# -- the run -------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--sample-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--save", type=Path, default=None, help="also save the fitted model to this path")
    args = parser.parse_args()

    frame = read_adult()
    train, test = split(frame)
    epoch_ends: list[float] = []

    def progress(p: object) -> None:
        if p.step == p.steps_per_epoch:  # type: ignore[attr-defined]
            epoch_ends.append(time.perf_counter())
            if p.epoch % 10 == 0 or p.epoch == p.epochs:  # type: ignore[attr-defined]
                losses = " ".join(f"{k}={v:.3f}" for k, v in p.losses.items())  # type: ignore[attr-defined]
                print(f"  epoch {p.epoch}/{p.epochs}  {losses}", flush=True)  # type: ignore[attr-defined]

    model = CTGAN(
        epochs=args.epochs, seed=args.seed, device=args.device, n_threads=args.threads, batch_size=args.batch_size, on_progress=progress
    )
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    if args.save:
        model.save(args.save)
    first_epoch_at = epoch_ends[0] - (epoch_ends[1] - epoch_ends[0]) if len(epoch_ends) > 1 else started
    epoch_s = (epoch_ends[-1] - first_epoch_at) / len(epoch_ends)
    setup_s = first_epoch_at - started

    model.sample(10_000, seed=1)  # warm-up
    started = time.perf_counter()
    fake = model.sample(args.sample_rows, seed=2)
    rows_per_s = args.sample_rows / (time.perf_counter() - started)

    # Conditional sampling through the conditional vector: speed, and whether the other
    # columns follow the condition as in the data.
    conditional = {}
    for relationship in ("Husband", "Wife", "Own-child"):
        started = time.perf_counter()
        rows = model.sample(50_000, seed=3, conditions={"relationship": relationship})
        elapsed = time.perf_counter() - started
        real = train.filter(pl.col("relationship") == relationship)
        conditional[relationship] = {
            "rows_per_s": 50_000 / elapsed,
            "male": [float((real.get_column("sex") == "Male").mean()), float((rows.get_column("sex") == "Male").mean())],
            "rich": [float((real.get_column(TARGET) == POSITIVE).mean()), float((rows.get_column(TARGET) == POSITIVE).mean())],
            "age": [float(real.get_column("age").mean()), float(rows.get_column("age").mean())],
        }

    synthetic = fake.head(train.height)
    shapes = column_shapes(train, synthetic)
    shape_score = float(np.mean(list(shapes.values())))
    pairs = pair_trends(train, synthetic)
    figures = {
        "device": model.device_,
        "threads": args.threads or os.cpu_count(),
        "epochs": len(model.metrics_["history"]),
        "fit_s": fit_s,
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "fit_300_epochs_s": setup_s + 300 * epoch_s,
        "rows_per_s": rows_per_s,
        "shapes": shape_score,
        "pairs": pairs,
        "quality": (shape_score + pairs) / 2,
        "tstr_auc": tstr_auc(synthetic, test),
        "trtr_auc": tstr_auc(train, test),
        "dcr_share": dcr_share(train, test, synthetic),
        "worst_columns": dict(sorted(shapes.items(), key=lambda kv: kv[1])[:3]),
        "conditional": conditional,
    }
    print()
    print(f"CTGAN on adult ({train.height} training rows, {test.height} holdout), device {figures['device']}, {figures['threads']} threads")
    print(f"{'figure':<22}{'doppel':>14}{'SDV (300 ep.)':>16}")
    rows = [
        ("epochs", f"{figures['epochs']}", "300"),
        ("fit s", f"{fit_s:.1f}", f"{SDV['fit_s']:.0f}"),
        ("  setup s", f"{setup_s:.1f}", ""),
        ("  s / epoch", f"{epoch_s:.3f}", f"{SDV['fit_s'] / 300:.3f}"),
        ("  300 epochs s (extr.)", f"{figures['fit_300_epochs_s']:.0f}", f"{SDV['fit_s']:.0f}"),
        ("sample rows/s", f"{rows_per_s:,.0f}", f"{SDV['rows_per_s']:,.0f}"),
        ("quality (proxy)", f"{figures['quality']:.3f}", f"{SDV['quality']:.3f}"),
        ("  column shapes", f"{shape_score:.3f}", f"{SDV['shapes']:.3f}"),
        ("  pair trends", f"{pairs:.3f}", f"{SDV['pairs']:.3f}"),
        ("TSTR AUC", f"{figures['tstr_auc']:.3f}", f"{SDV['tstr_auc']:.3f}"),
        ("  (TRTR AUC)", f"{figures['trtr_auc']:.3f}", ""),
        ("DCR share", f"{figures['dcr_share']:.3f}", f"{SDV['dcr_share']:.3f}"),
    ]
    for name, ours, theirs in rows:
        print(f"{name:<22}{ours:>14}{theirs:>16}")
    print("worst column shapes:", ", ".join(f"{k} {v:.3f}" for k, v in figures["worst_columns"].items()))
    print("conditioned on relationship (real / synthetic):")
    for relationship, c in conditional.items():
        print(
            f"  {relationship:<10} {c['rows_per_s']:>9,.0f} rows/s   male {c['male'][0]:.2f} / {c['male'][1]:.2f}"
            f"   >50K {c['rich'][0]:.2f} / {c['rich'][1]:.2f}   mean age {c['age'][0]:.1f} / {c['age'][1]:.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
