"""Assessment jobs: the quality report of a generated dataset against the real data.

The real rows are the dataset version the model was trained on; ``holdout_dataset_version_id``
(rows the model never saw) enables the utility ceiling and the membership-inference attacks
(``engine.assess``). The report is stored twice, ``reports/<generated id>/<job id>.json``
(the full ``to_dict``) and ``.html``, and its scores and gates are recorded in the catalog.
The assessment runs in the worker's thread and stops between its stages on a cancellation.
"""

from __future__ import annotations

import json
import time
from typing import Any

from engine.errors import ConfigError, InputError
from infra.db import TenantSession
from infra.services import catalog
from workers.context import Completion, JobContext


def report_keys(generated_dataset_id: str, job_id: str) -> tuple[str, str]:
    base = f"reports/{generated_dataset_id}/{job_id}"
    return f"{base}.json", f"{base}.html"


def _read(ctx: JobContext, key: str | None, what: str) -> Any:
    import engine

    if not key:
        raise InputError(f"{what} has no stored data")
    return engine.read(ctx.store.get_bytes(key), name=key.rsplit("/", 1)[-1])


def run_assessment(ctx: JobContext) -> Completion:
    """Assess the job's generated dataset; the report is recorded on completion."""
    import engine

    payload = ctx.payload
    generated_id = payload.get("generated_dataset_id")
    if not generated_id:
        raise ConfigError("the assessment job names no generated dataset")
    with ctx.session() as session:
        generated = catalog.get_generated_dataset(session, generated_id)
        model_version = catalog.get_model_version(session, generated.model_version_id)
        real_version = catalog.get_dataset_version(session, model_version.dataset_version_id)
        holdout_id = payload.get("holdout_dataset_version_id")
        holdout_version = catalog.get_dataset_version(session, holdout_id) if holdout_id else None
        keys = (generated.object_key, real_version.object_key, holdout_version.object_key if holdout_version else None)

    started_cpu = time.thread_time()
    ctx.progress(0.0, "reading the data")
    synthetic = _read(ctx, keys[0], f"generated dataset {generated_id}")
    real = _read(ctx, keys[1], f"dataset version {model_version.dataset_version_id}")
    holdout = _read(ctx, keys[2], f"holdout dataset version {holdout_id}") if holdout_id else None
    ctx.check()

    def on_progress(step: str, fraction: float) -> None:
        ctx.progress(fraction, step)
        ctx.check()  # raises out of engine.assess between stages

    report = engine.assess(real=real, synthetic=synthetic, holdout=holdout, target=payload.get("target"),
                           config=payload.get("config"), seed=int(payload.get("seed", 0)), on_progress=on_progress)
    ctx.check()
    document = json.loads(report.to_json())
    json_key, html_key = report_keys(generated_id, ctx.job_id)
    store = ctx.store
    json_info = store.put_bytes(json_key, json.dumps(document).encode(), content_type="application/json")
    html_info = store.put_bytes(html_key, report.to_html().encode(), content_type="text/html")

    def record(session: TenantSession) -> dict[str, Any]:
        saved = catalog.record_quality_report(
            session, generated_dataset_id=generated_id, passed=bool(document["passed"]), scores=document["scores"],
            gates=document["gates"], actor=ctx.created_by, object_key=json_key, job_id=ctx.job_id,
        )
        return {"quality_report_id": saved.id}

    def discard() -> None:
        store.delete(json_key)
        store.delete(html_key)

    return Completion(
        result={"passed": bool(document["passed"]), "status": document.get("status"), "object_key": json_key,
                "html_key": html_key},
        usage={"cpu_seconds": time.thread_time() - started_cpu,
               "bytes_stored": float(json_info.size + html_info.size)},
        record=record,
        discard=discard,
    )


__all__ = ["report_keys", "run_assessment"]
