"""Fixtures of the job tests.

``embedded``: the embedded mode for real: a migrated SQLite file, a local object store, the
in-process Dramatiq worker (StubBroker + worker threads) running the actors of
``workers.tasks``, and training in real child processes. Leases are two seconds so that
cancellation and take-over are quick.

``backend`` and ``postgres_stack`` (``tests.workers.wiring_fixtures``: the two backends, PostgreSQL
under RLS with a Redis broker) are registered here, once for the package: imported into each
wiring module instead, the session-scoped stack provisioned and migrated PostgreSQL once per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from infra.db import Database, migrate
from infra.jobs.queue import stop_embedded_worker
from infra.settings import Settings
from infra.storage import LocalStore
from tests.workers.support import read_adult, tvae_model_bytes
from workers.environment import WorkerEnvironment, use_environment


@dataclass(frozen=True)
class Embedded:
    database: Database
    store: LocalStore
    settings: Settings
    environment: WorkerEnvironment


def job_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp,
        "job_lease_s": 2.0,
        "job_retry_min_backoff_s": 0.2,
        "job_retry_max_backoff_s": 1.0,
        "checkpoint_every_epochs": 2,
        "allow_private_webhook_hosts": True,
        "model_cache_max_bytes": 256 * 1024 * 1024,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=600, seed=7)


@pytest.fixture(scope="session")
def tiny_model_bytes(adult: pl.DataFrame) -> bytes:
    """A TVAE trained for two epochs on the adult sample, as model-file zip bytes."""
    return tvae_model_bytes(adult, epochs=2)


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("jobs")
    url = f"sqlite:///{tmp / 'doppel.db'}"
    migrate(url)
    database = Database(url)
    store = LocalStore(tmp / "objects")
    settings = job_settings(tmp, database_url=url, storage_url=store.url)
    environment = WorkerEnvironment(settings=settings, database=database, store=store)
    use_environment(environment)
    yield Embedded(database, store, settings, environment)
    stop_embedded_worker()
    use_environment(None)
    database.dispose()


# Registered after Embedded and job_settings exist: wiring_fixtures imports them from this module.
from tests.workers.wiring_fixtures import backend, postgres_stack  # noqa: E402

__all__ = ["Embedded", "adult", "backend", "embedded", "job_settings", "postgres_stack", "tiny_model_bytes"]
