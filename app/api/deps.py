"""The dependency every route but /health takes: who calls, with which scope, within the rate.

``caller("train")`` authenticates the request (``app.api.principal``), refuses a credential
without the scope, counts the request against the tenant's requests per second, and keeps the
count on ``request.state`` for the ``RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from app.api.limits import count_api_request
from app.api.principal import TENANT_HEADER, AuthConfig, Principal, authenticate, require_scope


def caller(scope: str) -> Callable[[Request], Principal]:
    """A dependency answering the request's principal, which has ``scope``."""

    def dependency(request: Request) -> Principal:
        config: AuthConfig = request.app.state.auth
        principal = authenticate(
            request.headers.get("authorization"),
            client_host=request.client.host if request.client else None,
            tenant_header=request.headers.get(TENANT_HEADER),
            config=config,
        )
        request.state.principal = principal
        request.state.rate = count_api_request(principal.tenant)
        require_scope(principal, scope)
        return principal

    dependency.__name__ = f"caller_{scope}"
    return dependency


READ = caller("read")
GENERATE = caller("generate")
TRAIN = caller("train")
ADMIN = caller("admin")

__all__ = ["ADMIN", "GENERATE", "READ", "TRAIN", "caller"]
