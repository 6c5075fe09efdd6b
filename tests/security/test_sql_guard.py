"""Issue 14, security item 2: the SQL read-only guard, attacked on the real PostgreSQL and MariaDB.

Each attack is a row of (case, dialect, query, expected refusal). ``{table}`` in a query is the
loaded players table, which must still hold every row afterwards; ``{probe}`` is a file path on
the database host (MariaDB runs on this machine), which must not exist afterwards. Every
refusal comes from the guard, before anything is sent to the server.

Below the attacks: ordinary analytic queries that must still pass and return the right rows,
and the parser/server agreement cases (the server runs the guard's rendering of what it
checked, so a literal or a comment is read the same way by both).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import polars as pl
import pytest
import sqlalchemy as sa

import engine
from engine.data.sql_guard import check_read_only_query
from engine.errors import InputError
from tests.conftest import MARIADB_URL, POSTGRES_URL
from tests.engine.data_fixtures import (  # noqa: F401 - fixtures
    LoadedDatabase,
    baseball_slice,
    mariadb_baseball,
    postgres_baseball,
)

pytestmark = pytest.mark.services

PG, MY = "postgresql", "mysql"
NOT_PURE = r"the function {}\(\) is not on the allow-list of pure functions"

ATTACKS: list[tuple[str, str, str, str]] = [
    # --- PostgreSQL: file, large-object and setting functions, however they are spelled
    ("quoted pg_read_file", PG, """SELECT "pg_read_file"('/etc/passwd')""", NOT_PURE.format("pg_read_file")),
    ("schema-qualified quoted pg_ls_dir", PG, """SELECT pg_catalog."pg_ls_dir"('/')""", NOT_PURE.format("pg_ls_dir")),
    ("quoted lo_import", PG, """SELECT "lo_import"('/etc/passwd')""", NOT_PURE.format("lo_import")),
    ("set_config turns the timeout off", PG, """SELECT "set_config"('statement_timeout','0',true)""", NOT_PURE.format("set_config")),
    ("upper-case PG_READ_FILE", PG, "SELECT PG_READ_FILE('/etc/passwd')", NOT_PURE.format("pg_read_file")),
    ("comment between name and parenthesis", PG, "SELECT pg_read_file /**/ ('/etc/passwd')", NOT_PURE.format("pg_read_file")),
    ("quoted upper-case PG_READ_FILE", PG, """SELECT "PG_READ_FILE"('/etc/passwd')""", NOT_PURE.format("pg_read_file")),
    ("unquoted schema-qualified", PG, "SELECT pg_catalog.pg_read_file('/etc/passwd')", NOT_PURE.format("pg_read_file")),
    ("user schema may hold anything", PG, "SELECT public.lower('x')", r"schema-qualified function public\.lower\(\) may be a user-defined function"),
    ("in a CTE", PG, "WITH f AS (SELECT pg_read_file('/etc/passwd') AS c) SELECT c FROM f", NOT_PURE.format("pg_read_file")),
    ("in a subquery", PG, "SELECT x FROM (SELECT pg_read_file('/etc/passwd') AS x) AS s", NOT_PURE.format("pg_read_file")),
    ("in a WHERE clause", PG, "SELECT 1 AS one WHERE pg_read_file('/etc/passwd') <> ''", NOT_PURE.format("pg_read_file")),
    ("in ORDER BY", PG, "SELECT id FROM {table} ORDER BY pg_read_file('/etc/passwd')", NOT_PURE.format("pg_read_file")),
    ("via a lateral join", PG, "SELECT d FROM {table} AS p, LATERAL pg_ls_dir('/') AS d", NOT_PURE.format("pg_ls_dir")),
    ("as a table function", PG, "SELECT * FROM pg_ls_dir('/') AS d", NOT_PURE.format("pg_ls_dir")),
    ("backslash ends a standard string", PG, "SELECT 'a\\', pg_read_file('/etc/passwd') --'", NOT_PURE.format("pg_read_file")),
    ("dblink opens a connection", PG, "SELECT * FROM dblink('host=10.0.0.1', 'SELECT 1') AS t(a int)", NOT_PURE.format("dblink")),
    ("pg_sleep", PG, "SELECT pg_sleep(10)", NOT_PURE.format("pg_sleep")),
    ("current_setting reads the server's settings", PG, "SELECT current_setting('data_directory')", NOT_PURE.format("current_setting")),
    ("data-modifying CTE", PG, "WITH d AS (DELETE FROM {table} RETURNING *) SELECT * FROM d", r"DELETE is not allowed in a read-only query"),
    ("SELECT INTO a new table", PG, "SELECT * INTO doppel_copy FROM {table}", r"SELECT \.\.\. INTO creates a table"),
    ("row lock", PG, "SELECT * FROM {table} FOR NO KEY UPDATE", r"FOR NO KEY UPDATE locks rows"),
    ("second statement", PG, "SELECT 1 ;DROP TABLE {table}", r"more than one statement \(a ';' at character 10"),
    ("SET", PG, "SET statement_timeout = 0", r"only a read-only SELECT .* starts with SET"),
    ("EXPLAIN ANALYZE runs the statement", PG, "EXPLAIN ANALYZE SELECT 1", r"starts with EXPLAIN"),
    # --- MariaDB: backticks, '1--1' (not a comment in MySQL), files, executable comments
    ("backticked LOAD_FILE", MY, "SELECT `LOAD_FILE`('/etc/passwd')", NOT_PURE.format("load_file")),
    ("1--1 is not a comment", MY, "SELECT 1--1, LOAD_FILE('/etc/passwd')", NOT_PURE.format("load_file")),
    ("INTO OUTFILE after 1--1", MY, "SELECT 1--1 AS a INTO OUTFILE '{probe}'", r"SELECT \.\.\. INTO creates a table, sets a variable or writes a file"),
    ("INTO DUMPFILE", MY, "SELECT 1 AS a INTO DUMPFILE '{probe}'", r"SELECT \.\.\. INTO .* writes a file"),
    ("INTO OUTFILE at the end", MY, "SELECT id FROM {table} INTO OUTFILE '{probe}'", r"SELECT \.\.\. INTO .* writes a file"),
    ("lower-case load_file", MY, "SELECT load_file('/etc/passwd')", NOT_PURE.format("load_file")),
    ("space before the parenthesis", MY, "SELECT LOAD_FILE ('/etc/passwd')", NOT_PURE.format("load_file")),
    ("hash comment hides nothing", MY, "SELECT 1 # note\n, LOAD_FILE('/etc/passwd')", NOT_PURE.format("load_file")),
    ("executable comment", MY, "SELECT /*!50000 LOAD_FILE('/etc/passwd')*/", r"MySQL executable comment"),
    ("MariaDB executable comment", MY, "SELECT 1 /*M!100000 , LOAD_FILE('/etc/passwd') */", r"MySQL executable comment"),
    ("optimizer hint lifts the time limit", MY, "SELECT /*+ MAX_EXECUTION_TIME(100000) */ 1", r"optimizer hints"),
    ("SLEEP", MY, "SELECT SLEEP(10)", NOT_PURE.format("sleep")),
    ("BENCHMARK", MY, "SELECT BENCHMARK(100000000, MD5('a'))", NOT_PURE.format("benchmark")),
    ("server variable", MY, "SELECT @@secure_file_priv", r"server, session or bind variables"),
    ("stored function", MY, "SELECT test.doppel_anything()", r"schema-qualified function test\.doppel_anything\(\)"),
    ("lock in share mode", MY, "SELECT * FROM {table} LOCK IN SHARE MODE", r"FOR SHARE locks rows"),
    ("second statement after a hash comment", MY, "SELECT 1 # note\n;DROP TABLE {table}", r"more than one statement"),
    ("second statement", MY, "SELECT 1;DROP TABLE {table}", r"more than one statement"),
    ("HANDLER reads without SELECT", MY, "HANDLER {table} OPEN", r"starts with HANDLER"),
    # --- strange input: a clear message, never a raw parser exception
    ("nested 500 levels deep", PG, "SELECT " + "(" * 500 + "1" + ")" * 500 + " AS v", r"nested too deeply to be checked"),
    ("unterminated string", MY, "SELECT 'open", r"unterminated string"),
    ("only a comment", PG, "/* SELECT 1 */", r"holds only comments"),
]


def _url(dialect: str) -> str:
    return POSTGRES_URL if dialect == PG else MARIADB_URL


def _players(db: LoadedDatabase) -> str:
    return db.qualified(db.players)


def _count(db: LoadedDatabase) -> int:
    engine_ = sa.create_engine(db.url)
    try:
        with engine_.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {_players(db)}").scalar_one())
    finally:
        engine_.dispose()


@pytest.fixture
def databases(postgres_baseball: LoadedDatabase, mariadb_baseball: LoadedDatabase) -> dict[str, LoadedDatabase]:
    return {PG: postgres_baseball, MY: mariadb_baseball}


@pytest.mark.parametrize(("case", "dialect", "query", "refusal"), ATTACKS, ids=[row[0] for row in ATTACKS])
def test_attack_is_refused_with_a_named_reason_and_nothing_runs(
    databases: dict[str, LoadedDatabase], case: str, dialect: str, query: str, refusal: str
):
    db = databases[dialect]
    probe = f"/tmp/doppel_probe_{uuid.uuid4().hex}"
    with pytest.raises(InputError, match=refusal):
        engine.read_sql(db.url, query=query.format(table=_players(db), probe=probe), allow_private=True)
    assert not os.path.exists(probe)
    assert _count(db) == db.players_frame.height


def test_refusal_names_the_character_where_the_function_is():
    with pytest.raises(InputError, match=r"pg_ls_dir\(\) .* \(character 19\)"):
        check_read_only_query("SELECT pg_catalog.\"pg_ls_dir\"('/')", dialect=PG)


# ------------------------------------------------------------------ ordinary queries pass

Expected = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


def _hr_by_player(players: pl.DataFrame, batting: pl.DataFrame) -> pl.DataFrame:
    return (
        batting.join(players, left_on="players_id", right_on="id")
        .group_by("players_id")
        .agg(pl.col("HR").sum().alias("hr"), pl.len().alias("seasons"))
        .filter(pl.col("seasons") >= 10)
        .sort("players_id")
    )


ORDINARY: list[tuple[str, str, str, Expected]] = [
    (
        "join and group by",
        "SELECT b.players_id, sum(b.{q}HR{q}) AS hr, count(*) AS seasons FROM {batting} AS b JOIN {players} AS p "
        "ON p.id = b.players_id GROUP BY b.players_id HAVING count(*) >= 10 ORDER BY b.players_id",
        _hr_by_player,
    ),
    (
        "window function",
        "SELECT id, row_number() OVER (ORDER BY id) AS rn FROM {players} ORDER BY id",
        lambda players, _: players.sort("id").select("id", pl.int_range(1, pl.len() + 1).alias("rn")),
    ),
    (
        "CASE, CAST and string functions",
        "SELECT id, CASE WHEN height > 75 THEN 'tall' ELSE 'short' END AS size, CAST(weight AS DECIMAL(6, 1)) AS w, "
        "upper(substring({q}nameLast{q}, 1, 3)) AS tag, length({q}nameLast{q}) AS n FROM {players} ORDER BY id",
        lambda players, _: players.sort("id").select(
            "id",
            pl.when(pl.col("height") > 75).then(pl.lit("tall")).otherwise(pl.lit("short")).alias("size"),
            pl.col("weight").cast(pl.Float64).alias("w"),
            pl.col("nameLast").str.slice(0, 3).str.to_uppercase().alias("tag"),
            pl.col("nameLast").str.len_chars().cast(pl.Int64).alias("n"),
        ),
    ),
    (
        "date functions",
        "SELECT id, extract(year FROM {q}birthDate{q}) AS y FROM {players} WHERE {q}birthDate{q} >= CAST('1970-01-01' AS DATE) ORDER BY id",
        lambda players, _: players.filter(pl.col("birthDate") >= pl.date(1970, 1, 1)).sort("id").select(
            "id", pl.col("birthDate").dt.year().cast(pl.Int64).alias("y")
        ),
    ),
    (
        "a column named update and a literal 'delete me'",
        "SELECT id AS {q}update{q}, 'delete me' AS note FROM {players} WHERE id LIKE 'a%' ORDER BY id",
        lambda players, _: players.filter(pl.col("id").str.starts_with("a")).sort("id").select(
            pl.col("id").alias("update"), pl.lit("delete me").alias("note")
        ),
    ),
]


@pytest.mark.parametrize("dialect", [PG, MY], ids=["postgresql", "mariadb"])
@pytest.mark.parametrize(("case", "query", "expected"), ORDINARY, ids=[row[0] for row in ORDINARY])
def test_ordinary_analytic_query_returns_the_right_rows(
    databases: dict[str, LoadedDatabase], dialect: str, case: str, query: str, expected: Expected
):
    db = databases[dialect]
    quote = '"' if dialect == PG else "`"
    sql = query.format(q=quote, players=_players(db), batting=db.qualified(db.batting))
    frame = engine.read_sql(db.url, query=sql, allow_private=True)
    want = expected(db.players_frame, db.batting_frame)
    assert frame.columns == want.columns
    assert frame.cast({name: want.schema[name] for name in want.columns}).equals(want)


# ------------------------------------------------- the server reads what the guard checked

AGREEMENT: list[tuple[str, str, str, object]] = [
    ("1--1 is arithmetic in MySQL", MY, "SELECT 1--1 AS v", 2),
    ("1--1 starts a comment in PostgreSQL", PG, "SELECT 1--1\n AS v", 1),
    ("a backslash is a character in a PostgreSQL string", PG, "SELECT 'a\\' AS v", "a\\"),
    ("an E'' string escapes in PostgreSQL", PG, "SELECT E'it\\'s' AS v", "it's"),
    ("a dollar-quoted string", PG, "SELECT $q$ it's; DROP $q$ AS v", " it's; DROP "),
    ("nested comments in PostgreSQL", PG, "SELECT 1 /* a /* b */ , 2 */ AS v", 1),
    ("a backslash escapes in a MySQL string", MY, "SELECT 'it\\'s; \\\\' AS v", "it's; \\"),
    ("a hash comment in MySQL", MY, "SELECT 'x' # , LOAD_FILE('/etc/passwd')\n AS v", "x"),
    ("FROM DUAL stays the dummy table", MY, "SELECT 7 AS v FROM DUAL", 7),
    ("REGEXP runs on MariaDB too", MY, "SELECT 'abc' REGEXP '^a' AS v", 1),
    ("percent signs are not placeholders", PG, "SELECT 'a%%s%' AS v", "a%%s%"),
]


@pytest.mark.parametrize(("case", "dialect", "query", "value"), AGREEMENT, ids=[row[0] for row in AGREEMENT])
def test_the_server_runs_exactly_what_was_checked(case: str, dialect: str, query: str, value: object):
    frame = engine.read_sql(_url(dialect), query=query, allow_private=True)
    assert frame.columns == ["v"]
    got = frame["v"][0]
    assert (got.decode() if isinstance(got, bytes) else got) == value


def test_catalog_queries_of_the_platform_pass(databases: dict[str, LoadedDatabase]):
    from infra.usecases import database_sources

    for dialect, db in databases.items():
        tables = database_sources._TABLES_SQL.format(schemas="'pg_catalog', 'information_schema', 'mysql'")
        keys = database_sources._KEYS_SQL.format(schemas="'pg_catalog', 'information_schema', 'mysql'")
        assert check_read_only_query(tables, dialect=dialect)
        assert check_read_only_query(keys, dialect=dialect)
        frame = engine.read_sql(db.url, query=tables, allow_private=True)
        frame = frame.rename({name: name.lower() for name in frame.columns})  # MariaDB: TABLE_NAME
        assert db.players in frame["table_name"].to_list()


@pytest.fixture
def postgres_role_without_standard_strings() -> Iterator[str]:
    """A PostgreSQL login whose sessions start with standard_conforming_strings = off."""
    role = f"dp_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'ALTER ROLE "{role}" SET standard_conforming_strings = off')
    try:
        yield sa.make_url(POSTGRES_URL).set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def test_a_backslash_cannot_end_a_literal_on_a_server_reading_escapes(postgres_role_without_standard_strings: str):
    # Checked as one string literal; a server reading backslash escapes would see the literal
    # end after x\' and run "chr(33) AS w" as SQL. The read pins standard strings for its
    # transaction, so the server reads the literal the guard checked.
    query = "SELECT 'x\\'' AS v, chr(33) AS w --' AS v"
    frame = engine.read_sql(postgres_role_without_standard_strings, query=query, allow_private=True)
    assert frame.columns == ["v"]
    assert frame["v"][0] == "x\\' AS v, chr(33) AS w --"


def test_mariadb_session_modes_cannot_change_how_a_checked_literal_is_read():
    # A server (or a session default) with NO_BACKSLASH_ESCAPES and ANSI_QUOTES reads the
    # guard's rendering differently; the read-only transaction takes both modes out.
    from engine.data.sql import _begin_read_only

    rendered = check_read_only_query("SELECT 'a\\\\b' AS v, \"it's\" AS w", dialect=MY)
    engine_ = sa.create_engine(MARIADB_URL)
    try:
        with engine_.connect() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'")
            _begin_read_only(conn, "mysql", 5, snapshot=False)
            row = conn.exec_driver_sql(rendered).one()
            conn.rollback()
    finally:
        engine_.dispose()
    assert tuple(row) == ("a\\b", "it's")
