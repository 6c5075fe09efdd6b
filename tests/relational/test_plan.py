"""The generation plan of real schemas: order, roots, context parents and children per parent."""

from __future__ import annotations

import polars as pl
import pytest

from engine.errors import ConfigError
from engine.relational import Schema, build_plan, check_tables, children_per_parent
from tests.relational.conftest import BASEBALL_KEYS, BERKA_KEYS


@pytest.fixture(scope="module")
def berka_plan(berka):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    return build_plan(schema, check_tables(schema, berka).frames)


@pytest.fixture(scope="module")
def baseball_plan(baseball):
    schema = Schema.from_keys(BASEBALL_KEYS, baseball)
    return build_plan(schema, check_tables(schema, baseball).frames)


def test_berka_is_generated_parents_first_from_its_one_root(berka_plan):
    assert berka_plan.order == ("district", "account", "client", "disp", "card", "loan", "order")
    assert berka_plan.roots == ("district",)


def test_baseball_generates_players_then_both_children(baseball_plan):
    assert baseball_plan.order == ("players", "batting", "fielding")
    assert baseball_plan.roots == ("players",)
    assert {t: str(p.context) for t, p in baseball_plan.children.items()} == {
        "batting": "batting.players_id -> players.id",
        "fielding": "fielding.players_id -> players.id",
    }


def test_disp_is_generated_under_its_account_and_matched_to_a_client(berka_plan):
    disp = berka_plan.children["disp"]
    assert str(disp.context) == "disp.account_id -> account.account_id"
    assert [str(fk) for fk in disp.others] == ["disp.client_id -> client.client_id"]


def test_the_context_can_be_chosen_per_child(berka):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    plan = build_plan(schema, berka, context={"disp": "client"})
    assert str(plan.children["disp"].context) == "disp.client_id -> client.client_id"


def test_a_context_that_is_not_a_parent_is_refused_listing_the_parents(berka):
    schema = Schema.from_keys(BERKA_KEYS, berka)
    with pytest.raises(ConfigError, match=r"context=\{'disp': 'district'\}: not a parent of 'disp'; use one of"):
        build_plan(schema, berka, context={"disp": "district"})


def test_a_parent_reached_through_another_parent_is_not_the_context(berka):
    # loan gains its account's district: district has ~59 accounts per row, yet the account
    # already carries its district, so the loan is generated under its account.
    loan = berka["loan"].join(berka["account"].select("account_id", "district_id"), on="account_id", how="left")
    tables = {**berka, "loan": loan}
    keys = {**BERKA_KEYS, "foreign_keys": [*BERKA_KEYS["foreign_keys"], "loan.district_id -> district.district_id"]}
    schema = Schema.from_keys(keys, tables)
    plan = build_plan(schema, check_tables(schema, tables).frames)
    assert str(plan.children["loan"].context) == "loan.account_id -> account.account_id"


def test_loan_and_card_are_one_to_at_most_one_and_order_is_not(berka_plan):
    one = {str(fk) for fk in berka_plan.one_to_at_most_one}
    assert "loan.account_id -> account.account_id" in one
    assert "card.disp_id -> disp.disp_id" in one
    assert "order.account_id -> account.account_id" not in one
    loan = berka_plan.relations["loan.account_id -> account.account_id"]
    assert (loan.parent_rows, loan.child_rows, loan.parents_with_children, loan.max_children) == (4500, 682, 682, 1)


def test_children_per_parent_counts_every_player_including_those_without_seasons(baseball):
    counts = children_per_parent(baseball["players"], "id", baseball["batting"], "players_id")
    assert counts.len() == 19_878
    assert counts.sum() == 107_429
    assert (counts == 0).sum() == 189
    assert counts.max() == 31


def test_children_per_parent_follows_the_parent_row_order(berka):
    counts = children_per_parent(berka["account"], "account_id", berka["order"], "account_id")
    expected = (
        berka["account"]
        .join(berka["order"].group_by("account_id").len(), on="account_id", how="left", maintain_order="left")
        .get_column("len")
        .fill_null(0)
    )
    assert counts.to_list() == expected.to_list()


def test_inferred_keys_give_the_same_plan_as_declared_ones(baseball, baseball_profile):
    declared = build_plan(Schema.from_keys(BASEBALL_KEYS, baseball), baseball)
    inferred = build_plan(Schema.from_profile(baseball_profile), baseball)
    assert inferred.order == declared.order and inferred.roots == declared.roots
    assert {t: (p.context.column, p.context.parent) for t, p in inferred.children.items()} == {
        t: (p.context.column, p.context.parent) for t, p in declared.children.items()
    }


def test_berka_inferred_keys_give_the_same_order_and_contexts(berka, berka_profile):
    declared = build_plan(Schema.from_keys(BERKA_KEYS, berka), berka)
    inferred = build_plan(Schema.from_profile(berka_profile), berka)
    assert inferred.order == declared.order
    assert {t: str(p.context.parent) for t, p in inferred.children.items()} == {
        t: str(p.context.parent) for t, p in declared.children.items()
    }


def test_children_per_parent_matches_integer_keys_of_other_widths(berka):
    order = berka["order"].with_columns(pl.col("account_id").cast(pl.Int32))
    counts = children_per_parent(berka["account"], "account_id", order, "account_id")
    assert counts.sum() == 6_471
