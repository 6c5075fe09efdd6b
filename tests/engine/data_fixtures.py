"""Fixtures for the ingestion tests: real-data slices, an S3 server, loaded databases.

``tests/engine/conftest.py`` registers the fixtures for the engine tests (a test module of another
package imports those it uses by name; a session-scoped fixture imported into several modules is
set up once per module); everything here is built from the real files in the datasets folder and
the real local PostgreSQL, MariaDB and a moto S3 server on loopback.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from tests.conftest import MARIADB_URL, POSTGRES_URL

ADULT_HEAD_ROWS = 400


@pytest.fixture(scope="session")
def adult_bytes(datasets: Path) -> bytes:
    """adult.csv exactly as published (leading spaces, ``?`` for missing)."""
    return (datasets / "adult.csv").read_bytes()


@pytest.fixture(scope="session")
def adult_frame(datasets: Path) -> pl.DataFrame:
    """adult.csv as engine.read returns it, read once for the whole session."""
    import engine

    return engine.read(datasets / "adult.csv")


@pytest.fixture(scope="session")
def adult_head(adult_bytes: bytes) -> bytes:
    """The header and the first ADULT_HEAD_ROWS records of adult.csv, byte for byte."""
    lines = adult_bytes.split(b"\n")
    return b"\n".join(lines[: ADULT_HEAD_ROWS + 1]) + b"\n"


def lines_of(data: bytes) -> list[bytes]:
    """The lines of a CSV payload without their line ends."""
    return data.split(b"\n")


def replace_line(data: bytes, line_number: int, new_line: bytes) -> bytes:
    """``data`` with its 1-based line ``line_number`` replaced."""
    lines = data.split(b"\n")
    lines[line_number - 1] = new_line
    return b"\n".join(lines)


# ----------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str


@contextmanager
def moto_s3_endpoint() -> Iterator[str]:
    """moto's S3 server (its HTTP server mode, not the in-process mock) on a free loopback port.

    Yields the endpoint URL; dummy AWS credentials are in the environment while it runs. The
    engine's, the app's and the platform's S3 fixtures all start their server here.
    """
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "doppel-test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "doppel-test-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="module")
def s3_server(adult_bytes: bytes) -> Iterator[S3Server]:
    """A real moto S3 server on a free loopback port, holding adult.csv and adult.csv.gz."""
    import boto3

    with moto_s3_endpoint() as endpoint:
        bucket = f"doppel-{uuid.uuid4().hex[:10]}"
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="raw/adult.csv", Body=adult_bytes)
        client.put_object(Bucket=bucket, Key="raw/adult.csv.gz", Body=gzip.compress(adult_bytes))
        yield S3Server(endpoint=endpoint, bucket=bucket)


# ------------------------------------------------------------------------------ databases


@dataclass(frozen=True)
class LoadedDatabase:
    """Where the baseball slice was loaded: URL, schema (None = default) and table names."""

    url: str
    family: str
    schema: str | None
    players: str
    batting: str
    sequence: str | None
    players_frame: pl.DataFrame
    batting_frame: pl.DataFrame

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table


@pytest.fixture(scope="session")
def baseball_slice(datasets: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The first 300 players (by id) and all their batting rows, read with plain polars."""
    folder = datasets / "multitable" / "baseball"
    players = (
        pl.read_csv(folder / "players.csv.gz", infer_schema_length=None)
        .with_columns(pl.col("birthDate", "deathDate").str.to_date("%Y-%m-%d"))
        .sort("id")
        .head(300)
    )
    batting = pl.read_csv(folder / "batting.csv.gz", infer_schema_length=None).filter(
        pl.col("players_id").is_in(players["id"].implode())
    )
    return players, batting


def _sql_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    if dtype.is_integer():
        return sa.BigInteger()
    if dtype.is_float():
        return sa.Float()
    if dtype == pl.Date:
        return sa.Date()
    return sa.String(64)


def _create_and_fill(
    conn: sa.Connection,
    metadata: sa.MetaData,
    name: str,
    frame: pl.DataFrame,
    *,
    primary_key: str | None = None,
    foreign_key: tuple[str, str] | None = None,
) -> sa.Table:
    columns = []
    for column, dtype in frame.schema.items():
        extra = []
        if foreign_key is not None and column == foreign_key[0]:
            extra.append(sa.ForeignKey(foreign_key[1]))
        columns.append(sa.Column(column, _sql_type(dtype), *extra, primary_key=column == primary_key))
    table = sa.Table(name, metadata, *columns)
    table.create(conn)
    conn.execute(table.insert(), frame.to_dicts())
    return table


def _load(url: str, family: str, frames: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[LoadedDatabase]:
    players, batting = frames
    token = uuid.uuid4().hex[:10]
    engine = sa.create_engine(url)
    if family == "postgresql":
        schema, players_name, batting_name = f"doppel_test_{token}", "players", "batting"
    else:
        schema, players_name, batting_name = None, f"dp_{token}_players", f"dp_{token}_batting"
    sequence = f"dp_{token}_seq" if family == "postgresql" else None
    try:
        with engine.begin() as conn:
            if schema:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            metadata = sa.MetaData(schema=schema)
            parent = _create_and_fill(conn, metadata, players_name, players, primary_key="id")
            _create_and_fill(
                conn,
                metadata,
                batting_name,
                batting,
                foreign_key=("players_id", f"{parent.fullname}.id"),
            )
            if sequence:
                conn.exec_driver_sql(f'CREATE SEQUENCE "{schema}"."{sequence}"')
        yield LoadedDatabase(
            url=url,
            family=family,
            schema=schema,
            players=players_name,
            batting=batting_name,
            sequence=sequence,
            players_frame=players,
            batting_frame=batting,
        )
    finally:
        with engine.begin() as conn:
            if schema:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            else:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{batting_name}`")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{players_name}`")
        engine.dispose()


@pytest.fixture(scope="module")
def postgres_baseball(baseball_slice: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[LoadedDatabase]:
    """players (PK id) and batting (FK players_id -> players.id) in a fresh PostgreSQL schema."""
    yield from _load(POSTGRES_URL, "postgresql", baseball_slice)


@pytest.fixture(scope="module")
def mariadb_baseball(baseball_slice: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[LoadedDatabase]:
    """players (PK id) and batting (FK players_id -> players.id) under unique MariaDB names."""
    yield from _load(MARIADB_URL, "mysql", baseball_slice)


@pytest.fixture(params=["postgresql", "mysql"], ids=["postgresql", "mariadb"])
def baseball_db(request: pytest.FixtureRequest) -> LoadedDatabase:
    """The loaded baseball slice, once on PostgreSQL and once on MariaDB."""
    name = "postgres_baseball" if request.param == "postgresql" else "mariadb_baseball"
    return request.getfixturevalue(name)
