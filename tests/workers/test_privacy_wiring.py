"""The jobs and the privacy budget wired together: reserve with the job, commit at start, release if never started.

Real DP training (TVAE with DP-SGD, two epochs on 600 rows of adult) in a training process,
on the embedded default (SQLite, in-process worker) and on PostgreSQL with RLS and Redis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import polars as pl
import pytest

from infra.db import tenant_session
from infra.db.types import utcnow
from infra.jobs.broker import TransientJobError, build_broker, use_broker
from infra.privacy import (
    BudgetStatus,
    PrivacyBudgetExceededError,
    PrivacyPolicyError,
    composition_report,
    get_budget,
    list_entries,
    set_budget,
    set_dataset_sensitive,
    set_privacy_policy,
    verify_ledger,
)
from infra.privacy.job_charges import start_charge
from infra.records import catalog
from infra.records.authz import Actor
from infra.records.job_records import cancel_job, claim_job, get_job, list_jobs
from infra.settings import Settings
from infra.usecases.generation import submit_generation
from infra.usecases.training import submit_training
from tests.workers.support import FAST_TRAINING, member, new_tenant, store_dataset
from tests.workers.wiring_fixtures import Backend
from workers.runner import Outcome, run_job

DP = {"epsilon": 1.0, "delta": 1e-5}


@dataclass(frozen=True)
class Workspace:
    tenant: str
    owner: Actor
    ana: Actor
    dataset_id: str
    dataset_version_id: str


def workspace(backend: Backend, frame: pl.DataFrame, *, epsilon_cap: float, delta_cap: float = 1e-4) -> Workspace:
    """A tenant with an owner, a member (ana) and one dataset whose budget the owner set."""
    tenant = new_tenant(backend.database, tier="business")
    owner = member(backend.database, tenant, role="owner", name="olga")
    ana = member(backend.database, tenant)
    version_id = store_dataset(backend.database, backend.store, tenant, frame)
    with tenant_session(tenant, database=backend.database) as session:
        dataset_id = catalog.get_dataset_version(session, version_id).dataset_id
        set_budget(session, dataset_id=dataset_id, epsilon_cap=epsilon_cap, delta_cap=delta_cap, actor=owner)
    return Workspace(tenant, owner, ana, dataset_id, version_id)


def ledger(backend: Backend, ws: Workspace) -> list[tuple[str, str | None, float, float]]:
    with tenant_session(ws.tenant, database=backend.database) as session:
        return [(e.entry_kind, e.job_id, e.epsilon, e.delta) for e in list_entries(session, dataset_id=ws.dataset_id)]


def budget(backend: Backend, ws: Workspace) -> BudgetStatus:
    with tenant_session(ws.tenant, database=backend.database) as session:
        return get_budget(session, dataset_id=ws.dataset_id)


def submit_dp(backend: Backend, ws: Workspace, *, privacy: dict | None = DP, epochs: int = 2):  # noqa: ANN201
    return submit_training(ws.tenant, dataset_version_id=ws.dataset_version_id, model="tvae", epochs=epochs,
                           device="cpu", params=FAST_TRAINING, privacy=privacy, actor=ws.ana, database=backend.database)


@dataclass(frozen=True)
class DpModel:
    ws: Workspace
    job_id: str
    model_version_id: str


@pytest.fixture(scope="module")
def dp_models() -> dict[str, DpModel]:
    """The DP model of each backend, trained once for the tests that read it."""
    return {}


@pytest.fixture
def dp_model(backend: Backend, adult: pl.DataFrame, dp_models: dict[str, DpModel]) -> DpModel:
    """A DP training job, submitted by a member and run to the end by a worker."""
    if backend.name not in dp_models:
        ws = workspace(backend, adult, epsilon_cap=3.0)
        job = submit_dp(backend, ws)
        done = backend.deliver(ws.tenant, job.id)
        assert done.state == "succeeded", done.error_message
        dp_models[backend.name] = DpModel(ws, job.id, done.result["model_version_id"])
    return dp_models[backend.name]


# -- a DP training job's charge ---------------------------------------------------------------

def test_a_dp_training_job_reserves_its_epsilon_with_the_job_and_commits_exactly_that_when_training_starts(
    backend: Backend, dp_model: DpModel
) -> None:
    ws = dp_model.ws
    assert ledger(backend, ws) == [("reserve", dp_model.job_id, 1.0, 1e-5), ("commit", dp_model.job_id, 1.0, 1e-5)]
    with tenant_session(ws.tenant, database=backend.database) as session:
        job = get_job(session, dp_model.job_id)
        reserve, commit = list_entries(session, dataset_id=ws.dataset_id)
        version = catalog.get_model_version(session, dp_model.model_version_id)
        assert verify_ledger(session, dataset_id=ws.dataset_id).ok
        report = composition_report(session, dataset_id=ws.dataset_id)
    assert reserve.created_at <= job.started_at <= commit.created_at, "reserved at submit, committed once running"
    status = budget(backend, ws)
    assert (status.epsilon_spent, status.delta_spent) == (1.0, 1e-5)
    assert (status.epsilon_reserved, status.delta_reserved) == (0, 0)
    assert 0 < version.privacy_spent["epsilon"] <= 1.0 and version.job_id == dp_model.job_id
    assert report.sequential.epsilon == 1.0
    assert report.rdp.runs_with_curve == 1, "the run's RDP curve comes from the model version's privacy report"


def test_generation_from_a_dp_model_whose_charge_is_committed_is_allowed_and_costs_nothing(
    backend: Backend, dp_model: DpModel
) -> None:
    ws = dp_model.ws
    before_ledger, before_budget = ledger(backend, ws), budget(backend, ws)

    job = submit_generation(ws.tenant, model_version_id=dp_model.model_version_id, n_rows=300, seed=1, actor=ws.ana,
                            cache=backend.cache, database=backend.database)
    done = backend.deliver(ws.tenant, job.id)

    assert done.state == "succeeded", done.error_message
    assert ledger(backend, ws) == before_ledger and budget(backend, ws) == before_budget


def test_a_redelivered_message_of_a_finished_dp_job_reserves_and_commits_nothing_again(
    backend: Backend, dp_model: DpModel
) -> None:
    before = ledger(backend, dp_model.ws)
    result = run_job(tenant=dp_model.ws.tenant, job_id=dp_model.job_id, kind="train", environment=backend.environment)
    assert result.outcome is Outcome.SKIPPED
    assert ledger(backend, dp_model.ws) == before


def test_a_dp_job_over_the_remaining_budget_is_refused_with_what_is_left_and_leaves_no_job(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=0.5)

    left = r"asks for epsilon 1, delta 1e-05, but only epsilon 0\.5 of 0\.5 left"
    with pytest.raises(PrivacyBudgetExceededError, match=left) as refused:
        submit_dp(backend, ws)

    assert refused.value.remaining_epsilon == 0.5
    with tenant_session(ws.tenant, database=backend.database) as session:
        assert list_jobs(session) == []
        assert catalog.list_models(session, dataset_id=ws.dataset_id) == [], "the model line rolled back with the job"
    assert ledger(backend, ws) == [] and budget(backend, ws).epsilon_reserved == 0


def test_non_dp_training_of_a_sensitive_dataset_is_refused_when_the_policy_requires_dp(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=1.0)
    with tenant_session(ws.tenant, database=backend.database) as session:
        set_privacy_policy(session, require_dp_on_sensitive=True, actor=ws.owner)
        set_dataset_sensitive(session, dataset_id=ws.dataset_id, sensitive=True, actor=ws.owner)

    with pytest.raises(PrivacyPolicyError, match="requires differential privacy on sensitive datasets"):
        submit_dp(backend, ws, privacy=None)

    with tenant_session(ws.tenant, database=backend.database) as session:
        assert list_jobs(session) == []


def test_generation_from_a_dp_model_without_a_committed_charge_is_refused(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=1.0)
    with tenant_session(ws.tenant, database=backend.database) as session:
        line = catalog.create_model(session, name=f"m-{uuid.uuid4().hex[:6]}", dataset_id=ws.dataset_id, actor="test")
        claimed_dp = catalog.register_model_version(
            session, model_id=line.id, dataset_version_id=ws.dataset_version_id, model_type="tvae", config={},
            metrics={}, privacy_spent=DP, object_key="models/x.zip", content_hash="0" * 64, n_bytes=1, actor="test",
        )

    with pytest.raises(PrivacyPolicyError, match="names no training job"):
        submit_generation(ws.tenant, model_version_id=claimed_dp.id, n_rows=10, actor=ws.ana, cache=backend.cache,
                          database=backend.database)
    with tenant_session(ws.tenant, database=backend.database) as session:
        assert list_jobs(session) == []


# -- a DP job that never started, or started once --------------------------------------------
# On PostgreSQL nothing consumes the Redis queue unless the test runs the job: the job waits there.

@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_dp_job_cancelled_in_the_queue_gets_its_reservation_back(backend: Backend, adult: pl.DataFrame) -> None:
    ws = workspace(backend, adult, epsilon_cap=3.0)
    job = submit_dp(backend, ws)
    assert budget(backend, ws).epsilon_reserved == 1.0, "reserved with the job, before any worker saw it"

    with tenant_session(ws.tenant, database=backend.database) as session:
        assert cancel_job(session, job.id, actor=ws.ana.label).state == "cancelled"

    assert ledger(backend, ws) == [("reserve", job.id, 1.0, 1e-5), ("release", job.id, 1.0, 1e-5)]
    status = budget(backend, ws)
    assert (status.epsilon_spent, status.epsilon_reserved, status.epsilon_remaining) == (0, 0, 3.0)


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_dp_job_whose_workers_died_before_training_started_gets_its_reservation_back(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=3.0)
    job = submit_dp(backend, ws)
    start = utcnow()
    with tenant_session(ws.tenant, database=backend.database) as session:
        for attempt in range(3):  # three workers claim it and die at once; each lease runs out
            assert claim_job(session, job.id, worker=f"dead/{attempt}", lease_seconds=1,
                             now=start + timedelta(seconds=2 * attempt)) is not None
        assert claim_job(session, job.id, worker="next/1", lease_seconds=1, now=start + timedelta(seconds=10)) is None
        assert get_job(session, job.id).state == "failed"

    assert [kind for kind, *_ in ledger(backend, ws)] == ["reserve", "release"]
    assert budget(backend, ws).epsilon_reserved == 0


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_dp_job_taken_over_before_its_first_checkpoint_stops_rather_than_spend_its_charge_again(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=3.0)
    job = submit_dp(backend, ws)
    with tenant_session(ws.tenant, database=backend.database) as session:  # a worker started it a minute ago, then died
        claim_job(session, job.id, worker="dead/1", lease_seconds=1, now=utcnow() - timedelta(minutes=1))
        start_charge(session, job_id=job.id, dataset_id=ws.dataset_id, resuming=False)

    result = run_job(tenant=ws.tenant, job_id=job.id, kind="train", environment=backend.environment)

    assert result.outcome is Outcome.FAILED
    assert "stopped before its first checkpoint" in result.error and "submit a new training job" in result.error
    assert ledger(backend, ws) == [("reserve", job.id, 1.0, 1e-5), ("commit", job.id, 1.0, 1e-5)], \
        "no refund, no second commit"
    assert budget(backend, ws).epsilon_spent == 1.0


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_resumed_dp_job_keeps_its_one_committed_charge(backend: Backend, adult: pl.DataFrame) -> None:
    ws = workspace(backend, adult, epsilon_cap=3.0)
    job = submit_dp(backend, ws)
    with tenant_session(ws.tenant, database=backend.database) as session:
        first = start_charge(session, job_id=job.id, dataset_id=ws.dataset_id, resuming=False)
    with tenant_session(ws.tenant, database=backend.database) as session:
        again = start_charge(session, job_id=job.id, dataset_id=ws.dataset_id, resuming=True)

    assert first == again and again.state == "committed"
    assert [kind for kind, *_ in ledger(backend, ws)] == ["reserve", "commit"]
    assert budget(backend, ws).epsilon_spent == 1.0


def test_a_dp_job_whose_message_cannot_be_queued_is_cancelled_and_gets_its_reservation_back(
    backend: Backend, adult: pl.DataFrame
) -> None:
    ws = workspace(backend, adult, epsilon_cap=3.0)
    unreachable = build_broker(Settings(broker_url="redis://127.0.0.1:1/0"))  # nothing listens on port 1

    with use_broker(unreachable), pytest.raises(TransientJobError, match="the job queue could not be reached"):
        submit_dp(backend, ws)

    with tenant_session(ws.tenant, database=backend.database) as session:
        assert [job.state for job in list_jobs(session)] == ["cancelled"]
    assert [kind for kind, *_ in ledger(backend, ws)] == ["reserve", "release"]
    assert budget(backend, ws).epsilon_remaining == 3.0
