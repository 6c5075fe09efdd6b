"""The holdout of a sequence training job: whole histories (or each history's end), drawn again from the record."""

from __future__ import annotations

import polars as pl
import pytest

import engine
from engine.errors import InputError
from infra.records.holdouts import HoldoutRule, record_of
from infra.records.sequence_holdouts import (
    rebuild_sequences,
    sequences_record_of,
    set_aside_sequences,
)
from tests.conftest import DATASETS
from tests.infra.sequence_training_support import nasdaq_slice

RULE = HoldoutRule(share=0.2, min_rows=10, min_table_rows=200)


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return nasdaq_slice(DATASETS, companies=25, days=20, seed=2)


def test_twenty_or_more_companies_set_whole_histories_aside_exactly_as_split_sequences_does(prices):
    training, holdout, record = set_aside_sequences(prices, entity="Symbol", order_by="Date", rule=RULE, seed=4)
    expected = engine.split_sequences(prices, entity="Symbol", order_by="Date", holdout=0.2, by="entity", seed=4)
    assert training.equals(expected[0]) and holdout.equals(expected[1])
    assert (record.by, record.share, record.entities, record.holdout_entities) == ("entity", 0.2, 25, 5)
    assert set(holdout.get_column("Symbol")).isdisjoint(training.get_column("Symbol"))


def test_few_companies_hold_out_the_end_of_every_history(prices):
    few = prices.filter(pl.col("Symbol").is_in(prices.get_column("Symbol").unique().sort().head(12).implode()))
    training, holdout, record = set_aside_sequences(few, entity="Symbol", order_by="Date", rule=RULE, seed=4)
    assert record.by == "time" and record.holdout_entities == record.entities == 12
    last_trained = training.group_by("Symbol").agg(pl.col("Date").max().alias("trained_until"))
    first_held = holdout.group_by("Symbol").agg(pl.col("Date").min().alias("held_from"))
    joined = last_trained.join(first_held, on="Symbol")
    assert (joined.get_column("trained_until") < joined.get_column("held_from")).all()


def test_a_table_under_the_rules_minimum_trains_on_every_step_and_says_why(prices):
    small = prices.head(150)
    training, holdout, record = set_aside_sequences(small, entity="Symbol", order_by="Date", rule=RULE, seed=1)
    assert holdout is None and training.equals(small) and not record.has_holdout
    assert "fewer than the 200 that allow a holdout" in record.reason


def test_the_record_in_the_metrics_rebuilds_both_parts_and_is_never_read_as_a_tables(prices):
    training, holdout, record = set_aside_sequences(prices, entity="Symbol", order_by="Date", rule=RULE, seed=9)
    metrics = {"holdout": record.to_dict()}
    stored = sequences_record_of(metrics)
    assert stored == record and record_of(metrics) is None
    assert sequences_record_of({"holdout": {"kind": "tables"}}) is None and sequences_record_of(None) is None
    again_training, again_holdout = rebuild_sequences(prices, stored)
    assert again_training.equals(training) and again_holdout.equals(holdout)


def test_rebuilding_from_another_version_of_the_table_is_refused(prices):
    _, _, record = set_aside_sequences(prices, entity="Symbol", order_by="Date", rule=RULE, seed=9)
    with pytest.raises(InputError, match="not the version the model was trained on"):
        rebuild_sequences(prices.head(300), record)
