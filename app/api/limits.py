"""The tenant's API rate limits: requests per second and generated rows per minute.

Both are fixed windows counted in the shared cache (Redis in production) by
``infra.records.rate_limits.count_request``, so every API process of a tenant draws on one
allowance; the limits come from the tenant's tier (``TierPolicy.api_requests_per_s``,
``api_rows_per_min``). The tier is read from the database at most every ``POLICY_TTL_S``
seconds per tenant and process. ``RateLimit-Limit``/``-Remaining``/``-Reset`` describe the
requests-per-second window on every authenticated response; a refusal is a 429 with ``Retry-After``.
"""

from __future__ import annotations

import threading
import time

from infra.records.quotas import TierPolicy
from infra.records.rate_limits import RateCount, RateLimit, count_request
from infra.usecases.model_serving import api_policy

POLICY_TTL_S = 5.0
REQUESTS_KIND = "api-requests"
ROWS_KIND = "api-rows"

_policies: dict[str, tuple[float, TierPolicy]] = {}
_lock = threading.Lock()


def policy_of(tenant: str) -> TierPolicy:
    """The tenant's tier policy, read again after ``POLICY_TTL_S`` seconds."""
    now = time.monotonic()
    with _lock:
        cached = _policies.get(tenant)
    if cached and now - cached[0] < POLICY_TTL_S:
        return cached[1]
    policy = api_policy(tenant)
    with _lock:
        _policies[tenant] = (now, policy)
    return policy


def forget_policies() -> None:
    """Read every tenant's tier again on its next request (tests change tiers)."""
    with _lock:
        _policies.clear()


def count_api_request(tenant: str) -> RateCount:
    """Count one request; ``RateLimitExceededError`` (429) past the tier's requests per second."""
    limit = RateLimit(max_requests=policy_of(tenant).api_requests_per_s, window_s=1)
    return count_request(tenant, kind=REQUESTS_KIND, limit=limit, noun="API requests")


def count_rows(tenant: str, rows: int) -> RateCount:
    """Count generated rows; ``RateLimitExceededError`` past the tier's rows per minute."""
    limit = RateLimit(max_requests=policy_of(tenant).api_rows_per_min, window_s=60)
    return count_request(tenant, kind=ROWS_KIND, limit=limit, amount=rows, noun="generated rows")


def headers_for(count: RateCount) -> dict[str, str]:
    """``RateLimit-*`` headers of a window (a limit of 0, no limit, is announced as 0 remaining 0)."""
    return {"RateLimit-Limit": str(count.limit), "RateLimit-Remaining": str(count.remaining),
            "RateLimit-Reset": str(count.retry_after_s)}


__all__ = ["count_api_request", "count_rows", "forget_policies", "headers_for", "policy_of"]
