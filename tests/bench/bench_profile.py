"""Benchmark of engine.profile on a 1,000,000 x 50 mixed frame (run: `make bench-profile`).

The frame is synthetic but realistic: the 15 adult columns are resampled row-wise from the real
adult.csv with a seeded numpy generator (so their joint distribution and the education /
education-num dependency survive), and 35 columns of other shapes are added: skewed and normal
floats with nulls, dates, timestamps, date strings, unique integer and string ids, e-mails, phone
numbers, names, booleans, low- and high-cardinality categoricals, a constant and an empty column.

Prints one table: rows, columns, the three timings, their median. Not collected by pytest.
Usage: python tests/bench/bench_profile.py [--rows N] [--repeats K]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATASETS = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))


def _read_adult() -> pl.DataFrame:
    df = pl.read_csv(DATASETS / "adult.csv")
    stripped = [pl.col(c).str.strip_chars() for c, t in df.schema.items() if t == pl.String]
    df = df.with_columns(stripped)
    return df.with_columns(
        [pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c, t in df.schema.items() if t == pl.String]
    )


def build_frame(n_rows: int, *, seed: int = 0) -> pl.DataFrame:
    """A seeded n_rows x 50 frame of mixed column kinds (see the module docstring)."""
    rng = np.random.default_rng(seed)
    adult = _read_adult()
    rows = rng.integers(0, adult.height, n_rows)
    base = adult[rows]

    first = np.array(["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elena"])
    last = np.array(["Smith", "Johnson", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lopez", "Wilson", "Novak"])
    start = np.datetime64("2015-01-01")
    days = rng.integers(0, 3650, n_rows)
    seconds = rng.integers(0, 3650 * 86400, n_rows)
    ids = rng.permutation(n_rows) + 1_000_000
    null_mask = rng.random(n_rows) < 0.1

    extra: dict[str, object] = {
        "customer_id": ids,
        "amount": np.round(rng.lognormal(3.0, 1.2, n_rows), 2),
        "balance": np.where(null_mask, np.nan, rng.normal(1_000, 300, n_rows)),
        "score": rng.random(n_rows),
        "temperature": rng.normal(15, 8, n_rows).round(1),
        "ratio": rng.beta(2, 5, n_rows),
        "latency_ms": rng.exponential(120.0, n_rows),
        "price": np.round(rng.gamma(2.0, 40.0, n_rows), 2),
        "weight_kg": np.round(rng.normal(75, 12, n_rows), 1),
        "height_cm": rng.integers(150, 200, n_rows),
        "children": rng.poisson(1.2, n_rows),
        "rating": rng.integers(1, 6, n_rows),
        "visits": rng.negative_binomial(2, 0.1, n_rows),
        "signup_date": start + days,
        "last_login": (np.datetime64("2015-01-01T00:00:00") + seconds).astype("datetime64[us]"),
        "is_active": rng.random(n_rows) < 0.7,
        "has_card": rng.random(n_rows) < 0.2,
        "segment": rng.choice(np.array(["gold", "silver", "bronze", "none"]), n_rows, p=[0.1, 0.2, 0.3, 0.4]),
        "store": rng.integers(0, 400, n_rows),
        "device": rng.choice(np.array(["ios", "android", "web"]), n_rows),
        "first_name": first[rng.integers(0, len(first), n_rows)],
        "last_name": last[rng.integers(0, len(last), n_rows)],
        "channel": rng.choice(np.array(["email", "phone", "store", "partner"]), n_rows),
        "plan": rng.choice(np.array(["free", "basic", "pro"]), n_rows, p=[0.6, 0.3, 0.1]),
        "country_code": rng.choice(np.array(["US", "DE", "FR", "GB", "NL", "CZ"]), n_rows),
        "source_system": np.full(n_rows, "crm"),
        "unused": np.full(n_rows, np.nan),
        "discount": np.where(rng.random(n_rows) < 0.5, 0.0, np.round(rng.random(n_rows) * 30, 0)),
        "tenure_months": rng.integers(0, 120, n_rows),
    }
    frame = pl.concat([base, pl.DataFrame(extra).fill_nan(None)], how="horizontal")
    frame = frame.with_columns(
        order_code=pl.format("ORD-{}", (pl.col("customer_id") * 7) % 10_000_019),
        email=pl.format("{}.{}{}@example.com", pl.col("first_name").str.to_lowercase(), pl.col("last_name").str.to_lowercase(), pl.col("customer_id")),
        phone=pl.format("+1 {} {} {}", pl.Series(rng.integers(200, 999, n_rows)), pl.Series(rng.integers(200, 999, n_rows)), pl.Series(rng.integers(1000, 9999, n_rows))),
        signup_text=pl.col("signup_date").dt.strftime("%Y-%m-%d"),
        client_ip=pl.format("10.{}.{}.{}", pl.col("store") % 256, pl.col("children") % 256, pl.col("customer_id") % 256),
        comment=pl.format(
            "Customer {} asked about the {} plan via {} and rated the service {} out of five",
            pl.col("customer_id"), pl.col("plan"), pl.col("channel"), pl.col("rating"),
        ),
        unused=pl.lit(None, dtype=pl.Float64),
    )
    assert frame.width == 50, frame.width
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import engine

    t0 = time.perf_counter()
    frame = build_frame(args.rows, seed=0)
    build_s = time.perf_counter() - t0

    timings = []
    steps: dict[str, float] = {}
    prof = None
    for _ in range(args.repeats):
        marks = {"last": time.perf_counter()}

        def on_progress(step: str, _fraction: float, marks: dict[str, float] = marks) -> None:
            now = time.perf_counter()
            steps[step] = now - marks["last"]  # the last run's time per step
            marks["last"] = now

        t0 = time.perf_counter()
        prof = engine.profile(frame, on_progress=on_progress)
        timings.append(time.perf_counter() - t0)
    assert prof is not None

    load = os.getloadavg()[0]
    print(f"{'rows':>10} {'cols':>5} {'build s':>8} " + " ".join(f"{'run' + str(i + 1) + ' s':>8}" for i in range(len(timings))) + f" {'median s':>9} {'load1':>6}")
    print(f"{frame.height:>10,} {frame.width:>5} {build_s:>8.2f} " + " ".join(f"{t:>8.2f}" for t in timings) + f" {statistics.median(timings):>9.2f} {load:>6.2f}")
    print("last run by step (s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print(f"cpus: {os.cpu_count()}, sampled_rows: {prof.sampled_rows:,}, pii findings: {len(prof.pii)}, warnings: {len(prof.warnings)}")
    print(f"recommendation: {prof.recommendation.model} {prof.recommendation.settings}")


if __name__ == "__main__":
    main()
