"""A tenant with one member on a freshly migrated database, wired as the platform's settings: the use cases' workspace.

``member_workspace("sqlite" | "postgresql", folder, prefix=...)`` migrates the embedded SQLite
file or a new PostgreSQL database (row-level security, app role), points
``DOPPEL_DATA_DIR`` and ``DOPPEL_DATABASE_URL`` at them, and yields ``(tenant, actor)``: a new
tenant and a member of it. The use cases then run exactly as the pages call them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.db import Database, tenant_session
from infra.records import tenancy
from infra.records.authz import Actor
from infra.records.members import grant_at_login
from tests.infra.db_fixtures import migrated_postgres, migrated_sqlite


def clear_caches() -> None:
    """Forget the settings and the store built from the environment, so the next call reads it again."""
    from infra.settings import get_settings
    from infra.storage import get_store

    get_settings.cache_clear()
    get_store.cache_clear()


@contextmanager
def member_workspace(backend: str, folder: Path, *, prefix: str, environment: dict[str, str] | None = None
                     ) -> Iterator[tuple[str, Actor]]:
    """(tenant, member) on a migrated ``backend`` whose objects live under ``folder``; ``environment``: more settings."""
    if backend == "sqlite":
        migrated = migrated_sqlite(folder)
    else:
        migrated = migrated_postgres(database=f"doppel_{prefix}_{uuid.uuid4().hex[:8]}",
                                     owner_role="doppel_meta_owner", app_role="doppel_meta_app")
    with migrated as setup, pytest.MonkeyPatch.context() as patch:
        database: Database = setup if isinstance(setup, Database) else setup.database
        patch.setenv("DOPPEL_DATA_DIR", str(folder))
        patch.setenv("DOPPEL_DATABASE_URL", database.url)
        for name, value in (environment or {}).items():
            patch.setenv(name, value)
        clear_caches()
        tenant = f"{prefix}-{uuid.uuid4().hex[:10]}"
        with tenant_session(tenant, database=database) as s:
            tenancy.ensure_tenant(s, display_name=prefix.title(), actor="test")
            user = tenancy.ensure_user(s, subject=f"test|{tenant}", email=f"member@{tenant}.test")
            grant_at_login(s, user_id=user.id, role="member", reason="test seed")
            actor = Actor(user_id=user.id, label=f"member@{tenant}.test")
        try:
            yield tenant, actor
        finally:
            clear_caches()


__all__ = ["clear_caches", "member_workspace"]
