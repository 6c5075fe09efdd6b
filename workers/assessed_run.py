"""What a schema's or histories' assessment job reads before it judges: its three records, and its holdout choice.

Both jobs name a generated dataset; its model version and the dataset version that model was
trained on follow from it (``assessed_run``). Both judge against the model's own holdout or
none (``holdout_source``), and both say why when there is none (``no_holdout_reason``). Single
tables (``workers.assessment``) may also name another dataset version, so they keep their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError, InputError
from infra.records import catalog
from workers.context import JobContext


@dataclass(frozen=True)
class AssessedRun:
    """The generated dataset a job assesses, its model version's settings, and the real version's object."""

    generated_id: str
    generated_key: str
    real_key: str
    model_version_id: str
    real_version_id: str
    model_config: dict[str, Any]
    model_metrics: dict[str, Any]
    real_source: dict[str, Any]


def assessed_run(ctx: JobContext) -> AssessedRun:
    """The job's generated dataset with its model and real versions; refuses what has no stored data."""
    generated_id = ctx.payload.get("generated_dataset_id")
    if not generated_id:
        raise ConfigError("the assessment job names no generated dataset")
    with ctx.session() as session:
        generated = catalog.get_generated_dataset(session, generated_id)
        model_version = catalog.get_model_version(session, generated.model_version_id)
        real_version = catalog.get_dataset_version(session, model_version.dataset_version_id)
        run = AssessedRun(generated_id=generated_id, generated_key=generated.object_key or "",
                          real_key=real_version.object_key or "", model_version_id=model_version.id,
                          real_version_id=real_version.id, model_config=dict(model_version.config or {}),
                          model_metrics=dict(model_version.metrics or {}), real_source=dict(real_version.source or {}))
    if not run.generated_key:
        raise InputError(f"generated dataset {generated_id} has no stored data (it was written to S3)")
    if not run.real_key:
        raise InputError(f"dataset version {run.real_version_id} has no stored data")
    return run


def holdout_source(payload: dict[str, Any], record: Any, *, what: str) -> str:
    """"model_version" or "none": what the job asked for, else the model's own holdout when it has one.

    ``record`` is the model's holdout record (or None); ``what`` names the data in the refusal
    of any other source ("a schema", "histories").
    """
    source = payload.get("holdout_source") or ("model_version" if record is not None and record.has_holdout else "none")
    if source not in ("model_version", "none"):
        raise ConfigError(f"{what} is assessed against its model's own holdout or none, not {source!r}")
    return source


def no_holdout_reason(record: Any) -> str:
    """Why a report has no holdout, from the model's record (or its absence)."""
    if record is not None and record.has_holdout:
        return "the assessment was asked to use none, though the model has one of its own"
    if record is not None and record.reason:
        return f"the model's training set none aside ({record.reason})"
    return "the model records no holdout of its own"


__all__ = ["AssessedRun", "assessed_run", "holdout_source", "no_holdout_reason"]
