"""Datasets of several related tables (schema versions): store, read back, refuse bad input, edit keys, import.

Runs through the real use cases on the embedded SQLite and on PostgreSQL (row-level security,
app role) with the local object store, on slices of the real berka and baseball tables that
keep their keys intact (parents first, then their children).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError
from infra.db import tenant_session
from infra.db.errors import QuotaExceededError
from infra.records.authz import Actor
from infra.records.quotas import set_quota_overrides
from infra.storage import open_tenant_store
from infra.usecases import database_sources, dataset_store, schema_store
from tests.engine.data_fixtures import LoadedDatabase, baseball_slice, mariadb_baseball, postgres_baseball
from tests.infra.workspace_support import member_workspace

_FIXTURES = (baseball_slice, mariadb_baseball, postgres_baseball)  # used by name: the source databases

LOAN_KEYS = {"primary_keys": {"account": "account_id", "loan": "loan_id"},
             "foreign_keys": ["loan.account_id -> account.account_id"]}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, Actor]]:
    # the source databases of the imports live on 127.0.0.1
    with member_workspace(request.param, tmp_path_factory.mktemp("schema-store"), prefix="schema",
                          environment={"DOPPEL_ALLOW_PRIVATE_DB_HOSTS": "true"}) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def berka(datasets: Path) -> dict[str, pl.DataFrame]:
    """300 berka accounts and every loan of those accounts."""
    folder = datasets / "multitable" / "berka"
    account = engine.read(folder / "account.csv.gz").head(300)
    loan = engine.read(folder / "loan.csv.gz").filter(pl.col("account_id").is_in(account["account_id"].implode()))
    assert loan.height > 20
    return {"account": account, "loan": loan}


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def _objects(tenant: str) -> list[str]:
    return open_tenant_store(tenant).list("datasets/")


def _dataset(tenant: str, actor: Actor, name: str) -> dataset_store.DatasetSummary | None:
    return next((d for d in dataset_store.list_datasets(tenant, actor=actor) if d.name == name), None)


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def test_a_schema_round_trips_exactly_with_its_keys_and_summary(workspace, berka):
    tenant, actor = workspace
    name = _name("berka")
    stored = schema_store.store_tables(tenant, name=name, tables=berka, keys=LOAN_KEYS,
                                       source={"kind": "upload-tables", "filenames": ["a.csv", "b.csv"]}, actor=actor)
    assert stored.created and stored.version == 1 and stored.n_tables == 2
    assert stored.n_rows == berka["account"].height + berka["loan"].height
    assert stored.n_columns == berka["account"].width + berka["loan"].width
    tables, keys = schema_store.read_schema(tenant, version_id=stored.version_id, actor=actor)
    assert sorted(tables) == ["account", "loan"]
    assert all(tables[t].equals(berka[t]) and tables[t].schema == berka[t].schema for t in berka)
    assert keys == LOAN_KEYS

    [version] = _dataset(tenant, actor, name).versions
    assert version.is_schema and version.table_names == ["account", "loan"]
    assert version.label == f"{name} v1 (2 tables, {stored.n_rows:,} rows)"
    assert version.origin == "upload of a.csv, b.csv"
    assert version.source["tables"]["loan"] == {"rows": berka["loan"].height, "columns": berka["loan"].width}
    assert version.source["keys_from"] == "declared"

    detail = dataset_store.get_version(tenant, version_id=stored.version_id, actor=actor)
    assert detail.profile is None and detail.profile_dict["kind"] == "tables"
    assert detail.table_profiles["loan"].n_rows == berka["loan"].height
    assert detail.previews["account"].equals(berka["account"].head(dataset_store.PREVIEW_ROWS))
    [relation] = detail.relations
    assert relation["child"] == "loan" and relation["parent"] == "account" and relation["used"]
    assert relation["declared"] and relation["inferred"] and 0.5 <= relation["confidence"] <= 1.0

    key = f"datasets/{stored.dataset_id}/{stored.content_hash[:32]}.zip"
    data = open_tenant_store(tenant).get_bytes(key)
    assert dataset_store.tables_from_object(data)["loan"].equals(berka["loan"])
    assert engine.read_tables(data)["account"].equals(berka["account"])
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["account.parquet", "loan.parquet"]


def test_the_same_tables_in_another_order_are_the_same_bytes_and_the_same_version(workspace, berka):
    tenant, actor = workspace
    name = _name("same")
    first = schema_store.store_tables(tenant, name=name, tables=berka, keys=LOAN_KEYS,
                                      source={"kind": "upload-tables"}, actor=actor)
    again = schema_store.store_tables(tenant, name=name, tables={"loan": berka["loan"], "account": berka["account"]},
                                      keys=LOAN_KEYS, source={"kind": "upload-tables"}, actor=actor)
    assert not again.created and (again.version_id, again.content_hash) == (first.version_id, first.content_hash)
    assert dataset_store.tables_zip_bytes(berka) == dataset_store.tables_zip_bytes(dict(reversed(berka.items())))
    assert len(_dataset(tenant, actor, name).versions) == 1


def test_without_keys_the_inferred_ones_are_recorded_as_inferred(workspace, datasets):
    tenant, actor = workspace
    folder = datasets / "multitable" / "baseball"
    players = engine.read(folder / "players.csv.gz").head(200)
    batting = engine.read(folder / "batting.csv.gz").filter(pl.col("players_id").is_in(players["id"].implode()))
    stored = schema_store.store_upload_tables(
        tenant, files=[("players.csv", _csv(players)), ("batting.csv", _csv(batting))], name=_name("baseball"),
        actor=actor)
    [version] = _dataset(tenant, actor, stored.dataset_name).versions
    assert version.source["kind"] == "upload-tables" and version.source["filenames"] == ["players.csv", "batting.csv"]
    assert version.source["keys"] == {"primary_keys": {"players": "id"},
                                      "foreign_keys": ["batting.players_id -> players.id"]}
    assert version.source["keys_from"] == "inferred"
    assert version.source["keys_inferred"]["foreign_keys"] == ["batting.players_id -> players.id"]
    detail = dataset_store.get_version(tenant, version_id=stored.version_id, actor=actor, preview_rows=0)
    [relation] = detail.relations
    assert relation["inferred"] and not relation["declared"] and relation["confidence"] >= 0.5


def test_a_zip_of_files_makes_one_schema_dataset(workspace, berka):
    tenant, actor = workspace
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("berka/account.csv", _csv(berka["account"]))
        archive.writestr("berka/loan.csv", _csv(berka["loan"]))
    stored = schema_store.store_upload_tables(tenant, files=[("berka.zip", buffer.getvalue())], name=_name("zip"),
                                              actor=actor)
    tables, keys = schema_store.read_schema(tenant, version_id=stored.version_id, actor=actor)
    assert sorted(tables) == ["account", "loan"] and keys == LOAN_KEYS


BAD_INPUT = {
    "cycle": (lambda b: b, {"primary_keys": {"account": "account_id", "loan": "loan_id"},
                            "foreign_keys": ["loan.account_id -> account.account_id",
                                             "account.account_id -> loan.loan_id"]},
              ConfigError, r"cycle: .*account -> loan -> account|cycle: .*loan -> account -> loan"),
    "key with nulls": (lambda b: {**b, "account": b["account"].with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("account_id")).alias("account_id"))},
        LOAN_KEYS, InputError, r"primary key account\.account_id has 3 null values"),
    "orphans": (lambda b: {**b, "account": b["account"].filter(
        ~pl.col("account_id").is_in(b["loan"]["account_id"].head(4).implode()))},
        LOAN_KEYS, InputError, r"orphan rows: 4 rows of 'loan' have a loan\.account_id value that no row"),
    "different types": (lambda b: {**b, "loan": b["loan"].with_columns(pl.col("account_id").cast(pl.String))},
                        LOAN_KEYS, InputError, r"loan\.account_id is String but account\.account_id is Int64"),
    "referenced table without a key": (lambda b: b, {"foreign_keys": ["account.district_id -> loan.status"]},
                                       InputError, r"primary key loan\.status is not unique"),
    "unknown column": (lambda b: b, {"foreign_keys": ["loan.nope -> account.account_id"]},
                       ConfigError, r"table 'loan' has no column 'nope'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_clearly_and_leaves_nothing_behind(workspace, berka, case):
    tenant, actor = workspace
    change, keys, error, message = BAD_INPUT[case]
    name = _name("bad")
    before = _objects(tenant)
    with pytest.raises(error, match=message):
        schema_store.store_tables(tenant, name=name, tables=change(berka), keys=keys, source={"kind": "upload-tables"},
                                  actor=actor)
    assert _dataset(tenant, actor, name) is None
    assert _objects(tenant) == before


def test_when_the_database_step_fails_the_object_is_removed(workspace, berka):
    tenant, actor = workspace
    name = _name("quota")
    before = _objects(tenant)
    with tenant_session(tenant) as session:
        set_quota_overrides(session, actor="test", max_stored_bytes=1)
    try:
        with pytest.raises(QuotaExceededError, match="storage quota"):
            schema_store.store_tables(tenant, name=name, tables=berka, keys=LOAN_KEYS,
                                      source={"kind": "upload-tables"}, actor=actor)
    finally:
        with tenant_session(tenant) as session:
            set_quota_overrides(session, actor="test")
    assert _objects(tenant) == before
    dataset = _dataset(tenant, actor, name)
    assert dataset is None or not dataset.versions


def test_saving_edited_keys_makes_a_new_version_and_unchanged_keys_do_not(workspace, berka):
    tenant, actor = workspace
    first = schema_store.store_tables(tenant, name=_name("edit"), tables=berka, keys=None,
                                      source={"kind": "upload-tables"}, actor=actor)
    _, inferred = schema_store.read_schema(tenant, version_id=first.version_id, actor=actor)
    assert inferred["foreign_keys"] == ["loan.account_id -> account.account_id"]
    confirmed = schema_store.save_keys(tenant, version_id=first.version_id, keys=inferred, actor=actor)
    assert confirmed.created and confirmed.version == 2  # the same keys, now declared by the user
    assert _dataset(tenant, actor, first.dataset_name).latest.source["keys_from"] == "declared"
    again = schema_store.save_keys(tenant, version_id=first.version_id, keys=inferred, actor=actor)
    assert not again.created and again.version_id == confirmed.version_id
    without = {"primary_keys": {"account": "account_id", "loan": "loan_id"}, "foreign_keys": []}
    edited = schema_store.save_keys(tenant, version_id=first.version_id, keys=without, actor=actor)
    assert edited.created and edited.version == 3 and edited.content_hash == first.content_hash
    tables, keys = schema_store.read_schema(tenant, version_id=edited.version_id, actor=actor)
    assert keys == without and tables["loan"].equals(berka["loan"])
    latest = _dataset(tenant, actor, first.dataset_name).latest
    assert latest.source["kind"] == "edited-keys" and latest.source["from_version"] == 1
    assert latest.origin == "v1 with edited relations" and latest.source["keys_inferred"]["foreign_keys"] == []
    [suggested] = dataset_store.get_version(tenant, version_id=edited.version_id, actor=actor,
                                            preview_rows=0).relations
    assert suggested["inferred"] and not suggested["used"]  # the profile still suggests it; the keys leave it out
    with pytest.raises(ConfigError, match="cycle"):
        schema_store.save_keys(tenant, version_id=edited.version_id, actor=actor, keys={
            "foreign_keys": ["loan.account_id -> account.account_id", "account.account_id -> loan.loan_id"]})
    assert len(_dataset(tenant, actor, first.dataset_name).versions) == 3


def test_a_single_table_version_has_no_relations_to_edit(workspace, berka):
    tenant, actor = workspace
    single = dataset_store.store_upload(tenant, data=_csv(berka["account"]), filename="account.csv",
                                        dataset_name=_name("single"), actor=actor)
    [version] = _dataset(tenant, actor, single.dataset_name).versions
    assert not version.is_schema and version.table_names == [] and "tables" not in version.label
    with pytest.raises(InputError, match="holds one table"):
        schema_store.save_keys(tenant, version_id=single.version_id, keys=LOAN_KEYS, actor=actor)


@pytest.mark.services
@pytest.mark.parametrize("family", ["postgresql", "mariadb"])
def test_importing_two_related_database_tables_keeps_their_declared_keys(workspace, family, request):
    tenant, actor = workspace
    loaded: LoadedDatabase = request.getfixturevalue("postgres_baseball" if family == "postgresql"
                                                     else "mariadb_baseball")
    sources = {t.name: t for t in database_sources.list_tables(loaded.url)
               if t.name in (loaded.players, loaded.batting) and (loaded.schema is None or t.schema == loaded.schema)}
    stored = database_sources.import_tables(
        loaded.url, tables=[sources[loaded.players].qualified, sources[loaded.batting].qualified],
        name=_name("db"), tenant=tenant, actor=actor)
    assert stored.created and stored.n_rows == loaded.players_frame.height + loaded.batting_frame.height
    tables, keys = schema_store.read_schema(tenant, version_id=stored.version_id, actor=actor)
    assert sorted(tables) == sorted([loaded.players, loaded.batting])
    assert keys == {"primary_keys": {loaded.players: "id"},
                    "foreign_keys": [f"{loaded.batting}.players_id -> {loaded.players}.id"]}
    [version] = _dataset(tenant, actor, stored.dataset_name).versions
    assert version.source["kind"] == "database-tables" and version.source["keys_from"] == "declared"
    assert "127.0.0.1" in version.source["database"] and "@" not in version.source["database"]
    assert tables[loaded.players].sort("id").equals(loaded.players_frame.sort("id"))


def test_an_ambiguous_inferred_relation_is_left_as_a_suggestion(workspace, berka):
    tenant, actor = workspace
    account = berka["account"].select("account_id", "frequency")
    twin = berka["account"].select("account_id", "district_id")  # a second table keyed by the same ids
    stored = schema_store.store_tables(tenant, name=_name("twins"), source={"kind": "upload-tables"}, actor=actor,
                                       tables={"account": account, "accounts": twin, "loan": berka["loan"]})
    _, keys = schema_store.read_schema(tenant, version_id=stored.version_id, actor=actor)
    assert keys["foreign_keys"] == []  # loan.account_id fits account and accounts equally: neither is guessed
    relations = dataset_store.get_version(tenant, version_id=stored.version_id, actor=actor, preview_rows=0).relations
    assert {(r["parent"], r["used"]) for r in relations if r["child"] == "loan"} == {("account", False),
                                                                                      ("accounts", False)}


def test_the_upload_limits_of_the_settings_apply(workspace, berka):
    from engine.errors import LimitExceededError
    from infra.settings import get_settings

    tenant, actor = workspace
    files = [("account.csv", _csv(berka["account"])), ("loan.csv", _csv(berka["loan"]))]
    few_rows = get_settings().model_copy(update={"max_rows": 100})
    with pytest.raises(LimitExceededError, match=r"account\.csv has more than 100 rows"):
        schema_store.store_upload_tables(tenant, files=files, name=_name("rows"), actor=actor, settings=few_rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for filename, data in files:
            archive.writestr(filename, data)
    with pytest.raises(LimitExceededError, match=r"table 'account' has 300 rows, over the limit of 100 rows"):
        schema_store.store_upload_tables(tenant, files=buffer.getvalue(), name=_name("rows"), actor=actor,
                                         settings=few_rows)
    few_bytes = get_settings().model_copy(update={"max_upload_bytes": 1000})
    with pytest.raises(LimitExceededError, match="over the limit of 1,000 bytes"):
        schema_store.store_upload_tables(tenant, files=files, name=_name("bytes"), actor=actor, settings=few_bytes)
    with pytest.raises(InputError, match="upload it alone"):
        schema_store.store_upload_tables(tenant, files=[*files, ("more.zip", b"PK")], name=_name("zip"), actor=actor)


@pytest.mark.services
def test_a_database_without_foreign_key_constraints_keeps_its_primary_keys_and_infers_the_relations(workspace):
    import sqlalchemy as sa

    from tests.conftest import POSTGRES_URL

    tenant, actor = workspace
    schema = f"doppel_h1_{uuid.uuid4().hex[:8]}"
    source = sa.create_engine(POSTGRES_URL)
    with source.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f'CREATE TABLE "{schema}".customers (id integer PRIMARY KEY, segment text)'))
        conn.execute(sa.text(f'CREATE TABLE "{schema}".orders (order_no integer PRIMARY KEY, customer_id integer, '
                             "amount double precision)"))
        conn.execute(sa.text(f'INSERT INTO "{schema}".customers SELECT g, CASE WHEN g % 3 = 0 THEN \'gold\' '
                             "ELSE 'basic' END FROM generate_series(1, 80) g"))
        conn.execute(sa.text(f'INSERT INTO "{schema}".orders SELECT g, 1 + g % 80, g * 0.5 '
                             "FROM generate_series(1, 300) g"))
    try:
        stored = database_sources.import_tables(POSTGRES_URL, tables=[f"{schema}.customers", f"{schema}.orders"],
                                                name=_name("no-fk"), tenant=tenant, actor=actor)
    finally:
        with source.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        source.dispose()
    [version] = _dataset(tenant, actor, stored.dataset_name).versions
    assert version.source["keys"] == {"primary_keys": {"customers": "id", "orders": "order_no"},
                                      "foreign_keys": ["orders.customer_id -> customers.id"]}
    assert version.source["keys_from"] == schema_store.KEYS_DECLARED_PRIMARY
    assert version.source["keys_inferred"] == {"primary_keys": [],
                                               "foreign_keys": ["orders.customer_id -> customers.id"]}
    assert version.origin == f"tables {schema}.customers, {schema}.orders of postgresql://127.0.0.1/test"
