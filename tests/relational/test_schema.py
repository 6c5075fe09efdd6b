"""A schema's key graph from declared or inferred keys, and its checks against real frames."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.relational import Schema, check_tables
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS


def _with_fk(keys: dict[str, Any], *extra: str) -> dict[str, Any]:
    return {"primary_keys": keys["primary_keys"], "foreign_keys": [*keys["foreign_keys"], *extra]}


def _replace_first(frame: pl.DataFrame, column: str, values: list[Any]) -> pl.DataFrame:
    """``frame`` with the first ``len(values)`` cells of ``column`` replaced."""
    head = frame.head(len(values)).with_columns(pl.Series(column, values, dtype=frame.schema[column]))
    return pl.concat([head, frame.slice(len(values))])


# ------------------------------------------------------------------------------ building


def test_berka_declared_keys_give_every_table_its_key_and_seven_relations(berka):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    assert schema.tables == ("account", "card", "client", "disp", "district", "loan", "order")
    assert dict(schema.primary_keys) == BERKA_KEYS["primary_keys"]
    assert [str(fk) for fk in schema.foreign_keys] == BERKA_KEYS["foreign_keys"]
    assert not schema.inferred_foreign_keys and not schema.inferred_primary_keys


def test_baseball_declared_keys_leave_the_child_tables_without_a_primary_key(baseball):
    schema = Schema.from_keys(BASEBALL_KEYS, baseball)
    assert dict(schema.primary_keys) == {"batting": None, "fielding": None, "players": "id"}
    assert [str(fk) for fk in schema.parents_of("batting")] == ["batting.players_id -> players.id"]
    assert {fk.child for fk in schema.children_of("players")} == {"batting", "fielding"}


def test_a_referenced_column_becomes_its_parents_key_when_none_is_declared(baseball):
    schema = Schema.from_keys({"foreign_keys": BASEBALL_KEYS["foreign_keys"]}, baseball)
    assert schema.primary_keys["players"] == "id"


def test_berka_inferred_keys_are_the_declared_ones_marked_inferred(berka, berka_profile):
    schema = Schema.from_profile(berka_profile)
    assert sorted(str(fk) for fk in schema.foreign_keys) == sorted(BERKA_KEYS["foreign_keys"])
    assert dict(schema.primary_keys) == BERKA_KEYS["primary_keys"]
    assert all(fk.inferred and 0.5 <= fk.confidence < 1.0 for fk in schema.foreign_keys)
    assert schema.inferred_primary_keys == frozenset(berka)


def test_baseball_inferred_keys_are_the_declared_ones_marked_inferred(baseball_profile):
    schema = Schema.from_profile(baseball_profile)
    assert sorted(str(fk) for fk in schema.foreign_keys) == BASEBALL_KEYS["foreign_keys"]
    assert dict(schema.primary_keys) == {"batting": None, "fielding": None, "players": "id"}
    assert schema.inferred_primary_keys == {"players"}
    assert [fk.inferred for fk in schema.foreign_keys] == [True, True]


def test_keys_declared_to_the_profile_stay_declared(baseball):
    import engine

    profile = engine.profile_tables(
        {"players": baseball["players"].head(500), "batting": baseball["batting"].head(500)},
        declared_keys={"primary_keys": {"players": "id"}, "foreign_keys": ["batting.players_id -> players.id"]},
        sample_rows=500,
    )
    schema = Schema.from_profile(profile, declared={"primary_keys": {"players": "id"}})
    assert [(str(fk), fk.inferred) for fk in schema.foreign_keys] == [("batting.players_id -> players.id", False)]
    assert not schema.inferred_primary_keys


def test_a_foreign_key_to_a_column_other_than_the_parent_key_is_refused(berka):
    keys = _with_fk(BERKA_KEYS, "order.account_to -> district.A4")
    with pytest.raises(ConfigError, match=r"order.account_to -> district.A4 references district.A4, but the declared "
                       r"primary key of 'district' is 'district_id'"):
        Schema.from_keys(keys, berka)


def test_a_key_naming_a_missing_column_is_refused(berka):
    with pytest.raises(ConfigError, match="table 'loan' has no column 'acount_id'"):
        Schema.from_keys({"foreign_keys": ["loan.acount_id -> account.account_id"]}, berka)


def test_keys_round_trip_through_the_keys_shape(berka):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    assert Schema.from_keys(schema.to_keys(), berka) == schema


def test_a_frame_outside_the_schema_is_refused(berka, baseball):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(ConfigError, match=r"frames \['players'\] are not tables of the schema"):
        check_tables(schema, {**berka, "players": baseball["players"]})


# ------------------------------------------------------------------------------ graph checks


def test_a_cycle_is_refused_naming_it(berka):
    schema = Schema.from_keys(_with_fk(BERKA_KEYS, "district.A4 -> loan.loan_id"), berka)
    with pytest.raises(ConfigError, match=r"the foreign keys form a cycle: account -> district -> loan -> account"):
        check_tables(schema, berka)


def test_a_self_reference_is_refused_naming_it(berka):
    schema = Schema.from_keys(_with_fk(BERKA_KEYS, "client.birth_number -> client.client_id"), berka)
    with pytest.raises(ConfigError, match=r"table 'client' references itself \(client.birth_number -> client.client_id\)"):
        check_tables(schema, berka)


# ------------------------------------------------------------------------------ key columns


def test_a_primary_key_with_nulls_is_refused_with_their_count(berka):
    client = _replace_first(berka["client"], "client_id", [None, None])
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(InputError, match=r"primary key client.client_id has 2 null values of 5,369 rows"):
        check_tables(schema, {**berka, "client": client})


def test_a_foreign_key_with_nulls_is_refused_with_their_count(baseball):
    batting = _replace_first(baseball["batting"], "players_id", [None] * 5)
    schema = Schema.from_keys(BASEBALL_KEYS, baseball)
    with pytest.raises(InputError, match=r"batting.players_id has 5 null values of 107,429 rows"):
        check_tables(schema, {**baseball, "batting": batting})


def test_a_primary_key_with_duplicates_is_refused_with_their_count(berka):
    account = pl.concat([berka["account"], berka["account"].head(4)])
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(InputError, match=r"primary key account.account_id is not unique: 4 rows repeat a value"):
        check_tables(schema, {**berka, "account": account})


def test_a_foreign_key_of_another_type_than_its_parent_key_is_refused(berka):
    loan = berka["loan"].with_columns(pl.col("account_id").cast(pl.String))
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(InputError, match=r"loan.account_id is String but account.account_id is Int64"):
        check_tables(schema, {**berka, "loan": loan})


def test_integer_keys_of_different_widths_are_one_type(berka):
    loan = berka["loan"].with_columns(pl.col("account_id").cast(pl.Int32))
    checked = check_tables(Schema.from_keys(BERKA_KEYS, berka), {**berka, "loan": loan})
    assert checked.frames["loan"].height == 682


# ------------------------------------------------------------------------------ orphans


@pytest.fixture(scope="module")
def loan_with_orphans(berka) -> pl.DataFrame:
    """berka loan with 3 account_ids that no account has."""
    return _replace_first(berka["loan"], "account_id", [99_000_001, 99_000_002, 99_000_003])


def test_orphans_are_refused_by_default_with_their_count_and_the_option(berka, loan_with_orphans):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(InputError) as err:
        check_tables(schema, {**berka, "loan": loan_with_orphans})
    message = str(err.value)
    assert "3 rows of 'loan' have a loan.account_id value that no row of account.account_id holds" in message
    assert "99000001" in message and "orphans='drop'" in message and "orphans='keep'" in message


def test_orphans_drop_removes_those_rows_and_leaves_the_input_alone(berka, loan_with_orphans):
    tables = {**berka, "loan": loan_with_orphans}
    checked = check_tables(Schema.from_keys(BERKA_KEYS, berka), tables, orphans="drop")
    assert checked.frames["loan"].height == 679
    assert checked.dropped == {"loan": 3}
    assert checked.orphans == {"loan.account_id -> account.account_id": 3}
    assert tables["loan"].height == 682


def test_orphans_keep_keeps_the_rows_and_counts_them(berka, loan_with_orphans):
    checked = check_tables(Schema.from_keys(BERKA_KEYS, berka), {**berka, "loan": loan_with_orphans}, orphans="keep")
    assert checked.frames["loan"].height == 682
    assert checked.orphans == {"loan.account_id -> account.account_id": 3}
    assert checked.dropped == {}


def test_dropping_orphans_drops_their_own_children_too(berka):
    with_card = berka["card"].get_column("disp_id").head(2).to_list()
    disp = berka["disp"].with_columns(
        pl.when(pl.col("disp_id").is_in(with_card)).then(pl.lit(-1)).otherwise(pl.col("client_id")).alias("client_id")
    )
    checked = check_tables(Schema.from_keys(BERKA_KEYS, berka), {**berka, "disp": disp}, orphans="drop")
    assert checked.dropped == {"disp": 2, "card": 2}
    assert checked.frames["card"].height == 890


def test_an_unknown_orphans_option_is_refused_listing_the_options(berka):
    with pytest.raises(ConfigError, match=r"orphans='ignore' is not an option; use one of 'refuse', 'drop', 'keep'"):
        check_tables(Schema.from_keys(BERKA_KEYS, berka), berka, orphans="ignore")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ lone tables


def test_a_table_with_no_key_and_no_relation_is_a_lone_root_and_said_so(baseball, datasets):
    import engine

    census = engine.read(datasets / "adult.csv", n=200)
    tables = {**baseball, "census": census}
    checked = check_tables(Schema.from_keys(BASEBALL_KEYS, tables), tables)
    assert checked.notes == (
        "table 'census' has no key and no relation reaches it: it is a lone root, generated on its own as a flat table",
    )
