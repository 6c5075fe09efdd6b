"""``engine.training.resolve_auto``: the one rule behind ``model="auto"``, for ``engine.train`` and for hints.

A hint shown before training once named argn under DP at epsilon <= 3 (MST trained) and counted
a column a version no longer had; the hint and ``engine.train`` now call the same function.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.training import MST_MAX_EPSILON, resolve_auto
from tests.engine.test_models_contract import TRANSFORMER, read_adult

COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=400, seed=11).select(COLUMNS)


def test_under_dp_at_small_epsilon_auto_names_mst_and_engine_train_trains_it(adult: pl.DataFrame) -> None:
    privacy = {"epsilon": 1.0, "delta": 1e-6}
    choice = resolve_auto(columns=adult.columns, privacy=privacy)
    assert choice.model == "mst" and "mst on 6 columns" in choice.reason and "epsilon 1 " in choice.reason
    model = engine.train(adult, model="auto", privacy=privacy, seed=0, device="cpu")
    assert model.kind == choice.model


def test_under_dp_above_the_mst_limit_auto_names_dp_sgd_argn() -> None:
    choice = resolve_auto(columns=COLUMNS, privacy={"epsilon": MST_MAX_EPSILON + 2, "delta": 1e-6})
    assert choice.model == "argn" and "DP-SGD on 6 columns" in choice.reason


def test_a_profile_whose_column_was_dropped_counts_the_columns_actually_trained(adult: pl.DataFrame) -> None:
    """A stored profile edited after profiling keeps the old recommendation ("6 learned columns")."""
    prof = engine.profile(adult)
    kept = {name: col for name, col in prof.columns.items() if name != "sex"}
    edited = dataclasses.replace(prof, columns=kept, n_columns=len(kept))  # its recommendation is the stale one
    assert "x 6 learned columns" in edited.recommendation.reason
    choice = resolve_auto(columns=list(kept), profile=edited)
    assert choice.model == "argn" and "x 5 learned columns" in choice.reason
    model = engine.train(adult.drop("sex"), model="auto", epochs=1, seed=0, device="cpu",
                         transformer_params=TRANSFORMER)
    assert model.kind == choice.model and list(model.columns_) == list(choice.columns)


def test_a_table_of_mostly_continuous_numbers_gets_diffusion_with_its_own_epochs(datasets: Path) -> None:
    housing = pl.read_csv(datasets / "california_housing.csv.gz").sample(1_500, seed=3)
    choice = resolve_auto(columns=housing.columns, profile=engine.profile(housing))
    assert choice.model == "diffusion" and "continuous numbers" in choice.reason
    assert "epochs" not in choice.params and "batch_size" not in choice.params  # the model's own defaults
    model = engine.train(housing, model="auto", epochs=1, seed=0, device="cpu")
    assert model.kind == "diffusion"


def test_a_table_with_a_category_too_wide_for_one_hot_stays_with_argn(datasets: Path) -> None:
    nyc = pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz", try_parse_dates=True).sample(3_000, seed=3)
    numbers = nyc.select("neighbourhood", "latitude", "longitude", "price", "reviews_per_month", "availability_365")
    assert engine.profile(numbers.drop("neighbourhood")).recommendation.model == "diffusion"
    assert engine.profile(numbers).recommendation.model == "argn"  # 200-odd neighbourhoods
