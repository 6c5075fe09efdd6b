"""Fixtures of the REST API tests: the API served by real uvicorn on loopback, over a real
PostgreSQL workspace (row-level security, app role) and a real Redis (DB 10) for the rate limits.

One server for the tests/api package (its settings are undone after it), in a thread of the test process (so the tests can look at its stream
slots and warm models), in single-user local mode: calls from loopback act as the local owner.
The local tenant and the other tenant (``member_tenant``, with one member) are on the business tier; ``tight_tier`` moves it to the starter tier, which
``DOPPEL_API_TIER_LIMITS`` makes tiny. ``trained`` trains one MST model (1 epoch, 300 adult rows)
through the API, once.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.infra.workspace_support import member_workspace

REDIS_API_URL = "redis://127.0.0.1:6379/10"
TIGHT = {"api_requests_per_s": 4, "api_rows_per_min": 40, "api_max_sample_rows": 50}
SAMPLE_COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]


@dataclass(frozen=True)
class ApiServer:
    url: str  # http://127.0.0.1:PORT/api/v1
    app: Any  # the FastAPI app (app.state.streams, app.state.warm)
    client: httpx.Client
    member_tenant: str  # another tenant, with data of its own
    member: Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clear_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_API_URL)
    for key in client.scan_iter("doppel:t:local:ratelimit:*"):
        client.delete(key)
    client.close()


def set_tier(tenant: str, tier: str) -> None:
    from app.api.limits import forget_policies
    from infra.db import tenant_session
    from infra.records import tenancy

    with tenant_session(tenant) as session:
        tenancy.set_tier(session, tier=tier, actor="test")
    forget_policies()


def set_local_tier(tier: str) -> None:
    from infra.tenant_ids import LOCAL_TENANT

    set_tier(LOCAL_TENANT, tier)


@pytest.fixture(scope="package")  # torn down after tests/api: its settings must not reach other packages
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    from starlette.applications import Starlette

    from app.api.factory import api_routes
    from app.api.principal import forget_local_user
    from auth.provisioning import ensure_local_user

    folder = tmp_path_factory.mktemp("api")
    environment = {"DOPPEL_CACHE_URL": REDIS_API_URL, "DOPPEL_API_TIER_LIMITS": json.dumps({"starter": TIGHT}),
                   "DOPPEL_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024), "DOPPEL_EMBEDDED_WORKER_THREADS": "2"}
    with member_workspace("postgresql", folder, prefix="api", environment=environment) as (tenant, member):
        _clear_redis()
        forget_local_user()
        ensure_local_user()
        set_local_tier("business")
        set_tier(tenant, "business")
        routes = api_routes()
        asgi = Starlette(routes=routes)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(base_url=url, timeout=60) as client:
            yield ApiServer(url=url, app=routes[0].app, client=client, member_tenant=tenant, member=member)
        server.should_exit = True
        thread.join(timeout=10)
        forget_local_user()


@pytest.fixture
def tight_tier(api: ApiServer) -> Iterator[None]:
    """The local tenant on the starter tier, whose API limits are ``TIGHT``, for one test."""
    _clear_redis()
    set_local_tier("starter")
    try:
        yield
    finally:
        set_local_tier("business")
        _clear_redis()


def adult_csv(datasets: Path, *, rows: int = 300) -> bytes:
    from tests.workers.support import read_adult

    frame = read_adult(datasets / "adult.csv", rows=rows, seed=1, columns=SAMPLE_COLUMNS)
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Trained:
    dataset_id: str
    version_id: str
    model_id: str
    model_version_id: str
    job_id: str


def wait_for_job(client: httpx.Client, job_id: str, *, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}", params={"wait": 5}).json()
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job


@pytest.fixture(scope="package")  # torn down after tests/api: its settings must not reach other packages
def trained(api: ApiServer, datasets: Path) -> Trained:
    """An adult dataset uploaded and an MST model trained on it (1 epoch), through the API."""
    upload = api.client.post("/datasets", files={"file": ("adult.csv", adult_csv(datasets), "text/csv")},
                             data={"name": "adult"})
    assert upload.status_code == 201, upload.text
    version_id = upload.json()["version"]["id"]
    started = api.client.post("/models", json={"dataset_version_id": version_id, "model": "mst", "epochs": 1,
                                               "name": "adult-mst"})
    assert started.status_code == 202, started.text
    job = wait_for_job(api.client, started.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    return Trained(dataset_id=upload.json()["dataset"]["id"], version_id=version_id,
                   model_id=started.json()["model_id"], model_version_id=job["result"]["model_version_id"],
                   job_id=job["id"])
