"""Runs one delivery of a job message: claim, work under a lease, record the outcome once.

The message says only which job of which tenant; the job row says the rest. ``run_job``:

1. claims the job (``job_records.claim_job``) in a short transaction. ``None`` means another
   worker holds a live lease (a duplicate delivery, or a dead worker whose lease has not run
   out yet: look again when it expires) or the job is over (do nothing);
2. starts the ``LeaseKeeper`` and calls the kind's handler (training, generation, assessment);
3. records the outcome in one transaction with the results, the usage and the notification:
   succeeded (``complete_job``), cancelled (``acknowledge_cancel``) or failed (``fail_job``
   with the message the user sees). A transient failure (storage, database) goes back to the
   queue while attempts remain and Dramatiq retries it with backoff; bad input never does.
   If the lease was lost, nothing is recorded: the worker that took the job over records it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dramatiq.middleware import Shutdown, TimeLimitExceeded

from engine.errors import DoppelError
from infra.db.types import utcnow
from infra.jobs.broker import is_transient
from infra.records.job_records import (
    LeaseLostError,
    acknowledge_cancel,
    claim_job,
    complete_job,
    fail_job,
    get_job,
)
from infra.records.metering import record_usage
from workers import events
from workers.context import Completion, JobCancelled, JobContext, LeaseKeeper, LeaseLost
from workers.environment import WorkerEnvironment, get_environment, worker_identity

logger = logging.getLogger(__name__)

Handler = Callable[[JobContext], Completion]

RECHECK_MARGIN_S = 1.0
"""A deferred delivery looks again this long after the other worker's lease runs out."""


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"  # a transient failure: the job is queued again, retry with backoff
    DEFERRED = "deferred"  # another worker holds the lease: look again when it expires
    SKIPPED = "skipped"  # nothing to do: the job is over (or cannot be claimed)
    ABANDONED = "abandoned"  # the lease was lost mid-run: another worker records the job


@dataclass(frozen=True)
class RunResult:
    """What became of one delivery; ``retry_after_s`` for DEFERRED and RETRYING."""

    outcome: Outcome
    job_id: str
    retry_after_s: float | None = None
    error: str | None = None


def handler_for(kind: str) -> Handler:
    """The handler of a job kind (imported lazily: training needs no torch in this process)."""
    if kind == "train":
        from workers.training import run_training

        return run_training
    if kind == "generate":
        from workers.generation import run_generation

        return run_generation
    if kind == "assess":
        from workers.assessment import run_assessment

        return run_assessment
    raise DoppelError(f"no handler for job kind {kind!r}")


def run_job(*, tenant: str, job_id: str, kind: str | None = None, environment: WorkerEnvironment | None = None,
            worker: str | None = None) -> RunResult:
    """Run one delivery of job ``job_id`` of ``tenant`` (``kind`` checks the message's routing)."""
    env = environment or get_environment()
    worker = worker or worker_identity()
    lease_s = env.settings.job_lease_s
    with env.session(tenant) as session:
        job = claim_job(session, job_id, worker=worker, lease_seconds=lease_s)
        if job is None:
            current = get_job(session, job_id)
            state, expires = current.state, current.lease_expires_at
    if job is None:
        if state == "running" and expires is not None:
            wait = max((expires - utcnow()).total_seconds(), 0.0) + RECHECK_MARGIN_S
            logger.info("job %s is held by another worker; looking again in %.0fs", job_id, wait)
            return RunResult(Outcome.DEFERRED, job_id, retry_after_s=wait)
        logger.info("job %s is %s; this delivery has nothing to do", job_id, state)
        return RunResult(Outcome.SKIPPED, job_id)

    keeper = LeaseKeeper(environment=env, tenant=tenant, job_id=job_id, worker=worker)
    ctx = JobContext(environment=env, tenant=tenant, job_id=job_id, payload=dict(job.payload or {}),
                     attempts=job.attempts, created_by=job.created_by, worker=worker, keeper=keeper)
    logger.info("job %s (%s) of %s: attempt %d by %s", job_id, job.kind, tenant, job.attempts, worker)
    keeper.start()
    try:
        if kind is not None and kind != job.kind:
            raise DoppelError(f"job {job_id} is a {job.kind} job but was sent to the {kind} actor")
        completion = handler_for(job.kind)(ctx)
    except BaseException as error:  # noqa: BLE001 - every way out is recorded, then re-raised if fatal
        keeper.stop()
        result = _record_failure(ctx, error)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return result
    keeper.stop()
    return _record_success(ctx, completion)


def _record_success(ctx: JobContext, completion: Completion) -> RunResult:
    env = ctx.environment
    try:
        with env.session(ctx.tenant) as session:
            extra = completion.record(session) if completion.record is not None else {}
            job = complete_job(session, ctx.job_id, worker=ctx.worker, result={**completion.result, **extra})
            for metric, quantity in completion.usage.items():
                if quantity and quantity > 0:
                    record_usage(session, metric=metric, quantity=float(quantity), job_id=ctx.job_id)
            deliveries = events.job_finished(session, job)
    except BaseException as error:  # noqa: BLE001
        if not isinstance(error, (LeaseLostError, LeaseLost)) and not is_transient(error) and completion.discard:
            _quietly(completion.discard, "discard the results of job %s", ctx.job_id)
        return _record_failure(ctx, error)
    events.send_in_background(deliveries, settings=env.settings)
    if completion.after_commit is not None:
        _quietly(completion.after_commit, "tidy up after job %s", ctx.job_id)
    logger.info("job %s succeeded", ctx.job_id)
    return RunResult(Outcome.SUCCEEDED, ctx.job_id)


def _user_message(error: BaseException) -> str:
    if isinstance(error, TimeLimitExceeded):
        return "the job ran past its time limit and was stopped"
    if isinstance(error, DoppelError):
        return str(error)
    return (f"internal error ({type(error).__name__}); the job was stopped. The worker's log has the details "
            "under this job's id.")


def _record_failure(ctx: JobContext, error: BaseException) -> RunResult:
    env = ctx.environment
    if isinstance(error, (LeaseLost, LeaseLostError)):
        logger.warning("job %s: lease lost; another worker records it (%s)", ctx.job_id, error)
        return RunResult(Outcome.ABANDONED, ctx.job_id, error=str(error))
    if isinstance(error, Shutdown):
        # The worker is stopping: leave the job to another worker once the lease runs out.
        logger.warning("job %s interrupted by the worker's shutdown; it resumes elsewhere", ctx.job_id)
        return RunResult(Outcome.DEFERRED, ctx.job_id, retry_after_s=env.settings.job_lease_s + RECHECK_MARGIN_S)
    try:
        with env.session(ctx.tenant) as session:
            if isinstance(error, JobCancelled):
                job = acknowledge_cancel(session, ctx.job_id, worker=ctx.worker)
                outcome = Outcome.CANCELLED
            elif is_transient(error):
                job = fail_job(session, ctx.job_id, worker=ctx.worker, retryable=True,
                               error=f"a temporary problem stopped the job; it is retried: {error}")
                outcome = Outcome.RETRYING if job.state == "queued" else Outcome.FAILED
            else:
                if not isinstance(error, DoppelError):
                    logger.error("job %s failed with an unexpected error", ctx.job_id, exc_info=error)
                job = fail_job(session, ctx.job_id, worker=ctx.worker, error=_user_message(error))
                outcome = Outcome.FAILED
            deliveries = events.job_finished(session, job) if job.state in ("failed", "cancelled") else []
    except (LeaseLostError, LeaseLost) as lost:
        logger.warning("job %s: lease lost while recording its end (%s)", ctx.job_id, lost)
        return RunResult(Outcome.ABANDONED, ctx.job_id, error=str(lost))
    events.send_in_background(deliveries, settings=env.settings)
    logger.info("job %s: %s (%s)", ctx.job_id, outcome.value, error)
    retry_after = None
    if outcome is Outcome.RETRYING:
        base = env.settings.job_retry_min_backoff_s
        retry_after = min(base * 2 ** max(ctx.attempts - 1, 0), env.settings.job_retry_max_backoff_s)
    return RunResult(outcome, ctx.job_id, retry_after_s=retry_after, error=str(error))


def _quietly(action: Callable[[], None], what: str, job_id: str) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - tidying up must not change the job's outcome
        logger.warning("could not " + what, job_id, exc_info=True)


__all__ = ["Outcome", "RunResult", "handler_for", "run_job"]
