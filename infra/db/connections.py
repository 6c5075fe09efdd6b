"""SQLAlchemy engines with Doppel's connection settings, for sessions and migrations alike.

On SQLite every connection turns foreign keys on, waits up to 30 s for a lock, uses WAL for a
file database, and starts every transaction with ``BEGIN IMMEDIATE``: writers are serialised,
so a check-then-write (quota, lease, budget) cannot interleave with another connection's.
Other databases get ``pool_pre_ping``. ``infra.db.session`` (tenant sessions) and
``infra.db.migrate`` (Alembic) both build their engines here, so neither imports the other's
module for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with Doppel's connection settings (SQLite pragmas, pre-ping)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


__all__ = ["create_db_engine"]
