"""The tenant directory: which tenant(s) to open a session for, before any tenant is known.

Two moments start without a tenant: a login (which tenants is this user a member of, which
invited this e-mail?) and a share link (which tenant issued this token?). Every
tenant-owned table is hidden by row-level security until a tenant is set, so the answer
comes from ``tenant_directory``: routes ``(kind, key) -> tenant`` that the records write,
inside the tenant's own session, whenever they create what the route points at.

A route is only a pointer. Whoever follows it re-reads the authority inside that tenant's
session (the membership and its role, the invitation, the link's expiry and revocation), so
a stale route (a removed member, a revoked invitation) leads nowhere.

On PostgreSQL the app role reads routes across tenants only through
``doppel_directory_lookup(kind, key)``, a SECURITY DEFINER function answering one exact key
(see the 0003 migration); SQLite has no roles and is read directly.
"""

from __future__ import annotations

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError

from infra.db.errors import ConfigError
from infra.db.models import DIRECTORY_KINDS, DirectoryEntry
from infra.db.session import Database, TenantSession, get_database

LOOKUP_SQL = text("SELECT found.tenant FROM doppel_directory_lookup(:kind, :key) AS found(tenant)")


def _require_kind(kind: str) -> str:
    if kind not in DIRECTORY_KINDS:
        raise ConfigError(f"unknown directory kind {kind!r}: expected one of {', '.join(DIRECTORY_KINDS)}")
    return kind


def _require_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 320:
        raise ConfigError("a directory key must be 1-320 characters")
    return key


def add_route(session: TenantSession, *, kind: str, key: str) -> None:
    """Route ``(kind, key)`` to the session's tenant; idempotent."""
    kind, key = _require_kind(kind), _require_key(key)
    exists = session.scalars(
        select(DirectoryEntry.tenant).where(
            DirectoryEntry.kind == kind, DirectoryEntry.lookup_key == key, DirectoryEntry.tenant == session.tenant
        )
    ).first()
    if exists is not None:
        return
    try:
        with session.begin_nested():
            session.add(DirectoryEntry(kind=kind, lookup_key=key, tenant=session.tenant))
    except IntegrityError:  # added by a concurrent transaction
        pass


def remove_route(session: TenantSession, *, kind: str, key: str) -> None:
    """Remove the session tenant's route for ``(kind, key)``, if any."""
    kind, key = _require_kind(kind), _require_key(key)
    session.execute(
        delete(DirectoryEntry).where(
            DirectoryEntry.kind == kind, DirectoryEntry.lookup_key == key, DirectoryEntry.tenant == session.tenant
        )
    )


def tenants_for(kind: str, key: str, *, database: Database | None = None) -> list[str]:
    """The tenants routed for exactly ``(kind, key)``, in name order; empty when none.

    Runs outside any tenant session (that is its purpose); on PostgreSQL through the
    SECURITY DEFINER lookup function, so the app role never reads the table across tenants.
    """
    kind, key = _require_kind(kind), _require_key(key)
    database = database or get_database()
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            rows = connection.execute(LOOKUP_SQL, {"kind": kind, "key": key}).scalars().all()
        else:
            rows = connection.execute(
                select(DirectoryEntry.tenant)
                .where(DirectoryEntry.kind == kind, DirectoryEntry.lookup_key == key)
                .order_by(DirectoryEntry.tenant)
            ).scalars().all()
    return list(rows)
