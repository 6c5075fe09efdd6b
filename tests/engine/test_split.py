"""engine.split: a seeded, stratified holdout drawn before anything learns from the rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return engine.read(datasets / "adult.csv")


def test_the_holdout_holds_the_asked_share_and_the_parts_partition_the_rows(adult: pl.DataFrame):
    train, holdout = engine.split(adult.with_row_index("_pos"), holdout=0.2, seed=0)
    assert holdout.height == round(0.2 * adult.height)
    assert train.height + holdout.height == adult.height
    positions = set(train["_pos"]) | set(holdout["_pos"])
    assert len(positions) == adult.height and not set(train["_pos"]) & set(holdout["_pos"])


def test_the_same_seed_gives_the_same_split_and_another_seed_another(adult: pl.DataFrame):
    first = engine.split(adult, seed=7)[1]
    assert first.equals(engine.split(adult, seed=7)[1])
    assert not first.equals(engine.split(adult, seed=8)[1])


def test_rows_keep_their_original_order_in_both_parts(adult: pl.DataFrame):
    train, holdout = engine.split(adult.with_row_index("_pos"), seed=1)
    assert train["_pos"].is_sorted() and holdout["_pos"].is_sorted()


def test_stratifying_keeps_every_class_share_in_both_parts(adult: pl.DataFrame):
    train, holdout = engine.split(adult, holdout=0.2, seed=3, stratify="income")
    real = adult["income"].value_counts(normalize=True).sort("income")
    for part in (train, holdout):
        share = part["income"].value_counts(normalize=True).sort("income")
        assert (share["proportion"] - real["proportion"]).abs().max() < 1e-3


def test_a_rare_class_is_kept_on_both_sides_when_stratified():
    frame = pl.DataFrame({"label": ["a"] * 95 + ["b"] * 5, "x": range(100)})
    train, holdout = engine.split(frame, holdout=0.2, seed=0, stratify="label")
    assert holdout["label"].to_list().count("b") == 1 and train["label"].to_list().count("b") == 4


def test_nulls_in_the_stratify_column_form_a_stratum_of_their_own():
    frame = pl.DataFrame({"label": ["a"] * 50 + [None] * 50})
    _, holdout = engine.split(frame, holdout=0.2, seed=0, stratify="label")
    assert holdout["label"].null_count() == 10


def test_pandas_input_is_accepted(adult: pl.DataFrame):
    train, holdout = engine.split(adult.head(100).to_pandas(), seed=0)
    assert isinstance(train, pl.DataFrame) and holdout.height == 20


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1, True, "0.2"])
def test_a_share_outside_zero_and_one_is_refused(adult: pl.DataFrame, share: object):
    with pytest.raises(ConfigError, match="holdout must be a share strictly between 0 and 1"):
        engine.split(adult, holdout=share)  # type: ignore[arg-type]


def test_an_unknown_stratify_column_is_named(adult: pl.DataFrame):
    with pytest.raises(InputError, match="stratify: no column named 'salary'"):
        engine.split(adult, stratify="salary")


def test_a_split_that_leaves_one_part_empty_is_refused():
    with pytest.raises(InputError, match="leaves one part empty"):
        engine.split(pl.DataFrame({"x": [1, 2, 3]}), holdout=0.1)
