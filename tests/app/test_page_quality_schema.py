"""Generate and Quality pages with a schema: scale, conditions on the root table and output, a tab per table,
the schema report, its share link.

A workspace of its own (not the seeded one of ``page_support``, whose lists other page tests
read): the baseball schema model of ``tests/infra/schema_output_support.py`` registered there,
one schema generated from it and assessed by the in-process worker. Pages run through the real
entry script with Streamlit's AppTest.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import engine
from app.components.pickers import SELECTED
from auth.report_sharing import share_report
from engine.errors import InputError
from infra.usecases import outputs
from tests.app.page_support import (
    ENVIRONMENT,
    MAIN_SCRIPT,
    TIMEOUT_S,
    _install_worker_environment,
    button,
    clear_caches,
    no_traceback,
    open_page,
    texts,
    wait_for_job,
)
from tests.infra.schema_output_support import register_schema, trained_schema

FOREIGN_KEYS = [("batting", "players_id", "players", "id"), ("fielding", "players_id", "players", "id")]


@dataclass(frozen=True)
class SchemaWorkspace:
    data_dir: Path
    tenant: str
    actor: object
    model_version_id: str
    generated_id: str
    report_id: str


def _seed(datasets: Path) -> dict[str, object]:
    from auth.provisioning import ensure_local_user
    from infra.tenant_ids import LOCAL_TENANT
    from infra.usecases import job_requests
    from infra.usecases.schema_generation import submit_schema_generation

    actor = ensure_local_user()
    registered = register_schema(trained_schema(datasets), tenant=LOCAL_TENANT, actor=actor)
    job = submit_schema_generation(LOCAL_TENANT, model_version_id=registered.model_version_id, actor=actor, seed=1)
    generated = wait_for_job(LOCAL_TENANT, job.id, actor)
    assert generated.state == "succeeded", generated.error
    generated_id = generated.result["generated_dataset_id"]
    assess = job_requests.request_assessment(LOCAL_TENANT, generated_dataset_id=generated_id, actor=actor)
    assessed = wait_for_job(LOCAL_TENANT, assess.id, actor)
    assert assessed.state == "succeeded", assessed.error
    return {"tenant": LOCAL_TENANT, "actor": actor, "model_version_id": registered.model_version_id,
            "generated_id": generated_id, "report_id": assessed.result["quality_report_id"]}


@pytest.fixture(scope="module")
def schema_workspace(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[SchemaWorkspace]:
    from workers.environment import use_environment

    data_dir = tmp_path_factory.mktemp("schema-workbench")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        _install_worker_environment()
        try:
            seeded = _seed(datasets)
        finally:
            clear_caches()
            use_environment(None)
    yield SchemaWorkspace(data_dir=data_dir, **seeded)  # type: ignore[arg-type]
    from infra.jobs.queue import stop_embedded_worker

    stop_embedded_worker()  # the next job (of another module) starts it again, in its own environment


@pytest.fixture
def schema_env(schema_workspace: SchemaWorkspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[SchemaWorkspace]:
    """This test runs against the schema workspace (settings, store and worker pointed at it)."""
    from workers.environment import use_environment

    monkeypatch.setenv("DOPPEL_DATA_DIR", str(schema_workspace.data_dir))
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_caches()
    _install_worker_environment()
    yield schema_workspace
    clear_caches()
    use_environment(None)


def test_the_generate_page_makes_a_zip_of_csv_tables_and_shows_each_table(schema_env: SchemaWorkspace) -> None:
    at = open_page("generate", session={SELECTED["model_version"]: schema_env.model_version_id})
    no_traceback(at)
    assert not [n for n in at.number_input if n.key == "generate_rows"], "a schema has no row count"
    assert not [s for s in at.selectbox if s.key == "generate_column"], "nor the single table's conditions builder"
    at.number_input(key="generate_scale").set_value(0.5)
    at.selectbox(key="generate_schema_output").set_value("zip-csv")
    at.run()
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    done = wait_for_job(schema_env.tenant, at.session_state["generate_last_job_id"], schema_env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    assert any("rows in 3 tables" in s and "players 60" in s for s in texts(at.success))
    assert {t.label for t in at.tabs} >= {"batting", "fielding", "players"}
    previews = [df.value for df in at.dataframe]
    assert any("birthDate" in p.columns for p in previews) and any("POS" in p.columns for p in previews)
    assert [d for d in at.get("download_button") if "zip of csv" in d.proto.label]

    download = outputs.download_generated(schema_env.tenant, generated_dataset_id=done.result["generated_dataset_id"],
                                          actor=schema_env.actor)
    assert download.filename.endswith("-csv.zip") and download.mime == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(download.data)).namelist()) == ["batting.csv", "fielding.csv",
                                                                             "players.csv"]
    tables = engine.read_tables(download.data)
    from engine.quality.tables import referential_integrity

    assert set(referential_integrity(tables, tables, FOREIGN_KEYS).values()) == {1.0}


def test_a_condition_on_the_root_tables_columns_goes_to_the_job_and_every_generated_player_meets_it(
    schema_env: SchemaWorkspace,
) -> None:
    from infra.usecases import job_board

    at = open_page("generate", session={SELECTED["model_version"]: schema_env.model_version_id})
    no_traceback(at)
    column = at.selectbox(key="generate_on_players_column")
    assert {"bats", "throws", "weight"} <= set(column.options), "the root table's real columns"
    assert not {"id", "POS", "AB"} & set(column.options), "neither its key nor a child table's columns"
    at.selectbox(key="generate_schema_size_by").set_value("players").run()
    at.number_input(key="generate_root_rows").set_value(30).run()
    column.set_value("bats").run()
    at.selectbox(key="generate_on_players_operator").set_value("equals").run()
    at.selectbox(key="generate_on_players_value_bats").set_value("L").run()
    button(at, "Add").click()
    at.run()
    no_traceback(at)
    assert at.code[0].value == "bats == 'L'"
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["generate_last_job_id"]
    job = job_board.get_job(schema_env.tenant, job_id=job_id, actor=schema_env.actor)
    assert job.payload["conditions"] == {"players": "bats == 'L'"} and job.payload["rows"] == {"players": 30}
    done = wait_for_job(schema_env.tenant, job_id, schema_env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    assert any("where players: bats == 'L'" in s and "players 30" in s for s in texts(at.success))
    players = next(df.value for df in at.dataframe if "bats" in df.value.columns)
    assert set(players["bats"]) == {"L"}
    item = outputs.get_generated(schema_env.tenant, generated_dataset_id=done.result["generated_dataset_id"],
                                 actor=schema_env.actor)
    assert item.conditions == {"players": "bats == 'L'"}
    tables = engine.read_tables(outputs.download_generated(schema_env.tenant, generated_dataset_id=item.id,
                                                           actor=schema_env.actor).data)
    assert tables["players"].height == 30 and set(tables["players"]["bats"]) == {"L"}
    from engine.quality.tables import referential_integrity

    assert set(referential_integrity(tables, tables, FOREIGN_KEYS).values()) == {1.0}


def test_an_unmeetable_condition_fails_the_job_with_the_engines_message(schema_env: SchemaWorkspace) -> None:
    at = open_page("generate", session={SELECTED["model_version"]: schema_env.model_version_id})
    at.selectbox(key="generate_on_players_column").set_value("weight").run()
    at.selectbox(key="generate_on_players_operator").set_value("greater than").run()
    at.number_input(key="generate_on_players_number_weight").set_value(10_000).run()  # pounds: no such player
    button(at, "Add").click()
    at.run()
    assert at.code[0].value == "weight > 10000"
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    done = wait_for_job(schema_env.tenant, at.session_state["generate_last_job_id"], schema_env.actor)
    assert done.state == "failed", "no generated player weighs over 10,000 pounds"
    assert "cannot be met" in done.error and "weight > 10000" in done.error
    at.run()
    no_traceback(at)
    assert any("cannot be met" in e and "weight" in e for e in texts(at.error))


def test_the_quality_page_shows_the_cross_table_section_and_a_tab_per_table(schema_env: SchemaWorkspace) -> None:
    at = open_page("quality", session={SELECTED["report"]: schema_env.report_id,
                                       SELECTED["generated"]: schema_env.generated_id})
    no_traceback(at)
    assert not [s for s in at.selectbox if s.key == "quality_target"], "a schema takes no target column"
    holdout = at.selectbox(key="quality_holdout")
    assert holdout.value == "model" and "rows set aside" in holdout.options[0]
    assert {"Cardinality", "Inter-table trends", "Child aggregates"} <= {m.label for m in at.metric}
    labels = [t.label for t in at.tabs]
    assert {"Across tables", "Table batting", "Table fielding", "Table players"} <= set(labels)
    frames = [df.value for df in at.dataframe]
    relations = next(f for f in frames if "referential integrity" in f.columns)
    assert relations["referential integrity"].to_list() == [1.0, 1.0]
    gates = next(f for f in frames if "threshold" in f.columns and "referential_integrity" in set(f["gate"]))
    assert {"cardinality", "subtree_utility"} <= set(gates["gate"])
    assert next(f for f in frames if "parent table" in f.columns)["parent table"].to_list() == ["players"]
    assert sum(1 for f in frames if "holdout distance" in f.columns) == 3, "each table's own report"
    assert "Schema gates" in texts(at.subheader)

    document = outputs.report_document(schema_env.tenant, report_id=schema_env.report_id, actor=schema_env.actor)
    page = outputs.report_html(document)
    assert page.startswith("<!DOCTYPE html>") and "Across tables" in page and "Parent subtrees" in page


def test_assessing_a_generated_schema_from_the_page_opens_its_report(schema_env: SchemaWorkspace) -> None:
    at = open_page("quality", session={SELECTED["report"]: schema_env.report_id,
                                       SELECTED["generated"]: schema_env.generated_id})
    at.selectbox(key="quality_holdout").set_value("No holdout (compare with the training rows only)").run()
    button(at, "Assess quality").click()
    at.run()
    no_traceback(at)
    done = wait_for_job(schema_env.tenant, at.session_state["quality_last_job_id"], schema_env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    report_id = done.result["quality_report_id"]
    assert at.session_state[SELECTED["report"]] == report_id
    document = outputs.report_document(schema_env.tenant, report_id=report_id, actor=schema_env.actor)
    assert document["inputs"]["holdout"]["source"] == "none" and document["notes"][0].startswith("No holdout")
    compared = outputs.compare_reports(document, outputs.report_document(
        schema_env.tenant, report_id=schema_env.report_id, actor=schema_env.actor))
    measures = {row["measure"] for row in compared}
    assert {"cardinality shape similarity", "table players: overall score"} <= measures
    assert any(m.startswith("schema gate referential_integrity") for m in measures)
    compare = next(df.value for df in at.dataframe if "difference" in df.value.columns)
    assert "cardinality shape similarity" in set(compare["measure"])


def test_a_schema_report_and_a_table_report_are_not_compared(schema_env: SchemaWorkspace, datasets: Path) -> None:
    document = outputs.report_document(schema_env.tenant, report_id=schema_env.report_id, actor=schema_env.actor)
    players = trained_schema(datasets).tables["players"].drop("id")
    table = engine.assess(real=players.head(75), synthetic=players.tail(75), config={"pillars": ["fidelity"]})
    with pytest.raises(InputError, match="cannot be compared"):
        outputs.compare_reports(document, table.to_dict())
    with pytest.raises(InputError, match="schema of several tables"):
        outputs.preview_generated(schema_env.tenant, generated_dataset_id=schema_env.generated_id,
                                  actor=schema_env.actor)


def test_a_share_link_opens_a_schema_report_read_only(schema_env: SchemaWorkspace) -> None:
    token = share_report(schema_env.tenant, report_id=schema_env.report_id, expires_in=timedelta(hours=1),
                         actor=schema_env.actor)
    shared = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    shared.query_params["share"] = token
    shared.run()
    no_traceback(shared)
    assert [t.value for t in shared.title] == ["Shared quality report"]
    assert {"Across tables", "Table players"} <= {t.label for t in shared.tabs}
    assert any("referential integrity" in df.value.columns for df in shared.dataframe)
    assert not shared.button and not shared.get("download_button") and not shared.file_uploader


def test_a_schema_goes_to_the_workspaces_s3_folder_as_one_parquet_per_table(
    schema_env: SchemaWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    import boto3

    from engine.quality.tables import referential_integrity
    from infra.usecases import s3_sources
    from infra.usecases.schema_generation import submit_schema_generation
    from tests.engine.data_fixtures import moto_s3_endpoint

    with moto_s3_endpoint() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"synthetic-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        monkeypatch.setenv("DOPPEL_ALLOW_PRIVATE_S3_ENDPOINTS", "true")  # the S3 server is on loopback
        clear_caches()
        s3_sources.save_credentials(schema_env.tenant, access_key_id="AKIAWORKSPACE0001", secret_access_key="ws-secret",
                                    endpoint_url=endpoint, allowed_buckets=[bucket], actor=schema_env.actor)
        try:
            with pytest.raises(InputError, match="not among the buckets"):
                submit_schema_generation(schema_env.tenant, model_version_id=schema_env.model_version_id,
                                         actor=schema_env.actor, destination="s3://someone-elses-bucket/out")
            at = open_page("generate", session={SELECTED["model_version"]: schema_env.model_version_id})
            at.selectbox(key="generate_schema_output").set_value("s3").run()
            at.text_input(key="generate_s3_folder").input(f"s3://{bucket}/synthetic/run1/").run()
            button(at, "Generate").click()
            at.run()
            no_traceback(at)
            done = wait_for_job(schema_env.tenant, at.session_state["generate_last_job_id"], schema_env.actor)
            assert done.state == "succeeded", done.error
            at.run()
            no_traceback(at)
            listed = client.list_objects_v2(Bucket=bucket, Prefix="synthetic/run1/")["Contents"]
            assert sorted(o["Key"] for o in listed) == [f"synthetic/run1/{t}.parquet" for t in
                                                        ("batting", "fielding", "players")]
            tables = {o["Key"].rsplit("/", 1)[1].removesuffix(".parquet"):
                      pl.read_parquet(io.BytesIO(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()))
                      for o in listed}
            assert set(referential_integrity(tables, tables, FOREIGN_KEYS).values()) == {1.0}
            item = outputs.get_generated(schema_env.tenant, generated_dataset_id=done.result["generated_dataset_id"],
                                         actor=schema_env.actor)
            assert item.object_key is None and item.destination == f"s3://{bucket}/synthetic/run1"
            assert item.tables == {name: frame.height for name, frame in tables.items()}
            assert item.n_rows == sum(item.tables.values())
            assert any("Written to S3" in m for m in texts(at.markdown))
        finally:
            s3_sources.remove_credentials(schema_env.tenant, actor=schema_env.actor)
