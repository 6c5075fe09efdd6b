"""Concurrent workers and requests: leases and quotas hold under real parallel transactions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from infra.db import QuotaExceededError, tenant_session
from infra.records.job_records import claim_job, list_jobs, submit_job

THREADS = 6


def test_simultaneous_deliveries_of_one_job_start_it_exactly_once(db, tenant):
    with tenant_session(tenant, database=db) as s:
        job_id = submit_job(s, kind="train", queue="gpu").id

    def deliver(worker: int) -> str | None:
        with tenant_session(tenant, database=db) as s:
            job = claim_job(s, job_id, worker=f"w{worker}", lease_seconds=60)
            return job.lease_owner if job else None

    with ThreadPoolExecutor(THREADS) as pool:
        owners = [o for o in pool.map(deliver, range(THREADS)) if o]
    assert len(owners) == 1
    with tenant_session(tenant, database=db) as s:
        (job,) = list_jobs(s)
        assert (job.lease_owner, job.attempts) == (owners[0], 1)


def test_simultaneous_submissions_never_exceed_the_concurrent_job_quota(db, tenant):
    def submit(_: int) -> bool:
        try:
            with tenant_session(tenant, database=db) as s:
                submit_job(s, kind="train", queue="gpu")
            return True
        except QuotaExceededError:
            return False

    with ThreadPoolExecutor(THREADS) as pool:
        accepted = sum(pool.map(submit, range(THREADS)))
    with tenant_session(tenant, database=db) as s:
        assert accepted == len(list_jobs(s)) == 2  # the starter tier's limit
