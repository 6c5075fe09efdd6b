"""The jobs services and the roles wired together: who may start work, the generation rate limit, local mode.

On the embedded default (SQLite, in-process cache) and on PostgreSQL with RLS and Redis (the
rate limit's counter in Redis, as with several app processes).
"""

from __future__ import annotations

import polars as pl
import pytest

from infra.db import tenant_session
from infra.records.authz import PermissionDeniedError
from infra.records.job_records import list_jobs
from infra.records.rate_limits import RateLimit, RateLimitExceededError
from infra.records.tenancy import role_of
from infra.tenant_ids import LOCAL_TENANT
from infra.usecases.assessment import submit_assessment
from infra.usecases.generation import submit_generation
from infra.usecases.training import submit_training
from tests.workers.conftest import Embedded
from tests.workers.support import FAST_TRAINING, member, new_tenant, store_dataset, store_model_version, wait_for_state
from tests.workers.wiring_fixtures import Backend


def _jobs(backend: Backend, tenant: str) -> list:
    with tenant_session(tenant, database=backend.database) as session:
        return list_jobs(session)


def test_a_viewer_cannot_start_training_generation_or_assessment(
    backend: Backend, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant = new_tenant(backend.database)
    stored = store_model_version(backend.database, backend.store, tenant, adult, tiny_model_bytes)
    vera = member(backend.database, tenant, role="viewer", name="vera")
    refused = "your role here is viewer; to start a job you need the member role or higher"

    with pytest.raises(PermissionDeniedError, match=refused):
        submit_training(tenant, dataset_version_id=stored.dataset_version_id, model="tvae", epochs=1, actor=vera,
                        database=backend.database)
    with pytest.raises(PermissionDeniedError, match=refused):
        submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=10, actor=vera, cache=backend.cache,
                          database=backend.database)
    with pytest.raises(PermissionDeniedError, match=refused):
        submit_assessment(tenant, generated_dataset_id="any-generated-dataset", actor=vera, database=backend.database)
    assert _jobs(backend, tenant) == []


def test_a_member_of_another_workspace_cannot_start_jobs_here(backend: Backend, adult: pl.DataFrame) -> None:
    here, elsewhere = new_tenant(backend.database), new_tenant(backend.database)
    version_id = store_dataset(backend.database, backend.store, here, adult)
    outsider = member(backend.database, elsewhere, role="owner", name="otto")

    not_here = "you are not a member of this workspace, so you cannot start a job"
    with pytest.raises(PermissionDeniedError, match=not_here):
        submit_training(here, dataset_version_id=version_id, model="tvae", epochs=1, actor=outsider,
                        database=backend.database)
    assert _jobs(backend, here) == []


def test_the_services_take_the_signed_in_user_not_a_bare_label(backend: Backend, adult: pl.DataFrame) -> None:
    tenant = new_tenant(backend.database)
    version_id = store_dataset(backend.database, backend.store, tenant, adult)
    with pytest.raises(TypeError, match=r"actor must be an infra\.records\.authz\.Actor"):
        submit_training(tenant, dataset_version_id=version_id, actor="ana@example.org",  # type: ignore[arg-type]
                        database=backend.database)


def test_generation_requests_past_the_rate_limit_are_refused_with_when_to_try_again(
    backend: Backend, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant = new_tenant(backend.database, tier="business")
    stored = store_model_version(backend.database, backend.store, tenant, adult, tiny_model_bytes)
    ana, vera = member(backend.database, tenant), member(backend.database, tenant, role="viewer", name="vera")
    limit = RateLimit(max_requests=2, window_s=3600)

    def request(actor):  # noqa: ANN001, ANN202
        return submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=10, actor=actor,
                                 rate_limit=limit, cache=backend.cache, database=backend.database)

    with pytest.raises(PermissionDeniedError):
        request(vera)  # refused before it is counted
    accepted = [request(ana), request(ana)]
    with pytest.raises(RateLimitExceededError, match=r"Too many generation requests: this workspace may make 2 every "
                                                     r"hour and has used them all\. Try again in") as refused:
        request(ana)

    assert 0 < refused.value.retry_after_s <= 3600
    assert sorted(j.id for j in _jobs(backend, tenant)) == sorted(j.id for j in accepted)
    if backend.name == "sqlite":  # the in-process worker runs them: let them finish
        for job in accepted:
            wait_for_state(backend.database, tenant, job.id, ("succeeded", "failed"), timeout=60)


def test_the_local_user_of_single_user_mode_owns_the_local_workspace_and_may_train_generate_and_assess(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    from auth.provisioning import ensure_local_user

    local = ensure_local_user(database=embedded.database)  # what app.identity.current_actor() does without [auth]
    assert ensure_local_user(database=embedded.database) == local, "provisioned once, the same user after"
    with tenant_session(LOCAL_TENANT, database=embedded.database) as session:
        assert role_of(session, user_id=local.user_id) == "owner"
    version_id = store_dataset(embedded.database, embedded.store, LOCAL_TENANT, adult)

    trained = submit_training(LOCAL_TENANT, dataset_version_id=version_id, model="tvae", epochs=1, device="cpu",
                              params=FAST_TRAINING, actor=local, database=embedded.database)
    trained = wait_for_state(embedded.database, LOCAL_TENANT, trained.id, ("succeeded", "failed"), timeout=90)
    assert trained.state == "succeeded", trained.error_message
    generated = submit_generation(LOCAL_TENANT, model_version_id=trained.result["model_version_id"], n_rows=300,
                                  actor=local, database=embedded.database)
    generated = wait_for_state(embedded.database, LOCAL_TENANT, generated.id, ("succeeded", "failed"), timeout=60)
    assert generated.state == "succeeded", generated.error_message
    assessed = submit_assessment(LOCAL_TENANT, generated_dataset_id=generated.result["generated_dataset_id"],
                                 config={"pillars": ["fidelity"]}, actor=local, database=embedded.database)
    assessed = wait_for_state(embedded.database, LOCAL_TENANT, assessed.id, ("succeeded", "failed"), timeout=90)
    assert assessed.state == "succeeded", assessed.error_message
    assert {trained.created_by, generated.created_by, assessed.created_by} == {"local user"}
