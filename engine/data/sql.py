"""``engine.read_sql`` and ``engine.read_sql_tables``: tables from a database, read-only.

Every read goes through the same locks, in order:

1. :func:`engine.data.connections.check_connection_url` refuses unsafe connection strings
   before anything connects (driver, host allow-list, private addresses, file-reading options);
2. a query must be a single read-only SELECT whose every function is a pure one
   (:mod:`engine.data.sql_guard`, on sqlglot's syntax tree); the server is sent the guard's
   rendering of the checked tree, never the user's text, so both read the same statement;
3. the statement runs inside a read-only transaction with a statement timeout, so the server
   enforces both too — PostgreSQL: ``SET TRANSACTION READ ONLY`` and ``SET LOCAL
   statement_timeout``; MariaDB: ``max_statement_time`` (MySQL: ``max_execution_time``) and
   ``START TRANSACTION READ ONLY``; the transaction is always rolled back. The query cannot
   lift the timeout: ``SET``, ``set_config``, optimizer hints and server variables are all
   refused by the guard, so the setting made here holds for the whole streamed read;
4. rows are streamed with a server-side cursor and counted: more than ``row_cap`` rows is a
   :class:`LimitExceededError` unless ``sample=``/``n=`` asked for a sample, which is then drawn
   while streaming (:mod:`engine.data.sampling`), so only the sample is held. A table is
   streamed in primary-key order, so the same seed gives the same sample.

Connection failures (unreachable host, wrong password, unknown database) are
:class:`SourceUnavailableError` with the driver's reason and never the password.

Values: integers, floats, text, booleans, dates and timestamps keep their types; NUMERIC/
DECIMAL become Float64; UUID, JSON and other driver objects become text.

Optional warehouses
-------------------
Snowflake, BigQuery and Databricks are read through their SQLAlchemy dialects, installed as
extras of the ``doppel`` package::

    pip install 'doppel[snowflake]'   # snowflake://user:password@account/database/schema?warehouse=WH&role=R
    pip install 'doppel[bigquery]'    # bigquery://project/dataset (credentials from the environment)
    pip install 'doppel[databricks]'  # databricks://token:<token>@<host>?http_path=<path>&catalog=<c>&schema=<s>

The same URL checks apply (allow-list on the account's endpoint, no key files read from the
Doppel server). Snowflake gets ``STATEMENT_TIMEOUT_IN_SECONDS`` per session; these warehouses
have no read-only transaction, so give Doppel a role that can only read.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import NullPool

from engine.data.connections import check_connection_url, pinned_engine
from engine.data.sampling import RowSampler, check_sampling
from engine.data.sql_guard import check_read_only_query
from engine.errors import ConfigError, InputError, LimitExceededError, SourceUnavailableError

_FETCH_ROWS = 10_000
_CONNECT_TIMEOUT_S = 10

_TIMEOUT_SQLSTATES = {"57014"}
_TIMEOUT_MYSQL_CODES = {1969, 3024, 1317}
_READ_ONLY_SQLSTATES = {"25006"}
_READ_ONLY_MYSQL_CODES = {1792}
_AUTH_MYSQL_CODES = {1045, 1044, 1698}


@dataclass(frozen=True)
class DeclaredForeignKey:
    """A foreign key declared in the database catalog: child columns -> parent columns."""

    child_table: str
    child_columns: list[str]
    parent_table: str
    parent_columns: list[str]


@dataclass
class SqlTables:
    """Several tables read in one read-only transaction, with their declared keys."""

    frames: dict[str, pl.DataFrame]
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    foreign_keys: list[DeclaredForeignKey] = field(default_factory=list)


# ------------------------------------------------------------------------------ checking


def _family(url: URL) -> str:
    name = url.get_backend_name()
    if name == "postgresql":
        return "postgresql"
    if name in ("mysql", "mariadb"):
        return "mysql"
    return name


def _check_common(
    *,
    sample: float | None,
    n: int | None,
    seed: int,
    row_cap: int,
    statement_timeout_s: float,
) -> None:
    check_sampling(sample, n)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} must be an integer")
    if isinstance(row_cap, bool) or not isinstance(row_cap, int) or row_cap < 1:
        raise ConfigError(f"row_cap={row_cap!r} must be a positive whole number of rows")
    if isinstance(statement_timeout_s, bool) or not isinstance(statement_timeout_s, (int, float)) or not statement_timeout_s > 0:
        raise ConfigError(f"statement_timeout_s={statement_timeout_s!r} must be a positive number of seconds")


def _safe(url: URL) -> str:
    return url.set(query={k: v for k, v in url.query.items() if k != "hostaddr"}).render_as_string(hide_password=True)


def _scrub(text: str, url: URL) -> str:
    password = url.password
    if password:
        text = text.replace(str(password), "***")
    return text


def _driver_reason(exc: BaseException, url: URL) -> str:
    original = getattr(exc, "orig", None) or exc
    args = getattr(original, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        text = f"{args[1]} (error {args[0]})"
    else:
        text = str(original)
    first = " ".join(line.strip() for line in text.strip().splitlines()[:2] if line.strip())
    return _scrub(first, url)


def _mysql_code(exc: BaseException) -> int | None:
    args = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _sqlstate(exc: BaseException) -> str | None:
    original = getattr(exc, "orig", None)
    return getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)


# ---------------------------------------------------------------------------- connection


def _connect_error(exc: BaseException, url: URL) -> SourceUnavailableError:
    reason = _driver_reason(exc, url)
    lowered = reason.lower()
    if _mysql_code(exc) in _AUTH_MYSQL_CODES or "password authentication failed" in lowered or "access denied" in lowered:
        summary = "the database refused the user name or password"
    elif "does not exist" in lowered or "unknown database" in lowered:
        summary = "the database does not exist"
    else:
        summary = "the database could not be reached"
    return SourceUnavailableError(f"{summary} at {_safe(url)}: {reason}")


def _begin_read_only(conn: Connection, family: str, timeout_s: float, *, snapshot: bool) -> None:
    if family == "postgresql":
        isolation = "ISOLATION LEVEL REPEATABLE READ, " if snapshot else ""
        conn.exec_driver_sql(f"SET TRANSACTION {isolation}READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
        # The guard renders string literals for standard strings (a backslash is a character);
        # pin that reading so a server configured otherwise cannot end a literal early.
        conn.exec_driver_sql("SET LOCAL standard_conforming_strings = on")
    elif family == "mysql":
        if getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(timeout_s):.3f}")
        else:
            conn.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {max(1, int(timeout_s * 1000))}")
        # The guard renders literals with backslash escapes and names in backticks; take out the
        # two modes that would make the server read either differently.
        conn.exec_driver_sql(
            "SET SESSION sql_mode = REPLACE(REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', ''), 'ANSI_QUOTES', '')"
        )
        consistent = "WITH CONSISTENT SNAPSHOT, " if snapshot else ""
        conn.exec_driver_sql(f"START TRANSACTION {consistent}READ ONLY")
    elif family == "snowflake":
        conn.exec_driver_sql(f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {max(1, int(timeout_s))}")


@contextmanager
def _read_only_connection(url: URL, *, timeout_s: float, snapshot: bool = False) -> Iterator[Connection]:
    """A connection inside a read-only transaction with a statement timeout; rolled back after."""
    family = _family(url)
    connect_args: dict[str, Any] = {}
    if family in ("postgresql", "mysql"):
        connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
    engine = pinned_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise _connect_error(exc, url) from None
        try:
            try:
                _begin_read_only(conn, family, timeout_s, snapshot=snapshot)
            except sa.exc.DBAPIError as exc:
                raise SourceUnavailableError(
                    f"could not start a read-only transaction at {_safe(url)}: {_driver_reason(exc, url)}"
                ) from None
            yield conn
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()
    finally:
        engine.dispose()


def _statement_error(exc: sa.exc.DBAPIError, url: URL, what: str, timeout_s: float) -> Exception:
    reason = _driver_reason(exc, url)
    if _sqlstate(exc) in _TIMEOUT_SQLSTATES or _mysql_code(exc) in _TIMEOUT_MYSQL_CODES:
        return LimitExceededError(
            f"{what} ran longer than the statement timeout of {timeout_s:g} s and was stopped "
            f"(statement_timeout_s): {reason}"
        )
    if _sqlstate(exc) in _READ_ONLY_SQLSTATES or _mysql_code(exc) in _READ_ONLY_MYSQL_CODES:
        return InputError(f"{what} tried to write, and the read-only transaction refused it: {reason}")
    if isinstance(exc, sa.exc.OperationalError) and ("server closed" in reason.lower() or "lost connection" in reason.lower()):
        return SourceUnavailableError(f"the connection to {_safe(url)} was lost while reading {what}: {reason}")
    return InputError(f"the database rejected {what}: {reason}")


# ------------------------------------------------------------------------------- reading


def _python_dtype(sql_type: Any) -> pl.DataType:
    try:
        python_type = sql_type.python_type
    except (NotImplementedError, AttributeError):
        return pl.String()
    if python_type is bool:
        return pl.Boolean()
    if python_type is int:
        return pl.Int64()
    if python_type in (float, decimal.Decimal):
        return pl.Float64()
    if python_type is dt.datetime:
        return pl.Datetime("us")
    if python_type is dt.date:
        return pl.Date()
    if python_type is dt.time:
        return pl.Time()
    if python_type is dt.timedelta:
        return pl.Duration("us")
    if python_type is bytes:
        return pl.Binary()
    return pl.String()


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """NUMERIC -> Float64, driver objects (UUID, dict) -> text."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Decimal):
            exprs.append(pl.col(name).cast(pl.Float64))
        elif dtype == pl.Object:
            exprs.append(pl.col(name).map_elements(lambda v: None if v is None else str(v), return_dtype=pl.String))
    return frame.with_columns(exprs) if exprs else frame


def _rows_to_frame(rows: Sequence[Sequence[Any]], columns: list[str]) -> pl.DataFrame:
    frame = pl.DataFrame([tuple(row) for row in rows], schema=columns, orient="row", infer_schema_length=None)
    return _normalise(frame)


def _fill_types(frame: pl.DataFrame, declared: dict[str, pl.DataType]) -> pl.DataFrame:
    """Give all-null columns (and an empty result) the catalog's type instead of Null."""
    exprs = [
        pl.col(name).cast(declared.get(name, pl.String()))
        for name, dtype in frame.schema.items()
        if dtype == pl.Null
    ]
    return frame.with_columns(exprs) if exprs else frame


def _stream(
    conn: Connection,
    sql: str,
    *,
    what: str,
    url: URL,
    timeout_s: float,
    row_cap: int,
    sample: float | None,
    n: int | None,
    seed: int,
    declared: dict[str, pl.DataType] | None = None,
) -> tuple[pl.DataFrame, int]:
    """Run ``sql`` and return (frame or sample, number of rows the statement produced)."""
    sampling = sample is not None or n is not None
    sampler = RowSampler(fraction=sample, n=n, seed=seed) if sampling else None
    parts: list[pl.DataFrame] = []
    total = 0
    try:
        # no_parameters: the DBAPI gets the text alone, so '%' in LIKE patterns is not a placeholder.
        result = conn.execution_options(
            stream_results=True, max_row_buffer=_FETCH_ROWS, no_parameters=True
        ).exec_driver_sql(sql)
        try:
            if not result.returns_rows:
                # e.g. MySQL's SELECT ... INTO: the server answers with a status, not rows.
                raise InputError(f"{what} returned no result set (it ran as a statement that produces no rows); pass a SELECT that returns rows")
            columns = list(result.keys())
            if not columns:
                raise InputError(f"{what} returns rows without any column (an empty SELECT list); name the columns to read")
            seen: set[str] = set()
            for name in columns:
                if name in seen:
                    raise InputError(f"{what} returns two columns named '{name}'; give them distinct aliases")
                seen.add(name)
            while rows := result.fetchmany(_FETCH_ROWS):
                total += len(rows)
                if sampler is None and total > row_cap:
                    raise LimitExceededError(
                        f"{what} returns more than {row_cap:,} rows (row_cap); reading stopped there. "
                        "Pass sample= or n= for a sample, narrow the query, or raise row_cap"
                    )
                chunk = _rows_to_frame(rows, columns)
                if sampler is not None:
                    sampler.add(chunk)
                else:
                    parts.append(chunk)
        finally:
            result.close()
    except sa.exc.DBAPIError as exc:
        raise _statement_error(exc, url, what, timeout_s) from None
    declared = declared or {}
    empty = pl.DataFrame(schema={c: declared.get(c, pl.String()) for c in columns})
    if sampler is not None:
        frame = sampler.result(empty=empty)
        if frame.height > row_cap:
            raise LimitExceededError(f"the sample of {what} has {frame.height:,} rows, over row_cap={row_cap:,}")
    else:
        frame = pl.concat(parts, how="vertical_relaxed") if parts else empty
    return _fill_types(frame, declared), total


def _split_table(name: str) -> tuple[str | None, str]:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"table={name!r} must be a table name such as 'customers' or 'sales.customers'")
    schema, dot, table = name.strip().rpartition(".")
    return (schema or None) if dot else None, table


def _quoted(conn: Connection, schema: str | None, table: str) -> str:
    prep = conn.dialect.identifier_preparer
    quoted = prep.quote_identifier(table)
    return f"{prep.quote_identifier(schema)}.{quoted}" if schema else quoted


def _require_table(inspector: Any, schema: str | None, table: str, url: URL) -> None:
    if inspector.has_table(table, schema=schema):
        return
    available = sorted(inspector.get_table_names(schema=schema))
    shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
    where = f"schema '{schema}'" if schema else "the default schema"
    raise InputError(f"table '{table}' not found in {where} of {_safe(url)}; tables there: {shown or 'none'}")


def _declared_types(inspector: Any, schema: str | None, table: str) -> dict[str, pl.DataType]:
    return {column["name"]: _python_dtype(column["type"]) for column in inspector.get_columns(table, schema=schema)}


def _read_table(
    conn: Connection,
    inspector: Any,
    schema: str | None,
    table: str,
    *,
    url: URL,
    timeout_s: float,
    row_cap: int,
    sample: float | None,
    n: int | None,
    seed: int,
) -> pl.DataFrame:
    primary_key = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or []
    prep = conn.dialect.identifier_preparer
    order = f" ORDER BY {', '.join(prep.quote_identifier(c) for c in primary_key)}" if primary_key else ""
    frame, _ = _stream(
        conn,
        f"SELECT * FROM {_quoted(conn, schema, table)}{order}",
        what=f"table '{table}'",
        url=url,
        timeout_s=timeout_s,
        row_cap=row_cap,
        sample=sample,
        n=n,
        seed=seed,
        declared=_declared_types(inspector, schema, table),
    )
    return frame


def read_sql(
    url: str | URL,
    *,
    table: str | None = None,
    query: str | None = None,
    sample: float | None = None,
    n: int | None = None,
    seed: int = 0,
    row_cap: int = 1_000_000,
    statement_timeout_s: float = 60,
    allowed_hosts: Sequence[str] = (),
    allow_private: bool = False,
) -> pl.DataFrame:
    """Read one table, or the result of one read-only SELECT, into a polars DataFrame.

    Args:
        url: SQLAlchemy URL, e.g. ``postgresql://user:pw@host:5432/db`` or
            ``mysql://user:pw@host:3306/db`` (mapped to psycopg 3 and PyMySQL).
        table: a table name, optionally ``schema.table``. Exactly one of table/query.
        query: a single SELECT (or WITH ... SELECT). Exactly one of table/query.
        sample, n, seed: a seeded sample drawn while streaming (see :mod:`engine.data.sampling`).
        row_cap: the most rows read without sampling; more is a LimitExceededError.
        statement_timeout_s: server-side limit on the statement's run time.
        allowed_hosts, allow_private: see :func:`engine.data.connections.check_connection_url`.

    Raises:
        UnsafeConnectionError: the URL was refused before connecting.
        SourceUnavailableError: the database is unreachable, or refused the credentials.
        InputError: the query is not a single read-only SELECT, the table does not exist, the
            database rejected the statement, or it returned no rows.
        LimitExceededError: more rows than ``row_cap``, or the statement timeout was reached.
    """
    if (table is None) == (query is None):
        raise ConfigError("pass exactly one of table= (a table name) or query= (a SELECT statement)")
    _check_common(sample=sample, n=n, seed=seed, row_cap=row_cap, statement_timeout_s=statement_timeout_s)
    checked = check_connection_url(url, allowed_hosts=allowed_hosts, allow_private=allow_private)
    family = _family(checked)
    sql = check_read_only_query(query, dialect="mysql" if family == "mysql" else "postgresql") if query is not None else None
    with _read_only_connection(checked, timeout_s=statement_timeout_s) as conn:
        if table is not None:
            schema, name = _split_table(table)
            try:
                inspector = sa.inspect(conn)
                _require_table(inspector, schema, name, checked)
                frame = _read_table(
                    conn, inspector, schema, name, url=checked, timeout_s=statement_timeout_s,
                    row_cap=row_cap, sample=sample, n=n, seed=seed,
                )
            except sa.exc.DBAPIError as exc:
                raise _statement_error(exc, checked, f"table '{table}'", statement_timeout_s) from None
            if frame.height == 0 and sample is None and n is None:
                raise InputError(f"table '{table}' at {_safe(checked)} has no rows")
            return frame
        assert sql is not None
        frame, total = _stream(
            conn, sql, what="the query", url=checked, timeout_s=statement_timeout_s,
            row_cap=row_cap, sample=sample, n=n, seed=seed,
        )
        if total == 0:
            raise InputError(f"the query returned no rows at {_safe(checked)}")
        return frame


def read_sql_tables(
    url: str | URL,
    *,
    tables: list[str] | None = None,
    schema: str | None = None,
    row_cap: int = 1_000_000,
    statement_timeout_s: float = 60,
    allowed_hosts: Sequence[str] = (),
    allow_private: bool = False,
) -> SqlTables:
    """Read several tables in one consistent read-only snapshot, with their declared keys.

    ``tables=None`` reads every table of ``schema`` (the connection's default schema when
    None). Primary keys and the foreign keys between the tables read come from the catalog
    through SQLAlchemy's inspector. ``row_cap`` applies to each table. There is no sampling
    here on purpose: sampling related tables independently would break their foreign keys.
    """
    _check_common(sample=None, n=None, seed=0, row_cap=row_cap, statement_timeout_s=statement_timeout_s)
    if tables is not None and (isinstance(tables, str) or not all(isinstance(t, str) and t for t in tables)):
        raise ConfigError(f"tables={tables!r} must be a list of table names")
    checked = check_connection_url(url, allowed_hosts=allowed_hosts, allow_private=allow_private)
    with _read_only_connection(checked, timeout_s=statement_timeout_s, snapshot=True) as conn:
        try:
            inspector = sa.inspect(conn)
            names = list(tables) if tables is not None else sorted(inspector.get_table_names(schema=schema))
            if not names:
                where = f"schema '{schema}'" if schema else "the default schema"
                raise InputError(f"there are no tables in {where} of {_safe(checked)}")
            if len(set(names)) != len(names):
                raise ConfigError(f"tables={names!r} names a table twice")
            for name in names:
                _require_table(inspector, schema, name, checked)
            frames: dict[str, pl.DataFrame] = {}
            primary_keys: dict[str, list[str]] = {}
            foreign_keys: list[DeclaredForeignKey] = []
            chosen = set(names)
            for name in names:
                frames[name] = _read_table(
                    conn, inspector, schema, name, url=checked, timeout_s=statement_timeout_s,
                    row_cap=row_cap, sample=None, n=None, seed=0,
                )
                primary_keys[name] = list(inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or [])
                for fk in inspector.get_foreign_keys(name, schema=schema):
                    parent = fk.get("referred_table")
                    parent_schema = fk.get("referred_schema")
                    if parent in chosen and parent_schema in (None, schema, _default_schema(inspector, schema)):
                        foreign_keys.append(
                            DeclaredForeignKey(
                                child_table=name,
                                child_columns=list(fk.get("constrained_columns") or []),
                                parent_table=parent,
                                parent_columns=list(fk.get("referred_columns") or []),
                            )
                        )
        except sa.exc.DBAPIError as exc:
            raise _statement_error(exc, checked, "the catalog or a table", statement_timeout_s) from None
    return SqlTables(frames=frames, primary_keys=primary_keys, foreign_keys=foreign_keys)


def _default_schema(inspector: Any, schema: str | None) -> str | None:
    return schema if schema is not None else getattr(inspector, "default_schema_name", None)
