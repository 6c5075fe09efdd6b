"""Where an assessment job stores its report (a table's or a schema's), and how the job completes.

The JSON document and the HTML page go to ``reports/<generated id>/<job id>.json|.html``; the
report is recorded in the catalog when the job's completion is committed, and both objects are
deleted again if it is not.
"""

from __future__ import annotations

import json
import time
from typing import Any

from infra.db import TenantSession
from infra.records import catalog
from workers.context import Completion, JobContext


def report_keys(generated_dataset_id: str, job_id: str) -> tuple[str, str]:
    """``(reports/<generated id>/<job id>.json, ... .html)``."""
    base = f"reports/{generated_dataset_id}/{job_id}"
    return f"{base}.json", f"{base}.html"


def store_report(ctx: JobContext, *, generated_id: str, document: dict[str, Any], html: str,
                 scores: dict[str, Any], started_cpu: float) -> Completion:
    """Write the report's JSON and HTML, and the completion that records it (or deletes both objects)."""
    json_key, html_key = report_keys(generated_id, ctx.job_id)
    store = ctx.store
    json_info = store.put_bytes(json_key, json.dumps(document, allow_nan=False).encode(), content_type="application/json")
    html_info = store.put_bytes(html_key, html.encode(), content_type="text/html")

    def record(session: TenantSession) -> dict[str, Any]:
        saved = catalog.record_quality_report(
            session, generated_dataset_id=generated_id, passed=bool(document["passed"]), scores=scores,
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


__all__ = ["report_keys", "store_report"]
