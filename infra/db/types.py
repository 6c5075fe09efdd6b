"""Column types that behave the same on SQLite (embedded) and PostgreSQL (production).

- ``JSONDocument``: JSON on SQLite, JSONB on PostgreSQL; Python dicts and lists either way.
- ``UTCDateTime``: timezone-aware UTC datetimes in and out. SQLite keeps no zone, so values
  are stored as UTC and given the UTC zone back on read; naive datetimes are refused on write
  so that no local time ever slips in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON column: ``JSONB`` on PostgreSQL, SQLite's JSON text elsewhere."""


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamp with time zone`` that always reads back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random row id (UUID4 text): unguessable, so ids leak nothing about other rows."""
    return str(uuid.uuid4())
