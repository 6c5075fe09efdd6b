"""The Dramatiq broker every process of Doppel shares: Redis in production, in-process otherwise.

``DOPPEL_BROKER_URL=redis://host:6379/0`` selects Dramatiq's ``RedisBroker``; empty (the
embedded default) a ``StubBroker`` whose messages an in-process worker consumes
(``infra.jobs.queue``), so ``make run`` needs no Redis.

Crash recovery is Dramatiq's own: a Redis worker acknowledges a message only when its actor
returns, and every broker command records the worker's heartbeat. A worker silent for
``DOPPEL_BROKER_HEARTBEAT_TIMEOUT_S`` is dead; the queue maintenance that runs with
``DOPPEL_BROKER_MAINTENANCE_CHANCE`` per million broker commands (Dramatiq's default is 1,000;
ours is 100,000, so an idle worker polling once a second runs it within seconds) puts its
unacknowledged messages back on their queues, and another worker takes the job over once the
job's lease (``DOPPEL_JOB_LEASE_S``) has expired too.

Middleware, configured here once:

- ``Retries`` retries only what ``should_retry`` accepts: a transient failure (the object
  store or the database could not be reached, ``TransientJobError``) with exponential backoff
  between ``DOPPEL_JOB_RETRY_MIN_BACKOFF_S`` and ``..._MAX_BACKOFF_S``, or an explicit
  ``dramatiq.Retry`` (a delivery that must look again later). Bad input is never retried;
  the job row's ``max_attempts`` bounds the retries of a job.
- ``TimeLimit`` at ``DOPPEL_JOB_TIME_LIMIT_S``; training actors raise theirs to
  ``DOPPEL_TRAIN_TIME_LIMIT_S``.
- ``FamilyQueues`` lets ``dramatiq workers.tasks -Q gpu`` mean every queue of the ``gpu``
  family (``infra.jobs.routing``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from engine.errors import DoppelError
from infra.jobs.routing import expand_queues
from infra.settings import Settings, get_settings
from infra.storage.errors import TransientStorageError


class TransientJobError(DoppelError):
    """A job failed for a reason that may pass (storage or database unreachable); retry it later."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a hiccup worth retrying: never bad input, never a bug."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, (TransientJobError, TransientStorageError, OperationalError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    try:
        import redis

        if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
            return True
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return False


def should_retry(retries: int, error: BaseException) -> bool:
    """Dramatiq's ``retry_when``: retry transient failures and explicit ``Retry``; nothing else."""
    return isinstance(error, dramatiq.Retry) or is_transient(error)


class FamilyQueues(Middleware):
    """Expand a worker's queue names: a family (``gpu``) means all its queues, tiers first."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if worker.consumer_whitelist:
            worker.consumer_whitelist = set(expand_queues(sorted(worker.consumer_whitelist)))


def _middleware(settings: Settings) -> list[Middleware]:
    return [
        AgeLimit(),
        TimeLimit(time_limit=int(settings.job_time_limit_s * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=None,
            min_backoff=int(settings.job_retry_min_backoff_s * 1000),
            max_backoff=int(settings.job_retry_max_backoff_s * 1000),
            retry_when=should_retry,
        ),
        CurrentMessage(),
        FamilyQueues(),
    ]


def build_broker(settings: Settings | None = None) -> dramatiq.Broker:
    """A new broker for ``settings`` (default: this process's): Redis or in-process."""
    settings = settings or get_settings()
    url = settings.broker_url
    if not url:
        return StubBroker(middleware=_middleware(settings))
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise DoppelError(
            f"unsupported broker URL {url!r} (DOPPEL_BROKER_URL): expected redis://host:port/db, rediss://… "
            "or empty for the in-process queue"
        )
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=url,
        middleware=_middleware(settings),
        heartbeat_timeout=int(settings.broker_heartbeat_timeout_s * 1000),
        maintenance_chance=settings.broker_maintenance_chance,
    )


_broker: dramatiq.Broker | None = None
_lock = threading.Lock()


def get_broker() -> dramatiq.Broker:
    """This process's broker (built on first use) and Dramatiq's global broker from then on."""
    global _broker
    with _lock:
        if _broker is None:
            _broker = build_broker()
            dramatiq.set_broker(_broker)
        return _broker


@contextmanager
def use_broker(broker: dramatiq.Broker) -> Iterator[dramatiq.Broker]:
    """Send this process's messages to ``broker`` inside the block, then to the previous one again.

    For tests: the app's side of the production stack (a Redis broker), or a queue that cannot
    be reached. Only ``get_broker`` callers see it; actors already declared stay where they are.
    """
    global _broker
    with _lock:
        previous, _broker = _broker, broker
    try:
        yield broker
    finally:
        with _lock:
            _broker = previous


def is_embedded(broker: dramatiq.Broker | None = None) -> bool:
    """True when jobs run in this process (the in-process ``StubBroker``)."""
    return isinstance(broker or get_broker(), StubBroker)


__all__ = [
    "FamilyQueues",
    "TransientJobError",
    "build_broker",
    "get_broker",
    "is_embedded",
    "is_transient",
    "should_retry",
    "use_broker",
]
