"""The two backends the wiring tests run on: the embedded default and the production stack.

``backend`` is parametrized:

- ``sqlite``: the ``embedded`` fixture (SQLite file, local store, the in-process Dramatiq
  worker that runs every job it is sent) and the in-process shared cache;
- ``postgresql``: a fresh PostgreSQL database reached as an app role under row-level security,
  Redis as the broker (the app process sends its messages there; ``deliver`` runs a job as a
  worker does on receiving it) and Redis as the shared cache of the rate limit.

``tests/workers/conftest.py`` registers both fixtures for the package (a session-scoped fixture
imported into test modules is set up once per module).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from infra.cache.shared import MemoryCache, RedisCache, SharedCache
from infra.db import Database
from infra.jobs.broker import build_broker, use_broker
from infra.settings import Settings
from infra.storage import LocalStore
from tests.infra.db_fixtures import migrated_postgres
from tests.workers.conftest import Embedded, job_settings
from tests.workers.support import job_row, wait_for_state
from workers.environment import WorkerEnvironment
from workers.runner import RunResult, run_job

WIRING_REDIS_URL = os.environ.get("DOPPEL_TEST_WIRING_REDIS_URL", "redis://127.0.0.1:6379/11")


@dataclass(frozen=True)
class PostgresStack:
    database: Database
    store: LocalStore
    environment: WorkerEnvironment
    redis_url: str


@dataclass(frozen=True)
class Backend:
    """Where a wiring test runs: database, store, the rate limit's cache, and how a job gets run."""

    name: str
    database: Database
    store: LocalStore
    cache: SharedCache
    environment: WorkerEnvironment

    def deliver(self, tenant: str, job_id: str, *, timeout: float = 90) -> object:
        """Run the job as a worker that received its message does; returns the finished job row.

        Embedded: the in-process worker has it already, so wait for it. PostgreSQL: the message
        sits in Redis with no worker consuming it; run it here, in this process.
        """
        if self.name == "postgresql":
            result: RunResult = run_job(tenant=tenant, job_id=job_id, environment=self.environment,
                                        worker=f"wiring-test/{uuid.uuid4().hex[:6]}")
            assert result.outcome.value in ("succeeded", "failed", "cancelled"), result
            return job_row(self.database, tenant, job_id)
        return wait_for_state(self.database, tenant, job_id, ("succeeded", "failed", "cancelled"), timeout=timeout)


@pytest.fixture(scope="session")
def postgres_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresStack]:
    """PostgreSQL (app role, RLS on) and a Redis broker for this process's messages; removed after."""
    tmp: Path = tmp_path_factory.mktemp("wiring-pg")
    client = redis.Redis.from_url(WIRING_REDIS_URL)
    client.flushdb()
    with migrated_postgres(database="doppel_wiring_test", owner_role="doppel_wiring_owner",
                           app_role="doppel_wiring_app") as setup:
        store = LocalStore(tmp / "objects")
        settings = job_settings(tmp, database_url=setup.app_url, storage_url=store.url)
        environment = WorkerEnvironment(settings=settings, database=setup.database, store=store)
        yield PostgresStack(setup.database, store, environment, WIRING_REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest, embedded: Embedded) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", embedded.database, embedded.store, MemoryCache(namespace=f"wiring-{uuid.uuid4().hex}"),
                      embedded.environment)
        return
    stack: PostgresStack = request.getfixturevalue("postgres_stack")
    # This process is the app: its messages go to Redis, as with DOPPEL_BROKER_URL set.
    redis_broker = build_broker(Settings(broker_url=stack.redis_url))
    cache = RedisCache(stack.redis_url, namespace=f"wiring-{uuid.uuid4().hex[:8]}")
    try:
        with use_broker(redis_broker):
            yield Backend("postgresql", stack.database, stack.store, cache, stack.environment)
    finally:
        redis_broker.close()
