"""The Data page keeps tables as dataset versions: upload and save, a database table, an s3:// path, delete.

(Upload and profile alone are specified in test_data_page.py.)
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from infra.usecases import dataset_store
from tests.app.page_support import adult_sample, button, csv_bytes, no_traceback, open_page, plain, store_sample, texts
from tests.conftest import POSTGRES_URL
from tests.engine.data_fixtures import adult_bytes, s3_server  # noqa: F401 - fixtures

SOURCE_DATABASE = "doppel_pages_source"


def upload(at, name: str, data: bytes):
    at.file_uploader[0].set_value((name, data, "text/csv"))
    return at.run()


def datasets_named(workspace, name: str) -> list[dataset_store.DatasetSummary]:
    return [d for d in dataset_store.list_datasets(workspace.tenant, actor=workspace.actor) if d.name == name]


def test_saving_an_upload_makes_a_dataset_version_with_its_hash(app_env, datasets):
    name = f"people-{uuid.uuid4().hex[:6]}"
    at = upload(open_page("data"), f"{name}.csv", csv_bytes(adult_sample(datasets, rows=120)))
    assert at.text_input(key=next(k for k in at.session_state if str(k).startswith("save_name_"))).value == name
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    assert any(f"{name} v1" in s and "SHA-256" in s for s in texts(at.success))
    [dataset] = datasets_named(app_env, name)
    assert dataset.latest.n_rows == 120 and len(dataset.latest.content_hash) == 64
    assert dataset.latest.source["kind"] == "upload"


def test_saving_the_same_content_again_adds_no_version(app_env, datasets):
    name = f"same-{uuid.uuid4().hex[:6]}"
    data = csv_bytes(adult_sample(datasets, rows=80))
    at = upload(open_page("data"), f"{name}.csv", data)
    button(at, "Save as dataset").click()
    at.run()
    button(at, "Save as dataset").click()
    at.run()
    assert any(f"Identical to {name} v1" in s.replace("**", "") and "no new version" in s for s in texts(at.info))
    assert len(datasets_named(app_env, name)[0].versions) == 1


def test_uploading_an_earlier_versions_file_again_names_that_version(app_env, datasets):
    name = f"again-{uuid.uuid4().hex[:6]}"
    first = csv_bytes(adult_sample(datasets, rows=70))
    at = upload(open_page("data"), f"{name}.csv", first)
    button(at, "Save as dataset").click()
    at.run()
    at = upload(at, f"{name}.csv", csv_bytes(adult_sample(datasets, rows=95)))
    button(at, "Save as dataset").click()
    at.run()
    assert any(f"{name} v2" in s for s in texts(at.success))
    at = upload(at, f"{name}.csv", first)  # v1's file, byte for byte, after v2
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    assert any(f"Identical to {name} v1" in s.replace("**", "") and "no new version" in s for s in texts(at.info))
    assert [v.version for v in datasets_named(app_env, name)[0].versions] == [2, 1]


def test_saving_changed_content_makes_the_next_version(app_env, datasets):
    name = f"grow-{uuid.uuid4().hex[:6]}"
    at = upload(open_page("data"), f"{name}.csv", csv_bytes(adult_sample(datasets, rows=60)))
    button(at, "Save as dataset").click()
    at.run()
    at = upload(at, f"{name}.csv", csv_bytes(adult_sample(datasets, rows=90)))
    button(at, "Save as dataset").click()
    at.run()
    assert any(f"{name} v2" in s for s in texts(at.success))
    versions = datasets_named(app_env, name)[0].versions
    assert [v.version for v in versions] == [2, 1] and versions[0].content_hash != versions[1].content_hash


def test_the_workspace_list_shows_every_dataset_with_its_versions(app_env):
    at = open_page("data")
    no_traceback(at)
    assert any("adult-sample" in plain(e.label) for e in at.expander)
    table = next(df.value for df in at.dataframe if "SHA-256" in df.value.columns)
    assert table["SHA-256"].str.len().eq(64).all()


def test_deleting_needs_the_dataset_name_typed(app_env, datasets):
    name = store_sample(app_env, datasets, prefix="gone", rows=50).dataset_name
    [dataset] = datasets_named(app_env, name)
    at = open_page("data")
    at.toggle(key=f"delete_open_{dataset.id}").set_value(True).run()
    at.text_input(key=f"delete_confirm_{dataset.id}").input("not the name").run()
    button(at, "Delete permanently").click()
    at.run()
    assert any("to confirm" in e for e in texts(at.error))
    assert datasets_named(app_env, name)
    at.text_input(key=f"delete_confirm_{dataset.id}").input(name).run()
    button(at, "Delete permanently").click()
    at.run()
    no_traceback(at)
    assert not datasets_named(app_env, name)


def test_a_dataset_with_a_trained_model_cannot_be_deleted(app_env):
    [dataset] = datasets_named(app_env, "adult-sample")
    at = open_page("data")
    at.toggle(key=f"delete_open_{dataset.id}").set_value(True).run()
    assert any("cannot be deleted" in w for w in texts(at.warning))
    assert button(at, "Delete permanently").disabled


def test_an_s3_path_that_is_not_one_says_how_to_write_it(app_env):
    at = open_page("data")
    at.text_input(key="s3_path").input("bucket/table.csv").run()
    button(at, "Import from S3").click()
    at.run()
    no_traceback(at)
    assert any("s3://bucket/folder/file.csv" in e for e in texts(at.error))


def test_an_unreachable_database_is_explained(app_env):
    at = open_page("data")
    at.text_input(key="db_url").input("postgresql://nobody:secret@127.0.0.1:1/none").run()
    button(at, "List tables").click()
    at.run()
    no_traceback(at)
    assert at.error and not any("secret" in e for e in texts(at.error))


def test_a_private_database_host_is_refused_unless_allowed(app_env, monkeypatch):
    from tests.app.page_support import clear_caches

    monkeypatch.setenv("DOPPEL_ALLOW_PRIVATE_DB_HOSTS", "false")
    clear_caches()
    at = open_page("data")
    at.text_input(key="db_url").input("postgresql://postgres@127.0.0.1:5432/test").run()
    button(at, "List tables").click()
    at.run()
    assert any("private" in e.lower() or "loopback" in e.lower() for e in texts(at.error))


@pytest.fixture(scope="module")
def source_database() -> str:
    """A PostgreSQL database with two related tables (customers <- orders)."""
    admin = sa.create_engine(POSTGRES_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {SOURCE_DATABASE}"))
        conn.execute(sa.text(f"CREATE DATABASE {SOURCE_DATABASE}"))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{SOURCE_DATABASE}"
    source = sa.create_engine(url)
    with source.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id integer PRIMARY KEY, segment text, spend double precision)"))
        conn.execute(sa.text("CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers(id), "
                             "amount double precision)"))
        conn.execute(sa.text("INSERT INTO customers SELECT g, CASE WHEN g % 3 = 0 THEN 'gold' ELSE 'basic' END, g * 1.5 "
                             "FROM generate_series(1, 60) g"))
        conn.execute(sa.text("INSERT INTO orders SELECT g, 1 + g % 60, g * 0.25 FROM generate_series(1, 200) g"))
    source.dispose()
    yield url.replace("postgresql+psycopg://", "postgresql://")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {SOURCE_DATABASE} WITH (FORCE)"))
    admin.dispose()


@pytest.mark.services
def test_connecting_a_database_lists_its_tables_and_keys_and_imports_one(app_env, source_database):
    at = open_page("data")
    at.text_input(key="db_url").input(source_database).run()
    button(at, "List tables").click()
    at.run()
    no_traceback(at)
    tables = next(df.value for df in at.dataframe if "primary key" in df.value.columns)
    rows = {r["table"]: r for r in tables.to_dict("records")}
    assert rows["public.customers"]["primary key"] == "id"
    assert rows["public.orders"]["foreign key columns"] == "customer_id"
    at.multiselect(key="db_pick").set_value(["public.orders"]).run()
    button(at, "Import the tables").click()
    at.run()
    no_traceback(at)
    [orders] = datasets_named(app_env, "orders")
    assert orders.latest.n_rows == 200
    assert orders.latest.source["primary_key"] == ["id"] and orders.latest.source["foreign_keys"] == ["customer_id"]


def test_an_s3_path_is_read_with_the_workspaces_own_credentials(app_env, s3_server, monkeypatch):
    from infra.usecases import s3_sources
    from tests.app.page_support import clear_caches

    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DOPPEL_S3_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)  # the server has no S3 identity of its own to lend
    monkeypatch.setenv("DOPPEL_ALLOW_PRIVATE_S3_ENDPOINTS", "true")  # the S3 server is on loopback
    clear_caches()
    s3_sources.save_credentials(app_env.tenant, access_key_id="AKIAWORKSPACE0001", secret_access_key="ws-secret",
                                endpoint_url=s3_server.endpoint, allowed_buckets=[s3_server.bucket],
                                actor=app_env.actor)
    try:
        name = f"s3-adult-{uuid.uuid4().hex[:6]}"
        at = open_page("data")
        assert any("…0001" in c for c in texts(at.caption))
        at.text_input(key="s3_path").input(f"s3://{s3_server.bucket}/raw/adult.csv.gz").run()
        at.text_input(key="s3_name").input(name).run()
        button(at, "Import from S3").click()
        at.run()
        no_traceback(at)
        assert any(f"{name} v1" in s and "32,561 rows" in s for s in texts(at.success))
        [dataset] = datasets_named(app_env, name)
        assert dataset.latest.source == {"kind": "s3", "path": f"s3://{s3_server.bucket}/raw/adult.csv.gz"}
    finally:
        s3_sources.remove_credentials(app_env.tenant, actor=app_env.actor)


def test_without_s3_credentials_the_page_says_where_to_add_them(app_env):
    at = open_page("data")
    assert any("no S3 credentials" in i and "Settings" in i for i in texts(at.info))
    at.text_input(key="s3_path").input("s3://some-bucket/table.csv").run()
    button(at, "Import from S3").click()
    at.run()
    no_traceback(at)
    assert any("ask an admin to add S3 credentials in Settings" in e for e in texts(at.error))
