"""Parent subtrees (engine.quality.subtrees) and their figures in the schema report, on baseball and berka."""

from __future__ import annotations

import json
from datetime import date
from functools import cache

import polars as pl
import pytest

from engine.data.tables import read_tables
from engine.errors import ConfigError
from engine.quality.config import QualityConfig
from engine.quality.schema_report import SchemaQualityConfig, SchemaReport, assess_tables
from engine.quality.subtrees import SubtreeConfig, assess_subtrees, choose_target, plan_subtrees, subtree_frame
from engine.relational.schema import Schema
from tests.conftest import DATASETS

MULTITABLE = DATASETS / "multitable"
BASEBALL_KEYS = {"primary_keys": {"players": "id"}, "foreign_keys": ["batting.players_id -> players.id"]}
BERKA_KEYS = {
    "primary_keys": {"district": "district_id", "account": "account_id", "loan": "loan_id", "order": "order_id"},
    "foreign_keys": ["account.district_id -> district.district_id", "loan.account_id -> account.account_id",
                     "order.account_id -> account.account_id"],
}
# Table-level utility off (no target is suggested), so that only the subtree model is trained.
SUBTREES_ONLY = {"tables": {"pillars": ["utility", "privacy"], "utility": {"auto_target": False}}}
QUALITY = QualityConfig.from_mapping({"pillars": ["utility", "privacy"]})


@cache
def _schema_tables(schema: str) -> dict[str, pl.DataFrame]:
    return read_tables(MULTITABLE / schema)


def _read(schema: str, name: str) -> pl.DataFrame:
    return _schema_tables(schema)[name]


def _players(ids: pl.Series, players: pl.DataFrame, batting: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"players": players.filter(pl.col("id").is_in(ids.implode())),
            "batting": batting.filter(pl.col("players_id").is_in(ids.implode()))}


@pytest.fixture(scope="module")
def baseball() -> tuple[dict[str, pl.DataFrame], ...]:
    """Three disjoint seeded samples of 1,500 players with all their batting rows: train, other, holdout."""
    players, batting = _read("baseball", "players"), _read("baseball", "batting")
    ids = players["id"].sample(4_500, seed=0, shuffle=True)
    return tuple(_players(ids[i * 1_500:(i + 1) * 1_500], players, batting) for i in range(3))


@pytest.fixture(scope="module")
def real_vs_real(baseball) -> SchemaReport:
    train, other, holdout = baseball
    return assess_tables(real=train, synthetic=other, holdout=holdout, keys=BASEBALL_KEYS, config=SUBTREES_ONLY)


@pytest.fixture(scope="module")
def copied(baseball) -> SchemaReport:
    train, _, holdout = baseball
    return assess_tables(real=train, synthetic=train, holdout=holdout, keys=BASEBALL_KEYS,
                         config={"tables": {"pillars": ["privacy"]}})


def _tiny() -> dict[str, pl.DataFrame]:
    parents = pl.DataFrame({"pid": [1, 2, 3], "size": [10.0, 20.0, 30.0], "kind": ["a", "b", "a"]})
    children = pl.DataFrame({
        "cid": [1, 2, 3, 4, 5, 6],
        "pid": [1, 1, 1, 2, 2, None],
        "x": [1.0, 2.0, 6.0, None, 4.0, 100.0],
        "color": ["red", "red", "blue", None, "green", "red"],
        "day": [date(2020, 1, 1), date(2020, 1, 3), date(2020, 1, 5), date(2020, 1, 1), date(2020, 1, 1), None],
    })
    return {"parents": parents, "children": children}


TINY_KEYS = {"primary_keys": {"parents": "pid", "children": "cid"}, "foreign_keys": ["children.pid -> parents.pid"]}
TINY_KINDS = {"parents": {"size": "numeric", "kind": "categorical"},
              "children": {"x": "numeric", "color": "categorical", "day": "datetime"}}


def _tiny_frame(top_categories: int = 2) -> pl.DataFrame:
    tables = _tiny()
    plans = plan_subtrees(tables, Schema.from_keys(TINY_KEYS, tables), kinds=TINY_KINDS, top_categories=top_categories)
    return subtree_frame(tables, plans["parents"])


# ----------------------------------------------------------------------------- aggregates


def test_each_parent_row_gets_its_childrens_count_means_and_top_category_shares():
    frame = _tiny_frame()
    assert frame.columns == ["size", "kind", "children:count", "children:mean(x)", "children:mean(day)",
                             "children:share(color=red)", "children:share(color=blue)"]
    assert frame["children:count"].to_list() == [3, 2, 0]
    assert frame["children:mean(x)"].to_list()[:2] == [3.0, 4.0]  # a null x is left out of the mean
    day_us = 86_400 * 1_000_000
    jan1 = (date(2020, 1, 1) - date(1970, 1, 1)).days * day_us
    assert frame["children:mean(day)"].to_list()[:2] == [jan1 + 2 * day_us, jan1]
    # red is the most common colour (3 rows, one of them orphaned), blue and green tie: blue first by name
    assert frame["children:share(color=red)"].to_list()[:2] == pytest.approx([2 / 3, 0.0])
    assert frame["children:share(color=blue)"].to_list()[:2] == pytest.approx([1 / 3, 0.0])


def test_a_parent_without_children_has_count_zero_and_no_means_or_shares():
    last = _tiny_frame().row(2, named=True)
    assert last["children:count"] == 0
    assert last["children:mean(x)"] is None and last["children:share(color=red)"] is None


def test_the_parent_key_and_the_childrens_key_columns_are_not_features():
    frame = _tiny_frame()
    assert "pid" not in frame.columns and not any("cid" in c for c in frame.columns)


def test_another_schema_is_flattened_with_the_categories_the_real_tables_chose():
    tables = _tiny()
    plan = plan_subtrees(tables, Schema.from_keys(TINY_KEYS, tables), kinds=TINY_KINDS, top_categories=1)["parents"]
    other = {**tables, "children": tables["children"].with_columns(pl.lit("blue").alias("color"))}
    frame = subtree_frame(other, plan)
    assert frame.columns == subtree_frame(tables, plan).columns
    assert frame["children:share(color=red)"].to_list()[:2] == [0.0, 0.0]


def test_two_relations_from_one_child_are_told_apart_by_their_column():
    parents = pl.DataFrame({"pid": [1, 2]})
    games = pl.DataFrame({"gid": [1, 2, 3], "home": [1, 1, 2], "away": [2, 2, 1], "goals": [3.0, 1.0, 5.0]})
    tables = {"teams": parents, "games": games}
    keys = {"primary_keys": {"teams": "pid", "games": "gid"},
            "foreign_keys": ["games.home -> teams.pid", "games.away -> teams.pid"]}
    frame = subtree_frame(tables, plan_subtrees(tables, Schema.from_keys(keys, tables),
                                                kinds={"games": {"goals": "numeric"}})["teams"])
    assert frame["games.home:count"].to_list() == [2, 1]
    assert frame["games.away:mean(goals)"].to_list() == [5.0, 2.0]


# ----------------------------------------------------------------------------- the target


def test_the_target_is_the_categorical_parent_column_with_the_fewest_levels(baseball):
    train = baseball[0]
    plan = plan_subtrees(train, Schema.from_keys(BASEBALL_KEYS, train))["players"]
    # throws has R and L (one left-right thrower is below 1 %), bats has R, L and B
    assert choose_target(plan, subtree_frame(train, plan))[0] == "throws"


def test_a_target_set_in_the_config_wins_and_a_wrong_one_is_refused_naming_the_choices(baseball):
    train = baseball[0]
    plan = plan_subtrees(train, Schema.from_keys(BASEBALL_KEYS, train))["players"]
    frame = subtree_frame(train, plan)
    assert choose_target(plan, frame, "weight") == ("weight", "set in config['subtrees']['targets']")
    with pytest.raises(ConfigError, match=r"'id', which is not a compared column of 'players'; choose one of"):
        choose_target(plan, frame, "id")


def test_a_target_for_a_table_without_children_is_refused(baseball):
    train, other, _ = baseball
    with pytest.raises(ConfigError, match=r"names table\(s\) \['batting'\] that are not parents with children"):
        assess_tables(real=train, synthetic=other, keys=BASEBALL_KEYS,
                      config={**SUBTREES_ONLY, "subtrees": {"targets": {"batting": "HR"}}})


def test_the_subtrees_settings_are_written_into_the_config_and_read_back():
    settings = {"enabled": True, "targets": {"players": "bats"}, "top_categories": 3}
    written = SchemaQualityConfig.from_mapping({"subtrees": settings}).to_dict()
    assert written["subtrees"] == settings
    assert SchemaQualityConfig.from_mapping({"subtrees": written["subtrees"]}).subtrees == SubtreeConfig(**settings)


def test_an_unknown_subtrees_setting_is_refused_naming_the_settings():
    with pytest.raises(ConfigError, match=r"unknown config\['subtrees'\] key\(s\) \['target'\]"):
        SubtreeConfig.from_mapping({"target": {"players": "bats"}})


# ----------------------------------------------------------------------------- figures on real data


def test_a_second_real_sample_scores_a_tstr_gap_near_zero(real_vs_real):
    players = real_vs_real.subtrees["players"]
    assert players["target"] == "throws" and players["primary_metric"] == "auc"
    assert players["trtr"] > 0.75  # the join carries signal: fielding-free batting still tells left throwers
    assert abs(players["tstr_gap"]) < 0.05
    assert real_vs_real.gate("subtree_utility").status == "pass"


def test_a_second_real_sample_scores_a_dcr_share_near_one_half_and_no_membership_signal(real_vs_real):
    players = real_vs_real.subtrees["players"]
    assert players["dcr_share"] == pytest.approx(0.5, abs=0.05)
    assert players["mia_advantage_lower"] < 0.10
    assert real_vs_real.gate("subtree_membership").status != "block"
    assert real_vs_real.passed


def test_a_copy_of_the_training_schema_is_flagged_by_the_subtree_privacy_gates(copied):
    players = copied.subtrees["players"]
    assert players["dcr_share"] > 0.9
    assert copied.gate("subtree_dcr_share").status == "warn"
    membership = copied.gate("subtree_membership")
    assert membership.status == "block" and membership.offenders[0]["table"] == "players"
    assert not copied.passed


def test_the_child_tables_note_names_the_subtree_gates_as_its_replacement(copied):
    note = next(n for n in copied.notes if n.startswith("batting: no row-level membership attack"))
    assert "subtree_membership" in note and "subtree_dcr_share" in note


def test_a_regression_target_can_be_chosen_in_the_config(baseball):
    train, other, holdout = baseball
    plans = plan_subtrees(train, Schema.from_keys(BASEBALL_KEYS, train))
    figures = assess_subtrees(real=train, synthetic=other, holdout=holdout, plans=plans,
                              config=SubtreeConfig(targets={"players": "weight"}),
                              quality=QualityConfig.from_mapping({"pillars": ["utility"]}), mia_threshold=0.1)["players"]
    assert (figures["target"], figures["target_source"], figures["primary_metric"]) == ("weight", "user", "r2")
    assert figures["dcr_share"] is None  # privacy is off
    assert abs(figures["tstr_gap"]) < 0.05


def test_without_a_holdout_the_privacy_gates_are_skipped_and_utility_splits_the_real_subtrees(baseball):
    train, other, _ = baseball
    report = assess_tables(real=train, synthetic=other, keys=BASEBALL_KEYS, config=SUBTREES_ONLY)
    assert report.subtrees["players"]["utility"]["test_source"] == "split"
    assert report.gate("subtree_dcr_share").status == "skipped"
    assert report.gate("subtree_membership").status == "skipped"


def test_berka_real_vs_real_measures_every_parent_and_the_accounts_figures_are_near_ideal():
    """Split by district (the root); ~1,400 accounts a side leave the gap a noise of about 0.05."""
    tables = {name: _read("berka", name) for name in ("district", "account", "loan", "order")}
    ids = tables["district"]["district_id"].sample(fraction=1.0, seed=0, shuffle=True)

    def side(districts: pl.Series) -> dict[str, pl.DataFrame]:
        accounts = tables["account"].filter(pl.col("district_id").is_in(districts.implode()))
        keep = pl.col("account_id").is_in(accounts["account_id"].implode())
        return {"district": tables["district"].filter(pl.col("district_id").is_in(districts.implode())),
                "account": accounts, "loan": tables["loan"].filter(keep), "order": tables["order"].filter(keep)}

    train, other, holdout = side(ids[0::3]), side(ids[1::3]), side(ids[2::3])
    plans = plan_subtrees(train, Schema.from_keys(BERKA_KEYS, train))
    figures = assess_subtrees(real=train, synthetic=other, holdout=holdout, plans=plans, config=SubtreeConfig(),
                              quality=QUALITY, mia_threshold=0.1)
    assert list(figures) == ["district", "account"]
    assert figures["account"]["children"] == ["loan.account_id -> account.account_id",
                                              "order.account_id -> account.account_id"]
    account = figures["account"]
    assert account["target"] == "frequency"
    assert abs(account["tstr_gap"]) < 0.1
    assert account["dcr_share"] == pytest.approx(0.5, abs=0.05)
    assert account["mia_advantage_lower"] < 0.10
    assert figures["district"]["mia_advantage"] is None  # 25 holdout districts are too few to attack


# ----------------------------------------------------------------------------- the report


def test_the_subtree_figures_round_trip_through_json_and_show_in_the_summary(real_vs_real):
    data = json.loads(real_vs_real.to_json())
    again = SchemaReport.from_dict(data)
    assert again.to_dict() == real_vs_real.to_dict()
    assert again.subtrees["players"]["tstr_gap"] == real_vs_real.subtrees["players"]["tstr_gap"]
    assert "Subtrees of players (with batting): TSTR gap" in real_vs_real.summary()


def test_a_report_written_before_the_subtree_figures_still_loads(real_vs_real):
    data = real_vs_real.to_dict()
    del data["subtrees"]
    assert SchemaReport.from_dict(data).subtrees == {}


def test_switched_off_subtrees_measure_nothing_and_skip_their_gates(baseball):
    train, other, holdout = baseball
    report = assess_tables(real=train, synthetic=other, holdout=holdout, keys=BASEBALL_KEYS,
                           config={"tables": {"pillars": ["fidelity"]}, "subtrees": {"enabled": False}})
    assert report.subtrees == {}
    assert {report.gate(n).status for n in ("subtree_utility", "subtree_dcr_share", "subtree_membership")} == {"skipped"}
