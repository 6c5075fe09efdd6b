"""Creating a job and putting it on its queue, shared by the training, generation and assessment use cases.

``submit(...)`` runs the caller's checks and creates the job row (``job_records.submit_job``,
which checks the concurrent-jobs and rows-per-request quotas) in one transaction, and sends
the message only after that transaction has committed. ``after_create(session, job)`` runs in
that transaction once the row exists (a DP training job reserves its privacy budget there), so
its refusal leaves no job either. If the queue cannot be reached, the job is cancelled again
and ``TransientJobError`` says so: nothing starts and nothing is left queued without a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from infra.db import Database, TenantSession, tenant_session
from infra.db.models import Job
from infra.jobs.broker import TransientJobError
from infra.jobs.queue import enqueue
from infra.jobs.routing import queue_for
from infra.records.job_records import cancel_job, submit_job
from infra.records.quotas import check_storage
from infra.records.tenancy import get_tenant

logger = logging.getLogger(__name__)


def submit(
    tenant: str,
    *,
    kind: str,
    actor: str | None,
    prepare: Callable[[TenantSession], dict[str, Any]],
    after_create: Callable[[TenantSession, Job], None] | None = None,
    family: str | None = None,
    max_attempts: int = 3,
    database: Database | None = None,
) -> Job:
    """Create a ``kind`` job whose payload ``prepare(session)`` builds (and checks), then enqueue it.

    ``actor`` is the audit label of the user (the services check the user's role in ``prepare``).
    Raises the quota, lookup and input errors of the checks; in that case no job exists.
    """
    with tenant_session(tenant, database=database) as session:
        tier = get_tenant(session).tier
        check_storage(session, adding_bytes=0)  # a tenant already over its storage quota starts nothing
        payload = prepare(session)
        job = submit_job(session, kind=kind, queue=queue_for(kind, tier=tier, family=family), payload=payload,
                         actor=actor, max_attempts=max_attempts)
        if after_create is not None:
            after_create(session, job)
    try:
        enqueue(job)
    except Exception as err:
        logger.error("could not enqueue job %s", job.id, exc_info=True)
        with tenant_session(tenant, database=database) as session:
            cancel_job(session, job.id, actor="system")
        raise TransientJobError(f"the job queue could not be reached, so the job was not started ({err}); "
                                "try again in a moment") from err
    return job


__all__ = ["submit"]
