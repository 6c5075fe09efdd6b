"""Jobs, generation jobs and downloads, quality reports, privacy budgets through the API."""

from __future__ import annotations

import json

from tests.api.conftest import ApiServer, Trained, wait_for_job


def test_jobs_list_filters_by_kind_and_status(api: ApiServer, trained: Trained) -> None:
    items = api.client.get("/jobs", params={"kind": "train", "status": "succeeded"}).json()["items"]
    assert trained.job_id in [j["id"] for j in items]
    assert api.client.get("/jobs", params={"status": "queued"}).json()["items"] == []


def test_a_jobs_log_lists_its_audited_events(api: ApiServer, trained: Trained) -> None:
    lines = api.client.get(f"/jobs/{trained.job_id}/log").json()["lines"]
    assert lines and all({"at", "actor", "action"} <= set(line) for line in lines)


def test_events_of_a_finished_job_end_with_its_final_snapshot(api: ApiServer, trained: Trained) -> None:
    answer = api.client.get(f"/jobs/{trained.job_id}/events")
    assert answer.headers["content-type"].startswith("text/event-stream")
    data = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: ")]
    assert data[-1]["status"] == "succeeded"


def test_an_unknown_job_answers_404(api: ApiServer) -> None:
    assert api.client.get("/jobs/job-made-up").status_code == 404
    assert api.client.post("/jobs/job-made-up/cancel").status_code == 404


def test_a_generation_job_writes_a_csv_file_to_download_and_a_report_assesses_it(api: ApiServer, trained: Trained) -> None:
    started = api.client.post("/generations", json={"model_version_id": trained.model_version_id, "n": 120,
                                                    "format": "csv", "seed": 1})
    assert started.status_code == 202, started.text
    job = wait_for_job(api.client, started.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    download = api.client.get(f"/generations/{job['result']['output_id']}/download")
    assert download.status_code == 200 and len(download.text.splitlines()) == 121

    report_job = api.client.post("/reports", json={"model_version_id": trained.model_version_id,
                                                   "output_id": job["result"]["output_id"]})
    assert report_job.status_code == 202, report_job.text
    finished = wait_for_job(api.client, report_job.json()["job"]["id"])
    assert finished["status"] == "succeeded", finished
    report_id = finished["result"]["report_id"]
    assert "passed" in api.client.get(f"/reports/{report_id}").json()
    page = api.client.get(f"/reports/{report_id}.html")
    assert page.headers["content-type"].startswith("text/html") and "<html" in page.text.lower()
    shared = api.client.post(f"/reports/{report_id}/share", json={"expires_in_s": 3600}).json()
    assert "?share=" in shared["url"] and shared["expires_at"]


def test_a_privacy_budget_set_by_an_admin_is_listed(api: ApiServer, trained: Trained) -> None:
    answer = api.client.put(f"/privacy/budgets/{trained.dataset_id}", json={"epsilon": 3.0})
    assert answer.status_code == 200, answer.text
    budgets = {b["dataset_id"]: b for b in api.client.get("/privacy/budgets").json()["items"]}
    assert budgets[trained.dataset_id]["budget"] is not None
    ledger = api.client.get("/privacy/ledger", params={"dataset_id": trained.dataset_id}).json()
    assert ledger["verified"] is True and isinstance(ledger["items"], list)


def test_an_invalid_body_is_a_422_problem_naming_the_field(api: ApiServer) -> None:
    answer = api.client.post("/generations", json={"model_version_id": "x", "n": 0})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "n" in answer.json()["detail"]
