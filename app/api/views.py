"""JSON shapes of the API's resources, built from the use cases' views."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from infra.usecases.job_board import JobView

RESULT_KEYS = {"model_version_id": "model_version_id", "model_id": "model_id",
               "generated_dataset_id": "output_id", "quality_report_id": "report_id"}


def plain(value: Any) -> Any:
    """A dataclass view as a dict (FastAPI encodes the datetimes)."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def job(view: JobView) -> dict[str, Any]:
    """A job as the contract shows it: status, progress, message, result ids, error."""
    result = {RESULT_KEYS[k]: v for k, v in view.result.items() if k in RESULT_KEYS}
    for key in ("n_rows", "format", "passed"):
        if key in view.result:
            result[key] = view.result[key]
    return {"id": view.id, "kind": view.kind, "status": view.state, "title": view.title, "progress": view.progress,
            "message": view.message, "created_at": view.created_at, "started_at": view.started_at,
            "finished_at": view.finished_at, "result": result, "error": view.error, "eta_s": view.eta_s}


def dataset(summary: Any) -> dict[str, Any]:
    latest = summary.latest
    return {"id": summary.id, "name": summary.name, "sensitive": summary.sensitive, "created_at": summary.created_at,
            "latest_version_id": latest.id if latest else None, "n_versions": len(summary.versions),
            "n_models": summary.n_models}


def version(summary: Any) -> dict[str, Any]:
    fields = ("id", "dataset_id", "version", "n_rows", "n_columns", "n_bytes", "created_at")
    return {f: getattr(summary, f) for f in fields if hasattr(summary, f)}


def model_version(view: Any) -> dict[str, Any]:
    return {"id": view.id, "model_id": view.model_id, "version": view.version, "model_type": view.model_type,
            "status": view.status, "created_at": view.created_at, "dataset_id": view.dataset_id,
            "dataset_version_id": view.dataset_version_id, "privacy_spent": view.privacy_spent,
            "n_bytes": view.n_bytes, "job_id": view.job_id}


def model(view: Any) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "dataset_id": view.dataset_id, "dataset_name": view.dataset_name,
            "latest_version_id": view.versions[0].id if view.versions else None,
            "versions": [model_version(v) for v in view.versions]}


__all__ = ["dataset", "job", "model", "model_version", "plain", "version"]
