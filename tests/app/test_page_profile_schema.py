"""The Profile page of a dataset of related tables: the schema graph, the relations to keep or edit, per-table tabs.

The schema is a real berka slice (all 77 districts, 300 accounts and their loans) stored through
the real use case; the page is run through the real entry script with AppTest.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest

import engine
from app.components.pickers import SELECTED
from infra.usecases import dataset_store, schema_store
from tests.app.page_support import button, no_traceback, open_page, texts

ACCOUNT_FK = "account.district_id -> district.district_id"
LOAN_FK = "loan.account_id -> account.account_id"


@pytest.fixture(scope="module")
def berka(datasets: Path) -> dict[str, pl.DataFrame]:
    folder = datasets / "multitable" / "berka"
    account = engine.read(folder / "account.csv.gz").head(300)
    loan = engine.read(folder / "loan.csv.gz").filter(pl.col("account_id").is_in(account["account_id"].implode()))
    return {"district": engine.read(folder / "district.csv.gz"), "account": account, "loan": loan}


def store(workspace, tables, keys=None) -> dataset_store.StoredVersion:
    return schema_store.store_tables(workspace.tenant, name=f"berka-{uuid.uuid4().hex[:6]}", tables=tables, keys=keys,
                                     source={"kind": "upload-tables"}, actor=workspace.actor)


def profile_page(stored):
    return open_page("profile", session={SELECTED["dataset_version"]: stored.version_id})


def keys_of(workspace, version_id: str) -> dict:
    return schema_store.read_schema(workspace.tenant, version_id=version_id, actor=workspace.actor)[1]


def test_the_schema_shows_as_a_graph_with_relations_and_a_tab_per_table(app_env, berka):
    stored = store(app_env, berka)
    at = profile_page(stored)
    no_traceback(at)
    [graph] = at.get("graphviz_chart")
    dot = graph.proto.spec
    assert '"account" -> "district"' in dot and '"loan" -> "account"' in dot and "style=dashed" in dot
    assert "300 rows" in dot and "key: account_id" in dot
    relations = next(df.value for df in at.dataframe if "child table" in df.value.columns)
    assert set(zip(relations["child table"], relations["parent table"])) == {("account", "district"),
                                                                             ("loan", "account")}
    assert [t.label for t in at.tabs] == ["account", "district", "loan"]
    assert {m.label for m in at.metric} >= {"Rows", "Columns"}


def test_removing_a_relation_and_saving_makes_a_new_version(app_env, berka):
    stored = store(app_env, berka)
    at = profile_page(stored)
    [account_box] = [c for c in at.checkbox if ACCOUNT_FK in c.label.replace("\\", "")]
    account_box.uncheck().run()
    button(at, "Save relations").click()
    at.run()
    no_traceback(at)
    assert any(f"Saved as {stored.dataset_name} v2" in s for s in texts(at.success))
    newest = at.session_state[SELECTED["dataset_version"]]
    assert newest != stored.version_id
    assert keys_of(app_env, newest)["foreign_keys"] == [LOAN_FK]
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "style=dotted" in dot  # the removed relation stays as a suggestion


def test_saving_the_inferred_relations_unchanged_confirms_them_as_declared(app_env, berka):
    stored = store(app_env, berka)
    at = profile_page(stored)
    assert any("confirms them as declared keys" in i for i in texts(at.info))
    button(at, "Save relations").click()
    at.run()
    no_traceback(at)
    newest = at.session_state[SELECTED["dataset_version"]]
    detail = dataset_store.get_version(app_env.tenant, version_id=newest, actor=app_env.actor, preview_rows=0)
    assert detail.summary.version == 2 and detail.summary.source["keys_from"] == "declared"
    assert sorted(keys_of(app_env, newest)["foreign_keys"]) == sorted([ACCOUNT_FK, LOAN_FK])
    assert not any("confirms them as declared keys" in i for i in texts(at.info))


def test_adding_a_relation_with_the_pickers_saves_it_as_declared(app_env, berka):
    stored = store(app_env, berka, keys={"foreign_keys": [LOAN_FK]})
    at = profile_page(stored)
    key = f"relations_{stored.version_id}"
    at.selectbox(key=f"{key}_child_table").set_value("account").run()
    at.selectbox(key=f"{key}_child_column").set_value("district_id").run()
    at.selectbox(key=f"{key}_parent_table").set_value("district").run()
    at.selectbox(key=f"{key}_parent_column").set_value("district_id").run()
    button(at, "Add relation").click()
    at.run()
    button(at, "Save relations").click()
    at.run()
    no_traceback(at)
    newest = at.session_state[SELECTED["dataset_version"]]
    assert sorted(keys_of(app_env, newest)["foreign_keys"]) == sorted([ACCOUNT_FK, LOAN_FK])
    detail = dataset_store.get_version(app_env.tenant, version_id=newest, actor=app_env.actor, preview_rows=0)
    added = next(r for r in detail.relations if r["child"] == "account")
    assert added["declared"] and added["used"] and detail.summary.source["kind"] == "edited-keys"


def test_a_bad_relation_is_refused_with_a_clear_message_and_no_version(app_env, berka):
    stored = store(app_env, berka)
    at = profile_page(stored)
    key = f"relations_{stored.version_id}"
    at.selectbox(key=f"{key}_child_table").set_value("loan").run()
    at.selectbox(key=f"{key}_child_column").set_value("status").run()
    at.selectbox(key=f"{key}_parent_table").set_value("district").run()
    at.selectbox(key=f"{key}_parent_column").set_value("district_id").run()
    button(at, "Add relation").click()
    at.run()
    button(at, "Save relations").click()
    at.run()
    no_traceback(at)
    assert any("loan.status is String but district.district_id is Int64" in e for e in texts(at.error))
    [dataset] = [d for d in dataset_store.list_datasets(app_env.tenant, actor=app_env.actor)
                 if d.name == stored.dataset_name]
    assert len(dataset.versions) == 1


def test_edited_keys_replace_a_child_columns_relation_and_follow_its_parent_key():
    from app.components.schema_graph import RelationRow, edited_keys

    rows = [RelationRow("loan", "account_id", "account", "account_id", 0.97, inferred=True),
            RelationRow("account", "district_id", "district", "district_id", 0.99, inferred=True)]
    keys = edited_keys(primary_keys={"account": "account_id", "loan": "loan_id"}, rows=rows,
                       kept=[rows[0].label, rows[1].label], added=["loan.account_id -> account.code"])
    assert keys == {"primary_keys": {"account": "code", "loan": "loan_id", "district": "district_id"},
                    "foreign_keys": ["loan.account_id -> account.code", ACCOUNT_FK]}
    assert edited_keys(primary_keys={}, rows=rows, kept=[])["foreign_keys"] == []


def test_the_dot_string_escapes_names_and_tells_declared_from_inferred():
    from app.components.schema_graph import RelationRow, schema_dot

    rows = [RelationRow("loan", 'acc"ount', "account", "account_id", 1.0, declared=True),
            RelationRow("card", "disp_id", "account", "account_id", 0.81, inferred=True),
            RelationRow("card", "x", "loan", "y", 0.6, inferred=True, used=False)]
    dot = schema_dot(tables={"loan": {"rows": 682}, "account": {"rows": 4500}, "card": {"rows": 892}},
                     primary_keys={"account": "account_id"}, relations=rows)
    assert dot.startswith("digraph schema {") and dot.endswith("}")
    assert '"account" [label="account\\n4,500 rows\\nkey: account_id"];' in dot
    assert '"loan" [label="loan\\n682 rows\\nno key"];' in dot
    assert '"loan" -> "account" [label="acc\\"ount → account_id\\ndeclared", style=solid' in dot
    assert '"card" -> "account" [label="disp_id → account_id\\ninferred 0.81", style=dashed' in dot
    assert 'style=dotted' in dot and "suggested 0.60" in dot
