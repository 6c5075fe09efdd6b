"""The jobs of a workspace as the workbench shows them: what each is, how far, how long left.

A thin read model over ``job_records``: each ``JobView`` names what the job works on (the
dataset version, model version or generated dataset, by name), its progress and message, an
estimate of the time left (from the elapsed time and the progress, once there is some), a
running training's per-epoch losses so far (``live_losses``), its error in the words the
worker recorded, and what it produced. Cancelling goes through ``job_records.cancel_job``
after the role check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.db import tenant_session
from infra.db.models import Job
from infra.db.session import TenantSession
from infra.db.types import utcnow
from infra.records import catalog, job_records
from infra.records.audit import list_events
from infra.records.authz import Actor, require_permission

KIND_NAMES = {"train": "Training", "generate": "Generation", "assess": "Quality assessment"}
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class JobView:
    """One job, ready to show."""

    id: str
    kind: str
    state: str
    title: str  # "Training ctgan on adult v1"
    progress: float
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    payload: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    eta_s: float | None = None

    @property
    def live_losses(self) -> list[dict[str, Any]]:
        """The per-epoch losses the worker has written so far (a training job, until it succeeds)."""
        rows = self.result.get(job_records.LIVE_LOSSES_KEY) if self.kind == "train" else None
        return [dict(row) for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


def estimate_eta(*, state: str, progress: float, started_at: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds left, assuming the rest goes as fast as what is done; None until it can be told."""
    if state != "running" or started_at is None or not 0.02 <= progress < 1.0:
        return None
    elapsed = ((now or utcnow()) - started_at).total_seconds()
    return max(0.0, elapsed * (1.0 - progress) / progress)


def _dataset_version_label(session: TenantSession, version_id: str | None) -> str:
    if not version_id:
        return "?"
    try:
        version = catalog.get_dataset_version(session, version_id)
        return f"{catalog.get_dataset(session, version.dataset_id).name} v{version.version}"
    except Exception:  # noqa: BLE001 - a deleted object must not break the list
        return "a deleted dataset"


def _model_version_label(session: TenantSession, version_id: str | None) -> str:
    if not version_id:
        return "?"
    try:
        return catalog.version_label(session, version_id)
    except Exception:  # noqa: BLE001
        return "a deleted model"


def _title(session: TenantSession, job: Job) -> str:
    payload = job.payload or {}
    if job.kind == "train":
        model = payload.get("model", "auto")
        epochs = payload.get("epochs")
        detail = f", {epochs} epochs" if epochs else ""
        dp = ", with differential privacy" if payload.get("privacy") else ""
        return f"Training {model} on {_dataset_version_label(session, payload.get('dataset_version_id'))}{detail}{dp}"
    if job.kind == "generate":
        rows = payload.get("n_rows")
        rows_text = f"{rows:,} rows" if isinstance(rows, int) else "rows"
        return f"Generating {rows_text} from {_model_version_label(session, payload.get('model_version_id'))}"
    if job.kind == "assess":
        generated_id = payload.get("generated_dataset_id")
        try:
            generated = catalog.get_generated_dataset(session, generated_id)
            source = _model_version_label(session, generated.model_version_id)
            return f"Assessing {generated.n_rows:,} generated rows of {source}"
        except Exception:  # noqa: BLE001
            return "Assessing generated data"
    return KIND_NAMES.get(job.kind, job.kind)


def _view(session: TenantSession, job: Job) -> JobView:
    return JobView(
        id=job.id, kind=job.kind, state=job.state, title=_title(session, job), progress=float(job.progress or 0.0),
        message=job.progress_message, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, error=job.error_message if job.state == "failed" else None,
        attempts=job.attempts, max_attempts=job.max_attempts, cancel_requested=bool(job.cancel_requested),
        payload=dict(job.payload or {}), result=dict(job.result or {}),
        eta_s=estimate_eta(state=job.state, progress=float(job.progress or 0.0), started_at=job.started_at),
    )


def list_jobs(tenant: str, *, actor: Actor, kind: str | None = None, limit: int = 50) -> list[JobView]:
    """The workspace's jobs, newest first (of one ``kind`` when given)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "job.view")
        return [_view(session, job) for job in job_records.list_jobs(session, kind=kind, limit=limit)]


def get_job(tenant: str, *, job_id: str, actor: Actor) -> JobView:
    """One job, fresh from the database."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "job.view")
        return _view(session, job_records.get_job(session, job_id))


@dataclass(frozen=True)
class JobEvent:
    """One line of a job's log: an audited event (submitted, retried, cancelled, finished)."""

    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


def job_events(tenant: str, *, job_id: str, actor: Actor) -> list[JobEvent]:
    """The job's audited events, oldest first: its log as the workspace keeps it."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "job.view")
        job_records.get_job(session, job_id)  # NotFoundError for another tenant's job
        events = list_events(session, object_id=job_id, limit=200)
        return [JobEvent(at=e.created_at, actor=e.actor, action=e.action, details=dict(e.details or {}))
                for e in reversed(events)]


def cancel_job(tenant: str, *, job_id: str, actor: Actor) -> JobView:
    """Cancel a job: a queued one at once, a running one at its next check (within seconds)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "job.cancel")
        job_records.cancel_job(session, job_id, actor=actor.label)
        return _view(session, job_records.get_job(session, job_id))


__all__ = ["KIND_NAMES", "JobEvent", "JobView", "job_events", "cancel_job", "estimate_eta", "get_job", "list_jobs"]
