"""ASGI middleware of the API: request size limit, ``RateLimit-*`` headers, the access log."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from app.api.limits import headers_for
from app.api.problems import PROBLEM_JSON, ApiProblem

access_log = logging.getLogger("doppel.api.access")
Scope = dict[str, Any]


class SizeLimit:
    """Refuse (413) a request body over ``max_bytes``: by its Content-Length, or as it arrives."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(send, 413, f"the request body is {int(declared):,} bytes; this server accepts at most "
                                           f"{self.max_bytes:,} (DOPPEL_MAX_UPLOAD_BYTES)")
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise ApiProblem(413, f"the request body is over this server's limit of {self.max_bytes:,} bytes "
                                      "(DOPPEL_MAX_UPLOAD_BYTES)")
            return message

        await self.app(scope, counted, send)


class RateHeaders:
    """Add ``RateLimit-*`` headers of the caller's window to every response, and log the call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                rate = state.get("rate")
                if rate is not None:
                    extra = [(k.lower().encode(), v.encode()) for k, v in headers_for(rate).items()]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                principal = state.get("principal")
                access_log.info("%s %s %s tenant=%s user=%s via=%s key=%s %.1fms", scope["method"], scope["path"],
                                message["status"], getattr(principal, "tenant", "-"),
                                getattr(getattr(principal, "actor", None), "user_id", "-"),
                                getattr(principal, "via", "-"), getattr(principal, "key_id", None) or "-",
                                (time.perf_counter() - started) * 1000)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_problem(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": "Payload too large", "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
