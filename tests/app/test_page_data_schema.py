"""The Data page makes one dataset of several related tables: uploaded files, a zip, or database tables.

Real slices of berka (300 accounts and their loans) and real PostgreSQL tables with declared keys.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

import engine
from infra.usecases import dataset_store, schema_store
from tests.app.page_support import button, csv_bytes, no_traceback, open_page, plain, texts
from tests.conftest import POSTGRES_URL


@pytest.fixture(scope="module")
def berka_files(datasets: Path) -> dict[str, bytes]:
    """account.csv (300 accounts) and loan.csv (their loans), as a user would upload them."""
    folder = datasets / "multitable" / "berka"
    account = engine.read(folder / "account.csv.gz").head(300)
    loan = engine.read(folder / "loan.csv.gz").filter(pl.col("account_id").is_in(account["account_id"].implode()))
    return {"account.csv": csv_bytes(account), "loan.csv": csv_bytes(loan)}


def datasets_named(workspace, name: str) -> list[dataset_store.DatasetSummary]:
    return [d for d in dataset_store.list_datasets(workspace.tenant, actor=workspace.actor) if d.name == name]


def upload(at, files: dict[str, bytes]):
    at.file_uploader(key="data_upload").set_value([(name, data, "text/csv") for name, data in files.items()])
    return at.run()


def name_input(at):
    return at.text_input(key=next(k for k in at.session_state if str(k).startswith("save_schema_name_")))


def test_uploading_two_related_files_makes_one_schema_dataset(app_env, berka_files):
    at = upload(open_page("data"), berka_files)
    no_traceback(at)
    assert any("2 files" in plain(m.value) and "account" in m.value and "loan" in m.value for m in at.markdown)
    assert name_input(at).value == "account_loan"
    name = f"berka-{uuid.uuid4().hex[:6]}"
    name_input(at).input(name).run()
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    assert any(f"{name} v1" in s and "2 tables" in s for s in texts(at.success))
    [dataset] = datasets_named(app_env, name)
    assert dataset.latest.is_schema and dataset.latest.table_names == ["account", "loan"]
    assert dataset.latest.source["keys"]["foreign_keys"] == ["loan.account_id -> account.account_id"]
    assert any(f"{name} · 1 version(s) · latest 2 related tables, " in plain(e.label) for e in at.expander)
    tables, _ = schema_store.read_schema(app_env.tenant, version_id=dataset.latest.id, actor=app_env.actor)
    assert tables["loan"].height == pl.read_csv(io.BytesIO(berka_files["loan.csv"])).height


def test_a_zip_of_tables_makes_one_schema_dataset(app_env, berka_files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for filename, data in berka_files.items():
            archive.writestr(filename, data)
    name = f"zipped-{uuid.uuid4().hex[:6]}"
    at = open_page("data")
    at.file_uploader(key="data_upload").set_value([("berka.zip", buffer.getvalue(), "application/zip")]).run()
    name_input(at).input(name).run()
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    [dataset] = datasets_named(app_env, name)
    assert dataset.latest.table_names == ["account", "loan"] and dataset.latest.source["filenames"] == ["berka.zip"]


def test_orphan_rows_are_refused_with_their_count_unless_dropped(app_env, berka_files):
    account = pl.read_csv(io.BytesIO(berka_files["account.csv"]))
    loan = pl.read_csv(io.BytesIO(berka_files["loan.csv"]))
    gone = loan["account_id"].head(2)
    files = {"account.csv": csv_bytes(account.filter(~pl.col("account_id").is_in(gone.implode()))),
             "loan.csv": berka_files["loan.csv"]}
    name = f"orphans-{uuid.uuid4().hex[:6]}"
    at = upload(open_page("data"), files)
    name_input(at).input(name).run()
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    assert any("orphan rows: 2 rows of 'loan'" in e and "loan.account_id" in e for e in texts(at.error))
    assert not datasets_named(app_env, name)
    at.selectbox(key=next(k for k in at.session_state if str(k).startswith("save_schema_orphans_"))).set_value(
        "drop").run()
    button(at, "Save as dataset").click()
    at.run()
    no_traceback(at)
    [dataset] = datasets_named(app_env, name)
    assert dataset.latest.source["tables"]["loan"]["rows"] == loan.height - 2
    assert dataset.latest.source["orphans"]["dropped"] == {"loan": 2}


@pytest.fixture(scope="module")
def related_tables() -> Iterator[tuple[str, str, str]]:
    """Two uniquely named tables in the PostgreSQL test database: customers (PK id) <- orders (FK customer_id)."""
    token = uuid.uuid4().hex[:8]
    customers, orders = f"h1_{token}_customers", f"h1_{token}_orders"
    source = sa.create_engine(POSTGRES_URL)
    with source.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {customers} (id integer PRIMARY KEY, segment text, spend double precision)"))
        conn.execute(sa.text(f"CREATE TABLE {orders} (id integer PRIMARY KEY, customer_id integer REFERENCES "
                             f"{customers}(id), amount double precision)"))
        conn.execute(sa.text(f"INSERT INTO {customers} SELECT g, CASE WHEN g % 3 = 0 THEN 'gold' ELSE 'basic' END, "
                             "g * 1.5 FROM generate_series(1, 60) g"))
        conn.execute(sa.text(f"INSERT INTO {orders} SELECT g, 1 + g % 60, g * 0.25 FROM generate_series(1, 200) g"))
    try:
        yield POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), customers, orders
    finally:
        with source.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {orders}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {customers}"))
        source.dispose()


@pytest.mark.services
def test_picking_two_database_tables_imports_one_schema_dataset_with_declared_keys(app_env, related_tables):
    url, customers, orders = related_tables
    at = open_page("data")
    at.text_input(key="db_url").input(url).run()
    button(at, "List tables").click()
    at.run()
    at.multiselect(key="db_pick").set_value([f"public.{customers}", f"public.{orders}"]).run()
    name = f"shop-{uuid.uuid4().hex[:6]}"
    at.text_input(key="db_schema_name").input(name).run()
    button(at, "Import the tables").click()
    at.run()
    no_traceback(at)
    assert any(f"{name} v1" in s and "2 tables" in s and "260 rows" in s for s in texts(at.success))
    [dataset] = datasets_named(app_env, name)
    assert dataset.latest.source["kind"] == "database-tables"
    assert dataset.latest.source["keys"] == {"primary_keys": {customers: "id", orders: "id"},
                                             "foreign_keys": [f"{orders}.customer_id -> {customers}.id"]}
