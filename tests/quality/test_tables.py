"""Cross-table quality metrics (engine.quality.tables) on the berka and baseball schemas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from engine.quality.tables import (
    assess_tables,
    cardinality,
    child_aggregates,
    intertable_trends,
    referential_integrity,
    relation_name,
)
from tests.conftest import DATASETS
from tests.relational.conftest import BASEBALL_KEYS as BASEBALL_DECLARED, BERKA_KEYS as BERKA_DECLARED, key_tuples

MULTITABLE = DATASETS / "multitable"
BERKA_KEYS = key_tuples(BERKA_DECLARED)
BASEBALL_KEYS = key_tuples(BASEBALL_DECLARED)
BASEBALL_TEXT = {"players": {"nameFirst": "id", "nameLast": "id", "birthDate": "id", "deathDate": "id"}}


def _read(schema: str, name: str) -> pl.DataFrame:
    return pl.read_csv(MULTITABLE / schema / f"{name}.csv.gz", infer_schema_length=20_000)


@pytest.fixture(scope="module")
def berka() -> dict[str, pl.DataFrame]:
    return {name: _read("berka", name) for name in ("district", "account", "client", "disp", "card", "loan", "order")}


@pytest.fixture(scope="module")
def baseball() -> dict[str, pl.DataFrame]:
    """800 players drawn with a fixed seed and all their batting and fielding rows."""
    players = _read("baseball", "players").sample(800, seed=0)
    keep = pl.col("players_id").is_in(players["id"].implode())
    return {"players": players, "batting": _read("baseball", "batting").filter(keep),
            "fielding": _read("baseball", "fielding").filter(keep)}


def _with_keys(tables: dict[str, pl.DataFrame], table: str, column: str, keys: np.ndarray | pl.Series) -> dict[str, pl.DataFrame]:
    return {**tables, table: tables[table].with_columns(pl.Series(column, keys, dtype=tables[table][column].dtype))}


def test_berka_against_itself_scores_one_everywhere(berka):
    result = assess_tables(berka, berka, BERKA_KEYS)
    assert set(result["referential_integrity"].values()) == {1.0}
    assert all(v == {"shape_similarity": 1.0, "within_range": 1.0} for v in result["cardinality"].values())
    assert result["intertable_trends"]["score"] == pytest.approx(1.0, abs=1e-12)
    assert result["child_aggregates"]["score"] == pytest.approx(1.0, abs=1e-12)


def test_baseball_against_itself_scores_one_everywhere(baseball):
    result = assess_tables(baseball, baseball, BASEBALL_KEYS, kinds=BASEBALL_TEXT)
    assert set(result["referential_integrity"].values()) == {1.0}
    assert result["cardinality_shape_similarity"] == 1.0
    assert result["intertable_trends"]["score"] == pytest.approx(1.0, abs=1e-12)
    assert result["child_aggregates"]["score"] == pytest.approx(1.0, abs=1e-12)


def test_orphans_lower_integrity_by_exactly_their_share(berka):
    order = berka["order"]
    orphaned = np.zeros(order.height, dtype=bool)
    orphaned[np.random.default_rng(0).choice(order.height, 500, replace=False)] = True
    keys = np.where(orphaned, -1, order["account_id"].to_numpy())
    scores = referential_integrity(berka, _with_keys(berka, "order", "account_id", keys), BERKA_KEYS)
    assert scores[relation_name(BERKA_KEYS[-1])] == pytest.approx(1 - 500 / order.height, abs=1e-15)
    assert all(v == 1.0 for k, v in scores.items() if k != relation_name(BERKA_KEYS[-1]))


def test_a_null_key_is_a_broken_reference_when_the_real_key_has_no_nulls(berka):
    keys = berka["loan"]["account_id"].scatter([0, 1, 2, 3], None)
    scores = referential_integrity(berka, _with_keys(berka, "loan", "account_id", keys), BERKA_KEYS)
    assert scores["loan.account_id -> account.account_id"] == pytest.approx(1 - 4 / berka["loan"].height)


def test_a_null_key_is_no_parent_and_left_out_when_the_real_key_has_nulls(berka):
    real = _with_keys(berka, "loan", "account_id", berka["loan"]["account_id"].scatter([0], None))
    synthetic = _with_keys(berka, "loan", "account_id", berka["loan"]["account_id"].scatter([0, 1, 2], None).scatter([5], -7))
    scores = referential_integrity(real, synthetic, BERKA_KEYS)
    assert scores["loan.account_id -> account.account_id"] == pytest.approx(1 - 1 / (berka["loan"].height - 3))


def test_reassigning_children_at_random_lowers_cardinality_similarity(baseball):
    rng = np.random.default_rng(1)
    keys = rng.choice(baseball["players"]["id"].to_numpy(), baseball["batting"].height)
    result = cardinality(baseball, _with_keys(baseball, "batting", "players_id", keys), BASEBALL_KEYS)
    batting, fielding = (result[relation_name(fk)] for fk in BASEBALL_KEYS)
    assert batting["shape_similarity"] < 0.8  # many players with 1-2 seasons and a few with 20 become ~uniform
    assert fielding == {"shape_similarity": 1.0, "within_range": 1.0}


def test_within_range_is_the_share_of_synthetic_parents_inside_the_real_counts(berka):
    """The first (real maximum + 1) orders all moved to one account: that account is above the real
    maximum; the accounts they left may drop to 0 orders, which real accounts also have (in range)."""
    order = berka["order"]
    top = order.group_by("account_id").len()["len"].max()
    keys = order["account_id"].to_numpy().copy()
    keys[: top + 1] = keys[0]
    result = cardinality(berka, _with_keys(berka, "order", "account_id", keys), BERKA_KEYS)
    assert result["order.account_id -> account.account_id"]["within_range"] == pytest.approx(1 - 1 / berka["account"].height)


def test_shuffling_a_child_column_lowers_the_intertable_trends_of_its_pairs(baseball):
    synthetic = {**baseball, "batting": baseball["batting"].with_columns(pl.col("year").shuffle(seed=5))}
    result = intertable_trends(baseball, synthetic, BASEBALL_KEYS, kinds=BASEBALL_TEXT)
    counted = [p for p in result["pairs"] if p["counted"]]
    year = [p for p in counted if p["child_column"] == "year" and p["relation"].startswith("batting")]
    assert {p["metric"] for p in year} == {"correlation", "contingency"}
    assert all(p["score"] < 0.8 for p in year if p["metric"] == "correlation")
    assert all(p["score"] < 1.0 for p in year)
    assert all(p["score"] == 1.0 for p in counted if p not in year)
    assert result["score"] < 1.0


def test_shuffling_a_child_column_across_parents_lowers_its_mean_aggregate(baseball):
    synthetic = {**baseball, "batting": baseball["batting"].with_columns(pl.col("HR").shuffle(seed=6))}
    result = child_aggregates(baseball, synthetic, BASEBALL_KEYS, kinds=BASEBALL_TEXT)
    batting = result["relations"][relation_name(BASEBALL_KEYS[0])]["aggregates"]
    assert batting["count"] == 1.0
    assert batting["mean(HR)"] < 0.9
    assert batting["share(league=NL)"] == 1.0
    assert result["score"] < 1.0


def test_a_foreign_key_between_columns_of_different_types_is_refused(berka):
    with pytest.raises(ValueError, match="different types"):
        referential_integrity(berka, berka, [("account", "frequency", "district", "district_id")])


def test_a_foreign_key_naming_an_unknown_table_is_refused(berka):
    with pytest.raises(ValueError, match="'trans'"):
        cardinality(berka, berka, [("trans", "account_id", "account", "account_id")])


def test_an_empty_child_gives_nan_integrity_not_a_perfect_score(berka):
    synthetic = {**berka, "card": berka["card"].head(0)}
    assert math.isnan(referential_integrity(berka, synthetic, BERKA_KEYS)["card.disp_id -> disp.disp_id"])


def test_a_synthetic_child_that_joins_no_parent_loses_every_counted_trend(baseball):
    synthetic = _with_keys(baseball, "batting", "players_id", np.full(baseball["batting"].height, "nobody01"))
    result = intertable_trends(baseball, synthetic, BASEBALL_KEYS, kinds=BASEBALL_TEXT)
    batting = [p for p in result["pairs"] if p["counted"] and p["relation"].startswith("batting")]
    assert batting and all(p["score"] == 0.0 for p in batting)


def test_a_key_whose_type_differs_between_real_and_synthetic_is_refused(berka):
    synthetic = {**berka, "loan": berka["loan"].with_columns(pl.col("account_id").cast(pl.String))}
    with pytest.raises(ValueError, match="loan.account_id is Int64 in the real tables but String"):
        referential_integrity(berka, synthetic, BERKA_KEYS)
