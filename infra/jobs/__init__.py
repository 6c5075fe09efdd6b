"""The job queue: routing to per-tier queues, the Dramatiq broker, and enqueueing.

- ``routing``: which queue and actor a job goes to (``gpu.enterprise``, ``train_model:…``).
- ``broker``: the process's Dramatiq broker (Redis, or in-process in the embedded mode) with
  its retry policy (transient failures only) and time limits.
- ``queue``: ``enqueue(job)`` after the job row is committed; the embedded in-process worker.

The use cases that create jobs are ``infra.usecases.training``, ``.generation`` and
``.assessment``; the actors that run them live in ``workers/``.
"""

from infra.jobs.broker import TransientJobError, get_broker, is_transient
from infra.jobs.queue import enqueue
from infra.jobs.routing import actor_name, expand_queues, queue_for

__all__ = ["TransientJobError", "actor_name", "enqueue", "expand_queues", "get_broker", "is_transient", "queue_for"]
