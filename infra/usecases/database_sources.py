"""A user's database as a source of datasets: list its tables and keys, import one as a version.

Everything goes through ``engine.read_sql``, so the engine's locks apply to the catalog query
too: the connection URL is checked against ``DOPPEL_ALLOWED_DB_HOSTS`` and
``DOPPEL_ALLOW_PRIVATE_DB_HOSTS`` before anything connects, the statement is a single
read-only SELECT in a read-only transaction with ``DOPPEL_SQL_STATEMENT_TIMEOUT_S``, and the
password never appears in a message. Tables and keys come from ``information_schema``, which
PostgreSQL and MySQL/MariaDB both have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import engine
from engine.errors import InputError
from infra.records.authz import Actor
from infra.settings import Settings, get_settings
from infra.usecases.dataset_store import StoredVersion, store_table

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "mysql", "performance_schema", "sys", "pg_toast")

_TABLES_SQL = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ({schemas}) "
    "ORDER BY table_schema, table_name"
)
_KEYS_SQL = (
    "SELECT kcu.table_schema, kcu.table_name, kcu.column_name, tc.constraint_type "
    "FROM information_schema.table_constraints tc "
    "JOIN information_schema.key_column_usage kcu "
    "ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema "
    "AND tc.table_name = kcu.table_name "
    "WHERE tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') AND tc.table_schema NOT IN ({schemas}) "
    "ORDER BY kcu.table_schema, kcu.table_name, kcu.ordinal_position"
)


@dataclass(frozen=True)
class SourceTable:
    """A table of the user's database and its declared keys."""

    schema: str
    name: str
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        """``schema.table`` (what ``engine.read_sql(table=...)`` takes)."""
        return f"{self.schema}.{self.name}" if self.schema else self.name


def _sql_options(settings: Settings) -> dict[str, object]:
    return {
        "allowed_hosts": settings.allowed_db_hosts,
        "allow_private": settings.allow_private_db_hosts,
        "statement_timeout_s": settings.sql_statement_timeout_s,
    }


def list_tables(url: str, *, settings: Settings | None = None) -> list[SourceTable]:
    """The tables of the database at ``url`` with their primary and foreign key columns."""
    settings = settings or get_settings()
    if not (url or "").strip():
        raise InputError("enter a connection URL, e.g. postgresql://user:password@host:5432/database")
    schemas = ", ".join(f"'{name}'" for name in _SYSTEM_SCHEMAS)
    try:
        tables = engine.read_sql(url.strip(), query=_TABLES_SQL.format(schemas=schemas), **_sql_options(settings))
    except InputError as err:
        if "returned no rows" in str(err):
            raise InputError("the database has no tables that this connection can read") from None
        raise
    keys = engine.read_sql(url.strip(), query=_KEYS_SQL.format(schemas=schemas), **_sql_options(settings)) \
        if tables.height else None
    primary: dict[tuple[str, str], list[str]] = {}
    foreign: dict[tuple[str, str], list[str]] = {}
    if keys is not None:
        for row in keys.rename({c: c.lower() for c in keys.columns}).iter_rows(named=True):
            where = primary if row["constraint_type"] == "PRIMARY KEY" else foreign
            where.setdefault((row["table_schema"], row["table_name"]), []).append(row["column_name"])
    out = []
    for row in tables.rename({c: c.lower() for c in tables.columns}).iter_rows(named=True):
        ident = (row["table_schema"], row["table_name"])
        out.append(SourceTable(schema=row["table_schema"], name=row["table_name"], primary_key=primary.get(ident, []),
                               foreign_keys=list(dict.fromkeys(foreign.get(ident, [])))))
    return out


def import_table(
    tenant: str,
    *,
    url: str,
    table: SourceTable,
    actor: Actor,
    dataset_name: str | None = None,
    sample: float | None = None,
    settings: Settings | None = None,
) -> StoredVersion:
    """Read ``table`` (a seeded ``sample`` share of its rows when given) and store it as a dataset version."""
    settings = settings or get_settings()
    frame = engine.read_sql(url.strip(), table=table.qualified, sample=sample, row_cap=settings.max_rows,
                            **_sql_options(settings))
    from sqlalchemy.engine import make_url

    parsed = make_url(url.strip())
    source = {
        "kind": "database",
        "database": f"{parsed.get_backend_name()}://{parsed.host or ''}/{parsed.database or ''}",
        "table": table.qualified,
        "primary_key": table.primary_key,
        "foreign_keys": table.foreign_keys,
        "sample": sample,
    }
    return store_table(tenant, frame=frame, dataset_name=dataset_name or table.name, source=source, actor=actor,
                       settings=settings)


__all__ = ["SourceTable", "import_table", "list_tables"]
