"""The Generate page with a sequence model: how many histories, conditions on a context column, the result.

A workspace of its own (``tests/app/sequence_page_support.py``) holding the small nasdaq
sequence model; pages run through the real entry script with AppTest and the in-process worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import engine
from app.components.pickers import SELECTED
from infra.usecases import job_board, outputs
from tests.app.page_support import button, no_traceback, open_page, texts, wait_for_job
from tests.app.sequence_page_support import SequenceWorkspace, pointed_at, sequence_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[SequenceWorkspace]:
    with sequence_workspace(tmp_path_factory, datasets, assess=False) as seeded:
        yield seeded


@pytest.fixture
def env(workspace: SequenceWorkspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[SequenceWorkspace]:
    with pointed_at(workspace, monkeypatch) as pointed:
        yield pointed


def test_the_page_asks_for_histories_and_conditions_only_on_context_columns(env: SequenceWorkspace) -> None:
    at = open_page("generate", session={SELECTED["model_version"]: env.model_version_id})
    no_traceback(at)
    assert not [n for n in at.number_input if n.key == "generate_rows"], "histories have no row count"
    assert at.number_input(key="generate_histories_n").value == 19, "as many histories as the model trained on"
    assert any("histories of Symbol over Date" in c for c in texts(at.caption))
    column = at.selectbox(key="generate_histories_column")
    assert set(column.options) <= {"Sector", "Industry"} and "Sector" in column.options, "context columns only"


def test_generating_histories_under_a_condition_shows_them_and_offers_the_file(env: SequenceWorkspace) -> None:
    at = open_page("generate", session={SELECTED["model_version"]: env.model_version_id})
    at.number_input(key="generate_histories_n").set_value(4).run()
    at.selectbox(key="generate_histories_output").set_value("csv").run()
    at.selectbox(key="generate_histories_column").set_value("Sector").run()
    at.selectbox(key="generate_histories_operator").set_value("equals").run()
    sector = at.selectbox(key="generate_histories_value_Sector")
    chosen = sector.options[0]
    sector.set_value(chosen).run()
    button(at, "Add").click()
    at.run()
    no_traceback(at)
    assert at.code[0].value == f"Sector == '{chosen}'"
    button(at, "Generate").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["generate_last_job_id"]
    job = job_board.get_job(env.tenant, job_id=job_id, actor=env.actor)
    assert job.payload["sequences"] is True and job.payload["n_entities"] == 4
    done = wait_for_job(env.tenant, job_id, env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    assert any("Generated 4 histories" in s for s in texts(at.success))
    assert any("Symbol" in df.value.columns for df in at.dataframe)
    assert [d for d in at.get("download_button") if "csv" in d.proto.label]
    download = outputs.download_generated(env.tenant, generated_dataset_id=done.result["generated_dataset_id"],
                                          actor=env.actor)
    frame = engine.read(download.data, name=download.filename)
    assert frame.get_column("Symbol").n_unique() == 4 and set(frame.get_column("Sector")) == {chosen}


def test_histories_go_to_the_workspaces_s3_folder_as_one_parquet_file(
    env: SequenceWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import uuid

    import boto3
    import polars as pl

    from engine.errors import InputError
    from infra.usecases import s3_sources
    from infra.usecases.sequence_generation import submit_sequence_generation
    from tests.app.page_support import clear_caches
    from tests.engine.data_fixtures import moto_s3_endpoint

    with moto_s3_endpoint() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"histories-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        monkeypatch.setenv("DOPPEL_ALLOW_PRIVATE_S3_ENDPOINTS", "true")  # the S3 server is on loopback
        clear_caches()
        s3_sources.save_credentials(env.tenant, access_key_id="AKIAWORKSPACE0001", secret_access_key="ws-secret",
                                    endpoint_url=endpoint, allowed_buckets=[bucket], actor=env.actor)
        try:
            with pytest.raises(InputError, match="not among the buckets"):
                submit_sequence_generation(env.tenant, model_version_id=env.model_version_id, actor=env.actor,
                                           n_entities=3, destination="s3://someone-elses-bucket/out")
            at = open_page("generate", session={SELECTED["model_version"]: env.model_version_id})
            at.number_input(key="generate_histories_n").set_value(3).run()
            at.selectbox(key="generate_histories_output").set_value("s3").run()
            at.text_input(key="generate_histories_s3").input(f"s3://{bucket}/synthetic/run1/").run()
            button(at, "Generate").click()
            at.run()
            no_traceback(at)
            done = wait_for_job(env.tenant, at.session_state["generate_last_job_id"], env.actor)
            assert done.state == "succeeded", done.error
            at.run()
            no_traceback(at)
            listed = client.list_objects_v2(Bucket=bucket, Prefix="synthetic/run1/")["Contents"]
            assert [o["Key"] for o in listed] == ["synthetic/run1/histories.parquet"]
            body = client.get_object(Bucket=bucket, Key="synthetic/run1/histories.parquet")["Body"].read()
            frame = pl.read_parquet(io.BytesIO(body))
            assert frame.get_column("Symbol").n_unique() == 3
            item = outputs.get_generated(env.tenant, generated_dataset_id=done.result["generated_dataset_id"],
                                         actor=env.actor)
            assert item.object_key is None and item.destination == f"s3://{bucket}/synthetic/run1"
            assert item.n_rows == frame.height
            assert any("Written to S3" in m for m in texts(at.markdown))
        finally:
            s3_sources.remove_credentials(env.tenant, actor=env.actor)
