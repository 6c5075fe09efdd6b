"""Sampling speed of every registered model: batch rows/s and single-row stream latency.

Run: ``.venv/bin/python tests/bench/bench_sampling.py [--rows 200000] [--epochs 2] [--kinds tvae,ctgan]``

Each model is trained briefly on the real adult table (speed of sampling does not depend on
how well it is trained), warmed up, then timed:

- batch: ``model.sample(rows, seed=...)`` — best of 3 runs, rows per second (decoding to a
  polars frame with the training dtypes included);
- conditional batch: ``model.sample(rows // 4, conditions="sex == 'Female' and age > 40")``;
- stream: ``next()`` on ``model.stream(batch_size=1)`` 1,000 times — P50 / P95 latency.

Targets (issue): >= 200,000 rows/s for ctgan and tvae, >= 50,000 for argn; stream P50 < 10 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
sys.path.insert(0, str(REPO))

from engine.models.registry import available_kinds, model_class  # noqa: E402
from tests.engine.test_models_contract import read_adult  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=10_000)
    parser.add_argument("--kinds", default=",".join(available_kinds()))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = read_adult(DATASETS / "adult.csv", rows=args.train_rows, seed=0)
    header = f"{'model':<6} {'device':<6} {'batch rows/s':>13} {'cond rows/s':>12} {'stream P50 ms':>14} {'P95 ms':>8} {'fit s':>7}"
    print(header)
    print("-" * len(header))
    for kind in args.kinds.split(","):
        start = time.perf_counter()
        model = model_class(kind)(epochs=args.epochs, seed=0, device=args.device).fit(data)
        fit_s = time.perf_counter() - start
        model.sample(2_000, seed=99)  # warm-up
        batch = []
        for seed in range(3):
            start = time.perf_counter()
            rows = model.sample(args.rows, seed=seed)
            batch.append(time.perf_counter() - start)
            assert rows.height == args.rows
        cond_rows = args.rows // 4
        start = time.perf_counter()
        model.sample(cond_rows, seed=5, conditions="sex == 'Female' and age > 40")
        cond_s = time.perf_counter() - start
        stream = model.stream(batch_size=1, seed=1)
        for _ in range(50):
            next(stream)
        latencies = []
        for _ in range(1_000):
            start = time.perf_counter()
            next(stream)
            latencies.append(time.perf_counter() - start)
        p50, p95 = np.percentile(latencies, [50, 95]) * 1e3
        print(
            f"{kind:<6} {model.device_:<6} {args.rows / min(batch):>13,.0f} {cond_rows / cond_s:>12,.0f} "
            f"{p50:>14.2f} {p95:>8.2f} {fit_s:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
