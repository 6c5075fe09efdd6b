"""Per-tenant rate limits, counted in the shared cache (Redis in production).

Generation requests of the workbench and the REST API's requests per second and generated
rows per minute (``infra.records.quotas.TierPolicy``) all go through ``count_request``.
A fixed window: the counter ``ratelimit:generate:<window start>`` of the tenant's cache
namespace (``doppel:t:<tenant>:``) is created with the window's length as TTL and
incremented atomically by every request (by ``amount``: rows count in rows), from every app
process at once. The request that takes the count past ``DOPPEL_GENERATION_RATE_LIMIT`` (per ``DOPPEL_GENERATION_RATE_WINDOW_S``)
is refused with ``RateLimitExceededError``, whose message says when to try again. One
tenant's requests never count against another's: the key lives in the tenant's namespace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import DoppelError
from infra.cache.shared import SharedCache, open_cache
from infra.db.session import TenantSession
from infra.records.authz import Actor, require_permission
from infra.settings import get_settings
from infra.tenant_ids import require_tenant


class RateLimitExceededError(DoppelError):
    """Too many requests of one kind from one tenant in the current window."""

    def __init__(self, message: str, *, retry_after_s: int, limit: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.limit = limit


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_requests`` per ``window_s`` seconds; ``max_requests == 0`` means no limit."""

    max_requests: int
    window_s: int

    @classmethod
    def for_generation(cls) -> "RateLimit":
        settings = get_settings()
        return cls(max_requests=settings.generation_rate_limit, window_s=settings.generation_rate_window_s)


@dataclass(frozen=True)
class RateCount:
    """Where a tenant stands in the current window after this request."""

    used: int
    limit: int
    retry_after_s: int

    @property
    def remaining(self) -> int:
        """What is left of the window's allowance (0 when there is no limit, see ``limit``)."""
        return max(0, self.limit - self.used)


def count_request(
    tenant: str,
    *,
    kind: str = "generate",
    limit: RateLimit | None = None,
    cache: SharedCache | None = None,
    clock: Callable[[], float] = time.time,
    amount: int = 1,
    noun: str = "generation requests",
) -> RateCount:
    """Count ``amount`` (one request, or a request's rows) of ``kind`` for ``tenant``; raise
    ``RateLimitExceededError`` past the limit. ``noun`` names what is counted in the message."""
    tenant = require_tenant(tenant)
    limit = limit or RateLimit.for_generation()
    now = clock()
    window_start = int(now // limit.window_s) * limit.window_s
    retry_after = max(1, math.ceil(window_start + limit.window_s - now))
    if limit.max_requests == 0:
        return RateCount(used=0, limit=0, retry_after_s=retry_after)
    scoped = (cache or open_cache()).for_tenant(tenant)
    used = scoped.incr(f"ratelimit:{kind}:{window_start}", amount=amount, ttl_s=limit.window_s + 1)
    if used > limit.max_requests:
        raise RateLimitExceededError(
            f"Too many {noun}: this workspace may make {limit.max_requests} every "
            f"{_duration(limit.window_s)} and has used them all. Try again in {_duration(retry_after)}.",
            retry_after_s=retry_after, limit=limit.max_requests,
        )
    return RateCount(used=used, limit=limit.max_requests, retry_after_s=retry_after)


def admit_generation_request(
    session: TenantSession,
    *,
    actor: Actor,
    limit: RateLimit | None = None,
    cache: SharedCache | None = None,
    clock: Callable[[], float] = time.time,
) -> RateCount:
    """The gate in front of every generation request: the role first, then the tenant's rate.

    A viewer is refused before anything is counted, so a refused request never uses up the
    tenant's allowance. Call it in the transaction that records the job.
    """
    require_permission(session, actor, "generation.request")
    return count_request(session.tenant, limit=limit, cache=cache, clock=clock)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"
