"""The REST API's ASGI app: ``create_app()``, mounted at ``/api/v1`` beside the workbench (``app/asgi.py``).

Routes are thin (``routes_*``): they collect the input, call a use case of ``infra.usecases``
and shape its answer. Around them: authentication and scopes (``deps``, ``principal``), the
tenant's rate limits (``limits``), problem documents for every error (``problems``), a body
size limit and ``RateLimit-*`` headers (``middleware``), warm models and stream slots (``warm``).
No CORS middleware: browsers on other origins cannot call the API (CORS off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount

from app.api import problems
from app.api.middleware import RateHeaders, SizeLimit
from app.api.principal import AuthConfig
from app.api.warm import StreamSlots, WarmModels
from infra.settings import get_settings

PREFIX = "/api/v1"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("doppel")
    except PackageNotFoundError:
        return "0"


def create_app(*, auth_section: Mapping[str, Any] | None = None, access_section: Mapping[str, Any] | None = None
               ) -> FastAPI:
    """The API app, to be mounted at ``PREFIX`` (``api_routes``). ``auth_section``/``access_section``:
    the secrets' ``[auth]`` and ``[access]`` tables (None: single-user local mode)."""
    from app.api import routes_data, routes_jobs, routes_keys, routes_models, routes_outputs

    app = FastAPI(title="Doppel API", version=_version(), openapi_url="/openapi.json", docs_url="/docs",
                  redoc_url=None)
    app.state.auth = AuthConfig(auth_section=auth_section, access_section=access_section)
    app.state.warm = WarmModels()
    app.state.streams = StreamSlots()
    problems.install(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": app.version}

    for module in (routes_data, routes_models, routes_jobs, routes_outputs, routes_keys):
        app.include_router(module.router)
    app.add_middleware(RateHeaders)
    app.add_middleware(SizeLimit, max_bytes=get_settings().max_upload_bytes + 64 * 1024)  # multipart framing
    return app


def api_routes(*, auth_section: Mapping[str, Any] | None = None,
               access_section: Mapping[str, Any] | None = None) -> list[Mount]:
    """The routes that serve the API beside the workbench: ``Mount(PREFIX, create_app(...))``."""
    return [Mount(PREFIX, app=create_app(auth_section=auth_section, access_section=access_section))]


__all__ = ["PREFIX", "api_routes", "create_app"]
