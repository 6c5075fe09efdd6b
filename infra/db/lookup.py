"""Fetch one row of the session's tenant by id, or raise ``NotFoundError``."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from infra.db.errors import NotFoundError
from infra.db.session import TenantSession

T = TypeVar("T")


def get_owned(session: TenantSession, model: type[T], object_id: str, *, what: str, for_update: bool = False) -> T:
    """The ``model`` row ``object_id`` of the session's tenant.

    The tenant filter is explicit here (SQLite has no row-level security). Another tenant's id
    raises the same ``NotFoundError`` as an unknown one. ``for_update`` locks the row and reads
    it afresh (``populate_existing``): a check made under the lock sees the committed values,
    not those the session loaded before.
    """
    statement = select(model).where(model.id == str(object_id), model.tenant_id == session.tenant)  # type: ignore[attr-defined]
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row = session.scalars(statement).first()
    if row is None:
        raise NotFoundError(f"{what} {object_id!r} not found")
    return row
