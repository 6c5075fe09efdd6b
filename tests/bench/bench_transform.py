"""Benchmark of engine.transform.DataTransformer on a 1,000,000 x 50 mixed frame.

Target (issue "Reversible encoding"): fit under 30 s on the project's 2-core machine.

The frame is built by seeded resampling of real columns: adult (twice, 15 + 15 columns),
california housing (10 + 7), a nullable Date (nyc ``last_review``), an hourly Datetime (Beijing
year/month/day/hour) and a string key. 28 of the 50 columns get a Gaussian mixture.

Run: ``.venv/bin/python tests/bench/bench_transform.py [--rows N] [--fit-repeat F] [--repeat R]
[--encode-rows M]``. Prints one table: fit seconds (median of ``--fit-repeat``, with the CPU
seconds and the load average, since the machine is shared), and rows/s of both encodings both
ways on the first ``--encode-rows`` rows (median of ``--repeat``).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.transform import DataTransformer  # noqa: E402

DATASETS = Path(os.environ.get("DOPPEL_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"))


def _adult() -> pl.DataFrame:
    df = pl.read_csv(DATASETS / "adult.csv")
    strings = [c for c, t in df.schema.items() if t == pl.String]
    stripped = [pl.col(c).str.strip_chars_start() for c in strings]
    return df.with_columns(pl.when(s == "?").then(None).otherwise(s).alias(c) for s, c in zip(stripped, strings))


def _resample(df: pl.DataFrame, n: int, seed: int, suffix: str = "") -> pl.DataFrame:
    idx = np.random.default_rng(seed).integers(0, df.height, n)
    out = df[idx]
    return out.rename({c: c + suffix for c in out.columns}) if suffix else out


def build_frame(n: int, seed: int = 0) -> pl.DataFrame:
    adult = _adult()
    california = pl.read_csv(DATASETS / "california_housing.csv.gz")
    nyc = pl.read_csv(DATASETS / "nyc_airbnb_2019.csv.gz", columns=["last_review"])
    nyc = nyc.with_columns(pl.col("last_review").str.to_date("%Y-%m-%d"))
    air = pl.read_csv(
        DATASETS / "timeseries/beijing_air_quality_4stations.csv.gz", columns=["year", "month", "day", "hour"]
    )
    hourly = air.select(pl.datetime("year", "month", "day", "hour").alias("measured_at"))
    parts = [
        _resample(adult, n, seed + 1),
        _resample(california, n, seed + 2),
        _resample(adult, n, seed + 3, "_2"),
        _resample(california.drop("ocean_proximity", "longitude", "latitude"), n, seed + 4, "_2"),
        _resample(nyc, n, seed + 5),
        _resample(hourly, n, seed + 6),
        pl.select(customer_id=pl.format("C{}", pl.int_range(n).cast(pl.String).str.zfill(8))),
    ]
    return pl.concat(parts, how="horizontal")


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per encode/decode figure (median)")
    parser.add_argument("--fit-repeat", type=int, default=3)
    parser.add_argument("--encode-rows", type=int, default=200_000, help="rows for the encode/decode figures")
    args = parser.parse_args()

    start = time.perf_counter()
    frame = build_frame(args.rows)
    build_s = time.perf_counter() - start
    cpu = time.process_time()
    fit_s, transformer = _timed(lambda: DataTransformer(seed=0).fit(frame), args.fit_repeat)
    fit_cpu = (time.process_time() - cpu) / args.fit_repeat
    part = frame.head(args.encode_rows)
    n = part.height
    t_float, matrix = _timed(lambda: transformer.transform(part), args.repeat)
    t_inverse, _ = _timed(lambda: transformer.inverse_transform(matrix), args.repeat)
    t_tokens, codes = _timed(lambda: transformer.transform_tokens(part), args.repeat)
    t_untokens, _ = _timed(lambda: transformer.inverse_tokens(codes, seed=1), args.repeat)

    kinds: dict[str, int] = {}
    for kind in transformer.kinds_.values():
        kinds[kind.value] = kinds.get(kind.value, 0) + 1
    rows = [
        ("frame", f"{frame.height:,} rows x {frame.width} columns (built in {build_s:.1f} s)"),
        ("column kinds", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))),
        ("float width / token sub-columns", f"{transformer.output_dim_} / {len(transformer.token_info_)}"),
        ("cores", str(os.cpu_count())),
        ("fit (s)", f"{fit_s:.2f}   (target < 30; CPU time {fit_cpu:.1f} s, load {os.getloadavg()[0]:.1f})"),
        (f"transform (rows/s, {n:,} rows)", f"{n / t_float:,.0f}"),
        ("inverse_transform (rows/s)", f"{n / t_inverse:,.0f}"),
        ("transform_tokens (rows/s)", f"{n / t_tokens:,.0f}"),
        ("inverse_tokens (rows/s)", f"{n / t_untokens:,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'figure'.ljust(width)} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for key, value in rows:
        print(f"{key.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
