"""``python -m app`` serves the workbench and the REST API from one process on one port."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.browser.conftest import launch_workbench


def test_the_launcher_serves_the_workbench_and_the_api_on_one_port(tmp_path: Path) -> None:
    embedded = {"DOPPEL_DATABASE_URL": "", "DOPPEL_STORAGE_URL": "", "DOPPEL_CACHE_URL": "", "DOPPEL_BROKER_URL": "",
                "DOPPEL_API_TIER_LIMITS": "{}"}  # its own embedded state, whatever other fixtures set
    with launch_workbench(tmp_path, env=embedded) as url:
        health = httpx.get(f"{url}/api/v1/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert httpx.get(f"{url}/api/v1/openapi.json", timeout=30).json()["servers"] == [{"url": "/api/v1"}]
        assert "text/html" in httpx.get(f"{url}/api/v1/docs", timeout=30).headers["content-type"]
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "<noscript>" in page.text.lower()  # Streamlit's page shell
        models = httpx.get(f"{url}/api/v1/models", timeout=30)  # local mode: loopback acts as the local owner
        assert models.status_code == 200 and models.json() == {"items": []}
        assert "ratelimit-limit" in models.headers
