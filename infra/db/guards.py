"""The service-layer guards every ``TenantSession`` applies, on SQLite and PostgreSQL alike.

SQLite has no row-level security, so on the embedded default these guards are what keeps
tenants apart; on PostgreSQL they are a second line behind RLS.

- Reads: every ORM SELECT, UPDATE and DELETE on a tenant-owned table gets
  ``tenant_id = session.tenant`` added (``with_loader_criteria``), and ``tenants`` is
  narrowed to the session's own row. (Raw ``text()`` SQL is not rewritten: services don't use it.)
- Writes: a flush refuses a new or changed row whose ``tenant_id`` is another tenant's (a
  missing one is filled in), any change to an immutable version (``model_versions.status``
  excepted), and any update or delete of an append-only row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from infra.db.errors import ImmutableRecordError, TenantMismatchError
from infra.db.models import (
    AuditEntry,
    DatasetVersion,
    ModelVersion,
    PrivacyLedgerEntry,
    Tenant,
    TenantOwned,
    UsageRecord,
)

_APPEND_ONLY = (AuditEntry, PrivacyLedgerEntry, UsageRecord)
_MUTABLE_MODEL_VERSION_COLUMNS = frozenset({"status"})


def _changed_columns(obj: Any) -> set[str]:
    state = inspect(obj)
    return {attr.key for attr in state.attrs if attr.history.has_changes()}


def _check_flush(session: Session, _context: Any, _instances: Any) -> None:
    tenant = getattr(session, "tenant", None)
    if tenant is None:
        return
    for obj in session.deleted:
        if isinstance(obj, _APPEND_ONLY):
            raise ImmutableRecordError(f"{obj.__tablename__} is append-only: rows cannot be deleted")
    for obj in session.dirty:
        if not session.is_modified(obj):
            continue
        if isinstance(obj, _APPEND_ONLY):
            raise ImmutableRecordError(f"{obj.__tablename__} is append-only: rows cannot be changed")
        if isinstance(obj, DatasetVersion) and (changed := _changed_columns(obj)):
            raise ImmutableRecordError(
                f"dataset version {obj.id} is immutable ({', '.join(sorted(changed))} cannot change); "
                "add a new version instead"
            )
        if isinstance(obj, ModelVersion) and (frozen := _changed_columns(obj) - _MUTABLE_MODEL_VERSION_COLUMNS):
            raise ImmutableRecordError(
                f"model version {obj.id} is immutable apart from its status "
                f"({', '.join(sorted(frozen))} cannot change); train a new version instead"
            )
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, TenantOwned):
            if obj.tenant_id is None:
                obj.tenant_id = tenant
            elif obj.tenant_id != tenant:
                raise TenantMismatchError(
                    f"a {obj.__tablename__} row of another tenant cannot be written in a session for {tenant!r}"
                )
        elif isinstance(obj, Tenant) and obj.id != tenant:
            raise TenantMismatchError(f"tenant {obj.id!r} cannot be written in a session for {tenant!r}")


def _scope_statement(state: ORMExecuteState) -> None:
    tenant = getattr(state.session, "tenant", None)
    if tenant is None or state.is_column_load or state.is_relationship_load:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id == tenant, include_aliases=True),
        with_loader_criteria(Tenant, lambda cls: cls.id == tenant, include_aliases=True),
    )


def install(session_class: type[Session]) -> None:
    """Attach the guards to every session of ``session_class``."""
    event.listen(session_class, "before_flush", _check_flush)
    event.listen(session_class, "do_orm_execute", _scope_statement)
