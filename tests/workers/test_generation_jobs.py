"""Generation and assessment jobs in the embedded mode: rows in the store, the model cache, the report."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
from sqlalchemy import select

from infra.db import tenant_session
from infra.db.models import GeneratedDataset, QualityReport, UsageRecord
from infra.usecases.assessment import submit_assessment
from infra.usecases.generation import submit_generation
from tests.workers.conftest import Embedded, job_settings
from tests.workers.support import tenant_with_model, wait_for_state
from workers.environment import WorkerEnvironment


def test_a_generation_job_writes_the_rows_to_one_object_and_records_them(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes, tier="business")

    job = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=5_000, seed=3,
                            conditions="age > 30", format="csv", actor=ana, database=embedded.database)
    assert job.queue == "cpu.business"
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=60)
    assert done.state == "succeeded", done.error_message

    store = embedded.store.for_tenant(tenant)
    key = f"generated/{stored.model_version_id}/{job.id}.csv"
    frame = pl.read_csv(io.BytesIO(store.get_bytes(key)))
    assert frame.height == 5_000 and frame.columns == adult.columns and frame["age"].min() > 30
    with tenant_session(tenant, database=embedded.database) as session:
        generated = session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == tenant)).one()
        usage = {r.metric: r.quantity for r in session.scalars(select(UsageRecord).where(UsageRecord.job_id == job.id))}
    assert (generated.id, generated.object_key, generated.n_rows) == (done.result["generated_dataset_id"], key, 5_000)
    assert generated.content_hash == store.stat(key).sha256
    assert usage["rows_generated"] == 5_000 and usage["bytes_stored"] == generated.n_bytes


def test_a_second_generation_from_the_same_model_version_uses_the_worker_model_cache(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    cache = embedded.environment.model_cache

    def generate() -> None:
        job = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=100, actor=ana,
                                database=embedded.database)
        assert wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=60).state == "succeeded"

    start = cache.stats()
    generate()
    after_first = cache.stats()
    generate()
    after_second = cache.stats()
    assert (tenant, stored.model_version_id) in cache
    assert after_first.loads - start.loads == 1, "the first request loads the model from the store"
    assert after_second.loads == after_first.loads and after_second.hits > after_first.hits


def test_a_worker_environment_sizes_its_model_cache_by_its_own_settings(embedded: Embedded, tmp_path: Path) -> None:
    settings = job_settings(tmp_path, model_cache_max_bytes=0)  # a cache that keeps nothing
    environment = WorkerEnvironment(settings=settings, database=embedded.database, store=embedded.store)

    model = environment.model_cache.get_or_load(tenant="acme", model_version="v1", load=lambda: ("model", 10))

    assert model == "model" and ("acme", "v1") not in environment.model_cache
    assert environment.model_cache.stats().rejected == 1


def test_an_assessment_job_records_the_quality_report_and_stores_it(
    embedded: Embedded, adult: pl.DataFrame, tiny_model_bytes: bytes
) -> None:
    tenant, ana, stored = tenant_with_model(embedded.database, embedded.store, adult, tiny_model_bytes)
    generation = submit_generation(tenant, model_version_id=stored.model_version_id, n_rows=600, seed=1,
                                   actor=ana, database=embedded.database)
    generated = wait_for_state(embedded.database, tenant, generation.id, ("succeeded", "failed"), timeout=60)
    assert generated.state == "succeeded", generated.error_message

    job = submit_assessment(tenant, generated_dataset_id=generated.result["generated_dataset_id"], target="income",
                            config={"pillars": ["fidelity"]}, actor=ana, database=embedded.database)
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=90)
    assert done.state == "succeeded", done.error_message
    with tenant_session(tenant, database=embedded.database) as session:
        report = session.scalars(select(QualityReport).where(QualityReport.tenant_id == tenant)).one()
    assert report.id == done.result["quality_report_id"] and report.passed == done.result["passed"]
    assert report.gates and "fidelity" in report.scores
    document = embedded.store.for_tenant(tenant).get_bytes(report.object_key)
    assert b'"scores"' in document
