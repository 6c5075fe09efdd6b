"""Use case: generate synthetic rows from a model version, as a background job.

    job = submit_generation("acme", model_version_id=mv.id, n_rows=1_000_000, actor=user)

Checks before anything starts: the row count against the tenant's rows-per-request quota and
the concurrent-jobs quota (``job_records.submit_job``), the storage quota, the model version
(it exists, is ready, has a model file), the output format and the conditions' type. The job
goes to the tenant tier's ``cpu`` queue, or ``gpu`` with ``use_gpu=True``. The worker streams
the rows into one object that appears only when complete, then records the generated dataset
(``workers.generation``).
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import Database, TenantSession
from infra.db.models import Job
from infra.jobs.submit import submit
from infra.services import catalog

FORMATS = ("parquet", "csv", "ndjson")


def submit_generation(
    tenant: str,
    *,
    model_version_id: str,
    n_rows: int,
    actor: str | None,
    seed: int | None = None,
    conditions: str | dict[str, Any] | None = None,
    format: str = "parquet",  # noqa: A002 - the user-facing word
    use_gpu: bool = False,
    database: Database | None = None,
) -> Job:
    """Queue a generation job of ``n_rows`` rows; returns the job (state ``queued``).

    Raises ``QuotaExceededError`` (too many rows, too many jobs, storage full), ``NotFoundError``
    (unknown model version), ``InputError``/``ConfigError`` (bad request); nothing is created then.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise InputError(f"the number of rows must be a positive integer, got {n_rows!r}")
    if format not in FORMATS:
        raise ConfigError(f"unknown output format {format!r}: expected one of {', '.join(FORMATS)}")
    if conditions is not None and not isinstance(conditions, (str, dict)):
        raise ConfigError("conditions must be an expression string, a {column: value} dict, or None")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")

    def prepare(session: TenantSession) -> dict[str, Any]:
        version = catalog.get_model_version(session, model_version_id)
        if version.status != "ready" or not version.object_key:
            raise InputError(f"model version {model_version_id} is {version.status} and cannot generate data")
        return {"model_version_id": version.id, "n_rows": n_rows, "seed": seed, "conditions": conditions,
                "format": format}

    return submit(tenant, kind="generate", actor=actor, prepare=prepare, family="gpu" if use_gpu else None,
                  database=database)


__all__ = ["submit_generation"]
