"""The Dramatiq actors: ``train_model``, ``generate_dataset``, ``assess_quality``, per queue.

Start workers with either command (both consume every queue of the families named, enterprise
first; see ``infra.jobs.routing``):

    dramatiq workers.tasks -Q gpu            # Dramatiq's CLI: --processes, --threads, ...
    python -m workers --queues gpu cpu       # one process, DOPPEL_WORKER_THREADS threads

Each actor takes ``(tenant, job_id)`` and hands them to ``workers.runner.run_job``; the job row
holds the rest. One actor exists per (kind, queue): ``train_model`` on ``gpu`` and
``train_model:gpu.enterprise`` etc., with the tier's priority, so a worker that fetched
messages from several tiers runs the higher tier's first. Training actors have the training
time limit (``DOPPEL_TRAIN_TIME_LIMIT_S``) instead of Dramatiq's 10 minutes, and are told of a
worker shutdown so that they stop their training process and leave the job to another worker.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq

from infra.jobs.broker import get_broker
from infra.jobs.routing import actor_name, queue_priority, routes
from infra.settings import get_settings
from workers.runner import Outcome, run_job
from workers.threads import install as install_job_threads

broker = get_broker()
install_job_threads(broker)  # each job's CPU threads, set when a worker boots (workers.threads)


def _actor_function(kind: str) -> Callable[[str, str], None]:
    def run(tenant: str, job_id: str) -> None:
        result = run_job(tenant=tenant, job_id=job_id, kind=kind)
        if result.outcome in (Outcome.DEFERRED, Outcome.RETRYING) and result.retry_after_s is not None:
            raise dramatiq.Retry(f"job {job_id}: {result.outcome.value}", delay=int(result.retry_after_s * 1000))

    run.__name__ = f"run_{kind}"
    return run


def _declare_actors() -> dict[str, dramatiq.Actor]:
    settings = get_settings()
    time_limits = {
        "train": int(settings.train_time_limit_s * 1000) + 60_000,  # the runner stops training first
        "generate": int(settings.job_time_limit_s * 1000),
        "assess": int(settings.job_time_limit_s * 1000),
    }
    actors: dict[str, dramatiq.Actor] = {}
    for kind, queue in routes():
        name = actor_name(kind, queue)
        if name in broker.get_declared_actors():  # imported twice (tests): reuse
            actors[name] = broker.get_actor(name)
            continue
        actors[name] = dramatiq.actor(
            _actor_function(kind),
            actor_name=name,
            queue_name=queue,
            priority=queue_priority(queue),
            time_limit=time_limits[kind],
            notify_shutdown=kind == "train",
            broker=broker,
        )
    return actors


ACTORS = _declare_actors()

train_model = ACTORS["train_model"]
generate_dataset = ACTORS["generate_dataset"]
assess_quality = ACTORS["assess_quality"]

__all__ = ["ACTORS", "assess_quality", "broker", "generate_dataset", "train_model"]
