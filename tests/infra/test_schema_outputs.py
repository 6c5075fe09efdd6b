"""Generating and assessing a schema through the real job path (embedded: SQLite, local store, in-process worker).

A small baseball schema model (150 real players with their batting and fielding rows, split by
root, stored with ``schema_store.store_tables``: ``tests/infra/schema_output_support.py``)
generates a zip of CSV and a zip of Parquet, which ``engine.read_tables`` reads back with every
foreign key intact; a condition on the root table holds on every generated player, the children
follow them and the condition is recorded with the output, while one the model cannot meet
fails the job with the engine's message; its assessment stores the schema report with the
cross-table figures and each table's report; the rows quota refuses a request whose expected
total is too large (nothing is created), and the worker refuses one whose rows actually drawn
are over it (nothing is written).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

import engine
from engine.errors import ConfigError, InputError
from engine.quality.tables import referential_integrity
from infra.db import tenant_session
from infra.db.errors import QuotaExceededError
from infra.db.models import GeneratedDataset, Job, QualityReport
from infra.records.quotas import set_quota_overrides
from infra.usecases.assessment import default_holdout, submit_assessment
from infra.usecases.generation import submit_generation
from infra.usecases.schema_generation import submit_schema_generation
from tests.infra.schema_output_support import KEYS, RegisteredSchema, configured_as, register_schema, trained_schema
from tests.workers import conftest as worker_fixtures
from tests.workers.conftest import Embedded
from tests.workers.support import member, new_tenant, wait_for_state

embedded = worker_fixtures.embedded  # the embedded worker (SQLite, local store, in-process Dramatiq), as tests/workers use it
FOREIGN_KEYS = [("batting", "players_id", "players", "id"), ("fielding", "players_id", "players", "id")]


@pytest.fixture(scope="module")
def schema_tenant(embedded: Embedded, datasets: Path) -> tuple[str, object, RegisteredSchema]:
    tenant = new_tenant(embedded.database)
    actor = member(embedded.database, tenant)
    with configured_as(embedded.settings):  # store_tables writes to the configured database and store
        registered = register_schema(trained_schema(datasets), tenant=tenant, actor=actor)
    return tenant, actor, registered


def _generate(embedded: Embedded, tenant: str, actor: object, model_version_id: str, **options: object) -> object:
    job = submit_schema_generation(tenant, model_version_id=model_version_id, actor=actor,
                                   database=embedded.database, **options)
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
    assert done.state == "succeeded", done.error_message
    return done


def test_a_schema_generates_a_zip_of_csv_and_of_parquet_with_every_key_intact(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema], datasets: Path
) -> None:
    tenant, actor, registered = schema_tenant
    store = embedded.store.for_tenant(tenant)
    read = {}
    for fmt, options in (("csv", {"scale": 1.0, "seed": 1}), ("parquet", {"rows": {"players": 60}, "seed": 2})):
        done = _generate(embedded, tenant, actor, registered.model_version_id, format=fmt, **options)
        key = done.result["object_key"]
        assert key == f"generated/{registered.model_version_id}/{done.id}.zip"
        tables = engine.read_tables(store.get_bytes(key))
        read[fmt] = tables
        assert sorted(tables) == ["batting", "fielding", "players"]
        assert referential_integrity(tables, tables, FOREIGN_KEYS) == {
            "batting.players_id -> players.id": 1.0, "fielding.players_id -> players.id": 1.0}
        assert tables["players"]["id"].n_unique() == tables["players"].height
        with tenant_session(tenant, database=embedded.database) as session:
            generated = session.get(GeneratedDataset, done.result["generated_dataset_id"])
            counts = {name: frame.height for name, frame in tables.items()}
            assert generated.n_rows == sum(counts.values()) == done.result["n_rows"]
            assert generated.params["tables"] == counts and generated.params["format"] == fmt
            assert generated.params["kind"] == "tables" and generated.content_hash == store.stat(key).sha256
    assert read["parquet"]["players"].height == 60, "rows= fixes the root table's rows"
    assert read["csv"]["players"].height == 120, "scale 1.0: as many players as the training part (150 - 30 held out)"
    real = trained_schema(datasets).tables
    for fmt in ("csv", "parquet"):
        assert {n: f.columns for n, f in read[fmt].items()} == {n: real[n].columns for n in read[fmt]}


def test_the_quality_report_of_a_generated_schema_has_the_cross_table_figures_and_each_table(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema]
) -> None:
    tenant, actor, registered = schema_tenant
    generated = _generate(embedded, tenant, actor, registered.model_version_id, format="parquet", seed=3)
    generated_id = generated.result["generated_dataset_id"]
    choice = default_holdout(tenant, generated_id, actor=actor, database=embedded.database)
    assert choice is not None and choice.tables == {"batting": choice.tables["batting"], "fielding":
                                                    choice.tables["fielding"], "players": 30}
    assert "whole subtrees of root rows" in choice.description
    job = submit_assessment(tenant, generated_dataset_id=generated_id, actor=actor, database=embedded.database)
    assert job.payload["schema"] is True and job.payload["holdout_source"] == "model_version"
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=180)
    assert done.state == "succeeded", done.error_message

    store = embedded.store.for_tenant(tenant)
    document = json.loads(store.get_bytes(done.result["object_key"]))
    report = engine.SchemaReport.from_dict(document)
    assert sorted(report.tables) == ["batting", "fielding", "players"]
    assert report.gate("referential_integrity").value == 1.0 and report.gate("referential_integrity").status == "pass"
    cross = document["cross"]
    assert set(cross) >= {"referential_integrity", "cardinality", "intertable_trends", "child_aggregates"}
    assert 0.0 <= cross["cardinality_shape_similarity"] <= 1.0
    assert document["subtrees"]["players"]["tstr"] is not None, "subtree utility measured"
    assert document["subtrees"]["players"]["dcr_share"] is not None, "subtree privacy measured against the holdout"
    assert document["inputs"]["holdout"]["source"] == "model_version"
    assert document["inputs"]["holdout"]["rows"]["players"] == 30
    assert document["notes"][0].startswith("Holdout: whole parent subtrees")
    assert document["keys"]["foreign_keys"] == KEYS["foreign_keys"]
    html = store.get_bytes(done.result["html_key"]).decode()
    assert "Across tables" in html and "Referential integrity" in html and "Table <code>fielding</code>" in html
    with tenant_session(tenant, database=embedded.database) as session:
        saved = session.get(QualityReport, done.result["quality_report_id"])
        assert saved.passed == document["passed"] and saved.scores["kind"] == "tables"
        assert set(saved.scores["tables"]) == {"batting", "fielding", "players"}
        assert [g["name"] for g in saved.gates][:2] == ["referential_integrity", "cardinality"]


def test_a_schema_takes_neither_a_target_nor_another_version_as_holdout(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema]
) -> None:
    tenant, actor, registered = schema_tenant
    generated = _generate(embedded, tenant, actor, registered.model_version_id, scale=0.5, seed=4)
    generated_id = generated.result["generated_dataset_id"]
    with pytest.raises(Exception, match="takes no target column"):
        submit_assessment(tenant, generated_dataset_id=generated_id, actor=actor, target="bats",
                          database=embedded.database)
    with pytest.raises(Exception, match="another dataset version cannot serve"):
        submit_assessment(tenant, generated_dataset_id=generated_id, actor=actor, database=embedded.database,
                          holdout_dataset_version_id=registered.dataset_version_id)
    with pytest.raises(InputError, match="models related tables"):
        submit_generation(tenant, model_version_id=registered.model_version_id, n_rows=100, actor=actor,
                          database=embedded.database)


def test_the_rows_quota_counts_every_table_and_a_refusal_creates_nothing(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema]
) -> None:
    tenant, actor, registered = schema_tenant
    with tenant_session(tenant, database=embedded.database) as session:
        jobs_before = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant))
        generated_before = session.scalar(select(func.count()).select_from(GeneratedDataset)
                                          .where(GeneratedDataset.tenant_id == tenant))
        set_quota_overrides(session, actor="test", max_rows_per_generation=1_000)
    keys_before = embedded.store.for_tenant(tenant).list("generated/")
    try:
        # 120 players at scale 1.0 are far fewer than 1,000 rows, but with their batting and fielding rows they are more
        with pytest.raises(QuotaExceededError) as refused:
            submit_schema_generation(tenant, model_version_id=registered.model_version_id, actor=actor, scale=1.0,
                                     database=embedded.database)
        message = str(refused.value)
        assert "rows exceeds" in message and "limit of 1,000 rows per request" in message
        total = int(message.split("generation request for ")[1].split(" rows")[0].replace(",", ""))
        assert total > 2 * 120, "the expected rows count the child tables, not only the players"
        with tenant_session(tenant, database=embedded.database) as session:
            assert session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant)) == jobs_before
            assert session.scalar(select(func.count()).select_from(GeneratedDataset)
                                  .where(GeneratedDataset.tenant_id == tenant)) == generated_before
        assert embedded.store.for_tenant(tenant).list("generated/") == keys_before
    finally:
        with tenant_session(tenant, database=embedded.database) as session:
            set_quota_overrides(session, actor="test", max_rows_per_generation=None)


def _count(session: object, model: type, **where: object) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return int(session.scalar(statement))  # type: ignore[attr-defined]


def test_a_condition_on_the_root_table_holds_on_every_player_and_is_recorded_with_the_output(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema]
) -> None:
    tenant, actor, registered = schema_tenant
    done = _generate(embedded, tenant, actor, registered.model_version_id, rows={"players": 40}, seed=5,
                     conditions={"players": "bats == 'L'"}, format="parquet")
    assert done.payload["conditions"] == {"players": "bats == 'L'"}
    tables = engine.read_tables(embedded.store.for_tenant(tenant).get_bytes(done.result["object_key"]))
    assert tables["players"].height == 40 and set(tables["players"]["bats"]) == {"L"}
    assert tables["batting"].height > 0 and tables["fielding"].height > 0, "the children follow their parents"
    assert set(referential_integrity(tables, tables, FOREIGN_KEYS).values()) == {1.0}
    with tenant_session(tenant, database=embedded.database) as session:
        generated = session.get(GeneratedDataset, done.result["generated_dataset_id"])
        assert generated.params["conditions"] == {"players": "bats == 'L'"}, "the lineage keeps the condition"
        assert generated.params["rows"] == {"players": 40} and generated.params["seed"] == 5


def test_a_condition_the_model_cannot_meet_fails_the_job_with_the_engines_message_and_writes_nothing(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema]
) -> None:
    tenant, actor, registered = schema_tenant
    store = embedded.store.for_tenant(tenant)
    with tenant_session(tenant, database=embedded.database) as session:
        jobs_before = _count(session, Job, tenant_id=tenant)
    for conditions, message in (({"batting": "G > 3"}, "not a root table of this schema: a child table's rows"),
                                ({"nobody": "bats == 'L'"}, "conditions apply to the root tables \\(players\\)"),
                                (["bats == 'L'"], "conditions must map root table names"),
                                ({"players": 3}, "must be an expression string or a \\{column: value\\} dict")):
        with pytest.raises(ConfigError, match=message):
            submit_schema_generation(tenant, model_version_id=registered.model_version_id, actor=actor,
                                     conditions=conditions, database=embedded.database)  # type: ignore[arg-type]
    with tenant_session(tenant, database=embedded.database) as session:
        assert _count(session, Job, tenant_id=tenant) == jobs_before, "a refused request creates no job"

    keys_before = store.list("generated/")
    for conditions in ({"players": "bats == 'X'"}, {"players": {"bats": "X"}}):
        job = submit_schema_generation(tenant, model_version_id=registered.model_version_id, actor=actor, seed=6,
                                       conditions=conditions, database=embedded.database)
        done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
        assert done.state == "failed"
        assert "cannot be met" in done.error_message and "'X' is not a value of 'bats'" in done.error_message
        with tenant_session(tenant, database=embedded.database) as session:
            assert _count(session, GeneratedDataset, tenant_id=tenant, job_id=job.id) == 0
    assert store.list("generated/") == keys_before, "nothing was written"


def test_the_worker_refuses_a_schema_whose_rows_drawn_exceed_the_quota_and_writes_nothing(
    embedded: Embedded, schema_tenant: tuple[str, object, RegisteredSchema], datasets: Path
) -> None:
    """Children per parent are drawn: a request the expected total admits can draw more rows than the quota."""
    from infra.records.schema_holdouts import tables_record_of
    from infra.usecases.schema_generation import expected_rows, parents_of

    tenant, actor, registered = schema_tenant
    trained = trained_schema(datasets)
    record = tables_record_of({"holdout": trained.record})
    assert record is not None
    expected = expected_rows(dict(record.training_rows), scale=1.0, parents=parents_of(KEYS))
    model = engine.load_model(trained.model_zip, device="cpu")
    drawn = {}
    for seed in range(20):  # the same model and seed draw the same tables, in the worker too
        drawn[seed] = sum(frame.height for frame in model.sample(scale=1.0, seed=seed).values())
        if drawn[seed] > expected:
            break
    seed, total = max(drawn.items(), key=lambda item: item[1])
    assert total > expected, f"no seed of {sorted(drawn)} drew more than the {expected:,} rows expected"

    store = embedded.store.for_tenant(tenant)
    keys_before = store.list("generated/")
    with tenant_session(tenant, database=embedded.database) as session:
        set_quota_overrides(session, actor="test", max_rows_per_generation=expected)  # admits what is expected
    try:
        job = submit_schema_generation(tenant, model_version_id=registered.model_version_id, actor=actor, scale=1.0,
                                       seed=seed, database=embedded.database)
        assert job.payload["n_rows"] == expected
        done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=120)
        assert done.state == "failed"
        message = done.error_message
        assert f"the schema drawn holds {total:,} rows in all" in message and "nothing was written" in message
        assert f"limit of {expected:,} rows per request" in message, "the error names the quota"
        with tenant_session(tenant, database=embedded.database) as session:
            assert _count(session, GeneratedDataset, tenant_id=tenant, job_id=job.id) == 0
        assert store.list("generated/") == keys_before
    finally:
        with tenant_session(tenant, database=embedded.database) as session:
            set_quota_overrides(session, actor="test", max_rows_per_generation=None)
