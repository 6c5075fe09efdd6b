"""Generation jobs: sample rows from a model version and write them to the object store.

Runs in the worker's thread: generation is short compared with training and is stopped
between chunks, which come every ``CHUNK_ROWS`` rows. Models come from the worker's
``ModelCache`` (keyed by tenant and model version, bounded by bytes, TTL from last use), so a
second request for a hot model skips loading it.

Rows stream into one object, ``generated/<model version id>/<job id>.<format>``, through the
store's atomic writer: nothing is visible under that key until the last chunk is written and
the writer commits. A worker killed half-way leaves nothing a reader can see (a staged
temporary file on a local store, an unfinished multipart upload on S3), and the job's next
attempt writes the object from the start. A schema's job (``payload["schema"]``) is
``workers.schema_generation``'s; a sequence model's (``payload["sequences"]``),
``workers.sequence_generation``'s.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from typing import Any

from sqlalchemy import select

from engine.errors import ConfigError, InputError
from infra.db import TenantSession
from infra.db.models import GeneratedDataset
from infra.records import catalog
from infra.records.quotas import check_storage
from workers.context import Completion, JobContext
from workers.model_loading import load_model_version
from workers.schema_generation import run_schema_generation
from workers.sequence_generation import run_sequence_generation

logger = logging.getLogger(__name__)

CHUNK_ROWS = 65_536
FORMATS = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "ndjson": "application/x-ndjson"}


def output_key(model_version_id: str, job_id: str, fmt: str) -> str:
    return f"generated/{model_version_id}/{job_id}.{fmt}"


class _FrameWriter:
    """Writes frames as one Parquet, CSV or NDJSON stream into an object writer."""

    def __init__(self, sink: Any, fmt: str) -> None:
        self.sink = sink
        self.fmt = fmt
        self.rows = 0
        self._parquet: Any = None

    def write(self, frame: Any) -> None:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            table = frame.to_arrow()
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.sink, table.schema, compression="zstd")
            self._parquet.write_table(table, row_group_size=max(1, table.num_rows))
        else:
            buffer = io.BytesIO()
            if self.fmt == "csv":
                frame.write_csv(buffer, include_header=self.rows == 0)
            else:
                frame.write_ndjson(buffer)
            self.sink.write(buffer.getbuffer())
        self.rows += frame.height

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


def run_generation(ctx: JobContext) -> Completion:
    """Generate ``payload["n_rows"]`` rows (with ``seed`` and ``conditions``) into the store.

    A schema's job (``payload["schema"]``) draws every table instead (``workers.schema_generation``).
    """
    payload = ctx.payload
    if payload.get("schema"):
        return run_schema_generation(ctx)
    if payload.get("sequences"):  # histories from a sequence model (workers.sequence_generation)
        return run_sequence_generation(ctx)
    model_version_id = payload.get("model_version_id")
    n_rows = payload.get("n_rows")
    fmt = payload.get("format", "parquet")
    if not model_version_id:
        raise ConfigError("the generation job names no model version")
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise InputError(f"the number of rows to generate must be a positive integer, got {n_rows!r}")
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}: expected one of {', '.join(FORMATS)}")
    with ctx.session() as session:
        version = catalog.get_model_version(session, model_version_id)
        object_key, status = version.object_key, version.status
    if status != "ready" or not object_key:
        raise InputError(f"model version {model_version_id} is {status} and cannot generate data")

    started_cpu, started = time.thread_time(), time.perf_counter()
    ctx.progress(0.0, "loading the model")
    model = load_model_version(ctx, model_version_id, object_key)
    ctx.check()
    key = output_key(model_version_id, ctx.job_id, fmt)
    seed, conditions = payload.get("seed"), payload.get("conditions")
    with ctx.store.open_write(key, content_type=FORMATS[fmt]) as sink:
        writer = _FrameWriter(sink, fmt)
        try:
            # n_rows was checked against the tenant's quota when the job was submitted.
            rows = model.iter_samples(n_rows, batch_rows=CHUNK_ROWS, seed=seed, conditions=conditions, max_rows=n_rows)
            for frame in rows:
                writer.write(frame)
                ctx.progress(writer.rows / n_rows, f"{writer.rows:,} of {n_rows:,} rows")
                ctx.check()  # a cancellation or a lost lease aborts the writer: nothing becomes visible
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()  # release the Parquet writer now; its footer goes into the aborted object
            raise
        writer.close()
    info = sink.info
    assert info is not None
    seconds = time.perf_counter() - started
    logger.info("job %s: %d rows in %.1fs (%.0f rows/s), %d bytes", ctx.job_id, n_rows, seconds, n_rows / seconds, info.size)

    def record(session: TenantSession) -> dict[str, Any]:
        existing = session.scalars(
            select(GeneratedDataset).where(GeneratedDataset.tenant_id == session.tenant,
                                           GeneratedDataset.job_id == ctx.job_id)
        ).first()
        if existing is None:  # a first recording: the bytes count against the storage quota
            check_storage(session, adding_bytes=info.size)
        generated = catalog.record_generated_dataset(
            session, model_version_id=model_version_id, n_rows=n_rows, actor=ctx.created_by,
            params={"seed": seed, "conditions": conditions, "format": fmt}, object_key=key,
            content_hash=info.sha256, n_bytes=info.size, job_id=ctx.job_id,
        )
        return {"generated_dataset_id": generated.id}

    store = ctx.store
    return Completion(
        result={"object_key": key, "n_rows": n_rows, "format": fmt, "seconds": round(seconds, 3),
                "rows_per_second": round(n_rows / seconds) if seconds > 0 else None},
        usage={"cpu_seconds": time.thread_time() - started_cpu, "rows_generated": float(n_rows),
               "bytes_stored": float(info.size)},
        record=record,
        discard=lambda: store.delete(key),
    )


__all__ = ["CHUNK_ROWS", "FORMATS", "load_model_version", "output_key", "run_generation"]
