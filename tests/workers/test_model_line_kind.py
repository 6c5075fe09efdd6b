"""One model line, one kind: "auto" resolves at submission, and a run of another kind gets a line of its own.

On PostgreSQL (app role, RLS) with a Redis broker nobody consumes; the jobs are run here, as a
worker runs them, so the versions' kinds are the ones really trained: "auto" under DP at
epsilon 1 trains MST, "auto" without DP trains ARGN (``engine.training.resolve_auto``).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from infra.db import tenant_session
from infra.jobs.broker import build_broker, use_broker
from infra.privacy import set_budget
from infra.records import catalog
from infra.records.authz import Actor
from infra.settings import Settings
from infra.usecases.training import submit_training
from tests.workers.support import member, new_tenant
from tests.workers.wiring_fixtures import PostgresStack
from workers.runner import run_job

pytestmark = pytest.mark.services

DP_AT_EPSILON_1 = {"epsilon": 1.0, "delta": 1e-5}


@dataclass(frozen=True)
class Trained:
    tenant: str
    ana: Actor
    dataset_version_id: str
    lines: dict[str, list[str]]  # line name -> its versions' model types
    model_ids: dict[str, str]  # line name -> id


def _profiled_version(stack: PostgresStack, tenant: str, frame: pl.DataFrame) -> tuple[str, str]:
    """``frame`` stored as version 1 of a new dataset, with its profile as an upload has it: (dataset, version)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    with tenant_session(tenant, database=stack.database) as session:
        dataset = catalog.create_dataset(session, name=f"adult-{uuid.uuid4().hex[:6]}", actor="test")
        key = f"datasets/{dataset.id}/v1/data.parquet"
        stack.store.for_tenant(tenant).put_bytes(key, data)
        version = catalog.add_dataset_version(
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(), source={"test": True},
            profile=engine.profile(frame).to_dict(), actor="test", object_key=key, n_rows=frame.height,
            n_columns=frame.width, n_bytes=len(data),
        )
        return dataset.id, version.id


@pytest.fixture(scope="module")
def redis_broker(postgres_stack: PostgresStack) -> Iterator[None]:
    broker = build_broker(Settings(broker_url=postgres_stack.redis_url))
    try:
        with use_broker(broker):
            yield
    finally:
        broker.close()


@pytest.fixture(scope="module")
def trained(postgres_stack: PostgresStack, redis_broker: None, adult: pl.DataFrame) -> Trained:
    """Two "auto" runs named "census" on one dataset, DP at epsilon 1 first, then without DP; both trained."""
    stack = postgres_stack
    tenant = new_tenant(stack.database, tier="business")
    owner, ana = member(stack.database, tenant, role="owner", name="olga"), member(stack.database, tenant)
    dataset_id, version_id = _profiled_version(stack, tenant, adult)
    with tenant_session(tenant, database=stack.database) as session:
        set_budget(session, dataset_id=dataset_id, epsilon_cap=4.0, delta_cap=1e-4, actor=owner)
    jobs = [
        submit_training(tenant, dataset_version_id=version_id, model="auto", model_name="census", epochs=1,
                        device="cpu", privacy=privacy, actor=ana, database=stack.database)
        for privacy in (DP_AT_EPSILON_1, None)
    ]
    for job in jobs:
        result = run_job(tenant=tenant, job_id=job.id, environment=stack.environment, worker="line-kind-test")
        assert result.outcome.value == "succeeded", result
    with tenant_session(tenant, database=stack.database) as session:
        models = catalog.list_models(session, dataset_id=dataset_id)
        lines = {m.name: [v.model_type for v in catalog.list_model_versions(session, m.id)] for m in models}
        ids = {m.name: m.id for m in models}
    return Trained(tenant, ana, version_id, lines, ids)


def test_auto_runs_that_resolve_to_two_kinds_make_two_lines_each_of_one_kind(trained: Trained) -> None:
    assert trained.lines == {"census": ["mst"], "census (argn)": ["argn"]}


def test_a_run_of_the_line_s_kind_joins_the_line_that_holds_it(postgres_stack: PostgresStack,
                                                                 redis_broker: None, trained: Trained) -> None:
    job = submit_training(trained.tenant, dataset_version_id=trained.dataset_version_id, model="auto",
                          model_name="census", epochs=1, device="cpu", actor=trained.ana,
                          database=postgres_stack.database)
    assert job.payload["model_id"] == trained.model_ids["census (argn)"] and job.payload["model_kind"] == "argn"


def test_adding_another_kind_to_a_named_line_is_refused_with_the_kinds(postgres_stack: PostgresStack,
                                                                       redis_broker: None, trained: Trained) -> None:
    with pytest.raises(ConfigError, match="holds mst versions and this run trains argn"):
        submit_training(trained.tenant, dataset_version_id=trained.dataset_version_id, model="argn", epochs=1,
                        model_id=trained.model_ids["census"], device="cpu", actor=trained.ana,
                        database=postgres_stack.database)
