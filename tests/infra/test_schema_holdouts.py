"""The holdout of a schema training job: whole root subtrees, drawn again identically from the record."""

from __future__ import annotations

import polars as pl
import pytest

import engine
from engine.errors import InputError
from infra.records.holdouts import HoldoutRule
from infra.records.schema_holdouts import rebuild_tables, set_aside_tables, tables_record_of
from tests.conftest import DATASETS
from tests.relational.conftest import BASEBALL_KEYS

RULE = HoldoutRule(share=0.2, min_rows=100, min_table_rows=1_000)


@pytest.fixture(scope="module")
def baseball() -> dict[str, pl.DataFrame]:
    tables = engine.read_tables(DATASETS / "multitable" / "baseball")
    players = tables["players"].head(2_000)
    ids = players.get_column("id").implode()
    return {"players": players,
            "batting": tables["batting"].filter(pl.col("players_id").is_in(ids)),
            "fielding": tables["fielding"].filter(pl.col("players_id").is_in(ids))}


def test_the_training_part_is_split_tables_own_first_schema(baseball):
    training, holdout, record = set_aside_tables(baseball, keys=BASEBALL_KEYS, rule=RULE, seed=3)
    expected = engine.split_tables(baseball, keys=BASEBALL_KEYS, holdout=0.2, seed=3)
    for name in baseball:
        assert training[name].equals(expected.training[name])
        assert holdout[name].equals(expected.holdout[name])
    assert record.rows["players"] == 400 and record.training_rows["players"] == 1_600
    assert record.has_holdout


def test_a_record_rebuilds_the_same_two_parts_through_the_metrics(baseball):
    training, holdout, record = set_aside_tables(baseball, keys=BASEBALL_KEYS, rule=RULE, seed=3)
    stored = tables_record_of({"holdout": record.to_dict()})
    again_training, again_holdout = rebuild_tables(baseball, keys=BASEBALL_KEYS, record=stored)
    for name in baseball:
        assert again_training[name].equals(training[name]) and again_holdout[name].equals(holdout[name])


def test_a_schema_with_too_few_root_rows_keeps_every_row_and_says_why(baseball):
    small = {name: frame for name, frame in baseball.items()}
    small["players"] = baseball["players"].head(500)
    ids = small["players"].get_column("id").implode()
    for child in ("batting", "fielding"):
        small[child] = baseball[child].filter(pl.col("players_id").is_in(ids))
    training, holdout, record = set_aside_tables(small, keys=BASEBALL_KEYS, rule=RULE, seed=0)
    assert holdout is None and not record.has_holdout and "500" in record.reason
    assert all(training[name].height == small[name].height for name in small)


def test_another_version_of_the_tables_is_refused_when_rebuilding(baseball):
    _, _, record = set_aside_tables(baseball, keys=BASEBALL_KEYS, rule=RULE, seed=3)
    changed = dict(baseball, batting=baseball["batting"].head(10))
    with pytest.raises(InputError, match="not the version the model was trained on"):
        rebuild_tables(changed, keys=BASEBALL_KEYS, record=record)


def test_a_single_table_record_is_not_taken_for_a_schemas():
    assert tables_record_of({"holdout": {"rows": 10, "training_rows": 40, "table_rows": 50, "seed": 0}}) is None


def test_a_schemas_record_is_not_read_as_a_tables_positions(baseball):
    from infra.records.holdouts import record_of

    _, _, record = set_aside_tables(baseball, keys=BASEBALL_KEYS, rule=RULE, seed=3)
    assert record_of({"holdout": record.to_dict()}) is None
