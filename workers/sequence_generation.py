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

from engine.errors import InputError
from infra.db.errors import QuotaExceededError
from infra.records.quotas import check_generation_rows
from infra.usecases.sequence_generation import SEQUENCE_FORMATS, SEQUENCE_KIND, destination_path, is_sequence_model
from workers.context import Completion, JobContext
from workers.output_completion import s3_completion, stored_completion
from workers.model_loading import load_job_model
from workers.schema_generation import table_bytes

logger = logging.getLogger(__name__)
MIME = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}


def sequence_output_key(model_version_id: str, job_id: str, fmt: str) -> str:
    return f"generated/{model_version_id}/{job_id}.{fmt}"


def _sample(ctx: JobContext) -> tuple[str, Any, str]:
    """(model version id, the synthetic long table, its entity column), quota checked on the steps drawn."""
    from engine.sequences.model import SequenceModel

    payload = ctx.payload
    n_entities = payload.get("n_entities")
    if isinstance(n_entities, bool) or not isinstance(n_entities, int) or n_entities < 1:
        raise InputError(f"the number of histories to generate must be a positive integer, got {n_entities!r}")
    model_version_id, model = load_job_model(ctx, is_kind=is_sequence_model, model_class=SequenceModel,
                                             not_kind="is not a sequence model",
                                             wrong_file="does not hold a sequence model")
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
    data = table_bytes(frame, fmt if not payload.get("destination") else "parquet")
    result = {"entities": entities, "format": fmt}
    if payload.get("destination"):
        files = {destination_path(str(payload["destination"])): data}
        return s3_completion(ctx, model_version_id=model_version_id, files=files, n_rows=steps, params=params,
                             result={"entities": entities}, started=started, started_cpu=started_cpu)
    completion = stored_completion(ctx, model_version_id=model_version_id,
                                   key=sequence_output_key(model_version_id, ctx.job_id, fmt), data=data,
                                   content_type=MIME[fmt], n_rows=steps, params=params,
                                   result={**result, "seconds": round(time.perf_counter() - started, 3)},
                                   started_cpu=started_cpu)
    logger.info("job %s: %d histories, %d steps in %.1fs, %d bytes", ctx.job_id, entities, steps,
                time.perf_counter() - started, len(data))
    return completion


__all__ = ["run_sequence_generation", "sequence_output_key"]
