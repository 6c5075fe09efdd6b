"""Benchmark of engine.quality.privacy.assess_privacy on 100,000 x 50 real, holdout and synthetic frames.

Each frame is built the same way from the real datasets, with its own seed: the 15 adult
columns and the 10 california_housing columns are each resampled row-wise twice (the second
copy's columns suffixed ``_b``), giving 50 columns (20 categorical with nulls, 30 numeric,
one with nulls). The synthetic frame is a third independent resample, i.e. a "generator" as
good as fresh real data; the figures that matter here are the seconds.

Prints one table: the wall-clock and CPU seconds spent in each stage (from the on_progress
callback), the total, the load average, and the headline metrics. Not collected by pytest.
Usage: python tests/bench/bench_privacy.py [--rows N] [--repeats K]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.engine.quality_fixtures import adult, california  # noqa: E402 - after the sys.path line


def build_frame(n_rows: int, *, seed: int) -> pl.DataFrame:
    """A seeded n_rows x 50 frame of resampled adult and california_housing columns."""
    rng = np.random.default_rng(seed)
    blocks = []
    for suffix in ("", "_b"):
        for source in (adult(), california()):
            rows = source[rng.integers(0, source.height, n_rows)]
            blocks.append(rows.rename({c: f"{c}{suffix}" for c in rows.columns}))
    return pl.concat(blocks, how="horizontal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from engine.quality.privacy import assess_privacy

    real, holdout, synthetic = (build_frame(args.rows, seed=s) for s in (1, 2, 3))
    print(f"frames: {real.height:,} rows x {real.width} columns (real, holdout, synthetic)")

    for repeat in range(args.repeats):
        marks: list[tuple[str, float, float]] = []

        def on_progress(stage: str, fraction: float) -> None:
            if not marks or marks[-1][0] != stage:
                marks.append((stage, time.perf_counter(), time.process_time()))

        start, cpu_start = time.perf_counter(), time.process_time()
        result = assess_privacy(real=real, synthetic=synthetic, holdout=holdout, seed=repeat, on_progress=on_progress)
        total, cpu_total = time.perf_counter() - start, time.process_time() - cpu_start

        print(f"\nrun {repeat + 1}: {'stage':<40} {'wall s':>8} {'cpu s':>8}")
        for (stage, t0, c0), (_, t1, c1) in zip(marks, marks[1:]):
            print(f"       {stage:<40} {t1 - t0:8.2f} {c1 - c0:8.2f}")
        print(f"       {'total':<40} {total:8.2f} {cpu_total:8.2f}")
    print(f"\nload average while running: {os.getloadavg()[0]:.1f} (cpu s counts both BLAS threads; "
          "wall s is inflated when other processes share the 2 cores)")
    m = result.metrics
    print("\nmetrics of the last run:")
    for key in ("exact_copies", "exact_copies_beyond_holdout", "dcr_share", "dcr_p05_synthetic_to_train",
                "nndr_p05", "mia_advantage_worst_upper"):
        print(f"  {key:<32} {m[key]}")
    print("sizes:", result.sizes)


if __name__ == "__main__":
    main()
