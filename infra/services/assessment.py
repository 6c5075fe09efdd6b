"""Use case: assess a generated dataset (the quality report), as a background job.

    job = submit_assessment("acme", generated_dataset_id=g.id, holdout_dataset_version_id=h.id,
                            target="income", actor=user)

Checks before anything starts: the acting user's role (``job.start``: member or higher), the
generated dataset (and the holdout version, if given) exist for this tenant and have stored
data; the quotas. The job goes to the tenant tier's ``cpu`` queue; the worker runs
``engine.assess`` and records the report (``workers.assessment``).
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import Database, TenantSession
from infra.db.models import Job
from infra.jobs.submit import submit
from infra.services import catalog
from infra.services.authz import Actor, require_actor, require_permission


def submit_assessment(
    tenant: str,
    *,
    generated_dataset_id: str,
    actor: Actor,
    holdout_dataset_version_id: str | None = None,
    target: str | None = None,
    config: dict[str, Any] | None = None,
    seed: int = 0,
    database: Database | None = None,
) -> Job:
    """Queue the assessment of ``generated_dataset_id``; returns the job (state ``queued``).

    ``actor``: the signed-in user, who needs the ``job.start`` permission (``PermissionDeniedError``).
    """
    actor = require_actor(actor)
    if config is not None and not isinstance(config, dict):
        raise ConfigError("config must be a dict of quality settings (see engine.quality.QualityConfig) or None")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"target must be a column name or None, got {target!r}")

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        generated = catalog.get_generated_dataset(session, generated_dataset_id)
        if not generated.object_key:
            raise InputError(f"generated dataset {generated_dataset_id} has no stored data")
        if holdout_dataset_version_id is not None:
            holdout = catalog.get_dataset_version(session, holdout_dataset_version_id)
            if not holdout.object_key:
                raise InputError(f"holdout dataset version {holdout_dataset_version_id} has no stored data")
        return {"generated_dataset_id": generated.id, "holdout_dataset_version_id": holdout_dataset_version_id,
                "target": target, "config": config, "seed": seed}

    return submit(tenant, kind="assess", actor=actor.label, prepare=prepare, database=database)


__all__ = ["submit_assessment"]
