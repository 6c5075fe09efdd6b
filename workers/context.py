"""What a job handler gets (``JobContext``) and returns (``Completion``), and the lease keeper.

A handler does the heavy work and touches the database only to read; it reports progress
through ``ctx.progress`` and calls ``ctx.check()`` between steps, which raises ``JobCancelled``
when the user asked to cancel and ``LeaseLost`` when another worker has taken the job over.
The ``LeaseKeeper`` thread is what learns both: every ``interval`` it renews the lease with
``job_records.heartbeat``, writing the latest progress into the job row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from infra.db import TenantSession
from infra.records.job_records import heartbeat
from infra.storage import TenantStore
from workers.environment import WorkerEnvironment

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_INTERVAL_S = 5.0
"""Heartbeats come every quarter of the lease, and at least this often (cancel latency)."""


class JobCancelled(Exception):  # noqa: N818 - a signal, not an error
    """The user asked to cancel the job; the handler stopped its work."""


class LeaseLost(Exception):  # noqa: N818
    """The lease expired and another worker may hold the job: stop and record nothing."""


@dataclass
class Completion:
    """What a finished handler hands back to the runner.

    ``record(session)`` writes the job's results (a model version, a generated dataset, a
    report) in the transaction that marks the job succeeded and returns fields to add to the
    job's ``result``; ``usage`` is metered in that transaction too (metric -> quantity).
    ``discard()`` removes stored objects when the results cannot be recorded (over quota);
    ``after_commit()`` tidies up once they are (checkpoints).
    """

    result: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)
    record: Callable[[TenantSession], dict[str, Any]] | None = None
    discard: Callable[[], None] | None = None
    after_commit: Callable[[], None] | None = None


class LeaseKeeper(threading.Thread):
    """Renews one job's lease until stopped; notices cancellation and a lost lease."""

    def __init__(self, *, environment: WorkerEnvironment, tenant: str, job_id: str, worker: str) -> None:
        super().__init__(name=f"lease-{job_id[:8]}", daemon=True)
        self.environment = environment
        self.tenant = tenant
        self.job_id = job_id
        self.worker = worker
        self.lease_s = environment.settings.job_lease_s
        self.interval_s = min(self.lease_s / 4, HEARTBEAT_MAX_INTERVAL_S)
        self.cancel_requested = threading.Event()
        self.lost = threading.Event()
        self._stop_event = threading.Event()
        self._progress: tuple[float | None, str | None] = (None, None)
        self._losses: dict[int, dict[str, Any]] = {}  # epochs finished since the last written heartbeat
        self._progress_lock = threading.Lock()
        self._last_renewal = time.monotonic()

    def set_progress(self, fraction: float | None, message: str | None) -> None:
        with self._progress_lock:
            self._progress = (fraction, message)

    def add_losses(self, row: dict[str, Any]) -> None:
        """Queue one finished epoch's losses (``{"epoch": n, name: value, ...}``) for the next heartbeat."""
        with self._progress_lock:
            self._losses[int(row["epoch"])] = dict(row)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.beat()

    def beat(self) -> None:
        """One heartbeat: renew the lease, write progress, learn of a cancellation."""
        with self._progress_lock:
            fraction, message = self._progress
            losses = list(self._losses.values())
        try:
            with self.environment.session(self.tenant) as session:
                status = heartbeat(session, self.job_id, worker=self.worker, lease_seconds=self.lease_s,
                                   progress=fraction, message=message, losses=losses)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the job at once
            logger.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
            if time.monotonic() - self._last_renewal > self.lease_s:
                self.lost.set()  # the lease has run out without renewal: another worker may take the job
            return
        self._last_renewal = time.monotonic()
        with self._progress_lock:  # written: forget them, unless a newer row for the epoch came meanwhile
            for row in losses:
                if self._losses.get(row["epoch"]) == row:
                    del self._losses[row["epoch"]]
        if not status.held:
            self.lost.set()
        if status.cancel_requested:
            self.cancel_requested.set()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)


@dataclass
class JobContext:
    """One running job as its handler sees it."""

    environment: WorkerEnvironment
    tenant: str
    job_id: str
    payload: dict[str, Any]
    attempts: int
    created_by: str | None
    worker: str
    keeper: LeaseKeeper

    @property
    def settings(self) -> Any:
        return self.environment.settings

    @property
    def store(self) -> TenantStore:
        """The object store, confined to this job's tenant."""
        return self.environment.tenant_store(self.tenant)

    @contextmanager
    def session(self) -> Iterator[TenantSession]:
        """A short transaction of this job's tenant (for reads; results are recorded by the runner)."""
        with self.environment.session(self.tenant) as session:
            yield session

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        """Report progress (0..1) and a short message; written to the job row at the next heartbeat."""
        self.keeper.set_progress(fraction, message)

    def epoch_losses(self, epoch: int, losses: dict[str, float]) -> None:
        """Record one finished epoch's losses; the job row's live loss history gets them at the next heartbeat."""
        self.keeper.add_losses({"epoch": int(epoch), **losses})

    def check(self) -> None:
        """Raise ``LeaseLost`` or ``JobCancelled`` when the job must stop now."""
        if self.keeper.lost.is_set():
            raise LeaseLost(f"job {self.job_id}: the lease was lost; another worker may run it")
        if self.keeper.cancel_requested.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")


__all__ = ["Completion", "HEARTBEAT_MAX_INTERVAL_S", "JobCancelled", "JobContext", "LeaseKeeper", "LeaseLost"]
