"""Real tables and their classic good and bad "synthetic" stand-ins, shared by the quality tests.

No tests here: the helpers build, from the real adult and california_housing files, the
inputs the quality report must tell apart (a fresh real sample, a copy, a noisy copy, columns
shuffled apart, uniform noise). Every helper is seeded and cached, so the test modules share
one read of each file.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl

import engine
from tests.conftest import DATASETS


@functools.lru_cache(maxsize=None)
def adult() -> pl.DataFrame:
    """adult.csv as ``engine.read`` reads it: the leading spaces of its strings stripped, '?' read as null."""
    return engine.read(Path(DATASETS) / "adult.csv")


@functools.lru_cache(maxsize=None)
def california() -> pl.DataFrame:
    return pl.read_csv(Path(DATASETS) / "california_housing.csv.gz")


@functools.lru_cache(maxsize=None)
def airbnb() -> pl.DataFrame:
    """nyc_airbnb_2019 with last_review parsed as a Date (it has nulls and a 221-level categorical)."""
    return pl.read_csv(Path(DATASETS) / "nyc_airbnb_2019.csv.gz", try_parse_dates=True)


DATASETS_BY_NAME = {"adult": adult, "california": california, "airbnb": airbnb}
TARGETS = {"adult": "income", "california": "median_house_value"}


@functools.lru_cache(maxsize=None)
def split(name: str, n_train: int = 5_000, n_holdout: int = 4_000, n_fresh: int = 5_000, seed: int = 0):
    """Disjoint seeded samples: (train, holdout, fresh) where fresh is more unseen real rows."""
    frame = DATASETS_BY_NAME[name]()
    order = np.random.default_rng(seed).permutation(frame.height)
    train = frame[order[:n_train]]
    holdout = frame[order[n_train : n_train + n_holdout]]
    fresh = frame[order[n_train + n_holdout : n_train + n_holdout + n_fresh]]
    return train, holdout, fresh


def shuffled_columns(frame: pl.DataFrame, seed: int = 1) -> pl.DataFrame:
    """Each column permuted on its own: every marginal exact, every relationship gone."""
    return frame.with_columns(pl.col(c).shuffle(seed=seed + i) for i, c in enumerate(frame.columns))


def noisy_copy(frame: pl.DataFrame, scale: float = 0.02, seed: int = 2) -> pl.DataFrame:
    """The training rows with small Gaussian noise (scale x the column's std) on every numeric column."""
    rng = np.random.default_rng(seed)
    out = []
    for c, t in frame.schema.items():
        if t.is_numeric():
            std = float(frame[c].std() or 1.0)
            out.append((pl.col(c).cast(pl.Float64) + pl.Series(rng.normal(0.0, scale * std, frame.height))).alias(c))
    return frame.with_columns(out)


def uniform_in_range(frame: pl.DataFrame, seed: int = 3) -> pl.DataFrame:
    """Uniform noise: numbers uniform in each column's real range, categories drawn uniformly."""
    rng = np.random.default_rng(seed)
    cols = {}
    for c, t in frame.schema.items():
        s = frame[c].drop_nulls()
        if t.is_numeric():
            cols[c] = rng.uniform(float(s.min()), float(s.max()), frame.height)
        else:
            cols[c] = rng.choice(np.array(s.unique().sort().to_list(), dtype=object), frame.height)
    return pl.DataFrame(cols, schema={c: (pl.Float64 if t.is_numeric() else t) for c, t in frame.schema.items()})


CASES = ("unseen", "copy", "noisy", "shuffled", "uniform")


def synthetic_case(name: str, case: str) -> pl.DataFrame:
    """The stand-in "synthetic" table of a calibration case (see CASES), built from ``split(name)``."""
    train, _, fresh = split(name)
    if case == "unseen":
        return fresh
    if case == "copy":
        return train
    if case == "noisy":
        return noisy_copy(train)
    if case == "shuffled":
        return shuffled_columns(train)
    if case == "uniform":
        return uniform_in_range(train)
    raise ValueError(f"unknown case {case!r}; cases: {CASES}")


@functools.lru_cache(maxsize=None)
def assessed(name: str, case: str, pillars: tuple[str, ...] = ("fidelity", "privacy")):
    """engine.assess of a calibration case against ``split(name)``'s training rows and holdout (cached)."""
    train, holdout, _ = split(name)
    return engine.assess(real=train, synthetic=synthetic_case(name, case), holdout=holdout,
                         target=TARGETS[name] if "utility" in pillars else None,
                         config={"pillars": list(pillars)}, seed=0)
