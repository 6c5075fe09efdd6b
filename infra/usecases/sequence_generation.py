"""Use case: generate synthetic histories from a sequence model version, as a background job.

    job = submit_sequence_generation("acme", model_version_id=mv.id, n_entities=100, format="csv", actor=user)
    job = submit_sequence_generation("acme", model_version_id=mv.id, n_entities=50,
                                     conditions="Sector == 'Technology'", actor=user)
    job = submit_sequence_generation("acme", model_version_id=mv.id, n_entities=100,
                                     destination="s3://bucket/folder", actor=user)

A sequence model (``ModelVersion.model_type == "sequences"``, made by ``engine.train_sequences``
in a training job with ``trains_on="sequences"``) draws ``n_entities`` histories
(``SequenceModel.sample(n_entities=, conditions=, seed=)``) as one long table: the entity
column, the time column, the context columns (constant per entity) and the step columns, sorted
by entity and time. ``conditions`` fix context columns (an expression, ``"Sector ==
'Technology'"``, or a ``{column: value}`` dict); a dict naming a column that is not one of the
model's context columns is refused here, an expression is the model's to check (the job fails
with the engine's message). The output is one file in the workspace's store
(``generated/<model version id>/<job id>.csv|.parquet``, downloaded and assessed like a table's),
or, with ``destination``, one Parquet file written to the workspace's own S3 bucket
(``<folder>/histories.parquet``, through the S3 gate of ``infra.usecases.schema_generation``).

Checks before anything starts, as for a table and a schema: the role (``job.start``), the model
version (ready, a sequence model's, with a file), the privacy policy, the generation rate limit,
and the tenant's rows-per-request quota against the *expected steps*: ``n_entities`` times the
mean length of the histories the model was trained on. Lengths are drawn, so the worker checks
the quota again on the steps actually drawn, before anything is written (all or nothing).
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import ConfigError, InputError
from infra.cache.shared import SharedCache
from infra.db import Database, TenantSession
from infra.db.models import Job, ModelVersion
from infra.jobs.submit import submit
from infra.privacy import check_can_generate
from infra.records.authz import Actor, require_actor, require_permission
from infra.records.rate_limits import RateLimit, admit_generation_request
from infra.usecases.schema_generation import check_output, ready_model_version, requested_by

SEQUENCE_MODEL_TYPE = "sequences"
"""``ModelVersion.model_type`` of a sequence model (``engine.train_sequences``)."""
SEQUENCE_KIND = "sequences"
"""``GeneratedDataset.params["kind"]`` of generated histories."""
SEQUENCE_FORMATS = ("parquet", "csv")
MAX_ENTITIES = 1_000_000  # engine.sequences.model.MAX_ENTITIES: the most entities one sample draws
S3_FILE = "histories"


def is_sequence_model(version: Any) -> bool:
    """Whether a model version models histories (a sequence model) rather than one table or a schema."""
    return getattr(version, "model_type", None) == SEQUENCE_MODEL_TYPE


def learned(version: ModelVersion) -> dict[str, Any]:
    """What the model learned (``metrics["sequence"]``): entity, order_by, context, entities, rows, lengths."""
    data = (version.metrics or {}).get("sequence")
    return dict(data) if isinstance(data, dict) else {}


def mean_length(version: ModelVersion) -> float:
    """The mean length of the histories the model trained on (training steps / training entities)."""
    data = learned(version)
    entities, rows = data.get("entities"), data.get("rows")
    if isinstance(entities, int) and entities > 0 and isinstance(rows, int) and rows > 0:
        return rows / entities
    maximum = data.get("max_length")
    if isinstance(maximum, int) and maximum > 0:  # no training rows recorded: the longest history, to be safe
        return float(maximum)
    raise InputError(f"model version {version.id} records neither its training steps nor its longest history "
                     "(metrics['sequence']): the steps it would generate cannot be checked against the quota")


def expected_steps(version: ModelVersion, n_entities: int) -> int:
    """The steps ``n_entities`` histories are expected to hold: ``n_entities`` x the mean trained length."""
    return max(1, math.ceil(n_entities * mean_length(version)))


def check_entities(n_entities: object) -> int:
    """``n_entities`` as an int when it is a whole number from 1 to ``MAX_ENTITIES``; ``ConfigError`` otherwise."""
    if isinstance(n_entities, bool) or not isinstance(n_entities, int) or not 1 <= n_entities <= MAX_ENTITIES:
        raise ConfigError(f"n_entities must be a whole number of histories from 1 to {MAX_ENTITIES:,}; "
                          f"got {n_entities!r}")
    return n_entities


def check_conditions(conditions: object, *, context: list[str] | None) -> str | dict[str, Any] | None:
    """Conditions on the context columns: a non-empty expression or ``{column: value}`` dict (None when empty).

    A dict's columns must be among ``context`` (when known): a step column changes along a history
    and cannot be fixed for an entity. An expression's columns are the model's to check.
    """
    if conditions is None or conditions == {} or (isinstance(conditions, str) and not conditions.strip()):
        return None
    if isinstance(conditions, str):
        return conditions
    if not isinstance(conditions, dict) or not all(isinstance(column, str) for column in conditions):
        raise ConfigError("conditions must be an expression on the context columns (e.g. \"Sector == 'Technology'\") "
                          f"or a {{column: value}} dict; got {type(conditions).__name__}")
    if context is not None:
        unknown = [column for column in conditions if column not in context]
        if unknown:
            allowed = ", ".join(context) or "none: this model learned no context column"
            raise ConfigError(f"conditions name {unknown[0]!r}, which is not a context column of this model: only the "
                              f"entity's static columns can be fixed (context columns: {allowed})")
    return dict(conditions)


def destination_path(destination: str) -> str:
    """Where the histories go in an S3 destination folder."""
    return f"{destination}/{S3_FILE}.parquet"


def submit_sequence_generation(
    tenant: str,
    *,
    model_version_id: str,
    n_entities: int,
    actor: Actor,
    seed: int | None = None,
    conditions: str | dict[str, Any] | None = None,
    format: str = "parquet",  # noqa: A002 - the user-facing word
    destination: str | None = None,
    use_gpu: bool = False,
    rate_limit: RateLimit | None = None,
    cache: SharedCache | None = None,
    database: Database | None = None,
) -> Job:
    """Queue the generation of ``n_entities`` synthetic histories; returns the job (state ``queued``).

    ``conditions``: on the context columns (recorded with the output); ``format``: the stored
    file (``SEQUENCE_FORMATS``); ``destination``: ``s3://bucket/folder`` for one Parquet file
    there instead. Raises ``PermissionDeniedError``, ``QuotaExceededError`` (naming the expected
    steps), ``NotFoundError``, ``PrivacyPolicyError``, ``RateLimitExceededError``, ``InputError``
    for a model version that is not a ready sequence model or a refused destination,
    ``ConfigError`` for a bad number of entities, seed, format or conditions; nothing is created then.
    """
    actor = require_actor(actor)
    n_entities = check_entities(n_entities)
    check_conditions(conditions, context=None)
    destination = check_output(format=format, formats=SEQUENCE_FORMATS, seed=seed, destination=destination,
                               what="histories", s3_files="one Parquet file of histories")

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        version = ready_model_version(session, model_version_id)
        if not is_sequence_model(version):
            raise InputError(f"model version {model_version_id} is not a sequence model ({version.model_type}): "
                             "generate rows or a schema from it instead of histories")
        context = learned(version).get("context")
        checked = check_conditions(conditions, context=list(context) if isinstance(context, list) else None)
        steps = expected_steps(version, n_entities)
        check_can_generate(session, model_version_id=version.id)  # refuses, never charges
        admit_generation_request(session, actor=actor, limit=rate_limit, cache=cache)
        return {"model_version_id": version.id, "sequences": True, "n_rows": steps, "n_entities": n_entities,
                "conditions": checked, "seed": seed, "format": format, "destination": destination,
                "requested_by": requested_by(actor, destination)}

    if destination is not None:
        from infra.usecases.s3_sources import import_access

        import_access(tenant, path=destination_path(destination), actor=actor)
    return submit(tenant, kind="generate", actor=actor.label, prepare=prepare, family="gpu" if use_gpu else None,
                  database=database)


__all__ = ["MAX_ENTITIES", "SEQUENCE_FORMATS", "SEQUENCE_KIND", "SEQUENCE_MODEL_TYPE", "check_conditions",
           "check_entities", "destination_path", "expected_steps", "is_sequence_model", "learned", "mean_length",
           "submit_sequence_generation"]
