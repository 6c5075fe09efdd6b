"""Models through the API: training as a job, versions, synchronous samples in three formats."""

from __future__ import annotations

import csv
import io
import json

from tests.api.conftest import SAMPLE_COLUMNS, ApiServer, Trained


def test_training_answers_a_job_whose_result_names_the_new_version(api: ApiServer, trained: Trained) -> None:
    job = api.client.get(f"/jobs/{trained.job_id}").json()
    assert job["kind"] == "train" and job["status"] == "succeeded"
    assert job["result"]["model_version_id"] == trained.model_version_id


def test_models_list_and_versions_show_the_trained_version(api: ApiServer, trained: Trained) -> None:
    items = api.client.get("/models").json()["items"]
    assert trained.model_id in [m["id"] for m in items]
    versions = api.client.get(f"/models/{trained.model_id}/versions").json()["items"]
    assert [v["id"] for v in versions] == [trained.model_version_id]
    assert versions[0]["status"] == "ready" and versions[0]["model_type"] == "mst"


def test_samples_answer_json_rows_with_the_training_columns(api: ApiServer, trained: Trained) -> None:
    answer = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 7, "seed": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == trained.model_version_id and len(body["rows"]) == 7
    assert list(body["rows"][0]) == SAMPLE_COLUMNS
    again = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 7, "seed": 3}).json()
    assert again["rows"] == body["rows"]


def test_samples_answer_csv_and_ndjson_when_asked(api: ApiServer, trained: Trained) -> None:
    as_csv = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 5}, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == 5
    as_ndjson = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 5},
                                headers={"Accept": "application/x-ndjson"})
    assert [list(json.loads(line)) for line in as_ndjson.text.splitlines()] == [SAMPLE_COLUMNS] * 5


def test_samples_with_conditions_keep_to_them(api: ApiServer, trained: Trained) -> None:
    rows = api.client.post(f"/models/{trained.model_id}/samples",
                           json={"n": 20, "conditions": {"sex": "Female"}}).json()["rows"]
    assert {r["sex"] for r in rows} == {"Female"}


def test_a_condition_on_an_unknown_column_is_a_problem_naming_it(api: ApiServer, trained: Trained) -> None:
    answer = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 5, "conditions": "colour == 'red'"})
    assert answer.status_code in (400, 422)
    assert answer.headers["content-type"] == "application/problem+json"
    assert "colour" in answer.json()["detail"]


def test_the_warm_model_is_loaded_once_for_many_requests(api: ApiServer, trained: Trained) -> None:
    for _ in range(3):
        api.client.post(f"/models/{trained.model_id}/samples", json={"n": 2})
    assert api.app.state.warm.cache.get(tenant="local", model_version=trained.model_version_id) is not None
    before = api.app.state.warm.loads
    api.client.post(f"/models/{trained.model_id}/samples", json={"n": 2})
    assert api.app.state.warm.loads == before


def test_an_unknown_model_answers_404_as_a_problem(api: ApiServer) -> None:
    answer = api.client.post("/models/no-such-model/samples", json={"n": 1})
    assert answer.status_code == 404
    assert answer.json()["status"] == 404 and answer.json()["title"] == "Not found"


def test_a_bad_training_request_is_refused_with_the_use_cases_message(api: ApiServer, trained: Trained) -> None:
    answer = api.client.post("/models", json={"dataset_version_id": trained.version_id, "model": "no-such-model"})
    assert answer.status_code in (400, 422)
    assert "no-such-model" in answer.json()["detail"]
