"""engine.read_sql and engine.read_sql_tables against the real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import polars as pl
import pytest
import sqlalchemy as sa

import engine
from engine.data.connections import check_connection_url
from engine.data.sql import DeclaredForeignKey, SqlTables, _read_only_connection, _stream
from engine.errors import ConfigError, InputError, LimitExceededError, SourceUnavailableError, UnsafeConnectionError
from tests.conftest import MARIADB_URL, POSTGRES_URL
from tests.engine.data_fixtures import LoadedDatabase

pytestmark = pytest.mark.services


def _count(db: LoadedDatabase, table: str) -> int:
    engine_ = sa.create_engine(db.url)
    try:
        with engine_.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote_identifier
            name = f"{quote(db.schema)}.{quote(table)}" if db.schema else quote(table)
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
    finally:
        engine_.dispose()


def _sorted(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.sort(list(keys))


def test_table_reads_every_row_with_types(baseball_db: LoadedDatabase):
    frame = engine.read_sql(baseball_db.url, table=baseball_db.qualified(baseball_db.players), allow_private=True)
    expected = baseball_db.players_frame
    assert frame.shape == expected.shape
    assert frame.schema["birthDate"] == pl.Date
    assert frame.schema["weight"] == pl.Int64
    assert _sorted(frame, "id").equals(_sorted(expected, "id"))


def test_select_query_reads_its_result(baseball_db: LoadedDatabase):
    quote = '"' if baseball_db.family == "postgresql" else "`"
    table = f"{quote}{baseball_db.schema}{quote}.{quote}{baseball_db.batting}{quote}" if baseball_db.schema else f"{quote}{baseball_db.batting}{quote}"
    query = f"SELECT players_id, year, {quote}HR{quote} FROM {table} WHERE team LIKE 'B%' AND year >= 1990"
    frame = engine.read_sql(baseball_db.url, query=query, allow_private=True)
    expected = baseball_db.batting_frame.filter(pl.col("team").str.starts_with("B") & (pl.col("year") >= 1990)).select(
        "players_id", "year", "HR"
    )
    assert _sorted(frame, "players_id", "year", "HR").equals(_sorted(expected, "players_id", "year", "HR"))


def test_with_query_is_accepted(baseball_db: LoadedDatabase):
    table = baseball_db.qualified(baseball_db.players)
    query = f"WITH tall AS (SELECT id, height FROM {table} WHERE height > 75) SELECT count(*) AS n FROM tall"
    frame = engine.read_sql(baseball_db.url, query=query, allow_private=True)
    assert frame["n"][0] == baseball_db.players_frame.filter(pl.col("height") > 75).height


def test_several_tables_come_with_their_declared_keys(baseball_db: LoadedDatabase):
    result = engine.read_sql_tables(
        baseball_db.url,
        tables=[baseball_db.players, baseball_db.batting],
        schema=baseball_db.schema,
        allow_private=True,
    )
    assert isinstance(result, SqlTables)
    assert result.frames[baseball_db.players].height == baseball_db.players_frame.height
    assert result.frames[baseball_db.batting].height == baseball_db.batting_frame.height
    assert result.primary_keys == {baseball_db.players: ["id"], baseball_db.batting: []}
    assert result.foreign_keys == [
        DeclaredForeignKey(
            child_table=baseball_db.batting,
            child_columns=["players_id"],
            parent_table=baseball_db.players,
            parent_columns=["id"],
        )
    ]


def test_all_tables_of_a_schema_are_read_when_none_are_named(postgres_baseball: LoadedDatabase):
    result = engine.read_sql_tables(postgres_baseball.url, schema=postgres_baseball.schema, allow_private=True)
    assert sorted(result.frames) == ["batting", "players"]


def test_unknown_table_lists_the_tables_there(postgres_baseball: LoadedDatabase):
    with pytest.raises(InputError, match=r"table 'pitching' not found in schema '.*'.*tables there: batting, players"):
        engine.read_sql(postgres_baseball.url, table=f"{postgres_baseball.schema}.pitching", allow_private=True)


def test_sample_of_a_table_is_seeded_and_in_key_order(baseball_db: LoadedDatabase):
    table = baseball_db.qualified(baseball_db.players)
    first = engine.read_sql(baseball_db.url, table=table, n=40, seed=5, allow_private=True)
    again = engine.read_sql(baseball_db.url, table=table, n=40, seed=5, allow_private=True)
    other = engine.read_sql(baseball_db.url, table=table, n=40, seed=6, allow_private=True)
    assert first.height == 40
    assert first.equals(again)
    assert not first.equals(other)
    assert first["id"].is_sorted()


def test_same_seed_samples_the_same_rows_on_both_servers(postgres_baseball: LoadedDatabase, mariadb_baseball: LoadedDatabase):
    from_pg = engine.read_sql(postgres_baseball.url, table=postgres_baseball.qualified("players"), n=25, seed=8, allow_private=True)
    from_maria = engine.read_sql(mariadb_baseball.url, table=mariadb_baseball.players, n=25, seed=8, allow_private=True)
    assert from_pg["id"].to_list() == from_maria["id"].to_list()


def test_more_rows_than_the_cap_is_refused(baseball_db: LoadedDatabase):
    table = baseball_db.qualified(baseball_db.batting)
    with pytest.raises(LimitExceededError, match=r"returns more than 100 rows \(row_cap\)"):
        engine.read_sql(baseball_db.url, table=table, row_cap=100, allow_private=True)


def test_a_sample_may_come_from_more_rows_than_the_cap(baseball_db: LoadedDatabase):
    table = baseball_db.qualified(baseball_db.batting)
    assert engine.read_sql(baseball_db.url, table=table, row_cap=100, n=50, allow_private=True).height == 50


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {table}",
        "SELECT 1; DROP TABLE {table}",
        "UPDATE {table} SET id = 'x'",
        "WITH gone AS (DELETE FROM {table} RETURNING *) SELECT * FROM gone",
        "SELECT * FROM {table} FOR UPDATE",
        "SELECT * INTO doppel_copy FROM {table}",
    ],
)
def test_non_select_statements_are_refused_and_the_table_is_intact(baseball_db: LoadedDatabase, statement: str):
    table = baseball_db.qualified(baseball_db.players)
    before = _count(baseball_db, baseball_db.players)
    with pytest.raises(InputError, match=r"refused|only a read-only SELECT|more than one statement"):
        engine.read_sql(baseball_db.url, query=statement.format(table=table), allow_private=True)
    assert _count(baseball_db, baseball_db.players) == before == baseball_db.players_frame.height


def _run_past_the_guard(url: str, sql: str) -> None:
    """Run ``sql`` the way read_sql does once the guard has passed it: the second lock alone."""
    checked = check_connection_url(url, allow_private=True)
    with _read_only_connection(checked, timeout_s=5) as conn:
        _stream(conn, sql, what="the query", url=checked, timeout_s=5, row_cap=10, sample=None, n=None, seed=0)


def test_postgres_refuses_a_write_hidden_in_a_select(postgres_baseball: LoadedDatabase):
    sequence = f'"{postgres_baseball.schema}"."{postgres_baseball.sequence}"'
    with pytest.raises(InputError, match=r"the function nextval\(\) is not on the allow-list of pure functions"):
        engine.read_sql(postgres_baseball.url, query=f"SELECT nextval('{sequence}')", allow_private=True)
    # Underneath the guard, the read-only transaction refuses the write as well.
    with pytest.raises(InputError, match=r"tried to write, and the read-only transaction refused it: cannot execute nextval\(\)"):
        _run_past_the_guard(postgres_baseball.url, f"SELECT nextval('{sequence}')")


@pytest.fixture
def mariadb_writing_function() -> Iterator[tuple[str, str]]:
    """A stored function that inserts a row, and the table it writes to."""
    token = uuid.uuid4().hex[:10]
    table, function = f"dp_{token}_log", f"dp_{token}_touch"
    engine_ = sa.create_engine(MARIADB_URL)
    with engine_.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE `{table}` (x INT)")
        conn.exec_driver_sql(
            f"CREATE FUNCTION `{function}`() RETURNS INT MODIFIES SQL DATA "
            f"BEGIN INSERT INTO `{table}` VALUES (1); RETURN 1; END"
        )
    try:
        yield table, function
    finally:
        with engine_.begin() as conn:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS `{function}`")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
        engine_.dispose()


def test_mariadb_refuses_a_write_hidden_in_a_select(mariadb_writing_function: tuple[str, str]):
    table, function = mariadb_writing_function
    with pytest.raises(InputError, match=rf"the function {function.lower()}\(\) is not on the allow-list of pure functions"):
        engine.read_sql(MARIADB_URL, query=f"SELECT `{function}`() AS touched", allow_private=True)
    # Underneath the guard, the read-only transaction refuses the write as well.
    with pytest.raises(InputError, match=r"read-only transaction refused it: Cannot execute statement in a READ ONLY transaction"):
        _run_past_the_guard(MARIADB_URL, f"SELECT `{function}`() AS touched")
    engine_ = sa.create_engine(MARIADB_URL)
    try:
        with engine_.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM `{table}`").scalar_one() == 0
    finally:
        engine_.dispose()


# pg_sleep and SLEEP are not pure functions and the guard refuses them; a big cross join of
# generated rows is slow with allowed functions only.
_SLOW_QUERIES = [
    (POSTGRES_URL, "SELECT count(*) AS n FROM generate_series(1, 100000) AS a CROSS JOIN generate_series(1, 100000) AS b"),
    (
        MARIADB_URL,
        "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) "
        "SELECT count(*) AS n FROM r AS a CROSS JOIN r AS b CROSS JOIN r AS c",
    ),
]


@pytest.mark.parametrize(("url", "slow"), _SLOW_QUERIES, ids=["postgresql", "mariadb"])
def test_statement_timeout_stops_a_slow_query(url: str, slow: str):
    with pytest.raises(LimitExceededError, match=r"ran longer than the statement timeout of 0\.5 s"):
        engine.read_sql(url, query=slow, statement_timeout_s=0.5, allow_private=True)


@pytest.mark.parametrize("url", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_a_statement_without_a_result_set_is_a_named_input_error(url: str):
    # MySQL's SELECT ... INTO @variable answers with a status, not rows; before, that reached
    # the user as SQLAlchemy's ResourceClosedError. The guard refuses it up front ...
    if url == MARIADB_URL:
        with pytest.raises(InputError, match=r"SELECT \.\.\. INTO creates a table, sets a variable or writes a file"):
            engine.read_sql(url, query="SELECT 1 INTO @doppel_x", allow_private=True)
        # ... and the reader names the case if such a statement ever gets past it.
        with pytest.raises(InputError, match=r"the query returned no result set"):
            _run_past_the_guard(url, "SELECT 1 INTO @doppel_x")
    else:
        with pytest.raises(InputError, match=r"the query returns rows without any column"):
            engine.read_sql(url, query="SELECT", allow_private=True)


@pytest.fixture
def mariadb_user() -> Iterator[tuple[str, str]]:
    """A MariaDB user with a known password, dropped afterwards."""
    user, password = f"dp_{uuid.uuid4().hex[:8]}", f"right-{uuid.uuid4().hex[:12]}"
    engine_ = sa.create_engine(MARIADB_URL)
    with engine_.begin() as raw_conn:
        conn = raw_conn.execution_options(no_parameters=True)
        for host in ("%", "localhost", "127.0.0.1"):
            conn.exec_driver_sql(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
            conn.exec_driver_sql(f"GRANT SELECT ON test.* TO '{user}'@'{host}'")
    try:
        yield user, password
    finally:
        with engine_.begin() as raw_conn:
            conn = raw_conn.execution_options(no_parameters=True)
            for host in ("%", "localhost", "127.0.0.1"):
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'{host}'")
        engine_.dispose()


def test_wrong_password_is_source_unavailable_without_the_password(mariadb_user: tuple[str, str]):
    user, password = mariadb_user
    right = engine.read_sql(f"mysql://{user}:{password}@127.0.0.1:3306/test", query="SELECT 1 AS ok", allow_private=True)
    assert right["ok"].to_list() == [1]
    wrong = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(SourceUnavailableError, match=r"refused the user name or password") as caught:
        engine.read_sql(f"mysql://{user}:{wrong}@127.0.0.1:3306/test", query="SELECT 1 AS ok", allow_private=True)
    assert wrong not in str(caught.value)
    assert user in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_port_is_source_unavailable(scheme: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceUnavailableError, match=rf"could not be reached at .*127\.0\.0\.1:{port}"):
        engine.read_sql(f"{scheme}://someone:secret-pw@127.0.0.1:{port}/test", query="SELECT 1", allow_private=True)


def test_unknown_database_is_source_unavailable():
    with pytest.raises(SourceUnavailableError, match=r"the database does not exist"):
        engine.read_sql("postgresql://postgres@127.0.0.1:5432/doppel_no_such_db", query="SELECT 1", allow_private=True)


@pytest.mark.parametrize("url", [POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def test_loopback_database_is_refused_by_default(url: str):
    with pytest.raises(UnsafeConnectionError, match=r"'127\.0\.0\.1' is a loopback address"):
        engine.read_sql(url, query="SELECT 1")


def test_loopback_database_is_allowed_by_its_cidr_on_the_allow_list():
    frame = engine.read_sql(POSTGRES_URL, query="SELECT 41 + 1 AS answer", allowed_hosts=["127.0.0.0/8"])
    assert frame["answer"].to_list() == [42]


def test_query_with_percent_signs_and_quoted_keywords(postgres_baseball: LoadedDatabase):
    table = postgres_baseball.qualified(postgres_baseball.players)
    query = f"""SELECT id AS "update", 'delete; me' AS note FROM {table} WHERE "nameLast" LIKE '%son' -- no ; here"""
    frame = engine.read_sql(postgres_baseball.url, query=query, allow_private=True)
    assert frame.columns == ["update", "note"]
    assert frame.height == postgres_baseball.players_frame.filter(pl.col("nameLast").str.ends_with("son")).height


def test_query_returning_no_rows_is_an_input_error(postgres_baseball: LoadedDatabase):
    table = postgres_baseball.qualified(postgres_baseball.players)
    with pytest.raises(InputError, match="the query returned no rows"):
        engine.read_sql(postgres_baseball.url, query=f"SELECT * FROM {table} WHERE 1 = 0", allow_private=True)


def test_duplicate_column_names_are_refused(postgres_baseball: LoadedDatabase):
    table = postgres_baseball.qualified(postgres_baseball.players)
    with pytest.raises(InputError, match="two columns named 'id'"):
        engine.read_sql(postgres_baseball.url, query=f"SELECT id, id FROM {table}", allow_private=True)


def test_table_and_query_together_are_a_config_error():
    with pytest.raises(ConfigError, match="exactly one of table= .* or query="):
        engine.read_sql(POSTGRES_URL, table="t", query="SELECT 1", allow_private=True)
