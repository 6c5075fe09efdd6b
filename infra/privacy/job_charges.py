"""A DP training job's charge to its dataset's budget, over the life of the job.

The budget primitives (``reserve``, ``commit``, ``release``) know nothing of jobs; this module
applies them at the three moments of a training job:

1. **Submit** — ``reserve_for_job``, in the transaction that creates the job row (the jobs
   layer's ``after_create``): a request that does not fit is refused with what is left, and
   the whole transaction, job row included, rolls back. Nothing has read the data yet.
2. **Start** — ``start_charge``, by the worker, in its own transaction just before the
   training process reads the data: the reservation is committed, for good. A resumed attempt
   (crash, redelivery) finds it already committed and commits nothing twice; it may go on only
   from a checkpoint, whose accountant state continues the same budget — a fresh start would
   spend the budget a second time, so it is refused.
3. **End without a start** — ``release_unstarted``, called by ``job_records`` whenever a
   training job ends failed or cancelled: a reservation that was never committed (the job was
   cancelled in the queue, or failed before its training process started) is returned. A
   committed one stays spent: no refund once the data may have been touched.

A training job's payload names its dataset (``dataset_id``) and its ``privacy`` settings
(``epsilon``, ``delta``, ...); a job without ``privacy`` has no charge and none of this applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.db.models import Job
from infra.db.session import TenantSession
from infra.privacy.budget import Reservation, amounts, commit, release, reservation_for_job, reserve
from infra.privacy.errors import PrivacyPolicyError


def charged(payload: Mapping[str, Any] | None) -> bool:
    """Whether a training job with this payload carries a privacy charge (DP with a known dataset)."""
    return payload is not None and bool(payload.get("privacy")) and bool(payload.get("dataset_id"))


def reserve_for_job(
    session: TenantSession, *, job: Job, dataset_id: str, privacy: Mapping[str, Any], model: str
) -> Reservation:
    """Reserve the job's (epsilon, delta) on the dataset's budget; call in the job row's transaction.

    ``PrivacyBudgetExceededError`` (with what is left) or ``PrivacyBudgetMissingError`` when it
    cannot; the caller's transaction then rolls back and no job exists. Idempotent per job.
    """
    epsilon, delta = amounts(privacy.get("epsilon"), privacy.get("delta"))
    return reserve(session, dataset_id=dataset_id, job_id=job.id, epsilon=epsilon, delta=delta,
                   mechanism=f"differentially private training ({model})")


def start_charge(session: TenantSession, *, job_id: str, dataset_id: str, resuming: bool) -> Reservation:
    """Commit the job's reservation as its training starts; returns the committed charge.

    ``resuming``: the job has a checkpoint to continue from. A charge already committed (an
    earlier attempt started) is returned as it is when resuming, and refused otherwise: the
    earlier attempt may have run DP steps, and starting over would spend the budget again.
    ``PrivacyPolicyError`` too when the job holds no reservation (it was released).
    """
    reservation = reservation_for_job(session, dataset_id=dataset_id, job_id=job_id)
    if reservation is None:
        raise PrivacyPolicyError(
            f"training job {job_id} holds no privacy reservation on its dataset (it was released or never made), "
            "so it may not read the data; submit the training again"
        )
    if reservation.state == "committed":
        if resuming:
            return reservation
        raise PrivacyPolicyError(
            f"the differentially private training of job {job_id} stopped before its first checkpoint; its charge "
            f"of epsilon {reservation.epsilon:.6g}, delta {reservation.delta:.6g} is spent (DP steps may have run) and "
            "starting over would spend it again, so the job stops here — submit a new training job"
        )
    return commit(session, reservation=reservation, details={"started": True})


def release_unstarted(session: TenantSession, job: Job, *, reason: str) -> Reservation | None:
    """Return the reservation of a training job that ends without having started; None if there is none.

    A committed charge is left as it is (the job started: no refund).
    """
    if job.kind != "train" or not charged(job.payload):
        return None
    reservation = reservation_for_job(session, dataset_id=job.payload["dataset_id"], job_id=job.id)
    if reservation is None or reservation.state != "reserved":
        return reservation
    return release(session, reservation=reservation, reason=reason)


__all__ = ["charged", "release_unstarted", "reserve_for_job", "start_charge"]
