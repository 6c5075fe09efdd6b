"""Helpers of the job tests: small real data in the store, a tiny trained model, waiting on job rows."""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from infra.db import Database, tenant_session
from infra.db.models import Job
from infra.records import catalog
from infra.records.authz import Actor
from infra.records.job_records import get_job
from infra.records.tenancy import ensure_tenant, ensure_user, set_member
from infra.storage import ObjectStore

if TYPE_CHECKING:
    from tests.workers.conftest import Embedded

COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]
FAST_TRANSFORMER = {"n_modes": 3, "gmm_sample_rows": 500, "gmm_max_iter": 20}
"""Transformer settings that fit in well under a second on a few hundred rows."""

FAST_TRAINING = {"batch_size": 200, "transformer_params": FAST_TRANSFORMER}


def read_adult(path: Path, *, rows: int, seed: int = 0, columns: list[str] | None = COLUMNS) -> pl.DataFrame:
    """A sample of adult.csv (six columns unless ``columns=None``; leading spaces stripped, '?' as null)."""
    frame = pl.read_csv(path)
    frame = frame.select(columns) if columns is not None else frame
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(strings).str.strip_chars_start()).with_columns(
        pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c in strings
    )
    return frame.sample(rows, seed=seed)


def new_tenant(database: Database, *, tier: str = "starter") -> str:
    name = f"w-{uuid.uuid4().hex[:12]}"
    with tenant_session(name, database=database) as session:
        ensure_tenant(session, display_name=name, tier=tier, actor="test-admin")
    return name


def member(database: Database, tenant: str, *, role: str = "member", name: str = "ana") -> Actor:
    """A new user with ``role`` in ``tenant``, as the login layer hands it to the services."""
    tag = uuid.uuid4().hex[:8]
    with tenant_session(tenant, database=database) as session:
        user = ensure_user(session, subject=f"test|{name}-{tag}", email=f"{name}-{tag}@example.org")
        set_member(session, user_id=user.id, role=role, actor="test-admin")
        return Actor(user_id=user.id, label=user.email or user.subject)


def store_dataset(database: Database, store: ObjectStore, tenant: str, frame: pl.DataFrame, *, name: str = "adult") -> str:
    """Upload ``frame`` as a new dataset's version 1 (Parquet in the store); returns the version id."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    with tenant_session(tenant, database=database) as session:
        dataset = catalog.create_dataset(session, name=f"{name}-{uuid.uuid4().hex[:6]}", actor="test")
        key = f"datasets/{dataset.id}/v1/data.parquet"
        store.for_tenant(tenant).put_bytes(key, data)
        version = catalog.add_dataset_version(
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(), source={"test": True},
            profile={}, actor="test", object_key=key, n_rows=frame.height, n_columns=frame.width, n_bytes=len(data),
        )
        return version.id


@dataclass(frozen=True)
class StoredModel:
    dataset_version_id: str
    model_version_id: str


def store_model_version(database: Database, store: ObjectStore, tenant: str, frame: pl.DataFrame,
                        model_bytes: bytes) -> StoredModel:
    """Register an already trained model (zip bytes) as version 1 of a new model line."""
    dataset_version_id = store_dataset(database, store, tenant, frame)
    with tenant_session(tenant, database=database) as session:
        version = catalog.get_dataset_version(session, dataset_version_id)
        line = catalog.create_model(session, name=f"m-{uuid.uuid4().hex[:6]}", dataset_id=version.dataset_id,
                                    actor="test")
        key = f"models/{line.id}/seed.zip"
        info = store.for_tenant(tenant).put_bytes(key, model_bytes)
        model_version = catalog.register_model_version(
            session, model_id=line.id, dataset_version_id=dataset_version_id, model_type="tvae", config={},
            metrics={}, actor="test", object_key=key, content_hash=info.sha256, n_bytes=info.size,
        )
        return StoredModel(dataset_version_id, model_version.id)


def tenant_with_dataset(database: Database, store: ObjectStore, frame: pl.DataFrame, *,
                        tier: str = "starter") -> tuple[str, Actor, str]:
    """A new tenant, a member of it (ana) and ``frame`` stored as a dataset version: (tenant, ana, version id)."""
    tenant = new_tenant(database, tier=tier)
    return tenant, member(database, tenant), store_dataset(database, store, tenant, frame)


def tenant_with_model(database: Database, store: ObjectStore, frame: pl.DataFrame, model_bytes: bytes, *,
                      tier: str = "starter") -> tuple[str, Actor, StoredModel]:
    """A new tenant, a member of it (ana) and a model version of ``model_bytes``: (tenant, ana, stored model)."""
    tenant = new_tenant(database, tier=tier)
    return tenant, member(database, tenant), store_model_version(database, store, tenant, frame, model_bytes)


def tvae_model_bytes(frame: pl.DataFrame, *, epochs: int) -> bytes:
    """A TVAE trained on ``frame`` for ``epochs`` epochs (fast settings, CPU), as model-file zip bytes."""
    import engine

    model = engine.train(frame, model="tvae", epochs=epochs, seed=0, device="cpu", **FAST_TRAINING)
    with tempfile.TemporaryDirectory() as tmp:
        return model.save(Path(tmp) / "model.zip").read_bytes()


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    Every wait lasts on average half an ``interval`` longer than its condition takes: polls are
    small queries, so they are frequent."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def job_row(database: Database, tenant: str, job_id: str) -> Job:
    with tenant_session(tenant, database=database) as session:
        return get_job(session, job_id)


def wait_for_state(database: Database, tenant: str, job_id: str, states: tuple[str, ...], *, timeout: float) -> Job:
    def done() -> Job | None:
        job = job_row(database, tenant, job_id)
        return job if job.state in states else None

    return wait_for(done, timeout=timeout, what=f"job {job_id} to reach {states}")  # type: ignore[return-value]


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if text in cmdline and "State:\tZ" not in status:
            pids.append(int(entry.name))
    return pids


@contextmanager
def own_platform(folder: Path, *, environment: dict[str, str] | None = None) -> Iterator[Embedded]:
    """A module's own embedded platform (SQLite, local store, in-process worker) under ``environment``'s settings.

    The worker environment in use before (another module's) is given back afterwards, and the
    settings cache is cleared on both ends so that ``environment`` is read inside only.
    """
    import pytest

    from infra.db import migrate
    from infra.jobs.queue import stop_embedded_worker
    from infra.settings import get_settings
    from infra.storage import LocalStore
    from tests.workers.conftest import Embedded, job_settings
    from workers import environment as worker_environment
    from workers.environment import WorkerEnvironment, use_environment

    url = f"sqlite:///{folder / 'doppel.db'}"
    migrate(url)
    database = Database(url)
    store = LocalStore(folder / "objects")
    settings = job_settings(folder, database_url=url, storage_url=store.url)
    platform = WorkerEnvironment(settings=settings, database=database, store=store)
    before = worker_environment._environment  # noqa: SLF001 - handed back after this module
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (environment or {}).items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        use_environment(platform)
        try:
            yield Embedded(database, store, settings, platform)
        finally:
            stop_embedded_worker()
            use_environment(before)
            database.dispose()
    get_settings.cache_clear()
