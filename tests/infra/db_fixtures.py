"""Metadata-database fixtures: one migrated SQLite file and one migrated PostgreSQL database.

``db`` is parametrized over both, so every service test runs on the embedded default and on
the production backend. The PostgreSQL database (``doppel_meta_test``) is dropped and created
for each test session, owned by a non-superuser owner role and reached by the tests through a
separate app role without BYPASSRLS, exactly as in production.
``tests/infra/conftest.py`` and ``tests/auth/conftest.py`` register them for their package; register
them in a conftest rather than importing them into test modules: a session-scoped fixture
imported into a module is set up again for each module that imports it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.db import Database, migrate, tenant_session
from infra.db.postgres import drop_database, provision
from infra.records.tenancy import ensure_tenant
from tests.conftest import POSTGRES_URL

PG_DATABASE = "doppel_meta_test"
PG_OWNER_ROLE = "doppel_meta_owner"
PG_APP_ROLE = "doppel_meta_app"


@dataclass(frozen=True)
class PostgresSetup:
    owner_url: str
    app_url: str
    database: Database  # connected as the app role


@contextmanager
def migrated_sqlite(folder: Path) -> Iterator[Database]:
    """A SQLite metadata file in ``folder``, migrated to head."""
    url = f"sqlite:///{folder / 'doppel.db'}"
    migrate(url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def migrated_postgres(*, database: str, owner_role: str, app_role: str) -> Iterator[PostgresSetup]:
    """A fresh PostgreSQL database owned by ``owner_role``, migrated, reached as ``app_role``; dropped after."""
    provisioned = provision(POSTGRES_URL, database=database, owner_role=owner_role, app_role=app_role, recreate=True)
    migrate(provisioned.owner_url, app_role=app_role)
    app_database = Database(provisioned.app_url)
    try:
        yield PostgresSetup(provisioned.owner_url, provisioned.app_url, app_database)
    finally:
        app_database.dispose()
        drop_database(POSTGRES_URL, database=database)


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated_sqlite(tmp_path_factory.mktemp("meta")) as database:
        yield database


@pytest.fixture(scope="session")
def postgres_setup() -> Iterator[PostgresSetup]:
    with migrated_postgres(database=PG_DATABASE, owner_role=PG_OWNER_ROLE, app_role=PG_APP_ROLE) as setup:
        yield setup


@pytest.fixture(scope="session")
def postgresql_database(postgres_setup: PostgresSetup) -> Database:
    return postgres_setup.database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def db(request: pytest.FixtureRequest) -> Database:
    """The migrated metadata database, once per backend."""
    return request.getfixturevalue(f"{request.param}_database")


def _fresh_tenant(database: Database, tier: str = "starter") -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    with tenant_session(name, database=database) as session:
        ensure_tenant(session, display_name=name.upper(), tier=tier, actor="test-admin")
    return name


@pytest.fixture
def make_tenant(db: Database) -> Callable[..., str]:
    """Create a fresh tenant (unique name, so tests never see each other's rows)."""
    return lambda tier="starter": _fresh_tenant(db, tier)


@pytest.fixture
def tenant(make_tenant: Callable[..., str]) -> str:
    return make_tenant()
