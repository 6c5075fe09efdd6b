"""The metadata services behave the same on SQLite and PostgreSQL (every test runs on both)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import engine
from engine.errors import ConfigError
from infra.db import ConflictError, NotFoundError, QuotaExceededError, TenantMismatchError, tenant_session
from infra.db.models import Dataset, Job
from infra.records import audit, catalog, lineage, members, metering, notifications, quotas, tenancy
from infra.records.authz import Actor
from infra.records.job_records import (
    LeaseLostError,
    acknowledge_cancel,
    cancel_job,
    claim_job,
    complete_job,
    expired_jobs,
    fail_job,
    get_job,
    heartbeat,
    list_jobs,
    submit_job,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Upload:
    content_hash: str
    profile: dict
    n_rows: int
    n_bytes: int


@pytest.fixture(scope="module")
def adult_upload(datasets) -> Upload:
    """The first ~500 rows of the real adult.csv, read and profiled by the engine."""
    data = (datasets / "adult.csv").read_bytes()
    data = data[: data.index(b"\n", 60_000) + 1]
    profile = engine.profile(engine.read(data, name="adult.csv"))
    return Upload(hashlib.sha256(data).hexdigest(), profile.to_dict(), profile.n_rows, len(data))


def _version(session, dataset_id: str, upload: Upload):
    return catalog.add_dataset_version(
        session, dataset_id=dataset_id, content_hash=upload.content_hash, source={"kind": "upload", "filename": "adult.csv"},
        profile=upload.profile, n_rows=upload.n_rows, n_columns=15, n_bytes=upload.n_bytes, actor="ana",
        object_key=f"{session.tenant}/datasets/adult/v.parquet",
    )


@dataclass(frozen=True)
class Chain:
    dataset_id: str
    dataset_version_id: str
    model_id: str
    model_version_id: str
    generated_id: str
    report_id: str


def _chain(db, tenant: str, upload: Upload, name: str = "adult") -> Chain:
    with tenant_session(tenant, database=db) as s:
        dataset = catalog.create_dataset(s, name=name, actor="ana")
        dv = _version(s, dataset.id, upload)
        model = catalog.create_model(s, name=f"{name}-ctgan", dataset_id=dataset.id, actor="ana")
        mv = catalog.register_model_version(
            s, model_id=model.id, dataset_version_id=dv.id, model_type="ctgan", config={"epochs": 5},
            metrics={"loss": 0.42}, privacy_spent={"epsilon": 1.0, "delta": 1e-5}, actor="ana",
        )
        gen = catalog.record_generated_dataset(s, model_version_id=mv.id, n_rows=1000, params={"seed": 42}, actor="ana")
        report = catalog.record_quality_report(
            s, generated_dataset_id=gen.id, passed=True, scores={"fidelity": 0.91}, gates=[{"name": "ks", "passed": True}],
            actor="ana",
        )
        return Chain(dataset.id, dv.id, model.id, mv.id, gen.id, report.id)


# --- tenants, people -------------------------------------------------------------------------


def test_ensuring_a_tenant_twice_keeps_the_first_row(db, tenant):
    with tenant_session(tenant, database=db) as s:
        again = tenancy.ensure_tenant(s, display_name="other name", tier="enterprise")
        assert (again.display_name, again.tier) == (tenant.upper(), "starter")


def test_changing_tier_is_audited(db, tenant):
    with tenant_session(tenant, database=db) as s:
        tenancy.set_tier(s, tier="business", actor="root")
    with tenant_session(tenant, database=db) as s:
        assert tenancy.get_tenant(s).tier == "business"
        (event,) = audit.list_events(s, action="tenant.tier_changed")
        assert (event.actor, event.details) == ("root", {"from": "starter", "to": "business"})


def test_an_unknown_tier_or_role_is_refused_with_the_choices(db, tenant):
    with tenant_session(tenant, database=db) as s:
        with pytest.raises(ConfigError, match="enterprise, business, starter"):
            tenancy.set_tier(s, tier="platinum", actor="root")
        user = tenancy.ensure_user(s, subject="oidc|1", email="a@example.org")
        with pytest.raises(ConfigError, match="owner, admin, member, viewer"):
            tenancy.set_member(s, user_id=user.id, role="god", actor="root")


def test_members_and_roles_are_per_tenant(db, make_tenant):
    acme, globex = make_tenant(), make_tenant()
    subject = f"oidc|{acme}"
    with tenant_session(acme, database=db) as s:
        user = tenancy.ensure_user(s, subject=subject, email="bo@example.org", display_name="Bo")
        tenancy.set_member(s, user_id=user.id, role="admin", actor="root")
    with tenant_session(globex, database=db) as s:
        same = tenancy.ensure_user(s, subject=subject)
        tenancy.set_member(s, user_id=same.id, role="viewer", actor="root")
        assert same.id == user.id and same.email == "bo@example.org"
        assert [(u.subject, r) for u, r in members.list_members(s, actor=Actor(same.id, "root"))] == [(subject, "viewer")]
    with tenant_session(acme, database=db) as s:
        assert tenancy.role_of(s, user_id=user.id) == "admin"
        members.remove_member(s, user_id=user.id, actor=Actor(user.id, "root"))
        assert tenancy.role_of(s, user_id=user.id) is None


# --- datasets, models, lineage ----------------------------------------------------------------


def test_dataset_versions_are_numbered_and_keep_the_real_profile(db, tenant, adult_upload):
    with tenant_session(tenant, database=db) as s:
        dataset = catalog.create_dataset(s, name="adult", actor="ana")
        first, second = _version(s, dataset.id, adult_upload), _version(s, dataset.id, adult_upload)
    with tenant_session(tenant, database=db) as s:
        versions = catalog.list_dataset_versions(s, dataset.id)
        assert [v.version for v in versions] == [2, 1] and {v.id for v in versions} == {first.id, second.id}
        stored = catalog.get_dataset_version(s, first.id)
        assert stored.profile == adult_upload.profile and stored.profile["n_columns"] == 15
        assert stored.content_hash == adult_upload.content_hash and stored.created_at.tzinfo is not None


def test_a_duplicate_dataset_name_is_a_conflict(db, tenant):
    with tenant_session(tenant, database=db) as s:
        catalog.create_dataset(s, name="adult", actor="ana")
        with pytest.raises(ConflictError, match="'adult' already exists"):
            catalog.create_dataset(s, name="adult", actor="ana")


def test_a_duplicate_model_name_is_a_conflict(db, tenant):
    with tenant_session(tenant, database=db) as s:
        dataset = catalog.create_dataset(s, name="adult", actor="ana")
        catalog.create_model(s, name="adult-ctgan", dataset_id=dataset.id, actor="ana")
        with pytest.raises(ConflictError, match="a model named 'adult-ctgan' already exists"):
            catalog.create_model(s, name="adult-ctgan", dataset_id=dataset.id, actor="ana")
        assert [m.name for m in catalog.list_models(s)] == ["adult-ctgan"]


def test_a_profile_that_is_not_json_is_refused(db, tenant):
    with tenant_session(tenant, database=db) as s:
        dataset = catalog.create_dataset(s, name="adult", actor="ana")
        with pytest.raises(ConfigError, match="not storable as JSON"):
            catalog.add_dataset_version(s, dataset_id=dataset.id, content_hash="0" * 64, source={},
                                        profile={"mean": float("nan")}, actor="ana")


def test_a_model_version_must_be_trained_on_its_models_dataset(db, tenant, adult_upload):
    chain = _chain(db, tenant, adult_upload)
    with tenant_session(tenant, database=db) as s:
        other = catalog.create_dataset(s, name="other", actor="ana")
        other_version = _version(s, other.id, adult_upload)
        with pytest.raises(ConfigError, match="another dataset"):
            catalog.register_model_version(s, model_id=chain.model_id, dataset_version_id=other_version.id,
                                           model_type="tvae", config={}, metrics={}, actor="ana")


def test_registering_a_model_version_twice_for_one_job_returns_the_first(db, tenant, adult_upload):
    chain = _chain(db, tenant, adult_upload)
    with tenant_session(tenant, database=db) as s:
        job = submit_job(s, kind="train", queue="gpu")
    versions = []
    for _ in range(2):  # a retried job after a crash
        with tenant_session(tenant, database=db) as s:
            versions.append(catalog.register_model_version(
                s, model_id=chain.model_id, dataset_version_id=chain.dataset_version_id, model_type="ctgan",
                config={}, metrics={}, actor="worker", job_id=job.id))
    with tenant_session(tenant, database=db) as s:
        assert versions[0].id == versions[1].id and versions[0].version == 2
        assert len(catalog.list_model_versions(s, chain.model_id)) == 2


def test_lineage_runs_from_a_dataset_version_down_to_its_reports(db, tenant, adult_upload):
    chain = _chain(db, tenant, adult_upload)
    with tenant_session(tenant, database=db) as s:
        gen2 = catalog.record_generated_dataset(s, model_version_id=chain.model_version_id, n_rows=50, actor="ana")
        tree = lineage.downstream(s, chain.dataset_version_id)
    (mv,) = tree.model_versions
    assert mv.model_version.id == chain.model_version_id
    assert [g.generated_dataset.id for g in mv.generated] == [chain.generated_id, gen2.id]
    assert [r.id for r in mv.generated[0].reports] == [chain.report_id] and mv.generated[1].reports == []
    assert [r.id for r in tree.all_reports()] == [chain.report_id]


def test_lineage_runs_from_a_report_back_to_its_dataset_version(db, tenant, adult_upload):
    chain = _chain(db, tenant, adult_upload)
    with tenant_session(tenant, database=db) as s:
        origin = lineage.upstream(s, report_id=chain.report_id)
        from_model = lineage.upstream(s, model_version_id=chain.model_version_id)
    assert (origin.dataset.id, origin.dataset_version.id, origin.model.id, origin.model_version.id,
            origin.generated_dataset.id, origin.report.id) == (
        chain.dataset_id, chain.dataset_version_id, chain.model_id, chain.model_version_id,
        chain.generated_id, chain.report_id)
    assert from_model.dataset_version.id == chain.dataset_version_id and from_model.report is None


# --- tenant isolation in the service layer (the guard on SQLite) -------------------------------


def test_another_tenants_ids_are_not_found(db, make_tenant, adult_upload):
    acme, globex = make_tenant(), make_tenant()
    chain = _chain(db, acme, adult_upload)
    with tenant_session(globex, database=db) as s:
        with pytest.raises(NotFoundError, match="not found"):
            catalog.get_dataset(s, chain.dataset_id)
        with pytest.raises(NotFoundError):
            lineage.upstream(s, report_id=chain.report_id)
        with pytest.raises(NotFoundError):
            lineage.downstream(s, chain.dataset_version_id)
        assert catalog.list_datasets(s) == []


def test_an_unfiltered_query_sees_only_the_sessions_tenant(db, make_tenant, adult_upload):
    acme, globex = make_tenant(), make_tenant()
    _chain(db, acme, adult_upload)
    _chain(db, globex, adult_upload)
    with tenant_session(globex, database=db) as s:
        assert {d.tenant_id for d in s.scalars(select(Dataset))} == {globex}


def test_a_row_of_another_tenant_cannot_be_written(db, make_tenant):
    acme, globex = make_tenant(), make_tenant()
    with pytest.raises(TenantMismatchError, match="another tenant"):
        with tenant_session(globex, database=db) as s:
            s.add(Dataset(tenant_id=acme, name="planted", description=""))
            s.flush()
    with tenant_session(acme, database=db) as s:
        assert catalog.list_datasets(s) == []


# --- jobs and leases ---------------------------------------------------------------------------


def _submitted(db, tenant, **kwargs) -> str:
    with tenant_session(tenant, database=db) as s:
        return submit_job(s, kind=kwargs.pop("kind", "train"), queue="gpu", payload={"dataset": "x"}, actor="ana", **kwargs).id


def _claim(db, tenant, job_id, worker, now=T0, lease=60):
    with tenant_session(tenant, database=db) as s:
        return claim_job(s, job_id, worker=worker, lease_seconds=lease, now=now)


def test_a_claimed_job_runs_once_and_a_duplicate_delivery_gets_nothing(db, tenant):
    job_id = _submitted(db, tenant)
    job = _claim(db, tenant, job_id, "w1")
    assert (job.state, job.lease_owner, job.attempts) == ("running", "w1", 1)
    assert _claim(db, tenant, job_id, "w2", now=T0 + timedelta(seconds=30)) is None
    with tenant_session(tenant, database=db) as s:
        assert get_job(s, job_id).lease_owner == "w1"


def test_heartbeats_renew_the_lease_and_record_progress(db, tenant):
    job_id = _submitted(db, tenant)
    _claim(db, tenant, job_id, "w1")
    with tenant_session(tenant, database=db) as s:
        status = heartbeat(s, job_id, worker="w1", lease_seconds=60, progress=0.5, message="epoch 5/10",
                           now=T0 + timedelta(seconds=50))
    assert status.held and not status.cancel_requested
    assert _claim(db, tenant, job_id, "w2", now=T0 + timedelta(seconds=90)) is None  # renewed until T0+110s
    with tenant_session(tenant, database=db) as s:
        job = get_job(s, job_id)
        assert (job.progress, job.progress_message, job.heartbeat_at) == (0.5, "epoch 5/10", T0 + timedelta(seconds=50))


def test_an_expired_lease_passes_the_job_to_another_worker_and_the_first_loses_it(db, tenant):
    job_id = _submitted(db, tenant)
    _claim(db, tenant, job_id, "w1")
    later = T0 + timedelta(seconds=61)
    with tenant_session(tenant, database=db) as s:
        assert [j.id for j in expired_jobs(s, now=later)] == [job_id]
    job = _claim(db, tenant, job_id, "w2", now=later)
    assert (job.lease_owner, job.attempts, job.started_at) == ("w2", 2, T0)
    with tenant_session(tenant, database=db) as s:
        assert not heartbeat(s, job_id, worker="w1", lease_seconds=60, now=later).held
        with pytest.raises(LeaseLostError, match="no longer held by worker 'w1'"):
            complete_job(s, job_id, worker="w1", result={})
    with tenant_session(tenant, database=db) as s:
        done = complete_job(s, job_id, worker="w2", result={"model_version_id": "mv"})
    assert (done.state, done.progress, done.result, done.lease_owner) == ("succeeded", 1.0, {"model_version_id": "mv"}, None)


def test_a_job_that_keeps_dying_is_failed_after_its_attempts(db, tenant):
    job_id = _submitted(db, tenant, max_attempts=2)
    _claim(db, tenant, job_id, "w1")
    _claim(db, tenant, job_id, "w2", now=T0 + timedelta(minutes=2))
    assert _claim(db, tenant, job_id, "w3", now=T0 + timedelta(minutes=4)) is None
    with tenant_session(tenant, database=db) as s:
        job = get_job(s, job_id)
        assert (job.state, job.attempts) == ("failed", 2) and "gave up" in job.error_message


def test_a_transient_failure_requeues_and_a_bad_input_fails(db, tenant):
    job_id = _submitted(db, tenant)
    _claim(db, tenant, job_id, "w1")
    with tenant_session(tenant, database=db) as s:
        assert fail_job(s, job_id, worker="w1", error="storage timed out", retryable=True).state == "queued"
    _claim(db, tenant, job_id, "w2", now=T0 + timedelta(seconds=5))
    with tenant_session(tenant, database=db) as s:
        job = fail_job(s, job_id, worker="w2", error="column 'age' is missing", retryable=False)
    assert (job.state, job.error_message, job.attempts) == ("failed", "column 'age' is missing", 2)


def test_cancelling_a_queued_job_ends_it_and_a_running_one_is_asked_to_stop(db, tenant):
    queued, running = _submitted(db, tenant), _submitted(db, tenant)
    _claim(db, tenant, running, "w1")
    with tenant_session(tenant, database=db) as s:
        assert cancel_job(s, queued, actor="ana").state == "cancelled"
        assert cancel_job(s, running, actor="ana").state == "running"
    assert _claim(db, tenant, queued, "w2") is None
    with tenant_session(tenant, database=db) as s:
        assert heartbeat(s, running, worker="w1", lease_seconds=60, now=T0).cancel_requested
        assert acknowledge_cancel(s, running, worker="w1").state == "cancelled"
        with pytest.raises(ConflictError, match="already cancelled"):
            cancel_job(s, running, actor="ana")
        assert {j.id for j in list_jobs(s, state="cancelled")} == {queued, running}


# --- quotas and tiers ---------------------------------------------------------------------------


def test_a_job_over_the_concurrent_quota_is_refused_and_nothing_is_created(db, tenant):
    _submitted(db, tenant)
    _submitted(db, tenant)  # starter tier: 2 at once
    with pytest.raises(QuotaExceededError, match="2 job\\(s\\) queued or running and may have at most 2"):
        _submitted(db, tenant)
    with tenant_session(tenant, database=db) as s:
        assert len(list_jobs(s)) == 2
        quotas.set_quota_overrides(s, actor="root", max_concurrent_jobs=3)
    _submitted(db, tenant)


def test_a_generation_over_the_row_quota_is_refused(db, tenant):
    with tenant_session(tenant, database=db) as s:
        with pytest.raises(QuotaExceededError, match="2,000,000 rows exceeds .* limit of 1,000,000"):
            submit_job(s, kind="generate", queue="cpu", payload={"n_rows": 2_000_000})
        assert submit_job(s, kind="generate", queue="cpu", payload={"n_rows": 1_000_000}).state == "queued"


def test_an_upload_over_the_storage_quota_is_refused(db, tenant, adult_upload):
    with tenant_session(tenant, database=db) as s:
        quotas.set_quota_overrides(s, actor="root", max_stored_bytes=adult_upload.n_bytes + 10)
        dataset = catalog.create_dataset(s, name="adult", actor="ana")
        _version(s, dataset.id, adult_upload)
        with pytest.raises(QuotaExceededError, match="storage quota"):
            _version(s, dataset.id, adult_upload)
        assert quotas.stored_bytes(s) == adult_upload.n_bytes


def test_the_tier_sets_job_priority(db, make_tenant):
    gold, basic = make_tenant("enterprise"), make_tenant("starter")
    priorities = []
    for name in (gold, basic):
        with tenant_session(name, database=db) as s:
            priorities.append(submit_job(s, kind="train", queue="gpu").priority)
    assert priorities == [quotas.TIER_POLICIES["enterprise"].priority, quotas.TIER_POLICIES["starter"].priority]
    assert priorities[0] < priorities[1]


# --- metering, notifications, webhooks, audit ------------------------------------------------------


def test_usage_is_totalled_and_exported_as_csv(db, tenant):
    job_id = _submitted(db, tenant)
    with tenant_session(tenant, database=db) as s:
        metering.record_usage(s, metric="gpu_seconds", quantity=12.5, job_id=job_id, at=T0)
        metering.record_usage(s, metric="rows_generated", quantity=1000, job_id=job_id, at=T0 + timedelta(hours=1))
        metering.record_usage(s, metric="gpu_seconds", quantity=2.5, at=T0 + timedelta(days=1))
        totals = metering.usage_totals(s, since=T0, until=T0 + timedelta(days=1))
        csv_text = metering.export_usage_csv(s, since=T0, until=T0 + timedelta(days=1))
    assert totals == {"cpu_seconds": 0.0, "gpu_seconds": 12.5, "rows_generated": 1000.0, "bytes_stored": 0.0}
    assert csv_text.splitlines() == [
        "tenant_id,job_id,metric,quantity,recorded_at",
        f"{tenant},{job_id},gpu_seconds,12.5,2026-01-05T09:00:00+00:00",
        f"{tenant},{job_id},rows_generated,1000.0,2026-01-05T10:00:00+00:00",
    ]


def test_notifications_for_everyone_and_for_one_user(db, tenant):
    with tenant_session(tenant, database=db) as s:
        user = tenancy.ensure_user(s, subject=f"oidc|{tenant}|u")
        broadcast = notifications.notify(s, kind="job.succeeded", title="Training finished")
        notifications.notify(s, kind="budget.low", title="Budget low", user_id=user.id)
        assert [n.title for n in notifications.list_notifications(s)] == ["Training finished"]
        assert len(notifications.list_notifications(s, user_id=user.id)) == 2
        notifications.mark_read(s, broadcast.id)
        assert [n.title for n in notifications.list_notifications(s, user_id=user.id, unread_only=True)] == ["Budget low"]


def test_webhooks_filter_events_and_sign_with_hmac(db, tenant):
    with tenant_session(tenant, database=db) as s:
        only_jobs = notifications.add_webhook(s, url="https://hooks.example.org/a", events=["job.succeeded"], actor="root")
        everything = notifications.add_webhook(s, url="https://hooks.example.org/b", actor="root")
        assert {h.id for h in notifications.webhooks_for(s, event="job.succeeded")} == {only_jobs.id, everything.id}
        assert [h.id for h in notifications.webhooks_for(s, event="job.failed")] == [everything.id]
        with pytest.raises(ConfigError, match="absolute http"):
            notifications.add_webhook(s, url="file:///etc/passwd", actor="root")
    body = b'{"job": "1", "state": "succeeded"}'
    expected = hmac.new(everything.secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert notifications.webhook_signature(everything.secret, body, timestamp=1_700_000_000) == expected
    assert len(everything.secret) >= 32


def test_a_removed_webhook_gets_no_more_events_and_the_removal_is_audited(db, tenant):
    with tenant_session(tenant, database=db) as s:
        hook = notifications.add_webhook(s, url="https://hooks.example.org/gone", actor="root")
        notifications.remove_webhook(s, hook.id, actor="root")
        assert notifications.webhooks_for(s, event="job.succeeded") == []
        (event,) = audit.list_events(s, object_id=hook.id, action="webhook.removed")
        assert event.actor == "root"
        with pytest.raises(NotFoundError, match="webhook"):
            notifications.remove_webhook(s, hook.id, actor="root")


def test_changes_are_audited_in_the_same_transaction(db, tenant, adult_upload):
    chain = _chain(db, tenant, adult_upload)
    with tenant_session(tenant, database=db) as s:
        catalog.set_model_version_status(s, chain.model_version_id, status="archived", actor="bo")
        actions = [e.action for e in audit.list_events(s, limit=20)]
        (status_event,) = audit.list_events(s, object_id=chain.model_version_id, action="model_version.status_changed")
    assert actions[:2] == ["model_version.status_changed", "quality_report.recorded"]
    assert {"dataset.created", "dataset_version.created", "model_version.registered"} <= set(actions)
    assert (status_event.actor, status_event.details) == ("bo", {"from": "ready", "to": "archived"})
    with pytest.raises(RuntimeError):
        with tenant_session(tenant, database=db) as s:
            catalog.create_dataset(s, name="rolled-back", actor="bo")
            raise RuntimeError("boom")
    with tenant_session(tenant, database=db) as s:
        assert audit.list_events(s, action="dataset.created", limit=5)[0].details == {"name": "adult"}


def test_a_job_row_of_one_tenant_is_invisible_to_workers_of_another(db, make_tenant):
    acme, globex = make_tenant(), make_tenant()
    job_id = _submitted(db, acme)
    with tenant_session(globex, database=db) as s:
        with pytest.raises(NotFoundError):
            claim_job(s, job_id, worker="w", lease_seconds=60)
        assert s.scalars(select(Job).where(Job.id == job_id)).first() is None
