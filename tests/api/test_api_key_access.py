"""API keys at the door of every route: scopes, revocation, the role read on every call, tenants."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from infra.db import tenant_session
from infra.records.tenancy import set_member
from infra.usecases import dataset_store
from infra.usecases.api_keys import create_api_key, revoke_api_key
from tests.api.conftest import ApiServer, Trained, adult_csv


def _as(api: ApiServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=api.url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def _member_key(api: ApiServer, *scopes: str) -> tuple[str, str]:
    info, token = create_api_key(api.member_tenant, actor=api.member, name=f"k-{uuid.uuid4().hex[:6]}", scopes=scopes)
    return info.id, token


def test_a_read_key_reads_but_cannot_generate_or_train(api: ApiServer, trained: Trained) -> None:
    token = api.client.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["secret"]
    with _as(api, token) as reader:
        assert reader.get("/models").status_code == 200
        train = reader.post("/models", json={"dataset_version_id": trained.version_id, "model": "mst"})
        samples = reader.post(f"/models/{trained.model_id}/samples", json={"n": 1})
    assert (train.status_code, samples.status_code) == (403, 403)
    assert "'train'" in train.json()["detail"] and "'generate'" in samples.json()["detail"]


def test_a_revoked_key_is_refused_like_an_unknown_one(api: ApiServer) -> None:
    key_id, token = _member_key(api, "read")
    with _as(api, token) as client:
        assert client.get("/datasets").status_code == 200
        revoke_api_key(api.member_tenant, actor=api.member, key_id=key_id)
        refused = client.get("/datasets")
    assert refused.status_code == 401 and refused.json()["detail"] == "invalid API key"


def test_a_key_acts_in_its_own_tenant_where_other_tenants_ids_are_unknown(api: ApiServer, trained: Trained,
                                                                         datasets: Path) -> None:
    theirs = dataset_store.store_upload(api.member_tenant, data=adult_csv(datasets, rows=40), filename="m.csv",
                                        dataset_name=f"m-{uuid.uuid4().hex[:6]}", actor=api.member)
    _, token = _member_key(api, "read", "generate")
    with _as(api, token) as member:
        assert theirs.dataset_id in [d["id"] for d in member.get("/datasets").json()["items"]]
        assert trained.dataset_id not in [d["id"] for d in member.get("/datasets").json()["items"]]
        for real, made_up in ((f"/datasets/{trained.dataset_id}", "/datasets/made-up"),
                              (f"/datasets/{trained.dataset_id}/versions", "/datasets/made-up/versions"),
                              (f"/models/{trained.model_id}", "/models/made-up"),
                              (f"/jobs/{trained.job_id}", "/jobs/made-up")):
            answer, invented = member.get(real), member.get(made_up)
            assert answer.status_code == invented.status_code == 404, real
            assert answer.json()["title"] == invented.json()["title"]
        sampled = member.post(f"/models/{trained.model_id}/samples", json={"n": 1})
        assert sampled.status_code == 404


def test_the_role_is_read_on_every_call_so_a_demoted_members_train_key_cannot_train(
        api: ApiServer, datasets: Path) -> None:
    theirs = dataset_store.store_upload(api.member_tenant, data=adult_csv(datasets, rows=40), filename="v.csv",
                                        dataset_name=f"v-{uuid.uuid4().hex[:6]}", actor=api.member)
    _, token = _member_key(api, "read", "generate", "train")
    with tenant_session(api.member_tenant) as session:
        set_member(session, user_id=api.member.user_id, role="viewer", actor="test")
    try:
        with _as(api, token) as client:
            answer = client.post("/models", json={"dataset_version_id": theirs.version_id, "model": "mst", "epochs": 1})
        assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json"
    finally:
        with tenant_session(api.member_tenant) as session:
            set_member(session, user_id=api.member.user_id, role="member", actor="test")
