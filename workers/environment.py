"""What a worker process works with: settings, the metadata database, the object store, the model cache.

One ``WorkerEnvironment`` per process, built from the ``DOPPEL_*`` settings on first use;
tests (and the in-process worker of a test) install their own with ``use_environment``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.cache import ModelCache
from infra.db import Database, TenantSession, get_database
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore, TenantStore, open_store


@dataclass
class WorkerEnvironment:
    """The services a job runs against; every job of the process shares them (all are thread-safe)."""

    settings: Settings
    database: Database
    store: ObjectStore
    model_cache: ModelCache[Any] = None  # type: ignore[assignment] - built from ``settings`` when not given

    def __post_init__(self) -> None:
        if self.model_cache is None:  # sized by this environment's settings, not the process's
            self.model_cache = ModelCache.from_settings(self.settings)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "WorkerEnvironment":
        settings = settings or get_settings()
        return cls(settings=settings, database=get_database(settings.database_url), store=open_store(settings=settings))

    @contextmanager
    def session(self, tenant: str) -> Iterator[TenantSession]:
        """One transaction for ``tenant`` (committed at the end of the block)."""
        with self.database.tenant_session(tenant) as session:
            yield session

    def tenant_store(self, tenant: str) -> TenantStore:
        return self.store.for_tenant(tenant)


_environment: WorkerEnvironment | None = None
_lock = threading.Lock()


def get_environment() -> WorkerEnvironment:
    """This process's environment, built from the settings on first use."""
    global _environment
    with _lock:
        if _environment is None:
            _environment = WorkerEnvironment.from_settings()
        return _environment


def use_environment(environment: WorkerEnvironment | None) -> None:
    """Install ``environment`` for every job this process runs from now on (None: rebuild from settings)."""
    global _environment
    with _lock:
        _environment = environment


def worker_identity() -> str:
    """``host/pid/thread``: who holds a job's lease (unique among live workers)."""
    return f"{socket.gethostname()[:120]}/{os.getpid()}/{threading.get_ident()}"


__all__ = ["WorkerEnvironment", "get_environment", "use_environment", "worker_identity"]
