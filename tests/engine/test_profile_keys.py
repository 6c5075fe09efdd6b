"""engine.profile_tables finds primary keys and the foreign keys that link real tables.

The declared keys come from the datasets' README (baseball: players <- batting, fielding;
berka: district <- account, client; client, account <- disp; disp <- card; account <- loan,
order). Every declared foreign key must be found, and nothing else may be reported at or
above the documented threshold ``engine.profiling.FK_REPORT_THRESHOLD``.
"""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.profiling import FK_REPORT_THRESHOLD, TablesProfile
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS, key_tuples

BASEBALL_FKS = set(key_tuples(BASEBALL_KEYS))
BERKA_PKS = BERKA_KEYS["primary_keys"]
BERKA_FKS = set(key_tuples(BERKA_KEYS))


def _read(datasets, name: str, tables: list[str]) -> dict[str, pl.DataFrame]:
    folder = datasets / "multitable" / name
    return {t: pl.read_csv(folder / f"{t}.csv.gz") for t in tables}


@pytest.fixture(scope="module")
def baseball(datasets) -> dict[str, pl.DataFrame]:
    return _read(datasets, "baseball", ["players", "batting", "fielding"])


@pytest.fixture(scope="module")
def berka(datasets) -> dict[str, pl.DataFrame]:
    return _read(datasets, "berka", list(BERKA_PKS))


@pytest.fixture(scope="module")
def baseball_profile(baseball) -> TablesProfile:
    return engine.profile_tables(baseball)


@pytest.fixture(scope="module")
def berka_profile(berka) -> TablesProfile:
    return engine.profile_tables(berka)


def _reported(tp: TablesProfile) -> set[tuple[str, str, str, str]]:
    return {
        (fk.child_table, fk.child_column, fk.parent_table, fk.parent_column)
        for fk in tp.foreign_keys
        if fk.confidence >= FK_REPORT_THRESHOLD
    }


def test_baseball_foreign_keys_are_exactly_the_declared_ones(baseball_profile):
    assert _reported(baseball_profile) == BASEBALL_FKS


def test_berka_foreign_keys_are_exactly_the_declared_ones(berka_profile):
    assert _reported(berka_profile) == BERKA_FKS


def test_every_reported_foreign_key_is_above_the_threshold(berka_profile, baseball_profile):
    for tp in (berka_profile, baseball_profile):
        assert all(fk.confidence >= FK_REPORT_THRESHOLD for fk in tp.foreign_keys)


def test_players_id_is_the_baseball_parent_key_and_children_have_none(baseball_profile):
    assert baseball_profile.primary_keys == {"players": ["id"], "batting": [], "fielding": []}


def test_each_berka_tables_declared_primary_key_is_its_first_candidate(berka_profile):
    assert {t: keys[0] for t, keys in berka_profile.primary_keys.items()} == BERKA_PKS


def test_a_foreign_key_reason_gives_inclusion_and_name_evidence(baseball_profile, baseball):
    fk = next(fk for fk in baseball_profile.foreign_keys if fk.child_table == "batting")
    assert fk.inclusion == 1.0
    distinct = baseball["batting"].get_column("players_id").n_unique()
    assert f"{distinct:,} distinct values" in fk.reason
    assert "players" in fk.reason


def test_matching_values_without_a_matching_name_stay_below_the_threshold(berka):
    # loan.account_id renamed: its values still all lie in account.account_id.
    tables = dict(berka, loan=berka["loan"].rename({"account_id": "ref_col"}))
    tp = engine.profile_tables({k: tables[k] for k in ("account", "loan")})
    assert not any(fk.child_table == "loan" for fk in tp.foreign_keys)


def test_a_matching_name_without_matching_values_is_not_a_foreign_key(berka):
    shifted = berka["order"].with_columns(pl.col("account_id") + 1_000_000)
    tp = engine.profile_tables({"account": berka["account"], "order": shifted})
    assert tp.foreign_keys == []


def test_a_few_orphan_rows_still_leave_the_key_found(baseball):
    # 3% of players removed: some batting rows now point at no parent.
    players = baseball["players"].sample(fraction=0.97, seed=2)
    tp = engine.profile_tables({"players": players, "batting": baseball["batting"]})
    fk = next(fk for fk in tp.foreign_keys if fk.child_table == "batting")
    assert 0.9 < fk.inclusion < 1.0
    assert fk.confidence >= FK_REPORT_THRESHOLD


def test_declared_keys_come_first_with_full_confidence(berka):
    tables = {k: berka[k] for k in ("district", "account", "loan")}
    declared = {"primary_keys": {"loan": "account_id"}, "foreign_keys": ["loan.account_id -> account.account_id"]}
    tp = engine.profile_tables(tables, declared_keys=declared)
    first = tp.foreign_keys[0]
    assert (first.child_table, first.child_column, first.parent_table, first.parent_column) == (
        "loan",
        "account_id",
        "account",
        "account_id",
    )
    assert first.declared and first.confidence == 1.0 and first.inclusion == 1.0
    assert sum(fk.child_table == "loan" for fk in tp.foreign_keys) == 1
    assert tp.primary_keys["loan"][0] == "account_id"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"primary_keys": {"loans": "loan_id"}}, "no table 'loans'"),
        ({"foreign_keys": [("loan", "acct", "account", "account_id")]}, "has no column 'acct'"),
        ({"foreign_keys": ["loan.account_id account.account_id"]}, "expected 'child.column -> parent.column'"),
        ({"keys": {}}, "unknown entries"),
    ],
)
def test_bad_declared_keys_are_rejected_with_the_problem_named(berka, declared, message):
    with pytest.raises(ConfigError, match=message):
        engine.profile_tables({k: berka[k] for k in ("account", "loan")}, declared_keys=declared)


def test_single_table_key_candidates_list_unique_identifiers_own_key_first(berka):
    prof = engine.profile(berka["loan"])
    assert prof.key_candidates == ["loan_id", "account_id"]


def test_tables_profile_to_dict_is_json_serialisable(berka_profile):
    data = json.loads(json.dumps(berka_profile.to_dict()))
    assert set(data["tables"]) == set(BERKA_PKS)
    assert len(data["foreign_keys"]) == len(berka_profile.foreign_keys)


def test_pandas_tables_are_accepted(berka):
    tables = {k: berka[k].to_pandas() for k in ("district", "client")}
    assert isinstance(tables["client"], pd.DataFrame)
    tp = engine.profile_tables(tables)
    assert _reported(tp) == {("client", "district_id", "district", "district_id")}
