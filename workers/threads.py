"""CPU threads of a worker's jobs: each job's share of the worker's CPUs, set before torch loads.

A worker process runs up to ``worker_threads`` jobs at once (Dramatiq's ``--threads``), and
each training job in a child process that inherits the worker's environment. torch's default
(one thread per core in every job) makes N jobs on C cores run N x C threads that wait on each
other; instead each job gets ``DOPPEL_WORKER_JOB_THREADS`` threads, by default the worker's
CPUs divided by its jobs (``engine.cpus.default_threads``), through
``OMP_NUM_THREADS``, and OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``).

``JobThreads`` is the Dramatiq middleware that does it when a worker starts (``python -m
workers`` and ``dramatiq workers.tasks`` alike): it knows the worker's thread count, and runs
before any job, so before any job imports torch.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dramatiq

from engine.cpus import default_threads
from engine.models.threads import prepare_process_threads, torch_loaded
from infra.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def job_threads(*, jobs: int, settings: Settings) -> int:
    """CPU threads for each of ``jobs`` jobs run at once: the setting, else ``default_threads(jobs=jobs)``."""
    return settings.worker_job_threads or default_threads(jobs=jobs)


def prepare_job_threads(*, jobs: int, settings: Settings | None = None) -> int:
    """Give each of ``jobs`` concurrent jobs its threads through the environment; returns the count.

    An explicit ``DOPPEL_WORKER_JOB_THREADS`` replaces ``OMP_NUM_THREADS``; otherwise a value
    the user set is kept (``default_threads`` already honours it as a cap).
    """
    settings = settings or get_settings()
    threads = job_threads(jobs=jobs, settings=settings)
    if settings.worker_job_threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    applied = prepare_process_threads(threads=threads)
    if torch_loaded():
        logger.info("torch was loaded before the worker started: OMP_WAIT_POLICY reaches only training processes")
    logger.info("%d job(s) at once, %s CPU thread(s) each (%s)", jobs, os.environ.get("OMP_NUM_THREADS"),
                ", ".join(f"{k}={v}" for k, v in applied.items()) or "environment kept")
    return threads


class JobThreads(dramatiq.Middleware):
    """Sets the jobs' CPU threads (``prepare_job_threads``) when a worker boots, for its thread count."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        prepare_job_threads(jobs=max(1, int(getattr(worker, "worker_threads", 1))))


def install(broker: dramatiq.Broker) -> None:
    """Add ``JobThreads`` to ``broker`` once (a module imported twice adds nothing)."""
    if not any(isinstance(m, JobThreads) for m in broker.middleware):
        broker.add_middleware(JobThreads())


__all__ = ["JobThreads", "install", "job_threads", "prepare_job_threads"]
