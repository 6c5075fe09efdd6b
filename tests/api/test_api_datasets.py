"""Datasets through the API: upload, list, versions, profile; bad files, size limit, other tenants."""

from __future__ import annotations

from pathlib import Path

from infra.usecases import dataset_store
from tests.api.conftest import ApiServer, Trained, adult_csv


def test_an_uploaded_dataset_is_listed_with_its_latest_version(api: ApiServer, trained: Trained) -> None:
    items = {d["id"]: d for d in api.client.get("/datasets").json()["items"]}
    assert items[trained.dataset_id]["name"] == "adult"
    assert items[trained.dataset_id]["latest_version_id"] == trained.version_id
    assert api.client.get(f"/datasets/{trained.dataset_id}").json()["latest_version_id"] == trained.version_id


def test_versions_and_profile_of_a_dataset(api: ApiServer, trained: Trained) -> None:
    versions = api.client.get(f"/datasets/{trained.dataset_id}/versions").json()["items"]
    assert [(v["id"], v["n_rows"]) for v in versions] == [(trained.version_id, 300)]
    profile = api.client.get(f"/datasets/{trained.dataset_id}/versions/{trained.version_id}/profile").json()
    assert "age" in str(profile)


def test_uploading_the_same_file_again_makes_no_new_version(api: ApiServer, datasets: Path, trained: Trained) -> None:
    again = api.client.post("/datasets", files={"file": ("adult.csv", adult_csv(datasets), "text/csv")},
                            data={"name": "adult"})
    assert again.status_code == 201
    assert again.json()["version"] == {**again.json()["version"], "id": trained.version_id, "created": False}


def test_a_file_that_is_no_table_is_refused_with_a_problem(api: ApiServer) -> None:
    answer = api.client.post("/datasets", files={"file": ("notes.exe", b"\x00\x01binary", "application/octet-stream")})
    assert 400 <= answer.status_code < 500 and answer.status_code != 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]


def test_a_body_over_the_upload_limit_is_refused_413(api: ApiServer) -> None:
    big = b"a,b\n" + b"1,2\n" * (700 * 1024)  # 2.8 MB, over the test's 2 MiB cap
    answer = api.client.post("/datasets", files={"file": ("big.csv", big, "text/csv")})
    assert answer.status_code == 413
    assert "DOPPEL_MAX_UPLOAD_BYTES" in answer.json()["detail"]


def test_another_tenants_dataset_answers_like_a_made_up_id(api: ApiServer, datasets: Path) -> None:
    theirs = dataset_store.store_upload(api.member_tenant, data=adult_csv(datasets, rows=50), filename="a.csv",
                                        dataset_name="theirs", actor=api.member)
    for path in (f"/datasets/{theirs.dataset_id}", f"/datasets/{theirs.dataset_id}/versions"):
        mine = api.client.get(path)
        made_up = api.client.get(path.replace(theirs.dataset_id, "ds-made-up"))
        assert mine.status_code == made_up.status_code == 404
        assert mine.json()["detail"].replace(theirs.dataset_id, "X") == made_up.json()["detail"].replace("ds-made-up", "X")
    profile = f"/datasets/{theirs.dataset_id}/versions/{theirs.version_id}/profile"
    assert api.client.get(profile).status_code == 404


def test_imports_are_refused_with_the_use_cases_reason(api: ApiServer) -> None:
    s3 = api.client.post("/datasets/import", json={"name": "x", "source": {"kind": "s3", "path": "s3://bucket/a.csv"}})
    assert 400 <= s3.status_code < 500 and "credentials" in s3.json()["detail"].lower()
    loopback = api.client.post("/datasets/import", json={
        "name": "x", "source": {"kind": "database", "url": "postgresql://u:p@127.0.0.1:5432/test", "table": "t"}})
    assert 400 <= loopback.status_code < 500 and loopback.json()["detail"]
