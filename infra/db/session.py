"""The metadata database and its tenant-scoped sessions.

``tenant_session(tenant)`` is the one way records and use cases reach the metadata database. It
opens a ``TenantSession`` whose every transaction starts with
``SELECT set_config('app.tenant_id', :tenant, true)`` (a bound parameter, local to the
transaction) on PostgreSQL, where row-level security then hides, and refuses to write, any
other tenant's rows. SQLite has no row-level security: there the service functions' explicit
``tenant_id`` filters are the guard (they filter on PostgreSQL too, as a second line).

Engines come from ``infra.db.connections`` (on SQLite every transaction is ``BEGIN
IMMEDIATE``, so writers are serialised); an embedded SQLite database is migrated on first use
through ``infra.db.migrate``, which builds its engines there too, so it never imports this module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from infra.db import guards
from infra.db.connections import create_db_engine
from infra.db.migrate import migrate
from infra.settings import get_settings
from infra.tenant_ids import require_tenant

SET_TENANT_SQL = text("SELECT set_config('app.tenant_id', :tenant, true)")


class TenantSession(Session):
    """A session bound to one tenant; ``session.tenant`` names it.

    Services read the tenant from here and filter on it; on PostgreSQL the tenant is also set
    for row-level security at the start of every transaction of this session.
    """

    tenant: str


guards.install(TenantSession)


class Database:
    """One metadata database: its engine and a factory of tenant sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_db_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(bind=self.engine, class_=TenantSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def has_row_level_security(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def tenant_session(self, tenant: str) -> Iterator[TenantSession]:
        """A session for ``tenant``: committed when the block ends, rolled back if it raises.

        ``session.commit()`` inside the block is allowed (a worker commits progress as it goes);
        the next transaction sets the tenant again.
        """
        tenant = require_tenant(tenant)
        session = self._sessions()
        session.tenant = tenant
        if self.has_row_level_security:

            @event.listens_for(session, "after_begin")
            def _set_tenant(_session: Session, _transaction: Any, connection: Any) -> None:
                connection.execute(SET_TENANT_SQL, {"tenant": tenant})

        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str | None = None) -> Database:
    """The process-wide ``Database`` for ``url`` (default: ``DOPPEL_DATABASE_URL``).

    A SQLite database (the embedded default) is migrated to the newest schema on first use, so
    ``make run`` needs no set-up step. PostgreSQL is migrated by the deployment
    (``infra.db.migrate`` with the owner's URL), never by the app role.
    """
    url = url or get_settings().database_url
    with _lock:
        if url not in _databases:
            if make_url(url).get_backend_name() == "sqlite":
                migrate(url)
            _databases[url] = Database(url)
        return _databases[url]


@contextmanager
def tenant_session(tenant: str, *, database: Database | None = None) -> Iterator[TenantSession]:
    """A transaction for ``tenant`` on ``database`` (default: the configured one); see ``Database``."""
    with (database or get_database()).tenant_session(tenant) as session:
        yield session
