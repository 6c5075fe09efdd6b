"""At-least-once delivery made safe by the job row; retries for hiccups only; quotas start nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import dramatiq
import polars as pl
import pytest
from dramatiq.middleware import Middleware
from sqlalchemy import func, select

from engine.errors import InputError
from infra.db import QuotaExceededError, tenant_session
from infra.db.models import GeneratedDataset, Job
from infra.jobs.broker import get_broker, should_retry
from infra.jobs.queue import enqueue
from infra.records.job_records import claim_job, submit_job
from infra.records.quotas import set_quota_overrides, stored_bytes
from infra.storage import S3Store, TransientStorageError
from infra.usecases.generation import submit_generation
from tests.workers.conftest import Embedded
from tests.workers.support import job_row, new_tenant, store_model_version, tenant_with_model, wait_for_state
from workers.environment import WorkerEnvironment
from workers.runner import Outcome, run_job
from workers.tasks import generate_dataset


class _Recorder(Middleware):
    def __init__(self) -> None:
        self.sent: list[dramatiq.Message] = []

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: int | None) -> None:
        self.sent.append(message)


@pytest.fixture
def sent(embedded: Embedded) -> Iterator[list[dramatiq.Message]]:
    """Messages the broker receives during the test."""
    broker = get_broker()
    recorder = _Recorder()
    broker.middleware.append(recorder)
    yield recorder.sent
    broker.middleware.remove(recorder)


def _queued_generation(embedded: Embedded, tenant: str, model_version_id: str, **payload: object) -> str:
    """A generation job row with no message (the test delivers it)."""
    with tenant_session(tenant, database=embedded.database) as session:
        job = submit_job(session, kind="generate", queue="cpu.starter", actor="test",
                         payload={"model_version_id": model_version_id, "n_rows": 200, "format": "parquet", **payload})
        return job.id


def _count(embedded: Embedded, tenant: str, model: type) -> int:
    with tenant_session(tenant, database=embedded.database) as session:
        return session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant))


# -- duplicate deliveries ---------------------------------------------------------------------

def test_a_delivery_for_a_job_another_worker_holds_does_nothing_and_looks_again_when_its_lease_ends(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant = new_tenant(embedded.database)
    stored = store_model_version(embedded.database, embedded.store, tenant, adult, tiny_model_bytes)
    job_id = _queued_generation(embedded, tenant, stored.model_version_id)
    with tenant_session(tenant, database=embedded.database) as session:
        claim_job(session, job_id, worker="other-host/1/1", lease_seconds=30)

    result = run_job(tenant=tenant, job_id=job_id, kind="generate")

    assert result.outcome is Outcome.DEFERRED and 29 <= result.retry_after_s <= 32
    job = job_row(embedded.database, tenant, job_id)
    assert (job.state, job.lease_owner, job.attempts) == ("running", "other-host/1/1", 1)
    with pytest.raises(dramatiq.Retry) as retry:  # the actor asks Dramatiq to deliver it again later
        generate_dataset.fn(tenant, job_id)
    assert retry.value.delay >= 29_000


def test_the_same_message_delivered_twice_runs_the_job_once(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant = new_tenant(embedded.database)
    stored = store_model_version(embedded.database, embedded.store, tenant, adult, tiny_model_bytes)
    job_id = _queued_generation(embedded, tenant, stored.model_version_id)
    job = job_row(embedded.database, tenant, job_id)

    enqueue(job)
    enqueue(job)  # what a broker redelivery looks like to the workers

    done = wait_for_state(embedded.database, tenant, job_id, ("succeeded", "failed"), timeout=60)
    get_broker().join(job.queue, timeout=30_000)
    assert done.state == "succeeded" and job_row(embedded.database, tenant, job_id).attempts == 1
    assert _count(embedded, tenant, GeneratedDataset) == 1


# -- retries ----------------------------------------------------------------------------------

def _unreachable_s3(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> WorkerEnvironment:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "doppel-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doppel-test-secret")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = S3Store.from_url("s3://doppel/objects", endpoint_url=f"http://127.0.0.1:{port}")
    return WorkerEnvironment(settings=embedded.settings, database=embedded.database, store=store)


def test_a_storage_outage_sends_the_job_back_to_the_queue_until_its_attempts_run_out(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant(embedded.database)
    stored = store_model_version(embedded.database, embedded.store, tenant, adult, tiny_model_bytes)
    job_id = _queued_generation(embedded, tenant, stored.model_version_id)
    outage = _unreachable_s3(embedded, monkeypatch)

    outcomes = [run_job(tenant=tenant, job_id=job_id, kind="generate", environment=outage) for _ in range(3)]

    assert [o.outcome for o in outcomes] == [Outcome.RETRYING, Outcome.RETRYING, Outcome.FAILED]
    assert outcomes[0].retry_after_s < outcomes[1].retry_after_s, "the backoff grows"
    job = job_row(embedded.database, tenant, job_id)
    assert (job.state, job.attempts) == ("failed", 3)
    assert "temporary problem" in job.error_message and "could not be reached" in job.error_message
    assert should_retry(0, TransientStorageError("s3 down")) and not should_retry(0, InputError("bad rows"))


def test_bad_input_fails_the_job_at_once_with_a_message_for_the_user(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)

    job = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=100,
                            conditions="salary > 10", actor=ana, database=embedded.database)

    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=60)
    assert (done.state, done.attempts) == ("failed", 1)
    assert "salary" in done.error_message
    assert _count(embedded, tenant, GeneratedDataset) == 0


# -- quotas -----------------------------------------------------------------------------------

def test_a_generation_over_the_rows_per_request_quota_is_refused_and_starts_nothing(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes, sent: list[dramatiq.Message]
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes, tier="starter")

    with pytest.raises(QuotaExceededError, match=r"2,000,000 rows exceeds .* limit of 1,000,000 rows per request"):
        submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=2_000_000, actor=ana,
                          database=embedded.database)
    assert _count(embedded, tenant, Job) == 0 and sent == []


def test_a_job_beyond_the_concurrent_jobs_quota_is_refused_and_starts_nothing(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes, sent: list[dramatiq.Message]
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    with tenant_session(tenant, database=embedded.database) as session:
        set_quota_overrides(session, actor="admin", max_concurrent_jobs=1)
    _queued_generation(embedded, tenant, stored.model_version_id)  # one job waiting already

    with pytest.raises(QuotaExceededError, match="at most 1 at once"):
        submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=10, actor=ana,
                          database=embedded.database)
    assert _count(embedded, tenant, Job) == 1 and sent == []


def test_a_tenant_over_its_storage_quota_starts_no_job(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes, sent: list[dramatiq.Message]
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    with tenant_session(tenant, database=embedded.database) as session:
        set_quota_overrides(session, actor="admin", max_stored_bytes=1_000)

    with pytest.raises(QuotaExceededError, match="storage quota"):
        submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=10, actor=ana,
                          database=embedded.database)
    assert _count(embedded, tenant, Job) == 0 and sent == []


def test_results_that_would_exceed_the_storage_quota_fail_the_job_and_are_removed(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    with tenant_session(tenant, database=embedded.database) as session:
        set_quota_overrides(session, actor="admin", max_stored_bytes=stored_bytes(session) + 1_000)

    job = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=5_000, format="csv",
                            actor=ana, database=embedded.database)

    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=60)
    assert done.state == "failed" and "storage quota" in done.error_message
    assert embedded.store.for_tenant(tenant).list(f"generated/{stored.model_version_id}/") == []
    assert _count(embedded, tenant, GeneratedDataset) == 0
