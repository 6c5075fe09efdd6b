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

from engine.errors import InputError
from infra.db.errors import QuotaExceededError
from infra.records.quotas import check_generation_rows
from infra.usecases.schema_generation import SCHEMA_FORMATS, destination_path, is_schema_model
from workers.context import Completion, JobContext
from workers.output_completion import s3_completion, stored_completion
from workers.model_loading import load_job_model

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
    model_version_id, model = load_job_model(ctx, is_kind=is_schema_model, model_class=RelationalModel,
                                             not_kind="models one table, not a schema",
                                             wrong_file="holds a model of one table, not a schema's")
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
    result = {"tables": counts, "format": fmt}
    if payload.get("destination"):
        destination = str(payload["destination"])
        files = {destination_path(destination, name): table_bytes(frame, "parquet") for name, frame in tables.items()}
        return s3_completion(ctx, model_version_id=model_version_id, files=files, n_rows=total, params=params,
                             result={"tables": counts}, started=started, started_cpu=started_cpu)
    data = schema_zip(tables, fmt)
    completion = stored_completion(ctx, model_version_id=model_version_id, key=schema_output_key(model_version_id, ctx.job_id),
                                   data=data, content_type=ZIP_MIME, n_rows=total, params=params,
                                   result={**result, "seconds": round(time.perf_counter() - started, 3)},
                                   started_cpu=started_cpu)
    logger.info("job %s: schema of %d rows (%s) in %.1fs, %d bytes", ctx.job_id, total, _rows_text(counts),
                time.perf_counter() - started, len(data))
    return completion


__all__ = ["run_schema_generation", "schema_output_key", "schema_zip", "table_bytes"]
