"""The audit log: who did what to which object, when. Append-only.

Services record an event in the same transaction as the change it describes, so the log and
the data never disagree. Rows cannot be changed or deleted: the session refuses it, and so
does the database (triggers; on PostgreSQL the app role also has no UPDATE or DELETE).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from infra.db.models import AuditEntry
from infra.db.session import TenantSession

SYSTEM_ACTOR = "system"
"""The actor of events no person caused (workers, schedulers)."""


def record_event(
    session: TenantSession,
    *,
    actor: str | None,
    action: str,
    object_type: str,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one event, e.g. ``action="dataset_version.created"``, to the tenant's audit log."""
    entry = AuditEntry(
        tenant_id=session.tenant,
        actor=actor or SYSTEM_ACTOR,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def list_events(
    session: TenantSession,
    *,
    object_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The tenant's newest events first, optionally for one object or one action."""
    statement = select(AuditEntry).where(AuditEntry.tenant_id == session.tenant)
    if object_id is not None:
        statement = statement.where(AuditEntry.object_id == object_id)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    return list(session.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit)))
