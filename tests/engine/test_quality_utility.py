"""Utility: train-synthetic-test-real against train-real-test-real with one fixed learner."""

from __future__ import annotations

import functools

import polars as pl
import pytest

import engine
from engine.errors import InputError
from engine.quality.columns import prepare
from engine.quality.config import UtilityConfig
from engine.quality.utility import assess_utility, suggest_target
from tests.engine.quality_fixtures import TARGETS, shuffled_columns, split

FAST = UtilityConfig(importance_repeats=1, importance_rows=1_000)


@functools.lru_cache(maxsize=None)
def utility(name: str, case: str, with_holdout: bool = True) -> dict:
    train, holdout, fresh = split(name)
    synthetic = {"unseen": fresh, "shuffled": shuffled_columns(train)}[case]
    prep = prepare(train, synthetic, holdout if with_holdout else None, column_types={}, max_int_levels=10)
    return assess_utility(prep, target=TARGETS[name], target_source="user", config=FAST, seed=0)


def test_unseen_real_rows_train_a_classifier_as_good_as_the_real_rows():
    result = utility("adult", "unseen")
    assert result["task"] == "classification"
    assert set(result["tstr"]) == set(result["trtr"]) == {"auc", "f1", "accuracy"}
    assert result["trtr"]["auc"] > 0.85
    assert result["primary_metric"] == "auc"
    assert 0.95 < result["primary_ratio"] < 1.05
    assert result["positive_class"] == ">50K"  # F1 and AUC of the rarer class


def test_a_numeric_target_is_regression_scored_by_r2_and_mae():
    result = utility("california", "unseen")
    assert result["task"] == "regression"
    assert set(result["tstr"]) == {"r2", "mae"}
    assert result["trtr"]["r2"] > 0.6
    assert 0.9 < result["primary_ratio"] < 1.1
    assert result["ratio"]["mae"] == pytest.approx(result["trtr"]["mae"] / result["tstr"]["mae"])


@pytest.mark.parametrize("name", ["adult", "california"])
def test_synthetic_rows_without_the_real_relationships_train_a_much_worse_model(name):
    result = utility(name, "shuffled")
    assert result["primary_ratio"] < 0.8


def test_feature_importance_ranks_agree_for_real_rows_and_not_for_shuffled_columns():
    good = utility("adult", "unseen")["feature_importance"]
    bad = utility("adult", "shuffled")["feature_importance"]
    assert good["rank_agreement"] > 0.6
    assert bad["rank_agreement"] < good["rank_agreement"] - 0.3
    assert len(good["features"]) == len(good["real"]) == 14


def test_without_a_holdout_the_real_rows_are_split_and_the_note_says_so():
    result = utility("adult", "unseen", with_holdout=False)
    assert result["test_source"] == "split"
    assert result["rows"]["test"] == 1_000  # 20% of the 5,000 training rows
    assert any("split 80%/20%" in n for n in result["notes"])


def test_a_synthetic_table_with_a_single_class_gets_chance_level_auc():
    train, holdout, fresh = split("adult")
    one_class = fresh.filter(pl.col("income") == "<=50K")
    prep = prepare(train, one_class, holdout, column_types={}, max_int_levels=10)
    result = assess_utility(prep, target="income", target_source="user", config=FAST)
    assert result["tstr"]["auc"] == 0.5
    assert any("single class" in n for n in result["notes"])


def test_the_target_is_suggested_from_the_column_names():
    for name in ("adult", "california"):
        train, _, fresh = split(name)
        prep = prepare(train, fresh, None, column_types={}, max_int_levels=10)
        assert suggest_target(prep)[0] == TARGETS[name]


def test_assess_without_a_target_uses_the_suggestion_and_says_so():
    train, holdout, fresh = split("adult")
    rep = engine.assess(real=train, synthetic=fresh, holdout=holdout,
                        config={"pillars": ["utility"], "utility": {"importance_repeats": 1, "importance_rows": 500}})
    assert rep.inputs["target"] == "income"
    assert rep.inputs["target_source"] == "suggested"
    assert any("'income' was suggested" in n for n in rep.notes)


def test_an_unknown_target_is_refused_naming_the_columns():
    train, holdout, fresh = split("adult")
    with pytest.raises(InputError, match="target 'salary' is not a column.*'income'"):
        engine.assess(real=train, synthetic=fresh, holdout=holdout, target="salary")


def test_a_class_held_by_one_row_of_a_large_table_does_not_stop_the_assessment(datasets):
    """Above 10,000 rows the learner validates on a stratified split, which one row cannot join."""
    adult = engine.read(datasets / "adult.csv")
    train, holdout = adult.head(12_000), adult.slice(12_000, 3_000)
    lonely = train.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Lonely")).otherwise(pl.col("race")).alias("race"))
    prep = prepare(lonely, lonely, holdout, column_types={}, max_int_levels=10)
    result = assess_utility(prep, target="race", target_source="user", config=FAST, seed=0)
    assert result["task"] == "classification" and 0.5 <= result["tstr"]["auc"] <= 1.0
