"""Errors as RFC 9457 problem documents, with the message the engine or the use case gave.

Every ``DoppelError`` maps to one status (``status_for``): bad input or configuration 400,
a refused role or scope 403, an unknown id 404 (another tenant's ids look exactly the same),
a conflict 409, a quota or rate 429 (with ``Retry-After`` when the limiter says when). Anything
else is a 500 whose document says only that something failed: no stack trace leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import ConfigError, DoppelError, InputError, LimitExceededError
from infra.db.errors import ConflictError, ImmutableRecordError, NotFoundError, QuotaExceededError
from infra.records.authz import PermissionDeniedError
from infra.records.rate_limits import RateLimitExceededError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          406: "Not acceptable", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
          422: "Unprocessable content", 429: "Too many requests", 500: "Internal server error"}


class ApiProblem(Exception):
    """An error the API itself raises (authentication, scope, size, format)."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def status_for(error: DoppelError) -> int:
    """The HTTP status of a platform error."""
    if isinstance(error, PermissionDeniedError):
        return 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, (ConflictError, ImmutableRecordError)):
        return 409
    if isinstance(error, (QuotaExceededError, RateLimitExceededError)):
        return 429
    if isinstance(error, LimitExceededError):
        return 413
    if isinstance(error, (InputError, ConfigError)):
        return 422 if isinstance(error, ConfigError) else 400
    return 400


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A problem document response."""
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        return problem(error.status, error.detail, headers=error.headers)

    @app.exception_handler(DoppelError)
    async def _doppel(request: Request, error: DoppelError) -> JSONResponse:
        headers = {}
        retry = getattr(error, "retry_after_s", None)
        status = status_for(error)
        if status == 429:
            headers["Retry-After"] = str(int(retry or 60))
        if isinstance(error, RateLimitExceededError) and getattr(request.state, "rate", None) is None:
            headers.update({"RateLimit-Limit": str(error.limit), "RateLimit-Remaining": "0",
                            "RateLimit-Reset": str(error.retry_after_s)})
        return problem(status, str(error), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in error.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem(422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), headers=dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("API request %s %s failed", request.method, request.url.path)
        return problem(500, "The server could not answer this request; the error is in its log.")


__all__ = ["ApiProblem", "PROBLEM_JSON", "install", "problem", "status_for"]
