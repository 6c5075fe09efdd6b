"""Migrations take an empty database to head and back, and create exactly the models' schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from infra.db import current_revision, downgrade, head_revision, migrate
from infra.db.models import Base
from infra.db.postgres import drop_database, provision, table_security
from tests.conftest import POSTGRES_URL

PG_DATABASE = "doppel_meta_migrate_test"
PG_APP_ROLE = "doppel_meta_app"


def _schema_diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def postgres_urls():
    provisioned = provision(POSTGRES_URL, database=PG_DATABASE, owner_role="doppel_meta_owner",
                            app_role=PG_APP_ROLE, recreate=True)
    yield provisioned
    drop_database(POSTGRES_URL, database=PG_DATABASE)


def test_sqlite_upgrades_from_empty_to_head_and_downgrades_to_empty(tmp_path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    migrate(url)
    assert current_revision(url) == head_revision()
    assert _tables(url) == set(Base.metadata.tables) | {"alembic_version"}
    downgrade(url)
    assert current_revision(url) is None and _tables(url) == {"alembic_version"}
    migrate(url)  # and up again
    assert current_revision(url) == head_revision()


def test_sqlite_schema_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    migrate(url)
    assert _schema_diff(url) == []


def test_sqlite_gets_the_refusing_triggers(tmp_path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as c:
        triggers = set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    engine.dispose()
    assert {"dataset_versions_immutable", "model_versions_immutable", "audit_log_append_only_update",
            "audit_log_append_only_delete", "privacy_ledger_append_only_delete"} <= triggers


@pytest.mark.services
def test_postgresql_upgrades_from_empty_to_head_and_downgrades_cleanly(postgres_urls):
    owner = postgres_urls.owner_url
    migrate(owner, app_role=PG_APP_ROLE)
    assert current_revision(owner) == head_revision()
    assert _schema_diff(owner) == []
    assert table_security(owner)["jobs"].rls_forced

    downgrade(owner, app_role=PG_APP_ROLE)
    assert current_revision(owner) is None and _tables(owner) == {"alembic_version"}
    engine = create_engine(owner)
    with engine.connect() as c:
        functions = c.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'doppel_%'")).scalar_one()
        policies = c.execute(text("SELECT count(*) FROM pg_policy")).scalar_one()
        grants = c.execute(text(
            "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE n.nspname = current_schema() AND r.rolname = :r"), {"r": PG_APP_ROLE}).scalar_one()
    engine.dispose()
    assert (functions, policies, grants) == (0, 0, 0)

    migrate(owner, app_role=PG_APP_ROLE)  # and up again
    assert current_revision(owner) == head_revision()


def test_the_embedded_sqlite_database_is_migrated_on_first_use(tmp_path):
    from infra.db import get_database, tenant_session
    from infra.records.tenancy import ensure_tenant, get_tenant

    url = f"sqlite:///{tmp_path / 'fresh' / 'doppel.db'}"
    database = get_database(url)
    assert current_revision(url) == head_revision() and get_database(url) is database
    with tenant_session("local", database=database) as s:
        ensure_tenant(s, display_name="Local")
    with tenant_session("local", database=database) as s:
        assert get_tenant(s).tier == "starter"
    database.dispose()
