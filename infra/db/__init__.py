"""The metadata database: tables, tenant-scoped sessions, migrations.

Typical use (a worker, or a service behind a page)::

    from infra.db import tenant_session
    from infra.records import catalog

    with tenant_session("acme") as session:      # one transaction, tenant set for RLS
        dataset = catalog.create_dataset(session, name="customers", actor=user)

Backends: SQLite (embedded default; the session's guards and the services' tenant filters
keep tenants apart) and PostgreSQL (row-level security FORCEd on every tenant-owned table,
the app connected as a role that owns nothing and cannot bypass RLS). ``migrate(url)`` brings
either to the newest schema.
"""

from infra.db.connections import create_db_engine
from infra.db.errors import (
    ConflictError,
    ImmutableRecordError,
    NotFoundError,
    QuotaExceededError,
    TenantMismatchError,
)
from infra.db.migrate import current_revision, downgrade, head_revision, migrate
from infra.db.session import Database, TenantSession, get_database, tenant_session

__all__ = [
    "ConflictError",
    "Database",
    "ImmutableRecordError",
    "NotFoundError",
    "QuotaExceededError",
    "TenantMismatchError",
    "TenantSession",
    "create_db_engine",
    "current_revision",
    "downgrade",
    "get_database",
    "head_revision",
    "migrate",
    "tenant_session",
]
