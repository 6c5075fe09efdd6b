"""Use case: generate synthetic rows from a model version, as a background job.

    job = submit_generation("acme", model_version_id=mv.id, n_rows=1_000_000, actor=user)

Checks before anything starts: the acting user's role (``job.start``: member or higher), the
row count against the tenant's rows-per-request quota and the concurrent-jobs quota
(``job_records.submit_job``), the storage quota, the model version (it exists, is ready, has a
model file), the privacy policy (``infra.privacy.check_can_generate``: a DP model's training
charge must be committed; generation itself costs no budget), the tenant's generation rate
limit (``rate_limits.admit_generation_request``, counted after the role, model and privacy
checks so that a request they refuse uses none of it), the output format and the conditions' type. The job
goes to the tenant tier's ``cpu`` queue, or ``gpu`` with ``use_gpu=True``. The worker streams
the rows into one object that appears only when complete, then records the generated dataset
(``workers.generation``).

A schema's model (``model_type == "tables"``) generates with ``submit_schema_generation``
instead (``infra.usecases.schema_generation``): a scale (or rows for root tables) rather than
a row count, a zip of CSV or Parquet (one file per table) or one Parquet per table to S3.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError, InputError
from infra.cache.shared import SharedCache
from infra.db import Database, TenantSession
from infra.db.models import Job
from infra.jobs.submit import submit
from infra.privacy import check_can_generate
from infra.records import catalog
from infra.records.authz import Actor, require_actor, require_permission
from infra.records.rate_limits import RateLimit, admit_generation_request

FORMATS = ("parquet", "csv", "ndjson")
SCHEMA_MODEL_TYPE = "tables"
"""``ModelVersion.model_type`` of a schema's model (``engine.train_tables``)."""


def submit_generation(
    tenant: str,
    *,
    model_version_id: str,
    n_rows: int,
    actor: Actor,
    seed: int | None = None,
    conditions: str | dict[str, Any] | None = None,
    format: str = "parquet",  # noqa: A002 - the user-facing word
    use_gpu: bool = False,
    rate_limit: RateLimit | None = None,
    cache: SharedCache | None = None,
    database: Database | None = None,
) -> Job:
    """Queue a generation job of ``n_rows`` rows; returns the job (state ``queued``).

    ``actor``: the signed-in user. ``rate_limit`` and ``cache`` override the tenant rate limit's
    settings (``DOPPEL_GENERATION_RATE_LIMIT`` per ``DOPPEL_GENERATION_RATE_WINDOW_S``) and its
    counter's shared cache (``DOPPEL_CACHE_URL``). Raises ``PermissionDeniedError`` (a role that
    may not start jobs), ``QuotaExceededError`` (too many rows, too many jobs, storage full),
    ``NotFoundError`` (unknown model version), ``PrivacyPolicyError`` (a DP model whose training
    charge is not committed, or a non-DP model of a sensitive dataset under the policy),
    ``RateLimitExceededError`` (too many requests: the message says when to try again),
    ``InputError``/``ConfigError`` (bad request); nothing is created then.
    """
    actor = require_actor(actor)
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise InputError(f"the number of rows must be a positive integer, got {n_rows!r}")
    if format not in FORMATS:
        raise ConfigError(f"unknown output format {format!r}: expected one of {', '.join(FORMATS)}")
    if conditions is not None and not isinstance(conditions, (str, dict)):
        raise ConfigError("conditions must be an expression string, a {column: value} dict, or None")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        version = catalog.get_model_version(session, model_version_id)
        if version.status != "ready" or not version.object_key:
            raise InputError(f"model version {model_version_id} is {version.status} and cannot generate data")
        if version.model_type == SCHEMA_MODEL_TYPE:
            raise InputError(f"model version {model_version_id} models related tables: generate a schema from it "
                             "with a scale (or rows per root table), not a row count")
        if version.model_type == "sequences":  # infra.usecases.sequence_generation.SEQUENCE_MODEL_TYPE
            raise InputError(f"model version {model_version_id} models histories: generate a number of histories "
                             "from it (submit_sequence_generation), not a row count")
        check_can_generate(session, model_version_id=version.id)  # refuses, never charges
        admit_generation_request(session, actor=actor, limit=rate_limit, cache=cache)
        return {"model_version_id": version.id, "n_rows": n_rows, "seed": seed, "conditions": conditions,
                "format": format}

    return submit(tenant, kind="generate", actor=actor.label, prepare=prepare, family="gpu" if use_gpu else None,
                  database=database)


__all__ = ["FORMATS", "SCHEMA_MODEL_TYPE", "submit_generation"]
