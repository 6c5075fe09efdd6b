"""Use case: generate a synthetic schema (related tables) from a schema's model version, as a background job.

    job = submit_schema_generation("acme", model_version_id=mv.id, scale=1.0, format="csv", actor=user)
    job = submit_schema_generation("acme", model_version_id=mv.id, destination="s3://bucket/folder", actor=user)
    job = submit_schema_generation("acme", model_version_id=mv.id, conditions={"players": "bats == 'L'"}, actor=user)

A schema's model (``ModelVersion.model_type == "tables"``, made by ``engine.train_tables``)
draws every table at once: ``scale`` multiplies the root tables' rows and the children follow
their generated parents. The output is one zip in the workspace's store holding one file per
table (``<table>.csv`` or ``<table>.parquet``; ``engine.read_tables`` reads it back), or, with
``destination``, one Parquet per table written to the workspace's own S3 bucket under that
folder (``<folder>/<table>.parquet``).

``conditions`` holds conditions on root tables' columns, as for one table (an expression or
a ``{column: value}`` dict per root: ``{"players": "bats == 'L'"}``): only root rows that meet
them are drawn, and the children follow those parents. A condition on a child table is refused
here; one the model cannot meet fails the job with the engine's message naming it.

Checks before anything starts, as for one table (``infra.usecases.generation``): the role
(``job.start``), the model version (ready, a schema's, with a file), the privacy policy, the
generation rate limit, and the tenant's rows-per-request quota against the *total* rows the
request is expected to make (every table's real rows times ``scale``). Children per parent
are drawn, so the worker checks the quota again on the rows actually drawn, before anything
is written. An S3 destination passes the one gate of the workspace's S3 access
(``infra.usecases.s3_sources.import_access``: the workspace's own credentials, its bucket
allow-list, never the platform's bucket; the ``data.upload`` permission), here and again
when the worker writes.
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
from infra.records import catalog
from infra.records.authz import Actor, require_actor, require_permission
from infra.records.rate_limits import RateLimit, admit_generation_request
from infra.records.schema_holdouts import tables_record_of
from infra.usecases.generation import SCHEMA_MODEL_TYPE

SCHEMA_FORMATS = ("parquet", "csv")
"""File formats inside a schema's zip; an S3 destination always gets Parquet."""
MAX_SCALE = 100.0  # engine.relational.model.MAX_SCALE: the largest scale a schema's sample takes


def is_schema_model(version: ModelVersion) -> bool:
    """Whether a model version models related tables (a schema) rather than one table."""
    return version.model_type == SCHEMA_MODEL_TYPE


def training_rows(session: TenantSession, version: ModelVersion) -> dict[str, int] | int:
    """The real rows the model learned from: per table (its holdout record, else the dataset version's
    ``source["tables"]``), else the dataset version's total."""
    record = tables_record_of(version.metrics)
    if record is not None and record.training_rows:
        return {str(name): int(rows) for name, rows in record.training_rows.items()}
    dataset_version = catalog.get_dataset_version(session, version.dataset_version_id)
    tables = (dataset_version.source or {}).get("tables")
    if isinstance(tables, dict) and all(isinstance(v, dict) and isinstance(v.get("rows"), int) for v in tables.values()):
        return {str(name): int(v["rows"]) for name, v in tables.items()}
    return int(dataset_version.n_rows or 0)


def parents_of(keys: Any) -> dict[str, set[str]]:
    """``{child table: its parent tables}`` from keys in the ``keys=`` shape (``"child.fk -> parent.pk"``)."""
    parents: dict[str, set[str]] = {}
    foreign_keys = keys.get("foreign_keys") if isinstance(keys, dict) else None
    for text in foreign_keys or []:
        if isinstance(text, str) and "->" in text:
            child, parent = (side.strip().split(".", 1)[0] for side in text.split("->", 1))
            parents.setdefault(child, set()).add(parent)
    return parents


def expected_rows(rows: dict[str, int] | int, *, scale: float, n: dict[str, int] | None = None,
                  parents: dict[str, set[str]] | None = None) -> int:
    """The rows a sample is expected to make in all: each root at ``n``'s rows (else ``scale`` times its
    real rows), each child table growing as its fastest-growing parent."""
    if not isinstance(rows, dict):
        growth = max([scale, *((k / rows) for k in (n or {}).values())]) if rows else scale
        return max(1, math.ceil(growth * rows)) if rows else 0
    parents = parents or {}
    factors: dict[str, float] = {}

    def factor(table: str, seen: frozenset[str] = frozenset()) -> float:
        if table not in factors:
            ups = [p for p in parents.get(table, ()) if p in rows and p not in seen]
            if ups:
                factors[table] = max(factor(p, seen | {table}) for p in ups)
            elif n and table in n and rows.get(table):
                factors[table] = n[table] / rows[table]
            else:
                factors[table] = scale
        return factors[table]

    total = 0
    for table, count in rows.items():
        if n and table in n and not parents.get(table):
            total += n[table]
        elif count:
            total += max(1, math.ceil(factor(table) * count))
    return total


def check_root_rows(n: object, *, roots: list[str] | None) -> dict[str, int] | None:
    """``n`` (``{root table: rows}``) checked: whole positive numbers, root tables only where they are known."""
    if n is None or n == {}:
        return None
    if not isinstance(n, dict):
        raise ConfigError(f"rows must map root table names to numbers of rows, e.g. {{'players': 1000}}; got {n!r}")
    for table, rows in n.items():
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ConfigError(f"rows[{table!r}] must be a whole number of rows, at least 1; got {rows!r}")
        if roots is not None and table not in roots:
            raise ConfigError(f"rows names {table!r}, which is not a root table of this schema: a child table's rows "
                              f"follow its parents; the root tables are {', '.join(roots)}")
    return {str(k): int(v) for k, v in n.items()}


def check_root_conditions(conditions: object, *, roots: list[str] | None) -> dict[str, str | dict[str, Any]] | None:
    """``conditions`` (``{root table: expression or {column: value}}``) checked: a root table's, each non-empty.

    Only their form is checked here; their columns and values are the model's to check (the
    job fails with the engine's message). Empty conditions are dropped; nothing left gives None.
    """
    if conditions is None or conditions == {}:
        return None
    if not isinstance(conditions, dict):
        raise ConfigError("conditions must map root table names to a condition, e.g. {'players': \"bats == 'L'\"}; "
                          f"got {conditions!r}")
    out: dict[str, str | dict[str, Any]] = {}
    for table, condition in conditions.items():
        if not isinstance(table, str):
            raise ConfigError(f"conditions must be keyed by table names; got {table!r}")
        if roots is not None and table not in roots:
            raise ConfigError(f"conditions name {table!r}, which is not a root table of this schema: a child table's "
                              f"rows follow their generated parents; conditions apply to the root tables "
                              f"({', '.join(roots)})")
        if isinstance(condition, str):
            if condition.strip():
                out[table] = condition
        elif isinstance(condition, dict) and all(isinstance(column, str) for column in condition):
            if condition:
                out[table] = dict(condition)
        elif condition is not None:
            raise ConfigError(f"conditions[{table!r}] must be an expression string or a {{column: value}} dict; got "
                              f"{type(condition).__name__}")
    return out or None


def check_scale(scale: object) -> float:
    """``scale`` as a float when it is a number in (0, ``MAX_SCALE``]; ``ConfigError`` otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or not 0 < scale <= MAX_SCALE:
        raise ConfigError(f"scale must be a number above 0 and at most {MAX_SCALE:g} (1.0: as many root rows as the "
                          f"real tables), got {scale!r}")
    return float(scale)


def check_destination(destination: object) -> str | None:
    """``s3://bucket/folder`` without a trailing slash, or None (the workspace's store)."""
    if destination is None or destination == "":
        return None
    if not isinstance(destination, str) or not destination.strip().lower().startswith("s3://"):
        raise InputError(f"the destination must be an S3 folder written s3://bucket/folder, got {destination!r}")
    text = destination.strip().rstrip("/")
    if "/" not in text[len("s3://"):]:
        raise InputError(f"{destination!r} names a bucket but no folder: write it as s3://bucket/folder (each table "
                         "becomes <folder>/<table>.parquet)")
    return text


def check_output(*, format: str, formats: tuple[str, ...], seed: object, destination: object, what: str,
                 s3_files: str) -> str | None:
    """The checked destination (None: the workspace's store) of a schema's or histories' generation request.

    ``what`` names the output in messages ("a schema"), ``s3_files`` what an S3 folder gets
    ("one Parquet file per table"), which is why an S3 destination takes the Parquet format only.
    """
    if format not in formats:
        raise ConfigError(f"unknown output format {format!r} for {what}: expected one of {', '.join(formats)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    checked = check_destination(destination)
    if checked is not None and format != "parquet":
        raise ConfigError(f"an S3 destination gets {s3_files}; choose the Parquet format")
    return checked


def ready_model_version(session: TenantSession, model_version_id: str) -> ModelVersion:
    """The model version, refused unless it is ready and has a stored model file."""
    version = catalog.get_model_version(session, model_version_id)
    if version.status != "ready" or not version.object_key:
        raise InputError(f"model version {model_version_id} is {version.status} and cannot generate data")
    return version


def requested_by(actor: Actor, destination: str | None) -> dict[str, str] | None:
    """Who asked, for a job that writes to their S3 folder with their access (None for the workspace's store)."""
    return {"user_id": actor.user_id, "label": actor.label} if destination else None


def destination_path(destination: str, table: str) -> str:
    """Where a table of a schema goes in an S3 destination folder."""
    return f"{destination}/{table}.parquet"


def submit_schema_generation(
    tenant: str,
    *,
    model_version_id: str,
    actor: Actor,
    scale: float = 1.0,
    rows: dict[str, int] | None = None,
    seed: int | None = None,
    conditions: dict[str, str | dict[str, Any]] | None = None,
    format: str = "parquet",  # noqa: A002 - the user-facing word
    destination: str | None = None,
    use_gpu: bool = False,
    rate_limit: RateLimit | None = None,
    cache: SharedCache | None = None,
    database: Database | None = None,
) -> Job:
    """Queue the generation of a synthetic schema; returns the job (state ``queued``).

    ``scale``: root rows as a multiple of the real ones (children follow); ``rows``: some root
    tables' rows instead (``{"players": 1000}``; the others follow ``scale``); ``conditions``: a
    root table's conditions (``{"players": "bats == 'L'"}``, recorded with the output); ``format``: the
    files in the zip (``SCHEMA_FORMATS``); ``destination``: ``s3://bucket/folder`` to write one
    Parquet per table there instead of a zip in the store. Raises what ``submit_generation``
    raises (``PermissionDeniedError``, ``QuotaExceededError`` naming the expected total rows,
    ``NotFoundError``, ``PrivacyPolicyError``, ``RateLimitExceededError``), ``InputError`` for
    a model version of one table or a refused destination, ``ConfigError`` for a bad scale,
    seed, format or conditions (a child table's, or not a condition); nothing is created then.
    """
    actor = require_actor(actor)
    scale = check_scale(scale)
    check_root_rows(rows, roots=None)
    check_root_conditions(conditions, roots=None)
    destination = check_output(format=format, formats=SCHEMA_FORMATS, seed=seed, destination=destination,
                               what="a schema", s3_files="one Parquet file per table")

    def prepare(session: TenantSession) -> dict[str, Any]:
        require_permission(session, actor, "job.start")
        version = ready_model_version(session, model_version_id)
        if not is_schema_model(version):
            raise InputError(f"model version {model_version_id} models one table ({version.model_type}): generate "
                             "rows from it with a row count, not a schema")
        real_rows = training_rows(session, version)
        parents = parents_of((version.config or {}).get("keys"))
        tables = set(real_rows) | set(parents) if isinstance(real_rows, dict) else set(parents)
        roots = sorted(t for t in tables if not parents.get(t)) if tables and parents else None
        root_rows = check_root_rows(rows, roots=roots)
        root_conditions = check_root_conditions(conditions, roots=roots)
        check_can_generate(session, model_version_id=version.id)  # refuses, never charges
        admit_generation_request(session, actor=actor, limit=rate_limit, cache=cache)
        # conditions keep the root rows' count; children of conditioned parents may differ: the worker checks again
        total = expected_rows(real_rows, scale=scale, n=root_rows, parents=parents)
        return {"model_version_id": version.id, "schema": True, "n_rows": total, "scale": scale, "rows": root_rows,
                "conditions": root_conditions, "seed": seed, "format": format, "destination": destination,
                "requested_by": requested_by(actor, destination)}

    if destination is not None:
        _check_s3_access(tenant, destination=destination, actor=actor)
    return submit(tenant, kind="generate", actor=actor.label, prepare=prepare, family="gpu" if use_gpu else None,
                  database=database)


def _check_s3_access(tenant: str, *, destination: str, actor: Actor) -> None:
    """The workspace's S3 gate for the destination folder (credentials, allow-list, never the platform's bucket)."""
    from infra.usecases.s3_sources import import_access

    import_access(tenant, path=destination_path(destination, "table"), actor=actor)


__all__ = ["MAX_SCALE", "SCHEMA_FORMATS", "check_destination", "check_output", "ready_model_version", "requested_by", "check_root_conditions", "check_root_rows",
           "check_scale", "destination_path", "expected_rows", "is_schema_model", "parents_of",
           "submit_schema_generation", "training_rows"]
