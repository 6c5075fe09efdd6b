"""How a schema's or histories' generation job finishes: its output stored whole, or written to the tenant's S3.

Both jobs draw everything first and then write: one object in the workspace's store
(``stored_completion``: the bytes count against the storage quota when first recorded; a
failed completion deletes the object), or files in the workspace's own S3 folder
(``s3_completion``: the S3 gate of ``infra.usecases.s3_sources.import_access`` with the
credentials of the user who asked; anything written is deleted when a later write or the
completion fails). Either way the generated dataset is recorded in the completion's transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from engine.errors import ConfigError
from infra.db import TenantSession
from infra.records import catalog
from infra.records.quotas import check_storage
from workers.context import Completion, JobContext

logger = logging.getLogger(__name__)

PARQUET_MIME = "application/vnd.apache.parquet"


def _recorded(session: TenantSession, job_id: str) -> Any:
    """The generated dataset an earlier attempt of this job recorded, if any."""
    from sqlalchemy import select

    from infra.db.models import GeneratedDataset

    return session.scalars(select(GeneratedDataset).where(GeneratedDataset.tenant_id == session.tenant,
                                                          GeneratedDataset.job_id == job_id)).first()


def stored_completion(ctx: JobContext, *, model_version_id: str, key: str, data: bytes, content_type: str,
                      n_rows: int, params: dict[str, Any], result: dict[str, Any], started_cpu: float) -> Completion:
    """Put ``data`` under ``key`` in the workspace's store and record it as the job's generated dataset."""
    store = ctx.store
    info = store.put_bytes(key, data, content_type=content_type)

    def record(session: TenantSession) -> dict[str, Any]:
        if _recorded(session, ctx.job_id) is None:  # a first recording: the bytes count against the storage quota
            check_storage(session, adding_bytes=info.size)
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=n_rows, actor=ctx.created_by, params=params,
            object_key=key, content_hash=info.sha256, n_bytes=info.size, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    return Completion(
        result={"object_key": key, "n_rows": n_rows, **result},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(n_rows),
               "bytes_stored": float(info.size)},
        record=record,
        discard=lambda: store.delete(key),
    )


def s3_completion(ctx: JobContext, *, model_version_id: str, files: Mapping[str, bytes], n_rows: int,
                  params: dict[str, Any], result: dict[str, Any], started: float, started_cpu: float) -> Completion:
    """Write ``files`` (S3 path -> Parquet bytes) with the asking user's access and record them as the output."""
    from engine.data.s3 import make_client
    from infra.records.authz import Actor
    from infra.usecases.s3_sources import import_access

    destination = str(ctx.payload["destination"])
    who = ctx.payload.get("requested_by") or {}
    if not who.get("user_id"):
        raise ConfigError("the generation job names an S3 destination but not the user who asked for it")
    actor = Actor(user_id=str(who["user_id"]), label=str(who.get("label") or who["user_id"]))
    written: list[tuple[Any, str, str]] = []
    try:
        for path, data in files.items():
            access = import_access(ctx.tenant, path=path, actor=actor)
            client = make_client(access.credentials, endpoint_url=None)
            client.put_object(Bucket=access.path.bucket, Key=access.path.key, Body=data, ContentType=PARQUET_MIME)
            written.append((client, access.path.bucket, access.path.key))
            ctx.check()
    except BaseException:
        _delete_all(written)
        raise
    objects = [f"s3://{bucket}/{key}" for _, bucket, key in written]
    params = {**params, "destination": destination, "objects": objects}
    seconds = time.perf_counter() - started

    def record(session: TenantSession) -> dict[str, Any]:
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=n_rows, actor=ctx.created_by, params=params,
            object_key=None, n_bytes=0, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    return Completion(
        result={"destination": destination, "objects": objects, "n_rows": n_rows, "format": "parquet",
                "bytes_written": sum(len(d) for d in files.values()), "seconds": round(seconds, 3), **result},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(n_rows)},
        record=record,
        discard=lambda: _delete_all(written),
    )


def _delete_all(written: list[tuple[Any, str, str]]) -> None:
    for client, bucket, key in written:
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - best effort: the job's error is the one to report
            logger.warning("could not delete s3://%s/%s after a failed generation", bucket, key, exc_info=True)


__all__ = ["PARQUET_MIME", "s3_completion", "stored_completion"]
