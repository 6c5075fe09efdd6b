"""The Python client (``app.api.client``) against the real API server on loopback, with real API keys."""

from __future__ import annotations

import subprocess
import sys
import uuid
from itertools import islice
from pathlib import Path

import polars as pl
import pytest

from app.api.client import Doppel, DoppelApiError, api_base
from tests.api.conftest import SAMPLE_COLUMNS, ApiServer, Trained

REPO = Path(__file__).resolve().parents[2]


def _new_key(api: ApiServer, *scopes: str) -> tuple[str, str]:
    """(id, token) of a new key of the local owner."""
    answer = api.client.post("/keys", json={"name": f"client-{uuid.uuid4().hex[:6]}", "scopes": list(scopes)})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["secret"]


def _key(api: ApiServer, *scopes: str) -> str:
    return _new_key(api, *scopes)[1]


@pytest.fixture(scope="module")
def generator(api: ApiServer, trained: Trained) -> Doppel:
    """A client holding a key with the generate scope (the local owner's)."""
    with Doppel(api.url.removesuffix("/api/v1"), key=_key(api, "read", "generate")) as client:
        yield client


def test_importing_the_client_loads_neither_streamlit_nor_torch() -> None:
    code = "import sys, app.api.client; print(sorted({'streamlit', 'torch', 'fastapi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_base_address_gets_the_api_prefix_once() -> None:
    assert api_base("http://h:1") == api_base("http://h:1/api/v1/") == "http://h:1/api/v1"
    with pytest.raises(ValueError, match="must start with http"):
        api_base("h:1")


def test_sample_gives_a_frame_and_the_same_seed_the_same_rows(generator: Doppel, trained: Trained) -> None:
    rows = generator.sample(trained.model_id, n=25, seed=4)
    assert isinstance(rows, pl.DataFrame) and rows.height == 25 and set(rows.columns) == set(SAMPLE_COLUMNS)
    assert rows.equals(generator.sample(trained.model_id, n=25, seed=4, version=trained.model_version_id))


def test_sample_meets_conditions(generator: Doppel, trained: Trained) -> None:
    rows = generator.sample(trained.model_id, n=20, conditions={"sex": "Female"}, seed=1)
    assert set(rows["sex"]) == {"Female"}


def test_a_stream_yields_rows_until_the_caller_stops(generator: Doppel, trained: Trained) -> None:
    stream = generator.stream(trained.model_id, batch_size=1, seed=3)
    rows = list(islice(stream, 5))
    stream.close()
    assert len(rows) == 5 and set(rows[0]) == set(SAMPLE_COLUMNS)


def test_reading_the_catalogue(generator: Doppel, trained: Trained) -> None:
    assert generator.health()["status"] == "ok"
    assert trained.dataset_id in {d["id"] for d in generator.datasets.list()}
    assert trained.model_id in {m["id"] for m in generator.models.list()}
    assert generator.job(trained.job_id).status == "succeeded"


def test_errors_carry_the_server_s_status_and_message(generator: Doppel) -> None:
    made_up = str(uuid.uuid4())
    with pytest.raises(DoppelApiError) as missing:
        generator.sample(made_up, n=1)
    assert missing.value.status == 404 and made_up in missing.value.detail


def test_a_key_without_the_train_scope_cannot_train(generator: Doppel, trained: Trained) -> None:
    with pytest.raises(DoppelApiError) as refused:
        generator.train(trained.version_id, model="mst", epochs=1)
    assert refused.value.status == 403 and "'train'" in refused.value.detail


def test_a_revoked_key_is_answered_401(api: ApiServer) -> None:
    key_id, token = _new_key(api, "read")
    with Doppel(api.url, key=token) as client:
        assert key_id in {k["id"] for k in client.keys.list()}
        client.keys.revoke(key_id)
        with pytest.raises(DoppelApiError) as refused:
            client.models.list()
    assert refused.value.status == 401 and refused.value.detail == "invalid API key"

