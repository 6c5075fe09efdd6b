"""Speed of engine.assess on 100,000 x 50 real and synthetic tables (run: python tests/bench/bench_assess.py).

The frames are built from the real datasets: the 15 adult columns and the 10 california
columns are resampled row-wise with a seeded generator (each block keeps its joint
distribution; the two blocks are independent of each other), and each of those 25 columns
gets a derived twin (a rescaled, noisy copy of a numeric column; a relabelled categorical
column with a few values merged), so that there are 50 columns of realistic shapes and
dependencies. Real, synthetic and holdout are drawn with different seeds, and the synthetic
table gets small numeric noise, so nothing is an exact copy.

Prints one table: wall-clock and CPU seconds per stage (prepare, fidelity, utility, privacy)
and in total, the load average of the machine while it ran (wall-clock time on a shared
machine stretches with the load; CPU time does not), then the verdict and the notes (where
the report subsampled). Not collected by pytest.
Usage: python tests/bench/bench_assess.py [--rows N] [--holdout-rows H] [--target income]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.engine.quality_fixtures import adult, california  # noqa: E402 - after the sys.path line


def build_frame(n_rows: int, *, seed: int, noise: float = 0.0) -> pl.DataFrame:
    """A seeded n_rows x 50 frame (see the module docstring); ``noise`` jitters the float columns."""
    rng = np.random.default_rng(seed)
    people, cal = adult(), california()
    base = pl.concat([people[rng.integers(0, people.height, n_rows)], cal[rng.integers(0, cal.height, n_rows)]],
                     how="horizontal")
    twins = []
    for name, dtype in base.schema.items():
        col = pl.col(name)
        if dtype.is_numeric():
            std = float(base[name].std() or 1.0)
            twins.append((col * 1.7 + pl.Series(rng.normal(0, 0.1 * std, n_rows))).alias(f"{name}_twin"))
        else:
            values = base[name].drop_nulls().unique().sort().to_list()
            merged = {v: (values[0] if i % 4 == 3 else f"{v}*") for i, v in enumerate(values)}
            twins.append(col.replace_strict(merged, default=None).alias(f"{name}_twin"))
    frame = base.with_columns(twins)
    if noise > 0:
        jitter = []
        for name, dtype in frame.schema.items():
            if dtype.is_float():
                std = float(frame[name].std() or 1.0)
                jitter.append((pl.col(name) + pl.Series(rng.normal(0, noise * std, n_rows))).alias(name))
        frame = frame.with_columns(jitter)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--holdout-rows", type=int, default=20_000)
    parser.add_argument("--target", default="income")
    args = parser.parse_args()

    import engine

    t0 = time.perf_counter()
    real = build_frame(args.rows, seed=1)
    synthetic = build_frame(args.rows, seed=2, noise=0.02)
    holdout = build_frame(args.holdout_rows, seed=3)
    build = time.perf_counter() - t0

    cpu: dict[str, float] = {}
    marks = {"prepared": "prepare", "fidelity: done": "fidelity", "privacy: done": "privacy"}
    last = [time.process_time()]

    def progress(step: str, fraction: float) -> None:
        stage = marks.get(step) or ("utility" if step == "utility: importance" else None)
        if stage is not None:
            now = time.process_time()
            cpu[stage] = now - last[0]
            last[0] = now

    load_before = os.getloadavg()[0]
    cpu_start = time.process_time()
    t0 = time.perf_counter()
    report = engine.assess(real=real, synthetic=synthetic, holdout=holdout, target=args.target, on_progress=progress)
    wall = time.perf_counter() - t0
    cpu_total = time.process_time() - cpu_start
    load_after = os.getloadavg()[0]

    print(f"engine.assess on {real.height:,} x {real.width} real and synthetic tables, {holdout.height:,} holdout rows")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load_before:.1f} before / "
          f"{load_after:.1f} after; frames built in {build:.1f} s")
    print(f"{'stage':<10}{'wall s':>10}{'cpu s':>10}")
    for stage in ("prepare", "fidelity", "utility", "privacy"):
        print(f"{stage:<10}{report.timings.get(stage, float('nan')):>10.2f}{cpu.get(stage, float('nan')):>10.2f}")
    print(f"{'total':<10}{wall:>10.2f}{cpu_total:>10.2f}")
    print(f"verdict: {report.status}; scores: "
          + ", ".join(f"{k} {v:.3f}" for k, v in report.scores.items() if v is not None))
    for note in report.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
