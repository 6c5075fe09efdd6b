"""Streams, the tenant's rate limits and the RateLimit-* headers, withdrawing a version."""

from __future__ import annotations

import json
import time

import httpx

from tests.api.conftest import TIGHT, ApiServer, Trained


def test_every_authenticated_answer_carries_ratelimit_headers(api: ApiServer, trained: Trained) -> None:
    for answer in (api.client.get("/models"), api.client.get("/datasets/made-up")):
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(answer.headers)
        assert int(answer.headers["ratelimit-remaining"]) < int(answer.headers["ratelimit-limit"])


def test_a_stream_read_for_two_seconds_then_closed_frees_its_slot(api: ApiServer, trained: Trained) -> None:
    slots = api.app.state.streams
    rows = 0
    with httpx.Client(base_url=api.url, timeout=30) as client, \
            client.stream("GET", f"/models/{trained.model_id}/stream", params={"batch_size": 5, "seed": 2}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("application/x-ndjson")
        started = time.monotonic()
        for line in stream.iter_lines():
            assert set(json.loads(line)) >= {"age", "sex"}
            rows += 1
            assert slots.active == 1
            if time.monotonic() - started > 2:
                break
    deadline = time.monotonic() + 10
    while slots.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows > 10 and slots.active == 0


def test_too_many_requests_answer_429_with_retry_after(api: ApiServer, trained: Trained, tight_tier: None) -> None:
    answers = [api.client.get("/models") for _ in range(TIGHT["api_requests_per_s"] * 3)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].headers["ratelimit-remaining"] == "0"
    assert refused[0].headers["ratelimit-limit"] == str(TIGHT["api_requests_per_s"])
    assert refused[0].headers["content-type"] == "application/problem+json"
    assert "Too many API requests" in refused[0].json()["detail"]


def test_a_stream_ends_when_the_rows_quota_of_the_minute_is_spent(api: ApiServer, trained: Trained,
                                                                  tight_tier: None) -> None:
    answer = api.client.get(f"/models/{trained.model_id}/stream", params={"batch_size": 10})
    assert answer.status_code == 200
    assert len(answer.text.splitlines()) == TIGHT["api_rows_per_min"]


def test_samples_over_the_tiers_request_limit_are_refused_429(api: ApiServer, trained: Trained, tight_tier: None) -> None:
    answer = api.client.post(f"/models/{trained.model_id}/samples", json={"n": TIGHT["api_max_sample_rows"] + 1})
    assert answer.status_code == 429
    assert "rows per request" in answer.json()["detail"]


def test_a_withdrawn_version_generates_nothing(api: ApiServer, trained: Trained) -> None:
    from infra.usecases.model_registry import set_status

    path = f"/models/{trained.model_id}/versions/{trained.model_version_id}/withdraw"
    try:
        withdrawn = api.client.post(path, json={"reason": "test"})
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
        answer = api.client.post(f"/models/{trained.model_id}/samples", json={"n": 1, "version": trained.model_version_id})
        assert answer.status_code == 422 and "withdrawn" in answer.json()["detail"]
        no_version = api.client.get(f"/models/{trained.model_id}/stream")
        assert no_version.status_code == 422 and "no ready version" in no_version.json()["detail"]
    finally:  # the other tests use this version: make it ready again (the API offers no restore)
        from app.api.principal import _local_principal

        set_status("local", model_version_id=trained.model_version_id, status="ready", actor=_local_principal().actor)
