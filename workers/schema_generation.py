"""Schema generation jobs: sample every table of a schema's model and write them, all or nothing.

The model (``engine.load_model`` of the version's zip, through the worker's model cache) draws
the whole schema at once (``RelationalModel.sample(scale=, n=, conditions=, seed=)``): a
root table's conditions keep only root rows that meet them, and the children follow those
parents; a condition the model cannot meet fails the job with the engine's message. The rows
drawn are checked against the tenant's rows-per-request quota before anything is written
(children per parent are drawn, so the total is known only now); a refusal writes nothing.

Outputs:
- the store: one zip, ``generated/<model version id>/<job id>.zip``, of ``<table>.csv`` or
  ``<table>.parquet`` (``engine.read_tables`` reads it back), written by the store's atomic
  writer: nothing is visible under the key until it is complete;
- S3: one ``<folder>/<table>.parquet`` per table in the workspace's own bucket, with the
  credentials the S3 gate (``infra.usecases.s3_sources.import_access``) returns for the user who
  asked, checked again here; a failure half-way deletes the tables already written.

The generated dataset records the total rows and, in its params, the rows per table
(``params["tables"]``) and what was asked for: scale, root rows, seed, format and the root
tables' conditions (``params["conditions"]``, ``{root: condition}``, as for one table: lineage).
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import TenantSession
from infra.db.errors import QuotaExceededError
from infra.records import catalog
from infra.records.quotas import check_generation_rows, check_storage
from infra.usecases.schema_generation import SCHEMA_FORMATS, destination_path, is_schema_model
from workers.context import Completion, JobContext
from workers.model_loading import load_model_version

logger = logging.getLogger(__name__)

ZIP_MIME = "application/zip"


def schema_output_key(model_version_id: str, job_id: str) -> str:
    return f"generated/{model_version_id}/{job_id}.zip"


def table_bytes(frame: Any, fmt: str) -> bytes:
    """One table as Parquet (zstd) or CSV (with a header) bytes."""
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(buffer, compression="zstd")
    else:
        frame.write_csv(buffer)
    return buffer.getvalue()


def schema_zip(tables: dict[str, Any], fmt: str) -> bytes:
    """A zip of one ``<table>.<fmt>`` file per table (Parquet stored, CSV deflated)."""
    buffer = io.BytesIO()
    compression = zipfile.ZIP_STORED if fmt == "parquet" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, frame in tables.items():
            archive.writestr(f"{name}.{fmt}", table_bytes(frame, fmt))
    return buffer.getvalue()


def _sample(ctx: JobContext) -> tuple[str, dict[str, Any], dict[str, int]]:
    """(model version id, the synthetic tables, rows per table), quota checked."""
    from engine.relational.model import RelationalModel

    payload = ctx.payload
    model_version_id = payload.get("model_version_id")
    if not model_version_id:
        raise ConfigError("the generation job names no model version")
    with ctx.session() as session:
        version = catalog.get_model_version(session, model_version_id)
        object_key, status, schema = version.object_key, version.status, is_schema_model(version)
    if status != "ready" or not object_key:
        raise InputError(f"model version {model_version_id} is {status} and cannot generate data")
    if not schema:
        raise InputError(f"model version {model_version_id} models one table, not a schema")
    ctx.progress(0.0, "loading the model")
    model = load_model_version(ctx, model_version_id, object_key)
    if not isinstance(model, RelationalModel):
        raise InputError(f"the file of model version {model_version_id} holds a model of one table, not a schema's")
    ctx.check()
    ctx.progress(0.1, "drawing the tables")
    tables = model.sample(scale=float(payload.get("scale", 1.0)), n=payload.get("rows") or None,
                          conditions=payload.get("conditions") or None, seed=payload.get("seed"))
    ctx.check()
    counts = {name: frame.height for name, frame in tables.items()}
    total = sum(counts.values())
    with ctx.session() as session:
        try:
            check_generation_rows(session, n_rows=total)
        except QuotaExceededError as err:  # the same refusal, saying why it came after the job started
            raise QuotaExceededError(f"the schema drawn holds {total:,} rows in all ({_rows_text(counts)}), so "
                                     f"nothing was written: {err}") from None
    return model_version_id, tables, counts


def _rows_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {rows:,}" for name, rows in counts.items())


def run_schema_generation(ctx: JobContext) -> Completion:
    """Generate the schema the job asks for into the store (a zip) or an S3 folder."""
    payload = ctx.payload
    fmt = payload.get("format", "parquet")
    if fmt not in SCHEMA_FORMATS:
        raise InputError(f"unknown output format {fmt!r} for a schema: expected one of {', '.join(SCHEMA_FORMATS)}")
    started_cpu, started = time.thread_time(), time.perf_counter()
    model_version_id, tables, counts = _sample(ctx)
    total = sum(counts.values())
    ctx.progress(0.7, f"writing {len(tables)} tables ({total:,} rows)")
    params = {"kind": "tables", "scale": float(payload.get("scale", 1.0)), "rows": payload.get("rows") or None,
              "conditions": payload.get("conditions") or None, "seed": payload.get("seed"), "format": fmt,
              "tables": counts}
    if payload.get("destination"):
        return _to_s3(ctx, model_version_id, tables, params, started=started, started_cpu=started_cpu)

    key = schema_output_key(model_version_id, ctx.job_id)
    store = ctx.store
    info = store.put_bytes(key, schema_zip(tables, fmt), content_type=ZIP_MIME)
    seconds = time.perf_counter() - started
    logger.info("job %s: schema of %d rows (%s) in %.1fs, %d bytes", ctx.job_id, total, _rows_text(counts), seconds,
                info.size)

    def record(session: TenantSession) -> dict[str, Any]:
        if _recorded(session, ctx.job_id) is None:  # a first recording: the bytes count against the storage quota
            check_storage(session, adding_bytes=info.size)
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=total, actor=ctx.created_by, params=params,
            object_key=key, content_hash=info.sha256, n_bytes=info.size, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    return Completion(
        result={"object_key": key, "n_rows": total, "tables": counts, "format": fmt, "seconds": round(seconds, 3)},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(total),
               "bytes_stored": float(info.size)},
        record=record,
        discard=lambda: store.delete(key),
    )


def _recorded(session: TenantSession, job_id: str) -> Any:
    from sqlalchemy import select

    from infra.db.models import GeneratedDataset

    return session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == session.tenant,
                                                          GeneratedDataset.job_id == job_id)).first()


def _to_s3(ctx: JobContext, model_version_id: str, tables: dict[str, Any], params: dict[str, Any], *,
           started: float, started_cpu: float) -> Completion:
    """One Parquet per table in the workspace's S3 folder; a failure deletes what was written."""
    from engine.data.s3 import make_client
    from infra.records.authz import Actor
    from infra.usecases.s3_sources import import_access

    destination = str(ctx.payload["destination"])
    who = ctx.payload.get("requested_by") or {}
    if not who.get("user_id"):
        raise ConfigError("the generation job names an S3 destination but not the user who asked for it")
    actor = Actor(user_id=str(who["user_id"]), label=str(who.get("label") or who["user_id"]))
    written: list[tuple[Any, str, str]] = []
    sizes = 0
    try:
        for name, frame in tables.items():
            access = import_access(ctx.tenant, path=destination_path(destination, name), actor=actor)
            client = make_client(access.credentials, endpoint_url=None)
            data = table_bytes(frame, "parquet")
            client.put_object(Bucket=access.path.bucket, Key=access.path.key, Body=data,
                              ContentType="application/vnd.apache.parquet")
            written.append((client, access.path.bucket, access.path.key))
            sizes += len(data)
            ctx.check()
    except BaseException:
        _delete_all(written)
        raise
    objects = [f"s3://{bucket}/{key}" for _, bucket, key in written]
    total = sum(params["tables"].values())
    seconds = time.perf_counter() - started
    params = {**params, "destination": destination, "objects": objects}

    def record(session: TenantSession) -> dict[str, Any]:
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=total, actor=ctx.created_by, params=params,
            object_key=None, n_bytes=0, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    return Completion(
        result={"destination": destination, "objects": objects, "n_rows": total, "tables": params["tables"],
                "format": "parquet", "bytes_written": sizes, "seconds": round(seconds, 3)},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(total)},
        record=record,
        discard=lambda: _delete_all(written),
    )


def _delete_all(written: list[tuple[Any, str, str]]) -> None:
    for client, bucket, key in written:
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - best effort: the job's error is the one to report
            logger.warning("could not delete s3://%s/%s after a failed schema generation", bucket, key, exc_info=True)


__all__ = ["run_schema_generation", "schema_output_key", "schema_zip", "table_bytes"]
