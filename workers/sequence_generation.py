"""Sequence generation jobs: draw synthetic histories from a sequence model and write them, all or nothing.

The model (``engine.load_model`` of the version's zip, through the worker's model cache) draws
``n_entities`` histories at once (``SequenceModel.sample(n_entities=, conditions=, seed=)``) as
one long table. Lengths are drawn, so the steps actually drawn are checked against the tenant's
rows-per-request quota before anything is written (the submit checked the expected steps).

The table goes to ``generated/<model version id>/<job id>.<csv|parquet>`` in the workspace's
store (one ``put_bytes``: nothing is visible before it is whole; a failed completion deletes
it), or to ``<folder>/histories.parquet`` in the workspace's own S3 bucket (the S3 gate of
``infra.usecases.s3_sources.import_access`` with the credentials of the user who asked; a
failure deletes it). The generated dataset records ``params["kind"] == "sequences"``, the
entities and steps drawn, the conditions and the seed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import TenantSession
from infra.db.errors import QuotaExceededError
from infra.records import catalog
from infra.records.quotas import check_generation_rows, check_storage
from infra.usecases.sequence_generation import SEQUENCE_FORMATS, SEQUENCE_KIND, destination_path, is_sequence_model
from workers.context import Completion, JobContext
from workers.model_loading import load_model_version
from workers.schema_generation import table_bytes

logger = logging.getLogger(__name__)
MIME = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}


def sequence_output_key(model_version_id: str, job_id: str, fmt: str) -> str:
    return f"generated/{model_version_id}/{job_id}.{fmt}"


def _sample(ctx: JobContext) -> tuple[str, Any, str]:
    """(model version id, the synthetic long table, its entity column), quota checked on the steps drawn."""
    from engine.sequences.model import SequenceModel

    payload = ctx.payload
    model_version_id = payload.get("model_version_id")
    if not model_version_id:
        raise ConfigError("the generation job names no model version")
    n_entities = payload.get("n_entities")
    if isinstance(n_entities, bool) or not isinstance(n_entities, int) or n_entities < 1:
        raise InputError(f"the number of histories to generate must be a positive integer, got {n_entities!r}")
    with ctx.session() as session:
        version = catalog.get_model_version(session, model_version_id)
        object_key, status, sequences = version.object_key, version.status, is_sequence_model(version)
    if status != "ready" or not object_key:
        raise InputError(f"model version {model_version_id} is {status} and cannot generate data")
    if not sequences:
        raise InputError(f"model version {model_version_id} is not a sequence model")
    ctx.progress(0.0, "loading the model")
    model = load_model_version(ctx, model_version_id, object_key)
    if not isinstance(model, SequenceModel):
        raise InputError(f"the file of model version {model_version_id} does not hold a sequence model")
    ctx.check()
    ctx.progress(0.1, f"drawing {n_entities:,} histories")
    frame = model.sample(n_entities=n_entities, conditions=payload.get("conditions") or None, seed=payload.get("seed"))
    ctx.check()
    with ctx.session() as session:
        try:
            check_generation_rows(session, n_rows=frame.height)
        except QuotaExceededError as err:  # the same refusal, saying why it came after the job started
            raise QuotaExceededError(f"the {n_entities:,} histories drawn hold {frame.height:,} steps in all, so "
                                     f"nothing was written: {err}") from None
    return model_version_id, frame, str(model.entity_)


def run_sequence_generation(ctx: JobContext) -> Completion:
    """Generate the histories the job asks for into the store or an S3 folder."""
    payload = ctx.payload
    fmt = payload.get("format", "parquet")
    if fmt not in SEQUENCE_FORMATS:
        raise InputError(f"unknown output format {fmt!r} for histories: expected one of {', '.join(SEQUENCE_FORMATS)}")
    started_cpu, started = time.thread_time(), time.perf_counter()
    model_version_id, frame, entity = _sample(ctx)
    steps, entities = frame.height, frame.get_column(entity).n_unique()
    ctx.progress(0.8, f"writing {entities:,} histories ({steps:,} steps)")
    params = {"kind": SEQUENCE_KIND, "n_entities": int(payload["n_entities"]), "entities": entities, "steps": steps,
              "conditions": payload.get("conditions") or None, "seed": payload.get("seed"), "format": fmt}
    data = table_bytes(frame, fmt)
    if payload.get("destination"):
        return _to_s3(ctx, model_version_id, data, params, started=started, started_cpu=started_cpu)

    key = sequence_output_key(model_version_id, ctx.job_id, fmt)
    store = ctx.store
    info = store.put_bytes(key, data, content_type=MIME[fmt])
    seconds = time.perf_counter() - started
    logger.info("job %s: %d histories, %d steps in %.1fs, %d bytes", ctx.job_id, entities, steps, seconds, info.size)

    def record(session: TenantSession) -> dict[str, Any]:
        if _recorded(session, ctx.job_id) is None:  # a first recording: the bytes count against the storage quota
            check_storage(session, adding_bytes=info.size)
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=steps, actor=ctx.created_by, params=params,
            object_key=key, content_hash=info.sha256, n_bytes=info.size, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    return Completion(
        result={"object_key": key, "n_rows": steps, "entities": entities, "format": fmt, "seconds": round(seconds, 3)},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(steps),
               "bytes_stored": float(info.size)},
        record=record,
        discard=lambda: store.delete(key),
    )


def _recorded(session: TenantSession, job_id: str) -> Any:
    from sqlalchemy import select

    from infra.db.models import GeneratedDataset

    return session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == session.tenant,
                                                          GeneratedDataset.job_id == job_id)).first()


def _to_s3(ctx: JobContext, model_version_id: str, data: bytes, params: dict[str, Any], *,
           started: float, started_cpu: float) -> Completion:
    """One Parquet file of histories in the workspace's S3 folder; a failed completion deletes it."""
    from engine.data.s3 import make_client
    from infra.records.authz import Actor
    from infra.usecases.s3_sources import import_access

    destination = str(ctx.payload["destination"])
    who = ctx.payload.get("requested_by") or {}
    if not who.get("user_id"):
        raise ConfigError("the generation job names an S3 destination but not the user who asked for it")
    actor = Actor(user_id=str(who["user_id"]), label=str(who.get("label") or who["user_id"]))
    access = import_access(ctx.tenant, path=destination_path(destination), actor=actor)
    client = make_client(access.credentials, endpoint_url=None)
    client.put_object(Bucket=access.path.bucket, Key=access.path.key, Body=data, ContentType=MIME["parquet"])
    target = f"s3://{access.path.bucket}/{access.path.key}"
    params = {**params, "destination": destination, "objects": [target]}
    seconds = time.perf_counter() - started

    def record(session: TenantSession) -> dict[str, Any]:
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=params["steps"], actor=ctx.created_by, params=params,
            object_key=None, n_bytes=0, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    def discard() -> None:
        try:
            client.delete_object(Bucket=access.path.bucket, Key=access.path.key)
        except Exception:  # noqa: BLE001 - best effort: the job's error is the one to report
            logger.warning("could not delete %s after a failed sequence generation", target, exc_info=True)

    return Completion(
        result={"destination": destination, "objects": [target], "n_rows": params["steps"],
                "entities": params["entities"], "format": "parquet", "bytes_written": len(data),
                "seconds": round(seconds, 3)},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(params["steps"])},
        record=record,
        discard=discard,
    )


__all__ = ["run_sequence_generation", "sequence_output_key"]
