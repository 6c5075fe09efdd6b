"""engine.split_tables: a holdout of whole root entities, each with all its descendants."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError
from engine.relational import Schema
from engine.relational.split import SplitTables
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS

SCHEMAS = [("berka", BERKA_KEYS), ("baseball", BASEBALL_KEYS)]


@pytest.fixture(scope="module")
def splits(berka: dict[str, pl.DataFrame], baseball: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Each real schema, its keys and its split with the defaults (holdout 0.2, seed 0)."""
    out = {}
    for name, keys in SCHEMAS:
        tables = berka if name == "berka" else baseball
        out[name] = (tables, keys, engine.split_tables(tables, keys=keys))
    return out


@pytest.mark.parametrize("name", [n for n, _ in SCHEMAS])
def test_every_row_lands_on_exactly_one_side_or_is_counted_as_dropped(splits: dict[str, Any], name: str) -> None:
    tables, keys, result = splits[name]
    assert list(result.training) == list(tables) == list(result.holdout)
    for table, frame in tables.items():
        assert result.training[table].columns == frame.columns
        placed = result.training[table].height + result.holdout[table].height
        assert placed + result.dropped.get(table, 0) == frame.height
        # Keyed rows are told apart by their key; keyless ones by their row (with its parents' keys).
        key = keys["primary_keys"].get(table)
        training = result.training[table].select(key) if key else result.training[table]
        holdout = result.holdout[table].select(key) if key else result.holdout[table]
        assert training.join(holdout, on=training.columns, how="semi", nulls_equal=True).is_empty(), table


@pytest.mark.parametrize("name", [n for n, _ in SCHEMAS])
def test_no_foreign_key_points_outside_its_side(splits: dict[str, Any], name: str) -> None:
    tables, keys, result = splits[name]
    schema = Schema.from_keys(keys, tables)
    for side in (result.training, result.holdout):
        for fk in schema.foreign_keys:
            parent_keys = side[fk.parent].get_column(fk.parent_column).implode()
            assert side[fk.child].get_column(fk.column).is_in(parent_keys).all(), (str(fk), side is result.holdout)


@pytest.mark.parametrize("name", [n for n, _ in SCHEMAS])
def test_the_holdout_holds_about_a_fifth_of_the_roots(splits: dict[str, Any], name: str) -> None:
    tables, _, result = splits[name]
    root = "district" if name == "berka" else "players"
    assert result.holdout[root].height == round(0.2 * tables[root].height)
    assert result.dropped.get(root, 0) == 0


def test_berka_drops_dispositions_whose_account_and_client_are_on_different_sides(splits: dict[str, Any]) -> None:
    _, _, result = splits["berka"]
    assert result.dropped.get("disp", 0) > 0
    assert set(result.dropped) <= {"disp", "card"}  # card descends from disp only


def test_baseball_drops_nothing(splits: dict[str, Any]) -> None:
    assert splits["baseball"][2].dropped == {}


def test_the_same_seed_gives_the_same_split(berka: dict[str, pl.DataFrame], splits: dict[str, Any]) -> None:
    again = engine.split_tables(berka, keys=BERKA_KEYS, seed=0)
    first = splits["berka"][2]
    for table in berka:
        assert again.training[table].equals(first.training[table])
        assert again.holdout[table].equals(first.holdout[table])
    assert again.dropped == first.dropped


def test_another_seed_gives_another_split(berka: dict[str, pl.DataFrame], splits: dict[str, Any]) -> None:
    other = engine.split_tables(berka, keys=BERKA_KEYS, seed=1)
    first = splits["berka"][2]
    assert not other.holdout["district"].equals(first.holdout["district"])


def test_a_schema_object_is_taken_as_keys(berka: dict[str, pl.DataFrame], splits: dict[str, Any]) -> None:
    result = engine.split_tables(berka, keys=Schema.from_keys(BERKA_KEYS, berka))
    assert result.holdout["account"].equals(splits["berka"][2].holdout["account"])


def test_the_result_unpacks_as_training_and_holdout(splits: dict[str, Any]) -> None:
    result = splits["baseball"][2]
    assert isinstance(result, SplitTables)
    training, holdout = result
    assert training is result.training and holdout is result.holdout


def test_a_lone_table_is_split_by_row_with_at_least_one_row_each_side() -> None:
    frame = pl.DataFrame({"a": range(3)})
    for keys in (None, {}):
        result = engine.split_tables({"t": frame}, keys=keys, holdout=0.01)
        assert (result.training["t"].height, result.holdout["t"].height) == (2, 1)
        assert sorted(pl.concat([result.training["t"], result.holdout["t"]])["a"].to_list()) == [0, 1, 2]


def test_a_row_under_parents_on_different_sides_is_dropped_with_its_children() -> None:
    tables = {
        "left": pl.DataFrame({"id": [1, 2]}),
        "right": pl.DataFrame({"id": [1, 2]}),
        "link": pl.DataFrame({"id": [10, 11, 12, 13], "left_id": [1, 1, 2, 2], "right_id": [1, 2, 1, 2]}),
        "leaf": pl.DataFrame({"link_id": [10, 11, 12, 13]}),
    }
    keys = {"foreign_keys": ["link.left_id -> left.id", "link.right_id -> right.id", "leaf.link_id -> link.id"]}
    result = engine.split_tables(tables, keys=keys, holdout=0.5, seed=3)
    left_hold = set(result.holdout["left"]["id"])
    right_hold = set(result.holdout["right"]["id"])
    links = tables["link"].rows()
    expected_kept = {i for i, lt, rt in links if (lt in left_hold) == (rt in right_hold)}
    kept = set(result.training["link"]["id"]) | set(result.holdout["link"]["id"])
    assert kept == expected_kept
    assert result.dropped == {"link": 4 - len(expected_kept), "leaf": 4 - len(expected_kept)}


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.2, 1.5, float("nan"), True, "0.2", None])
def test_a_holdout_outside_zero_and_one_is_refused_naming_the_range(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"holdout must be .* strictly between 0 and 1"):
        engine.split_tables({"t": pl.DataFrame({"a": range(5)})}, keys=None, holdout=bad)


def test_related_tables_without_keys_are_refused() -> None:
    tables = {"a": pl.DataFrame({"x": [1]}), "b": pl.DataFrame({"y": [1]})}
    with pytest.raises(ConfigError, match="keys=None for 2 tables"):
        engine.split_tables(tables, keys=None)


def test_orphan_rows_are_refused_by_the_schema_checks() -> None:
    tables = {"p": pl.DataFrame({"id": [1, 2]}), "c": pl.DataFrame({"p_id": [1, 3]})}
    with pytest.raises(InputError, match="orphan rows"):
        engine.split_tables(tables, keys={"foreign_keys": ["c.p_id -> p.id"]})
