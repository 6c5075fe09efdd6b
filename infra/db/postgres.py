"""PostgreSQL set-up for the metadata database: roles, database, and a row-level-security report.

Two roles, so that row-level security binds the application:
- the *owner* (DOPPEL_DATABASE_OWNER_URL) owns the database and its tables and runs the
  migrations; it is neither superuser nor BYPASSRLS, and FORCEd RLS applies to it too;
- the *app* role (DOPPEL_DATABASE_APP_ROLE, connecting through DOPPEL_DATABASE_URL) owns
  nothing, has no BYPASSRLS, and gets only the grants the migration gives it.

``provision(admin_url, ...)`` creates both (idempotently) and the database, as a superuser or a
role with CREATEROLE and CREATEDB; ``.ci/run`` or an operator calls it once, then ``migrate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}: expected lowercase letters, digits and _ (max 63)")
    return value


@dataclass(frozen=True)
class ProvisionedDatabase:
    """Where the provisioned database lives: the owner's URL (migrations) and the app's URL."""

    owner_url: str
    app_url: str


def _ensure_role(connection, role: str, *, password: str | None, create_role: bool) -> None:  # noqa: ANN001
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    attributes = "LOGIN NOSUPERUSER NOBYPASSRLS" + (" CREATEROLE" if create_role else " NOCREATEROLE")
    verb = "ALTER" if exists else "CREATE"
    statement = f'{verb} ROLE "{role}" {attributes}'
    if password is not None:
        # DDL takes no bound parameters: quote the password as a literal on the server side.
        quoted = connection.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        statement += f" PASSWORD {quoted}"
    try:
        connection.exec_driver_sql(statement)
    except Exception:
        if verb == "CREATE" and connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first():
            return  # another process created it at the same moment
        raise


def provision(
    admin_url: str,
    *,
    database: str,
    owner_role: str = "doppel_owner",
    app_role: str = "doppel_app",
    owner_password: str | None = None,
    app_password: str | None = None,
    recreate: bool = False,
) -> ProvisionedDatabase:
    """Create (or with ``recreate`` drop and create) ``database`` owned by ``owner_role``, and both roles.

    Returns the owner's and the app's URLs (same host as ``admin_url``). Run ``migrate`` with
    the owner URL afterwards; the migration grants the app role its privileges.
    """
    database, owner_role, app_role = _name(database, "database name"), _name(owner_role, "role"), _name(app_role, "role")
    admin = make_url(admin_url)
    engine = create_engine(admin.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            _ensure_role(connection, owner_role, password=owner_password, create_role=False)
            _ensure_role(connection, app_role, password=app_password, create_role=False)
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first()
            if exists and recreate:
                connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
                exists = None
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{database}" OWNER "{owner_role}"')
            connection.exec_driver_sql(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
            connection.exec_driver_sql(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{app_role}"')
    finally:
        engine.dispose()
    return ProvisionedDatabase(
        owner_url=_url(admin, database, owner_role, owner_password),
        app_url=_url(admin, database, app_role, app_password),
    )


def drop_database(admin_url: str, *, database: str) -> None:
    """Drop ``database`` (closing its connections); roles stay, as other databases may use them."""
    database = _name(database, "database name")
    engine = create_engine(make_url(admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        engine.dispose()


def _url(admin: URL, database: str, role: str, password: str | None) -> str:
    return admin.set(database=database, username=role, password=password).render_as_string(hide_password=False)


@dataclass(frozen=True)
class TableSecurity:
    """How one table is protected: row-level security enabled and forced, and its policies."""

    table: str
    rls_enabled: bool
    rls_forced: bool
    policies: tuple[str, ...]


def table_security(url: str) -> dict[str, TableSecurity]:
    """Row-level-security state of every table in the current schema of the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    """
                    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                           COALESCE(array_agg(p.qual) FILTER (WHERE p.polname IS NOT NULL), '{}')
                    FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
                    LEFT JOIN (
                        SELECT polrelid, polname, pg_get_expr(polqual, polrelid) AS qual FROM pg_policy
                    ) p ON p.polrelid = c.oid
                    WHERE c.relkind = 'r'
                    GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
                    """
                )
            ).all()
    finally:
        engine.dispose()
    return {name: TableSecurity(name, enabled, forced, tuple(quals)) for name, enabled, forced, quals in rows}
