"""Fixtures of the login tests: metadata databases, a shared cache, seeded tenants.

Databases: ``db``, ``sqlite_database`` and ``postgresql_database`` of ``tests.infra.db_fixtures``
(a migrated SQLite file; PostgreSQL owned by a non-superuser owner and reached through an app
role without BYPASSRLS, as in production), on this package's own PostgreSQL database
(``doppel_auth_test``, the ``postgres_setup`` below). ``db`` runs a test on both. Redis: DB 12,
one namespace per test. The real OIDC provider and the browser fixtures live in
``oidc_fixtures`` and ``tests/browser/conftest.py``; the provider and the login workbench are
registered here, at the end, so that the browser modules of this package share one of each (a
session-scoped fixture imported into two test modules was started once per module: two
workbenches and two migrations of their PostgreSQL database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from infra.cache import RedisCache
from infra.db import Database, tenant_session
from infra.records import catalog, tenancy
from infra.records.authz import Actor
from infra.records.members import grant_at_login
from tests.infra.db_fixtures import (  # noqa: F401  (fixtures used by name)
    PostgresSetup,
    db,
    migrated_postgres,
    postgresql_database,
    sqlite_database,
)

PG_DATABASE = "doppel_auth_test"
PG_OWNER_ROLE = "doppel_auth_owner"
PG_APP_ROLE = "doppel_auth_app"
REDIS_AUTH_URL = os.environ.get("DOPPEL_TEST_REDIS_AUTH_URL", "redis://127.0.0.1:6379/12")


@pytest.fixture(scope="session")
def postgres_setup() -> Iterator[PostgresSetup]:
    """This package's own PostgreSQL database; ``postgresql_database`` and ``db`` (from
    ``tests.infra.db_fixtures``) resolve ``postgres_setup`` here, so they use this one."""
    with migrated_postgres(database=PG_DATABASE, owner_role=PG_OWNER_ROLE, app_role=PG_APP_ROLE) as setup:
        yield setup


@pytest.fixture
def redis_cache() -> Iterator[RedisCache]:
    """A real Redis (DB 12) under a namespace of this test only."""
    cache = RedisCache(REDIS_AUTH_URL, namespace=f"doppel-authtest:{uuid.uuid4().hex[:8]}")
    try:
        yield cache
    finally:
        cache.clear()


@dataclass(frozen=True)
class SeededTenant:
    """A tenant with one user per role, one quality report, and the actors to act as them."""

    name: str
    report_id: str
    actors: dict[str, Actor]  # role -> actor


def seed_tenant(
    database: Database, *, prefix: str = "t", name: str | None = None, display_name: str | None = None
) -> SeededTenant:
    """A tenant (by default a fresh, unique name) with an owner, admin, member, viewer and one report."""
    name = name or f"{prefix}-{uuid.uuid4().hex[:10]}"
    actors: dict[str, Actor] = {}
    with tenant_session(name, database=database) as s:
        tenancy.ensure_tenant(s, display_name=display_name or name.upper(), actor="test")
        for role in ("owner", "admin", "member", "viewer"):
            user = tenancy.ensure_user(s, subject=f"test|{name}-{role}", email=f"{role}@{name}.test")
            grant_at_login(s, user_id=user.id, role=role, reason="test seed")
            actors[role] = Actor(user_id=user.id, label=f"{role}@{name}.test")
        dataset = catalog.create_dataset(s, name="customers", actor="test")
        version = catalog.add_dataset_version(s, dataset_id=dataset.id, content_hash="a" * 64, source={},
                                              profile={}, actor="test")
        model = catalog.create_model(s, name="m", dataset_id=dataset.id, actor="test")
        model_version = catalog.register_model_version(s, model_id=model.id, dataset_version_id=version.id,
                                                       model_type="ctgan", config={}, metrics={}, actor="test")
        generated = catalog.record_generated_dataset(s, model_version_id=model_version.id, n_rows=10, actor="test")
        report = catalog.record_quality_report(
            s, generated_dataset_id=generated.id, passed=True, scores={"fidelity": 0.93},
            gates=[{"gate": "fidelity", "passed": True}], actor="test",
        )
    return SeededTenant(name=name, report_id=report.id, actors=actors)


@pytest.fixture
def two_tenants(db: Database) -> tuple[SeededTenant, SeededTenant]:
    return seed_tenant(db, prefix="a"), seed_tenant(db, prefix="b")


@pytest.fixture
def make_tenant(db: Database) -> Callable[..., SeededTenant]:
    return lambda prefix="t": seed_tenant(db, prefix=prefix)


# Registered after the names oidc_fixtures imports from this module exist.
from tests.auth.oidc_fixtures import login_workbench, oidc_provider  # noqa: E402

__all__ = ["PostgresSetup", "SeededTenant", "db", "login_workbench", "make_tenant", "migrated_postgres", "oidc_provider",
           "postgresql_database", "seed_tenant", "sqlite_database"]
