"""Tiers and quotas: what a tenant may run and store.

Each tenant has a tier (enterprise, business, starter) whose ``TierPolicy`` gives its default
quotas and its job priority; ``tenant_quotas`` holds per-tenant overrides (NULL = the tier's
value). The REST API's rate limits (requests per second, generated rows per minute) come from
the tier too; ``DOPPEL_API_TIER_LIMITS`` may override them per tier (a closed installation, a
tight test tier). Checks raise ``QuotaExceededError`` with the limit and the current use in the message,
before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select

from infra.db.errors import ConfigError, QuotaExceededError
from infra.db.models import DatasetVersion, GeneratedDataset, Job, ModelVersion, TenantQuota
from infra.db.session import TenantSession
from infra.records.audit import record_event
from infra.records.tenancy import get_tenant

GiB = 1024**3


@dataclass(frozen=True)
class TierPolicy:
    """Quotas and scheduling of one tier. ``priority``: lower runs first (Dramatiq's convention)."""

    max_concurrent_jobs: int
    max_stored_bytes: int
    max_rows_per_generation: int
    priority: int
    api_requests_per_s: int = 0  # REST API requests per second; 0 = no limit
    api_rows_per_min: int = 0  # rows the REST API's samples and streams may generate per minute; 0 = no limit
    api_max_sample_rows: int = 100_000  # largest n of one synchronous samples request


TIER_POLICIES: dict[str, TierPolicy] = {
    "enterprise": TierPolicy(max_concurrent_jobs=20, max_stored_bytes=1024 * GiB, max_rows_per_generation=100_000_000, priority=0,
                             api_requests_per_s=1_000, api_rows_per_min=100_000_000, api_max_sample_rows=1_000_000),
    "business": TierPolicy(max_concurrent_jobs=5, max_stored_bytes=100 * GiB, max_rows_per_generation=10_000_000, priority=10,
                           api_requests_per_s=300, api_rows_per_min=20_000_000, api_max_sample_rows=100_000),
    "starter": TierPolicy(max_concurrent_jobs=2, max_stored_bytes=10 * GiB, max_rows_per_generation=1_000_000, priority=20,
                          api_requests_per_s=100, api_rows_per_min=2_000_000, api_max_sample_rows=10_000),
}
"""Defaults per tier; a tenant's ``tenant_quotas`` row overrides any of the three storage and job limits,
``DOPPEL_API_TIER_LIMITS`` the API limits of a whole tier."""
API_LIMIT_FIELDS = ("api_requests_per_s", "api_rows_per_min", "api_max_sample_rows")

ACTIVE_JOB_STATES = ("queued", "running")
_QUOTA_FIELDS = ("max_concurrent_jobs", "max_stored_bytes", "max_rows_per_generation")


def effective_policy(session: TenantSession) -> TierPolicy:
    """The session tenant's tier policy with its overrides applied."""
    policy = tier_policy(get_tenant(session).tier)
    override = session.get(TenantQuota, session.tenant)
    if override is None:
        return policy
    changes = {f: getattr(override, f) for f in _QUOTA_FIELDS if getattr(override, f) is not None}
    return replace(policy, **changes)


def tier_policy(tier: str) -> TierPolicy:
    """A tier's policy with the API limits ``DOPPEL_API_TIER_LIMITS`` sets for it."""
    from infra.settings import get_settings

    policy = TIER_POLICIES[tier]
    changes = get_settings().api_tier_limits.get(tier) or {}
    unknown = sorted(set(changes) - set(API_LIMIT_FIELDS))
    if unknown:
        raise ConfigError(f"DOPPEL_API_TIER_LIMITS[{tier!r}] sets unknown limit(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(API_LIMIT_FIELDS)}")
    return replace(policy, **changes) if changes else policy


def set_quota_overrides(
    session: TenantSession,
    *,
    actor: str | None,
    max_concurrent_jobs: int | None = None,
    max_stored_bytes: int | None = None,
    max_rows_per_generation: int | None = None,
) -> TenantQuota:
    """Override the tier's quotas for this tenant (None restores the tier's value)."""
    values = {
        "max_concurrent_jobs": max_concurrent_jobs,
        "max_stored_bytes": max_stored_bytes,
        "max_rows_per_generation": max_rows_per_generation,
    }
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ConfigError(f"{name} must be a non-negative integer or None, got {value!r}")
    row = session.get(TenantQuota, session.tenant) or TenantQuota(tenant_id=session.tenant)
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    record_event(session, actor=actor, action="quota.set", object_type="tenant", object_id=session.tenant,
                 details=values)
    session.flush()
    return row


def active_job_count(session: TenantSession) -> int:
    """Jobs of the tenant that are queued or running."""
    return session.scalar(
        select(func.count()).select_from(Job).where(Job.tenant_id == session.tenant, Job.state.in_(ACTIVE_JOB_STATES))
    ) or 0


def stored_bytes(session: TenantSession) -> int:
    """Bytes the tenant stores: dataset versions, model versions and generated datasets."""
    total = 0
    for model in (DatasetVersion, ModelVersion, GeneratedDataset):
        total += session.scalar(
            select(func.coalesce(func.sum(model.n_bytes), 0)).where(model.tenant_id == session.tenant)
        ) or 0
    return int(total)


def check_concurrent_jobs(session: TenantSession, *, adding: int = 1) -> None:
    """Refuse when ``adding`` more active jobs would exceed the tenant's concurrent-job quota."""
    limit = effective_policy(session).max_concurrent_jobs
    active = active_job_count(session)
    if active + adding > limit:
        raise QuotaExceededError(
            f"tenant {session.tenant!r} has {active} job(s) queued or running and may have at most "
            f"{limit} at once; wait for one to finish or cancel one"
        )


def check_storage(session: TenantSession, *, adding_bytes: int) -> None:
    """Refuse when storing ``adding_bytes`` more would exceed the tenant's storage quota."""
    limit = effective_policy(session).max_stored_bytes
    used = stored_bytes(session)
    if used + adding_bytes > limit:
        raise QuotaExceededError(
            f"storing {adding_bytes:,} more bytes would exceed tenant {session.tenant!r}'s storage quota "
            f"({used:,} of {limit:,} bytes used); delete old versions or ask for a larger quota"
        )


def check_generation_rows(session: TenantSession, *, n_rows: int) -> None:
    """Refuse a generation request for more rows than the tenant's per-request quota."""
    limit = effective_policy(session).max_rows_per_generation
    if n_rows > limit:
        raise QuotaExceededError(
            f"a generation request for {n_rows:,} rows exceeds tenant {session.tenant!r}'s limit of "
            f"{limit:,} rows per request; request fewer rows or split the request"
        )
