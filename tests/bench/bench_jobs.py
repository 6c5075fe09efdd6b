"""Job throughput and start latency, and a 1,000,000-row generation job, with the real services.

Run: ``.venv/bin/python tests/bench/bench_jobs.py [--jobs 200] [--workers 2] [--threads 2] [--rows 1000000]``

Set-up: a dedicated PostgreSQL database (``doppel_jobs_bench``, app role under row-level
security), Redis DB 12 as the Dramatiq broker, a local object folder, and ``--workers``
worker processes (``python -m workers --queues cpu``). Jobs are submitted through the use
case a page calls (``infra.usecases.generation.submit_generation``), so each one is a job row
committed in PostgreSQL plus a message in Redis; a worker claims it, loads the model (from its
model cache after the first time), generates, writes the object atomically and records the
generated dataset, usage and notification.

Figures:

- burst: ``--jobs`` small generation jobs (100 rows) submitted back to back to running
  workers; jobs/s from the first submission to the last completion (bounded by how fast one
  client submits), and queue-to-start latency (``started_at - created_at``) P50/P95;
- drain: as many jobs queued while no worker runs, then ``--workers`` fresh workers empty the
  queue: jobs/s from the first start to the last finish (the workers' own throughput);
- idle start: 20 jobs submitted one at a time to idle workers: the dispatch latency alone
  (the seed architecture asks job start under 30 s P50);
- batch: one job of ``--rows`` rows from a TVAE trained on all 15 columns of adult, through
  a worker into the object store (Parquet, zstd): rows/s from start to finish of the job
  (``started_at`` to ``finished_at``) and from submission (the seed asks 100,000 rows/s per job).

The machine may be shared: the script prints ``uptime`` before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import DATASETS  # noqa: E402
from tests.workers.services_support import provision_services  # noqa: E402
from tests.workers.support import member, new_tenant, read_adult, store_model_version, tvae_model_bytes  # noqa: E402

BENCH_DATABASE = "doppel_jobs_bench"
BENCH_REDIS_URL = os.environ.get("DOPPEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _wait_all(database, tenant: str, ids: list[str], *, timeout: float) -> list:  # noqa: ANN001
    from sqlalchemy import select

    from infra.db import tenant_session
    from infra.db.models import Job

    deadline = time.monotonic() + timeout
    while True:
        with tenant_session(tenant, database=database) as session:
            jobs = session.scalars(select(Job).where(Job.id.in_(ids))).all()
        finished = [j for j in jobs if j.state in ("succeeded", "failed", "cancelled")]
        if len(finished) == len(ids):
            failed = [j for j in finished if j.state != "succeeded"]
            if failed:
                raise SystemExit(f"{len(failed)} job(s) did not succeed, e.g. {failed[0].state}: {failed[0].error_message}")
            return jobs
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {len(finished)}/{len(ids)} jobs finished")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--idle-jobs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())

    with tempfile.TemporaryDirectory() as tmp:
        services_iter = provision_services(Path(tmp), database_name=BENCH_DATABASE, redis_url=BENCH_REDIS_URL)
        services = next(services_iter)
        try:
            figures = _run(services, args)
        finally:
            services_iter.close()
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _run(services, args) -> dict:  # noqa: ANN001
    # This process submits exactly as the app does: through the configured broker and database.
    os.environ.update({k: v for k, v in services.worker_env().items() if k.startswith("DOPPEL_")})
    from infra.settings import get_settings

    get_settings.cache_clear()
    from infra.db import tenant_session
    from infra.records.quotas import set_quota_overrides
    from infra.records.rate_limits import RateLimit
    from infra.storage import LocalStore
    from infra.usecases.generation import submit_generation

    database, store = services.database, LocalStore(services.storage_dir)
    tenant = new_tenant(database, tier="enterprise")
    bench = member(database, tenant, name="bench")
    unlimited = RateLimit(max_requests=0, window_s=60)  # the benchmark measures the workers, not the rate limit
    with tenant_session(tenant, database=database) as session:
        set_quota_overrides(session, actor="bench", max_concurrent_jobs=100_000)
    small = read_adult(DATASETS / "adult.csv", rows=600, seed=0)
    wide = read_adult(DATASETS / "adult.csv", rows=2_000, seed=0, columns=None)
    small_model = store_model_version(database, store, tenant, small, tvae_model_bytes(small, epochs=2))
    wide_model = store_model_version(database, store, tenant, wide, tvae_model_bytes(wide, epochs=2))

    lease = {"DOPPEL_JOB_LEASE_S": "30", "DOPPEL_BROKER_HEARTBEAT_TIMEOUT_S": "60"}
    generation = iter(range(1_000))

    def start_workers() -> list:
        names = [f"bench-{next(generation)}" for _ in range(args.workers)]
        started = [services.start_worker(name, queues=("cpu",), threads=args.threads, **lease) for name in names]
        deadline = time.monotonic() + 120
        while not all("consuming" in services.log(name) for name in names):
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                raise SystemExit("workers did not start:\n" + services.log(names[0]))
            time.sleep(0.2)
        return started

    start_workers()

    def submit(model_version_id: str, n_rows: int) -> str:
        return submit_generation(tenant, model_version_id=model_version_id, n_rows=n_rows, actor=bench,
                                 rate_limit=unlimited, database=database).id

    # Warm-up: every worker thread loads both models once.
    warm = [submit(m.model_version_id, 100) for m in (small_model, wide_model) for _ in range(args.workers * args.threads)]
    _wait_all(database, tenant, warm, timeout=300)

    start = time.perf_counter()
    ids = [submit(small_model.model_version_id, 100) for _ in range(args.jobs)]
    submit_s = time.perf_counter() - start
    jobs = _wait_all(database, tenant, ids, timeout=1800)
    first_created = min(j.created_at for j in jobs)
    last_finished = max(j.finished_at for j in jobs)
    span = (last_finished - first_created).total_seconds()
    latency = [(j.started_at - j.created_at).total_seconds() for j in jobs]

    # Drain: the same number of jobs queued while no worker runs, then two fresh workers empty the
    # queue; jobs/s from the first start to the last finish is the workers' own throughput.
    services.stop_workers()
    ids = [submit(small_model.model_version_id, 100) for _ in range(args.jobs)]
    start_workers()
    drained = _wait_all(database, tenant, ids, timeout=1800)
    drain_span = (max(j.finished_at for j in drained) - min(j.started_at for j in drained)).total_seconds()

    idle = []
    for _ in range(args.idle_jobs):
        (job,) = _wait_all(database, tenant, [submit(small_model.model_version_id, 100)], timeout=120)
        idle.append((job.started_at - job.created_at).total_seconds())

    (batch,) = _wait_all(database, tenant, [submit(wide_model.model_version_id, args.rows)], timeout=1800)
    run_s = (batch.finished_at - batch.started_at).total_seconds()
    total_s = (batch.finished_at - batch.created_at).total_seconds()
    return {
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "burst": {
            "jobs": args.jobs,
            "submit_seconds": round(submit_s, 2),
            "seconds_first_submit_to_last_finish": round(span, 2),
            "jobs_per_second": round(args.jobs / span, 2),
            "queue_to_start_p50_s": round(statistics.median(latency), 3),
            "queue_to_start_p95_s": round(_percentile(latency, 0.95), 3),
        },
        "drain": {
            "jobs": args.jobs,
            "seconds_first_start_to_last_finish": round(drain_span, 2),
            "jobs_per_second": round(args.jobs / drain_span, 2),
        },
        "idle_start": {
            "jobs": args.idle_jobs,
            "queue_to_start_p50_s": round(statistics.median(idle), 3),
            "queue_to_start_p95_s": round(_percentile(idle, 0.95), 3),
        },
        "batch_generation": {
            "rows": args.rows,
            "columns": wide.width,
            "job_seconds": round(run_s, 2),
            "rows_per_second_job": round(args.rows / run_s),
            "rows_per_second_from_submit": round(args.rows / total_s),
            "rows_per_second_generate_and_write": batch.result.get("rows_per_second"),
            "bytes": store.for_tenant(tenant).size(batch.result["object_key"]),
        },
    }


if __name__ == "__main__":
    main()
