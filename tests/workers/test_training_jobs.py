"""Training jobs in the embedded mode: a real child process, checkpoints, one model version."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select

from infra.db import tenant_session
from infra.db.models import Job, ModelVersion, Notification, UsageRecord
from infra.records.job_records import (
    LIVE_LOSSES_CAP,
    acknowledge_cancel,
    cancel_job,
    claim_job,
    heartbeat,
    submit_job,
)
from infra.usecases.training import submit_training
from tests.workers.conftest import Embedded
from tests.workers.support import (
    FAST_TRAINING,
    job_row,
    new_tenant,
    processes_mentioning,
    tenant_with_dataset,
    wait_for,
    wait_for_state,
)
from workers.training import checkpoint_keys


def _train_tvae(embedded: Embedded, adult: pl.DataFrame, *, epochs: int, **settings: object) -> tuple[str, str, Job]:
    """A member of a new tenant submits a TVAE training on the adult sample: (tenant, dataset version id, job)."""
    tenant, ana, version_id = tenant_with_dataset(embedded.database, embedded.store, adult)
    job = submit_training(tenant, dataset_version_id=version_id, model="tvae", epochs=epochs, device="cpu",
                          params=FAST_TRAINING, actor=ana, database=embedded.database, **settings)
    return tenant, version_id, job


def test_a_training_job_trains_in_a_child_process_and_registers_one_model_version(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    tenant, version_id, job = _train_tvae(embedded, adult, epochs=3)
    assert job.queue == "gpu.starter"

    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=90)
    assert done.state == "succeeded", done.error_message
    assert done.progress == 1.0 and done.attempts == 1
    with tenant_session(tenant, database=embedded.database) as session:
        versions = session.scalars(select(ModelVersion).where(ModelVersion.tenant_id == tenant)).all()
        usage = {r.metric: r.quantity for r in session.scalars(select(UsageRecord).where(UsageRecord.job_id == job.id))}
        notes = session.scalars(select(Notification).where(Notification.job_id == job.id)).all()
    assert len(versions) == 1
    version = versions[0]
    assert (version.job_id, version.model_type, version.dataset_version_id) == (job.id, "tvae", version_id)
    assert done.result["model_version_id"] == version.id and done.result["epochs_run"] == 3
    store = embedded.store.for_tenant(tenant)
    assert store.stat(version.object_key).sha256 == version.content_hash
    assert not any(store.exists(key) for key in checkpoint_keys(job.id)), \
        "checkpoints are removed once the model version exists"
    assert usage["cpu_seconds"] > 0 and usage["bytes_stored"] == version.n_bytes
    assert [n.kind for n in notes] == ["job.succeeded"]


def test_a_cancelled_training_job_ends_cancelled_and_its_process_is_gone(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    tenant, _, job = _train_tvae(embedded, adult, epochs=10_000)
    marker = f"doppel-train-{job.id[:8]}"
    wait_for(lambda: job_row(embedded.database, tenant, job.id).progress > 0, timeout=60, what="training progress")
    assert processes_mentioning(marker), "the training runs in a child process"

    with tenant_session(tenant, database=embedded.database) as session:
        cancel_job(session, job.id, actor="ana@example.org")

    done = wait_for_state(embedded.database, tenant, job.id, ("cancelled", "failed", "succeeded"), timeout=30)
    assert done.state == "cancelled"
    assert processes_mentioning(marker) == []
    with tenant_session(tenant, database=embedded.database) as session:
        assert session.scalars(select(ModelVersion).where(ModelVersion.tenant_id == tenant)).all() == []


def test_a_running_training_job_row_gathers_its_losses_epoch_by_epoch(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    tenant, _, job = _train_tvae(embedded, adult, epochs=10_000)

    def live_losses(at_least: int) -> list[dict] | None:
        row = job_row(embedded.database, tenant, job.id)
        assert row.state in ("queued", "running"), row.error_message
        losses = (row.result or {}).get("losses") or []
        return losses if len(losses) >= at_least else None

    try:
        first = wait_for(lambda: live_losses(1), timeout=60, what="the first epoch's losses")
        later = wait_for(lambda: live_losses(len(first) + 2), timeout=60, what="more epochs' losses")
    finally:
        with tenant_session(tenant, database=embedded.database) as session:
            cancel_job(session, job.id, actor="ana@example.org")
    assert [row["epoch"] for row in later] == list(range(1, len(later) + 1)), "one row per epoch, in order"
    assert later[:len(first)] == first, "earlier epochs stay as they were written"
    assert all(isinstance(row.get("reconstruction"), float) for row in later), later[-1]
    assert wait_for_state(embedded.database, tenant, job.id, ("cancelled", "failed"), timeout=30).state == "cancelled"


def test_a_job_row_keeps_only_the_most_recent_epochs_of_live_losses(embedded: Embedded) -> None:
    tenant = new_tenant(embedded.database)
    with tenant_session(tenant, database=embedded.database) as session:
        job_id = submit_job(session, kind="train", queue="test.held", payload={}).id
    with tenant_session(tenant, database=embedded.database) as session:
        claim_job(session, job_id, worker="w", lease_seconds=60)
    for start in (1, 301):  # two heartbeats, 600 epochs in all
        rows = [{"epoch": e, "loss": 1.0 / e} for e in range(start, start + 300)]
        with tenant_session(tenant, database=embedded.database) as session:
            assert heartbeat(session, job_id, worker="w", lease_seconds=60, losses=rows).held
    losses = job_row(embedded.database, tenant, job_id).result["losses"]
    assert len(losses) == LIVE_LOSSES_CAP
    assert (losses[0]["epoch"], losses[-1]["epoch"]) == (600 - LIVE_LOSSES_CAP + 1, 600)
    with tenant_session(tenant, database=embedded.database) as session:
        acknowledge_cancel(session, job_id, worker="w")


def test_a_training_job_past_its_time_limit_is_stopped_and_fails_with_a_message(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    tenant, _, job = _train_tvae(embedded, adult, epochs=10_000, time_limit_s=4)

    done = wait_for_state(embedded.database, tenant, job.id, ("failed", "succeeded", "cancelled"), timeout=60)
    assert done.state == "failed"
    assert "time limit of 4 s" in done.error_message
    assert processes_mentioning(f"doppel-train-{job.id[:8]}") == []


def test_bad_training_settings_are_refused_before_any_job_exists(embedded: Embedded, adult: pl.DataFrame) -> None:
    from engine.errors import ConfigError
    from infra.records.job_records import list_jobs

    tenant, ana, version_id = tenant_with_dataset(embedded.database, embedded.store, adult)
    with pytest.raises(ConfigError, match="unknown model 'gan'"):
        submit_training(tenant, dataset_version_id=version_id, model="gan", actor=ana, database=embedded.database)
    with pytest.raises(ConfigError, match="unknown parameters"):
        submit_training(tenant, dataset_version_id=version_id, model="tvae", params={"layers": 3}, actor=ana,
                        database=embedded.database)
    with tenant_session(tenant, database=embedded.database) as session:
        assert list_jobs(session) == []
