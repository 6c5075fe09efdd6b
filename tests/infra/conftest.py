"""Fixtures of the platform tests: a real S3-compatible server on loopback, and the metadata databases.

The S3 server is moto's *server mode* (``ThreadedMotoServer``), an HTTP server on 127.0.0.1
and a free port that boto3 and urllib talk to over real sockets, the way they would talk to
MinIO or AWS. It is not moto's in-process mock: nothing in boto3 is patched.

The metadata-database fixtures of ``tests.infra.db_fixtures`` (``db`` and the databases behind it)
are registered here, once for the package: a session-scoped fixture imported into several test
modules is registered, set up and migrated once per module, so each module that imported
``postgres_setup`` provisioned and migrated PostgreSQL again. A module that needs a database of
its own defines or imports its own fixture, which overrides these (``test_privacy_budget``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.engine.data_fixtures import moto_s3_endpoint
from tests.infra.db_fixtures import (  # noqa: F401  (fixtures used by name)
    db,
    make_tenant,
    postgres_setup,
    postgresql_database,
    sqlite_database,
    tenant,
)


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server and a client for it."""

    endpoint: str
    client: Any  # boto3 S3 client with path-style addressing

    def new_bucket(self, stem: str = "doppel") -> str:
        """Create an empty bucket with a unique name and return the name."""
        name = f"{stem}-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 for the whole session, with dummy credentials in the environment."""
    from infra.storage.s3 import make_s3_client

    with moto_s3_endpoint() as endpoint:
        yield S3Server(endpoint=endpoint, client=make_s3_client(endpoint_url=endpoint))


__all__ = ["S3Server", "db", "make_tenant", "postgres_setup", "postgresql_database", "s3_server", "sqlite_database",
           "tenant"]
