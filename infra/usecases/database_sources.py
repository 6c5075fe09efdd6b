"""A user's database as a source of datasets: list its tables and keys, import one or several as a version.

``import_table`` stores one table as a dataset version; ``import_tables`` reads several tables
of one schema in one snapshot with their declared keys and stores them as one schema version
(``schema_store``).

Everything goes through ``engine.read_sql``, so the engine's locks apply to the catalog query
too: the connection URL is checked against ``DOPPEL_ALLOWED_DB_HOSTS`` and
``DOPPEL_ALLOW_PRIVATE_DB_HOSTS`` before anything connects, the statement is a single
read-only SELECT in a read-only transaction with ``DOPPEL_SQL_STATEMENT_TIMEOUT_S``, and the
password never appears in a message. Tables and keys come from ``information_schema``, which
PostgreSQL and MySQL/MariaDB both have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import engine
from engine.errors import InputError
from infra.records.authz import Actor
from infra.settings import Settings, get_settings
from infra.usecases.dataset_store import StoredVersion, store_table
from infra.usecases.schema_store import store_tables

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
    source = {
        "kind": "database",
        "database": _database_label(url),
        "table": table.qualified,
        "primary_key": table.primary_key,
        "foreign_keys": table.foreign_keys,
        "sample": sample,
    }
    return store_table(tenant, frame=frame, dataset_name=dataset_name or table.name, source=source, actor=actor,
                       settings=settings)


def import_tables(
    url: str,
    *,
    tables: Sequence[str | SourceTable],
    name: str,
    tenant: str,
    actor: Actor,
    orphans: str = "refuse",
    settings: Settings | None = None,
) -> StoredVersion:
    """Read several tables of one schema in one read-only snapshot and store them as one schema version.

    ``tables`` are ``schema.table`` names (``SourceTable.qualified``) or ``SourceTable`` objects,
    all of one schema. Their primary and foreign keys come from the database's catalog
    (``engine.read_sql_tables``) and are the keys training uses; when the database declares
    no foreign key between them, its primary keys are kept and the relations are inferred.
    Composite keys cannot be used (keys are single columns) and are left out, with a note in
    the source. Every table is read whole: sampling tables one by one would break their keys.
    """
    settings = settings or get_settings()
    qualified = [t.qualified if isinstance(t, SourceTable) else str(t).strip() for t in tables or []]
    if len(qualified) < 2:
        raise InputError("pick at least two tables to import them as one dataset of related tables")
    schema, names = _one_schema(qualified)
    read = engine.read_sql_tables(url.strip(), tables=names, schema=schema, row_cap=settings.max_rows,
                                  allowed_hosts=settings.allowed_db_hosts,
                                  allow_private=settings.allow_private_db_hosts,
                                  statement_timeout_s=settings.sql_statement_timeout_s)
    keys, notes = _declared_keys(read)
    source = {
        "kind": "database-tables",
        "database": _database_label(url),
        "schema": schema,
        "qualified_tables": qualified,
        "declared_keys": keys,
        "notes": notes,
    }
    return store_tables(tenant, name=name, tables=read.frames, keys=keys, source=source, actor=actor,
                        orphans=orphans, settings=settings, infer_missing_relations=True)


def _one_schema(qualified: list[str]) -> tuple[str | None, list[str]]:
    """``["public.a", "public.b"]`` -> ``("public", ["a", "b"])``; refuses tables of several schemas."""
    schemas: set[str | None] = set()
    names = []
    for item in qualified:
        schema, dot, table = item.rpartition(".")
        schemas.add(schema if dot else None)
        names.append(table)
    if len(schemas) > 1:
        shown = ", ".join(sorted(str(s) for s in schemas))
        raise InputError(f"the tables come from several schemas ({shown}); import the tables of one schema together")
    return schemas.pop(), names


def _declared_keys(read: Any) -> tuple[dict[str, Any], list[str]]:
    """The catalog's single-column keys in the ``keys=`` shape, and notes on the composite ones left out."""
    notes = []
    primary = {}
    for table, columns in read.primary_keys.items():
        if len(columns) == 1:
            primary[table] = columns[0]
        elif columns:
            notes.append(f"the primary key of {table} has several columns ({', '.join(columns)}); it was left out")
    foreign = []
    for fk in read.foreign_keys:
        if len(fk.child_columns) == 1 and len(fk.parent_columns) == 1:
            foreign.append(f"{fk.child_table}.{fk.child_columns[0]} -> {fk.parent_table}.{fk.parent_columns[0]}")
        else:
            notes.append(f"the foreign key {fk.child_table}({', '.join(fk.child_columns)}) -> "
                         f"{fk.parent_table}({', '.join(fk.parent_columns)}) has several columns; it was left out")
    return {"primary_keys": primary, "foreign_keys": foreign}, notes


def _database_label(url: str) -> str:
    """``postgresql://host/database``: where the tables came from, without user or password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.strip())
    return f"{parsed.get_backend_name()}://{parsed.host or ''}/{parsed.database or ''}"


__all__ = ["SourceTable", "import_table", "import_tables", "list_tables"]
