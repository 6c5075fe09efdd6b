"""Job rows: the truth about background work, and the leases that make delivery safe to repeat.

A queue message carries only the tenant and the job id. A worker that receives it:

1. ``claim_job`` — in its own short transaction: a conditional UPDATE that succeeds only for
   a queued job, or a running one whose lease has expired (its worker died). A second delivery
   while the lease is held gets ``None`` and must do nothing.
2. ``heartbeat`` — every few seconds: renews the lease, records progress, and reports whether
   the lease is still held and whether the user asked to cancel.
3. ``complete_job`` / ``fail_job`` / ``acknowledge_cancel`` — in the same transaction as the
   results (e.g. the model version); they raise ``LeaseLostError`` if another worker took the
   job over, so the surrounding transaction rolls back and nothing is recorded twice.

State machine: queued -> running -> succeeded | failed | cancelled; queued -> cancelled;
running -> queued again only through ``fail_job(retryable=True)`` while attempts remain.
A training job that ends failed or cancelled before its training started gets its privacy
reservation released in the same transaction (``infra.privacy.job_charges``).
Times are the caller's clock (``now``, default: UTC now); leases should be minutes, far above
any clock skew between hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from infra.db.errors import ConfigError, ConflictError, NotFoundError
from infra.db.lookup import get_owned
from infra.db.models import JOB_KINDS, Job, Tenant
from infra.db.session import TenantSession
from infra.db.types import utcnow
from infra.privacy.job_charges import release_unstarted
from infra.records.audit import SYSTEM_ACTOR, record_event
from infra.records.quotas import check_concurrent_jobs, check_generation_rows, effective_policy

FINISHED_STATES = ("succeeded", "failed", "cancelled")
LIVE_LOSSES_KEY = "losses"
"""Where a running training job keeps its per-epoch losses in ``Job.result`` (until it succeeds)."""
LIVE_LOSSES_CAP = 500
"""How many epochs of live losses a job row keeps: the most recent ones."""


class LeaseLostError(ConflictError):
    """The worker no longer holds the job's lease (it expired and another worker took the job)."""


@dataclass(frozen=True)
class LeaseStatus:
    """What a heartbeat learned: is the lease still ours, and did the user ask to cancel?"""

    held: bool
    cancel_requested: bool


def submit_job(
    session: TenantSession,
    *,
    kind: str,
    queue: str,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
    priority: int | None = None,
    max_attempts: int = 3,
) -> Job:
    """Create a queued job after checking the tenant's quotas; nothing is created if one is exceeded.

    ``priority`` defaults to the tenant tier's. For ``kind="generate"`` a ``payload["n_rows"]``
    is checked against the rows-per-request quota. The caller enqueues the message (tenant and
    job id) after this transaction commits.
    """
    if kind not in JOB_KINDS:
        raise ConfigError(f"unknown job kind {kind!r}: expected one of {', '.join(JOB_KINDS)}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
    payload = dict(payload or {})
    # Serialise job submission per tenant so that two concurrent submissions cannot both pass
    # the concurrent-jobs check (PostgreSQL row lock; SQLite transactions are already serial).
    if session.scalars(select(Tenant).where(Tenant.id == session.tenant).with_for_update()).first() is None:
        raise NotFoundError(f"tenant {session.tenant!r} not found")
    check_concurrent_jobs(session)
    if kind == "generate" and payload.get("n_rows") is not None:
        check_generation_rows(session, n_rows=int(payload["n_rows"]))
    job = Job(
        tenant_id=session.tenant,
        kind=kind,
        queue=queue,
        payload=payload,
        priority=effective_policy(session).priority if priority is None else priority,
        max_attempts=max_attempts,
        created_by=actor,
    )
    session.add(job)
    session.flush()
    record_event(session, actor=actor, action="job.submitted", object_type="job", object_id=job.id,
                 details={"kind": kind, "queue": queue})
    return job


def get_job(session: TenantSession, job_id: str) -> Job:
    """The tenant's job ``job_id`` (fresh from the database); ``NotFoundError`` otherwise."""
    job = get_owned(session, Job, job_id, what="job")
    session.refresh(job)
    return job


def list_jobs(
    session: TenantSession, *, state: str | None = None, kind: str | None = None, limit: int = 100
) -> list[Job]:
    """The tenant's jobs, newest first, optionally of one state or kind."""
    statement = select(Job).where(Job.tenant_id == session.tenant)
    if state is not None:
        statement = statement.where(Job.state == state)
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return list(session.scalars(statement.order_by(Job.created_at.desc()).limit(limit)))


def _this_job(session: TenantSession, job_id: str) -> Any:
    return and_(Job.id == job_id, Job.tenant_id == session.tenant)


def claim_job(
    session: TenantSession, job_id: str, *, worker: str, lease_seconds: float, now: datetime | None = None
) -> Job | None:
    """Take the job for ``worker`` for ``lease_seconds``; None if another worker holds it or it is over.

    Claimable: a queued job, or a running job whose lease expired (its worker died). Each
    claim counts an attempt; a job that already used ``max_attempts`` is marked failed instead.
    A running job whose user asked to cancel is marked cancelled instead. Commit right after.
    """
    now = now or utcnow()
    job = get_owned(session, Job, job_id, what="job")
    claimable = and_(
        _this_job(session, job_id),
        Job.cancel_requested.is_(False),
        Job.attempts < Job.max_attempts,
        or_(Job.state == "queued", and_(Job.state == "running", Job.lease_expires_at < now)),
    )
    claimed = session.execute(
        update(Job)
        .where(claimable)
        .values(
            state="running",
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(job)
    if claimed == 1:
        return job
    expired = job.state == "running" and job.lease_expires_at is not None and job.lease_expires_at < now
    if expired and job.cancel_requested:
        _finish(session, job, state="cancelled", now=now)
    elif expired and job.attempts >= job.max_attempts:
        _finish(session, job, state="failed", now=now,
                error=f"the job stopped {job.attempts} time(s) without finishing (worker lost); gave up")
    return None


def heartbeat(
    session: TenantSession,
    job_id: str,
    *,
    worker: str,
    lease_seconds: float,
    progress: float | None = None,
    message: str | None = None,
    losses: Sequence[Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> LeaseStatus:
    """Renew ``worker``'s lease and record progress (0..1); says whether to go on or stop.

    ``losses`` are epochs finished since the last heartbeat (``{"epoch": 3, "generator": 1.2, ...}``);
    they are merged by epoch into the job's live loss history (``result["losses"]``, the last
    ``LIVE_LOSSES_CAP`` epochs), which the Jobs page draws while the job runs. A job taken over
    after a crash keeps the epochs of its earlier attempt.
    """
    now = now or utcnow()
    values: dict[str, Any] = {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = min(max(float(progress), 0.0), 1.0)
    if message is not None:
        values["progress_message"] = message[:500]
    if losses:
        current = session.scalar(select(Job.result).where(_this_job(session, job_id))) or {}
        values["result"] = {**current, LIVE_LOSSES_KEY: merge_losses(current.get(LIVE_LOSSES_KEY) or [], losses)}
    renewed = session.execute(
        update(Job)
        .where(_this_job(session, job_id), Job.lease_owner == worker, Job.state == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    cancel = session.scalar(select(Job.cancel_requested).where(_this_job(session, job_id)))
    return LeaseStatus(held=renewed == 1, cancel_requested=bool(cancel))


def merge_losses(
    history: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *, cap: int = LIVE_LOSSES_CAP
) -> list[dict[str, Any]]:
    """``history`` with the ``new`` epochs (a newer row for the same epoch wins), by epoch, the last ``cap``."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in [*history, *new]:
        try:
            epoch = int(row["epoch"])
        except (KeyError, TypeError, ValueError):
            continue  # a row without an epoch cannot be placed on the curve
        by_epoch[epoch] = {"epoch": epoch, **{k: v for k, v in row.items() if k != "epoch"}}
    return [by_epoch[e] for e in sorted(by_epoch)][-cap:]


def _held(session: TenantSession, job_id: str, worker: str) -> Job:
    job = get_owned(session, Job, job_id, what="job", for_update=True)
    if job.state != "running" or job.lease_owner != worker:
        raise LeaseLostError(
            f"job {job_id} is no longer held by worker {worker!r} (state {job.state}, "
            f"lease owner {job.lease_owner!r}); its result is discarded"
        )
    return job


def _finish(
    session: TenantSession, job: Job, *, state: str, now: datetime, error: str | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    job.state = state
    job.finished_at = now
    job.lease_owner = None
    job.lease_expires_at = None
    if error is not None:
        job.error_message = error
    if result is not None:
        job.result = result
    if state == "succeeded":
        job.progress = 1.0
    session.flush()
    record_event(session, actor=SYSTEM_ACTOR, action=f"job.{state}", object_type="job", object_id=job.id,
                 details={"attempts": job.attempts, **({"error": error} if error else {})})
    if state in ("failed", "cancelled"):
        # A DP training job that never started gets its privacy reservation back, in this transaction.
        release_unstarted(session, job, reason=f"the job ended {state} before its training started")


def complete_job(
    session: TenantSession, job_id: str, *, worker: str, result: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Job:
    """Mark the job succeeded (with ``result``); ``LeaseLostError`` if ``worker`` no longer holds it."""
    job = _held(session, job_id, worker)
    _finish(session, job, state="succeeded", now=now or utcnow(), result=result or {})
    return job


def fail_job(
    session: TenantSession, job_id: str, *, worker: str, error: str, retryable: bool = False,
    now: datetime | None = None,
) -> Job:
    """Record a failure with a message for the user.

    ``retryable`` (a storage or database hiccup, never bad input) puts the job back in the
    queue while attempts remain; the caller re-enqueues it with backoff. Otherwise, or when
    attempts are used up, the job ends failed. ``LeaseLostError`` if ``worker`` lost the lease.
    """
    job = _held(session, job_id, worker)
    if retryable and job.attempts < job.max_attempts:
        job.state = "queued"
        job.lease_owner = None
        job.lease_expires_at = None
        job.error_message = error
        session.flush()
        record_event(session, actor=SYSTEM_ACTOR, action="job.retry", object_type="job", object_id=job.id,
                     details={"attempts": job.attempts, "error": error})
        return job
    _finish(session, job, state="failed", now=now or utcnow(), error=error)
    return job


def acknowledge_cancel(session: TenantSession, job_id: str, *, worker: str, now: datetime | None = None) -> Job:
    """The worker stopped a job whose cancellation was requested: mark it cancelled."""
    job = _held(session, job_id, worker)
    _finish(session, job, state="cancelled", now=now or utcnow())
    return job


def cancel_job(session: TenantSession, job_id: str, *, actor: str | None, now: datetime | None = None) -> Job:
    """Cancel from the UI: a queued job ends cancelled now; a running one is asked to stop.

    Raises ``ConflictError`` for a job that has already finished.
    """
    job = get_owned(session, Job, job_id, what="job", for_update=True)
    if job.state in FINISHED_STATES:
        raise ConflictError(f"job {job_id} has already {job.state}; there is nothing to cancel")
    record_event(session, actor=actor, action="job.cancel_requested", object_type="job", object_id=job.id)
    if job.state == "queued":
        _finish(session, job, state="cancelled", now=now or utcnow())
    else:
        job.cancel_requested = True
        session.flush()
    return job


def expired_jobs(session: TenantSession, *, now: datetime | None = None) -> list[Job]:
    """The tenant's running jobs whose lease has expired (their worker is presumed dead)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Job).where(Job.tenant_id == session.tenant, Job.state == "running", Job.lease_expires_at < now)
        )
    )
