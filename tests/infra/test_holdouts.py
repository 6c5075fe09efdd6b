"""The training holdout's rule, draw and rebuild (infra.records.holdouts), on adult."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import InputError
from infra.records.holdouts import HoldoutRule, positions_bytes, read_positions, rebuild, set_aside
from infra.settings import Settings

RULE = HoldoutRule(share=0.2, min_rows=1_000, min_table_rows=5_000)


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return pl.read_csv(datasets / "adult.csv").head(6_000)


def test_the_platform_rule_comes_from_the_settings() -> None:
    rule = HoldoutRule.from_settings(Settings(holdout_share=0.25, holdout_min_rows=500, holdout_min_table_rows=2_000))
    assert (rule.share, rule.min_rows, rule.min_table_rows, rule.stratify) == (0.25, 500, 2_000, None)
    assert HoldoutRule.from_settings(Settings()) == RULE


def test_the_stratified_training_part_is_exactly_engine_split_s(adult: pl.DataFrame) -> None:
    rule = HoldoutRule(share=0.2, min_rows=1_000, min_table_rows=5_000, stratify="income")
    parts = set_aside(adult, rule=rule, seed=5, positions_key="k")
    training, holdout = engine.split(adult, holdout=0.2, seed=5, stratify="income")
    assert parts.training.equals(training)
    rebuilt_training, rebuilt_holdout = rebuild(adult, parts.record, parts.holdout_positions)
    assert rebuilt_training.equals(training) and rebuilt_holdout.equals(holdout)


def test_stratifying_on_a_missing_column_is_refused_by_name(adult: pl.DataFrame) -> None:
    rule = HoldoutRule(share=0.2, min_rows=1_000, min_table_rows=5_000, stratify="salary")
    with pytest.raises(InputError, match="'salary'"):
        set_aside(adult, rule=rule, seed=0, positions_key="k")


def test_stored_positions_that_do_not_match_their_record_are_refused(adult: pl.DataFrame) -> None:
    parts = set_aside(adult, rule=RULE, seed=0, positions_key="models/m/j.holdout.npy")
    data = positions_bytes(parts.holdout_positions)
    assert (read_positions(data, parts.record) == parts.holdout_positions).all()
    with pytest.raises(InputError, match="checksum"):
        read_positions(positions_bytes(parts.holdout_positions[1:]), parts.record)


def test_rebuilding_from_another_version_than_the_one_drawn_from_is_refused(adult: pl.DataFrame) -> None:
    parts = set_aside(adult, rule=RULE, seed=0, positions_key="k")
    with pytest.raises(InputError, match="not the version the model was trained on"):
        rebuild(adult.head(5_500), parts.record, parts.holdout_positions)
