"""Crash and take-over with the real services: Redis broker, PostgreSQL with RLS, worker processes.

A worker process (``python -m workers``) is killed with SIGKILL in the middle of a job; a
second worker, already running, gets the message again from Dramatiq's Redis broker (the dead
worker's unacknowledged message is requeued once its broker heartbeat is silent), claims the
job when its lease has expired, and finishes it: a training job from its last checkpoint, a
generation job from the start, with nothing half-written ever visible.
"""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator

import polars as pl
import pytest
from sqlalchemy import select

from infra.db import tenant_session
from infra.db.models import GeneratedDataset, ModelVersion
from infra.jobs.broker import build_broker
from infra.jobs.queue import message_for
from infra.jobs.routing import queue_for
from infra.records.job_records import submit_job
from infra.settings import Settings
from infra.storage import LocalStore
from tests.workers.services_support import JobServices, alive, children_of, provision_services
from tests.workers.support import (
    FAST_TRAINING,
    job_row,
    new_tenant,
    store_dataset,
    store_model_version,
    wait_for,
    wait_for_state,
)
from workers.training import checkpoint_key

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServices]:
    yield from provision_services(tmp_path_factory.mktemp("crash"))


@pytest.fixture
def workers(services: JobServices) -> Iterator[JobServices]:
    yield services
    services.stop_workers()


def _submit(services: JobServices, tenant: str, *, kind: str, payload: dict) -> str:
    """Create the job row and send its message to Redis, as ``infra.jobs.submit`` does."""
    with tenant_session(tenant, database=services.database) as session:
        job = submit_job(session, kind=kind, queue=queue_for(kind, tier="starter"), payload=payload, actor="test")
    broker = build_broker(Settings(broker_url=services.redis_url))
    broker.enqueue(message_for(kind=kind, queue=job.queue, tenant=tenant, job_id=job.id))
    broker.close()
    return job.id


def _new_model_line(services: JobServices, tenant: str, dataset_version_id: str) -> str:
    from infra.records import catalog

    with tenant_session(tenant, database=services.database) as session:
        version = catalog.get_dataset_version(session, dataset_version_id)
        return catalog.create_model(session, name="crash-test", dataset_id=version.dataset_id, actor="test").id


def test_a_training_job_survives_kill_9_of_its_worker_and_resumes_from_the_last_checkpoint(
    workers: JobServices, adult: pl.DataFrame
) -> None:
    store = LocalStore(workers.storage_dir)
    tenant = new_tenant(workers.database)
    version_id = store_dataset(workers.database, store, tenant, adult)
    model_id = _new_model_line(workers, tenant, version_id)
    job_id = _submit(workers, tenant, kind="train", payload={
        "dataset_version_id": version_id, "model_id": model_id, "model": "tvae", "epochs": 24, "seed": 0,
        "device": "cpu", "params": FAST_TRAINING, "checkpoint_every": 2,
    })

    first = workers.start_worker("first")
    wait_for(lambda: job_row(workers.database, tenant, job_id).state == "running", timeout=60, what="the first claim")
    second = workers.start_worker("second")  # idle until the first one dies
    tenant_store = store.for_tenant(tenant)
    wait_for(lambda: tenant_store.exists(checkpoint_key(job_id)), timeout=90, what="a checkpoint in the store")
    running = job_row(workers.database, tenant, job_id)
    assert running.lease_owner.split("/")[1] == str(first.pid) and running.progress < 1.0
    training_process = children_of(first.pid)
    assert training_process, "the training runs in a child of the worker"

    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    wait_for(lambda: not any(alive(p) for p in training_process), timeout=15, what="the orphaned training to stop")

    done = wait_for_state(workers.database, tenant, job_id, ("succeeded", "failed", "cancelled"), timeout=120)
    assert done.state == "succeeded", (done.error_message, workers.log("second"))
    assert done.attempts == 2
    assert done.result["resumed_from_epoch"] > 0, "the second attempt resumed from the checkpoint"
    assert done.result["epochs_run"] == 24
    with tenant_session(tenant, database=workers.database) as session:
        versions = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model_id)).all()
    assert [v.job_id for v in versions] == [job_id]
    assert tenant_store.stat(versions[0].object_key).sha256 == versions[0].content_hash
    assert second.poll() is None


def test_a_generation_job_killed_mid_write_leaves_nothing_visible_and_completes_elsewhere(
    workers: JobServices, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    store = LocalStore(workers.storage_dir)
    tenant = new_tenant(workers.database)
    stored = store_model_version(workers.database, store, tenant, adult, tiny_model_bytes)
    # As many rows as a request may ask (the default quota), so that the write lasts several
    # heartbeats even on a quiet machine: TVAE samples ~400k rows/s there, and with 400,000 rows
    # the job could finish between two polls.
    n_rows = 1_000_000
    job_id = _submit(workers, tenant, kind="generate", payload={
        "model_version_id": stored.model_version_id, "n_rows": n_rows, "seed": 1, "format": "parquet",
    })
    prefix = f"generated/{stored.model_version_id}/"
    tenant_store = store.for_tenant(tenant)

    first = workers.start_worker("gen-first")
    second = workers.start_worker("gen-second")
    wait_for(lambda: 0 < job_row(workers.database, tenant, job_id).progress < 1, timeout=90,
             what="generation under way")
    owner = job_row(workers.database, tenant, job_id).lease_owner.split("/")[1]
    victim = first if owner == str(first.pid) else second
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    assert tenant_store.list(prefix) == [], "a half-written dataset is never visible"
    with tenant_session(tenant, database=workers.database) as session:
        assert session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == tenant)).all() == []
    done = wait_for_state(workers.database, tenant, job_id, ("succeeded", "failed", "cancelled"), timeout=120)
    assert done.state == "succeeded", done.error_message
    assert done.attempts == 2
    assert tenant_store.list(prefix) == [f"{prefix}{job_id}.parquet"]
    frame = pl.read_parquet(io.BytesIO(tenant_store.get_bytes(f"{prefix}{job_id}.parquet")))
    assert frame.height == n_rows and frame.columns == adult.columns
    with tenant_session(tenant, database=workers.database) as session:
        generated = session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == tenant)).all()
    assert [(g.job_id, g.n_rows) for g in generated] == [(job_id, n_rows)]

