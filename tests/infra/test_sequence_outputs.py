"""Generating and assessing histories through the real job path (embedded: SQLite, local store, in-process worker).

A small sequence model of real nasdaq100_2019 prices (24 companies x 40 trading days, whole
histories of 20 % of them set aside; ``tests/infra/sequence_output_support.py``) generates a CSV
and a Parquet file of histories, which read back as the trained table's columns, one history per
entity in time order; a condition on a context column holds on every history and is recorded
with the output, one naming a step column is refused before anything is created, and one the
model cannot meet fails the job and writes nothing; the rows quota refuses a request whose
expected steps are too many, and the worker refuses one whose steps actually drawn are (nothing
is written); the assessment stores the sequence report (scores, gates, a few
histories for the charts) and its HTML page.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

import engine
from engine.errors import ConfigError, InputError
from infra.db import tenant_session
from infra.db.errors import QuotaExceededError
from infra.db.models import GeneratedDataset, Job, QualityReport
from infra.records.quotas import set_quota_overrides
from infra.usecases.assessment import default_holdout, submit_assessment
from infra.usecases.generation import submit_generation
from infra.usecases.sequence_generation import submit_sequence_generation
from tests.infra.sequence_output_support import DAYS, RegisteredSequences, register_sequences, trained_sequences
from tests.workers import conftest as worker_fixtures
from tests.workers.conftest import Embedded
from tests.workers.support import member, new_tenant, wait_for_state

embedded = worker_fixtures.embedded  # the embedded worker (SQLite, local store, in-process Dramatiq)


@pytest.fixture(scope="module")
def histories_tenant(embedded: Embedded, datasets: Path) -> tuple[str, object, RegisteredSequences]:
    tenant = new_tenant(embedded.database)
    actor = member(embedded.database, tenant)
    registered = register_sequences(trained_sequences(datasets), tenant=tenant, database=embedded.database,
                                    store=embedded.store)
    return tenant, actor, registered


def _generate(embedded: Embedded, tenant: str, actor: object, model_version_id: str, **options: object) -> object:
    job = submit_sequence_generation(tenant, model_version_id=model_version_id, actor=actor,
                                     database=embedded.database, **options)
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
    assert done.state == "succeeded", done.error_message
    return done


def _count(session: object, model: type, **where: object) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return int(session.scalar(statement))  # type: ignore[attr-defined]


def test_histories_are_generated_as_csv_and_parquet_one_sorted_history_per_entity(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences], datasets: Path
) -> None:
    tenant, actor, registered = histories_tenant
    store = embedded.store.for_tenant(tenant)
    real = trained_sequences(datasets).frame
    for fmt in ("csv", "parquet"):
        done = _generate(embedded, tenant, actor, registered.model_version_id, n_entities=6, seed=1, format=fmt)
        key = done.result["object_key"]
        assert key == f"generated/{registered.model_version_id}/{done.id}.{fmt}"
        frame = engine.read(store.get_bytes(key), name=key.rsplit("/", 1)[-1])
        assert frame.columns == real.columns
        assert frame.get_column("Symbol").n_unique() == 6 == done.result["entities"]
        lengths = frame.group_by("Symbol").len().get_column("len")
        assert 1 <= lengths.min() and lengths.max() <= DAYS, "lengths within the trained range"
        in_order = frame.group_by("Symbol").agg(pl.col("Date").cast(pl.String).is_sorted().alias("ok"))
        assert in_order.get_column("ok").all()
        with tenant_session(tenant, database=embedded.database) as session:
            generated = session.get(GeneratedDataset, done.result["generated_dataset_id"])
            assert generated.n_rows == frame.height == done.result["n_rows"]
            assert (generated.params["kind"], generated.params["entities"], generated.params["format"]) == (
                "sequences", 6, fmt)
            assert generated.content_hash == store.stat(key).sha256
    assert done.payload["n_rows"] == 6 * DAYS, "the quota saw n_entities x the mean trained length"


def test_a_condition_on_a_context_column_holds_on_every_history_and_is_recorded(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences], datasets: Path
) -> None:
    tenant, actor, registered = histories_tenant
    sector = trained_sequences(datasets).frame.get_column("Sector").mode().item(0)
    done = _generate(embedded, tenant, actor, registered.model_version_id, n_entities=5, seed=2,
                     conditions={"Sector": sector})
    frame = engine.read(embedded.store.for_tenant(tenant).get_bytes(done.result["object_key"]), name="x.parquet")
    assert set(frame.get_column("Sector")) == {sector} and frame.get_column("Symbol").n_unique() == 5
    with tenant_session(tenant, database=embedded.database) as session:
        generated = session.get(GeneratedDataset, done.result["generated_dataset_id"])
        assert generated.params["conditions"] == {"Sector": sector} and generated.params["seed"] == 2


def test_bad_requests_are_refused_before_a_job_and_an_unmeetable_condition_fails_writing_nothing(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences]
) -> None:
    tenant, actor, registered = histories_tenant
    with tenant_session(tenant, database=embedded.database) as session:
        jobs_before = _count(session, Job, tenant_id=tenant)
    for options, message in (({"n_entities": 5, "conditions": {"Close": 10.0}}, "'Close', which is not a context "
                                                                                 "column of this model"),
                             ({"n_entities": 0}, "n_entities must be a whole number of histories"),
                             ({"n_entities": 5, "format": "ndjson"}, "unknown output format 'ndjson' for histories"),
                             ({"n_entities": 5, "conditions": ["Sector"]}, "conditions must be an expression")):
        with pytest.raises(ConfigError, match=message):
            submit_sequence_generation(tenant, model_version_id=registered.model_version_id, actor=actor,
                                       database=embedded.database, **options)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="models histories"):
        submit_generation(tenant, model_version_id=registered.model_version_id, n_rows=100, actor=actor,
                          database=embedded.database)
    with tenant_session(tenant, database=embedded.database) as session:
        assert _count(session, Job, tenant_id=tenant) == jobs_before, "a refused request creates no job"

    store = embedded.store.for_tenant(tenant)
    keys_before = store.list("generated/")
    job = submit_sequence_generation(tenant, model_version_id=registered.model_version_id, actor=actor, n_entities=3,
                                     conditions={"Sector": "No Such Sector"}, database=embedded.database)
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
    assert done.state == "failed" and "No Such Sector" in done.error_message
    with tenant_session(tenant, database=embedded.database) as session:
        assert _count(session, GeneratedDataset, tenant_id=tenant, job_id=job.id) == 0
    assert store.list("generated/") == keys_before, "nothing was written"


def test_the_rows_quota_counts_the_expected_steps_and_a_refusal_creates_nothing(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences]
) -> None:
    tenant, actor, registered = histories_tenant
    with tenant_session(tenant, database=embedded.database) as session:
        jobs_before = _count(session, Job, tenant_id=tenant)
        set_quota_overrides(session, actor="test", max_rows_per_generation=100)
    try:
        # 10 histories are far fewer than 100 rows, but their steps (10 x 40) are more
        with pytest.raises(QuotaExceededError, match=f"generation request for {10 * DAYS:,} rows exceeds"):
            submit_sequence_generation(tenant, model_version_id=registered.model_version_id, actor=actor,
                                       n_entities=10, database=embedded.database)
        with tenant_session(tenant, database=embedded.database) as session:
            assert _count(session, Job, tenant_id=tenant) == jobs_before
    finally:
        with tenant_session(tenant, database=embedded.database) as session:
            set_quota_overrides(session, actor="test", max_rows_per_generation=None)


def test_the_quality_report_of_histories_has_the_scores_gates_sample_histories_and_html(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences]
) -> None:
    tenant, actor, registered = histories_tenant
    generated = _generate(embedded, tenant, actor, registered.model_version_id, n_entities=19, seed=3, format="csv")
    generated_id = generated.result["generated_dataset_id"]
    choice = default_holdout(tenant, generated_id, actor=actor, database=embedded.database)
    assert choice is not None and choice.by == "entity" and choice.histories == 5 and choice.rows == 5 * DAYS
    assert "5 whole histories" in choice.description
    with pytest.raises(ConfigError, match="take no target column"):
        submit_assessment(tenant, generated_dataset_id=generated_id, actor=actor, target="Close",
                          database=embedded.database)
    job = submit_assessment(tenant, generated_dataset_id=generated_id, actor=actor, database=embedded.database)
    assert job.payload["sequences"] is True and job.payload["holdout_source"] == "model_version"
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=180)
    assert done.state == "succeeded", done.error_message

    store = embedded.store.for_tenant(tenant)
    document = json.loads(store.get_bytes(done.result["object_key"]))
    report = engine.SequenceReport.from_dict(document)
    assert report.inputs["entities"] == {"real": 19, "synthetic": 19, "holdout": 5}
    assert 0.0 <= report.scores["length_ks_similarity"] <= 1.0 and report.scores["discriminative_score"] is not None
    assert report.scores["dcr_share"] is not None, "privacy by entity measured against the holdout"
    samples = report.samples
    assert set(samples["histories"]) == {"real", "synthetic", "holdout"}
    assert all(len(items) == 3 and all(len(h["time"]) <= 300 for h in items) for items in samples["histories"].values())
    assert "Close" in samples["columns"]
    assert document["notes"][0].startswith("Holdout: 5 whole histories")
    html = store.get_bytes(done.result["html_key"]).decode()
    assert "Autocorrelation" in html and "Histories, real and synthetic" in html and "<svg" in html
    with tenant_session(tenant, database=embedded.database) as session:
        saved = session.get(QualityReport, done.result["quality_report_id"])
        assert saved.passed == document["passed"] and saved.scores["kind"] == "sequences"
        assert saved.scores["length_ks_similarity"] == report.scores["length_ks_similarity"]


def test_the_worker_refuses_histories_whose_steps_drawn_exceed_the_quota_and_writes_nothing(
    embedded: Embedded, histories_tenant: tuple[str, object, RegisteredSequences], datasets: Path
) -> None:
    """Lengths are drawn: a model whose record says its histories are short (10 steps) draws 40-step ones."""
    tenant, actor, _ = histories_tenant
    trained = trained_sequences(datasets)
    understated = register_sequences(trained, tenant=tenant, database=embedded.database, store=embedded.store,
                                     learned={"rows": trained.learned["entities"] * 10})
    store = embedded.store.for_tenant(tenant)
    keys_before = store.list("generated/")
    with tenant_session(tenant, database=embedded.database) as session:
        set_quota_overrides(session, actor="test", max_rows_per_generation=50)  # admits the 5 x 10 steps expected
    try:
        job = submit_sequence_generation(tenant, model_version_id=understated.model_version_id, actor=actor,
                                         n_entities=5, seed=7, database=embedded.database)
        assert job.payload["n_rows"] == 50
        done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
        assert done.state == "failed"
        assert "the 5 histories drawn hold" in done.error_message and "nothing was written" in done.error_message
        assert "limit of 50 rows per request" in done.error_message, "the error names the quota"
        with tenant_session(tenant, database=embedded.database) as session:
            assert _count(session, GeneratedDataset, tenant_id=tenant, job_id=job.id) == 0
        assert store.list("generated/") == keys_before
    finally:
        with tenant_session(tenant, database=embedded.database) as session:
            set_quota_overrides(session, actor="test", max_rows_per_generation=None)
