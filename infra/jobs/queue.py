"""Putting a job on its queue, and the in-process worker of the embedded mode.

A message carries only the tenant and the job id; the job row holds everything else
(``infra.records.job_records``). The services call ``enqueue`` after the transaction that
created the job has committed, so a worker never receives a message for a job it cannot see.

Embedded mode (no ``DOPPEL_BROKER_URL``): the first ``enqueue`` starts a Dramatiq ``Worker``
with ``DOPPEL_EMBEDDED_WORKER_THREADS`` threads inside this process, consuming every queue.
It runs the actors of ``workers.tasks``; that module is imported here by name, at run time,
because in the embedded mode the app's process is also the worker host (nothing else in
``infra`` refers to ``workers``).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

import dramatiq

from infra.jobs.broker import get_broker, is_embedded
from infra.jobs.routing import actor_name
from infra.settings import get_settings

logger = logging.getLogger(__name__)

ACTORS_MODULE = "workers.tasks"

_embedded_worker: dramatiq.Worker | None = None
_embedded_lock = threading.Lock()


def message_for(*, kind: str, queue: str, tenant: str, job_id: str) -> dramatiq.Message:
    """The message that asks the actor of (``kind``, ``queue``) to run job ``job_id`` of ``tenant``."""
    return dramatiq.Message(
        queue_name=queue, actor_name=actor_name(kind, queue), args=(tenant, job_id), kwargs={}, options={}
    )


def enqueue(job: Any, *, delay_s: float | None = None) -> dramatiq.Message:
    """Send ``job`` (a ``Job`` row: kind, queue, tenant_id, id) to its queue.

    In the embedded mode, starts the in-process worker first.
    """
    broker = get_broker()
    if is_embedded(broker):
        ensure_embedded_worker()
    message = message_for(kind=job.kind, queue=job.queue, tenant=job.tenant_id, job_id=job.id)
    delay = None if delay_s is None else int(delay_s * 1000)
    return broker.enqueue(message, delay=delay)


def ensure_embedded_worker() -> dramatiq.Worker:
    """Start (once per process) the in-process worker that runs jobs in the embedded mode."""
    global _embedded_worker
    with _embedded_lock:
        if _embedded_worker is None:
            broker = get_broker()
            if not is_embedded(broker):
                raise RuntimeError("the in-process worker runs only with the embedded broker (no DOPPEL_BROKER_URL)")
            importlib.import_module(ACTORS_MODULE)  # declares the actors and their queues
            broker.emit_after("process_boot")
            worker = dramatiq.Worker(broker, worker_threads=get_settings().embedded_worker_threads, worker_timeout=100)
            worker.start()
            _embedded_worker = worker
            logger.info("started the in-process job worker (%d threads)", worker.worker_threads)
        return _embedded_worker


def stop_embedded_worker(timeout_s: float = 30.0) -> None:
    """Stop the in-process worker, if one runs (tests; the app's shutdown)."""
    global _embedded_worker
    with _embedded_lock:
        if _embedded_worker is not None:
            _embedded_worker.stop(timeout=int(timeout_s * 1000))
            _embedded_worker = None


__all__ = ["ACTORS_MODULE", "enqueue", "ensure_embedded_worker", "message_for", "stop_embedded_worker"]
