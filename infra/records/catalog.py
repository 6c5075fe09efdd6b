"""Datasets, models and what comes of them: the registry of versions and results.

- A dataset has immutable versions (content hash, profile, source, object key). A new upload
  makes a new version; nothing rewrites an old one.
- A model has immutable versions (config, metrics, privacy spent, model file), each trained
  on one dataset version; only its ``status`` may change (ready, archived, withdrawn).
- A generated dataset comes from one model version; a quality report assesses one generated
  dataset. Their rows are written only when the work is complete.

Recording functions that take a ``job_id`` are idempotent per job: a job retried after a crash
gets back the row its first attempt wrote instead of a second one (the column is also unique).
Each change is audited in the same transaction.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from infra.db.errors import ConfigError, ConflictError
from infra.db.lookup import get_owned
from infra.db.models import (
    MODEL_VERSION_STATUSES,
    Dataset,
    DatasetVersion,
    GeneratedDataset,
    Model,
    ModelVersion,
    QualityReport,
)
from infra.db.session import TenantSession
from infra.records.audit import record_event
from infra.records.quotas import check_storage

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _require_hash(content_hash: str | None, *, optional: bool = False) -> str | None:
    if content_hash is None and optional:
        return None
    if not isinstance(content_hash, str) or not _SHA256.fullmatch(content_hash):
        raise ConfigError(f"content hash {content_hash!r} is not a lowercase hex SHA-256 (64 characters)")
    return content_hash


def _require_json(value: Any, what: str) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what} is not storable as JSON ({err}); convert numpy values and NaN first") from err
    return value


def _require_name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ConfigError(f"a {what} name must have 1 to 200 characters, got {name!r}")
    return name


def _existing_for_job(session: TenantSession, model: Any, job_id: str | None) -> Any:
    if job_id is None:
        return None
    return session.scalars(select(model).where(model.tenant_id == session.tenant, model.job_id == job_id)).first()


def _add_named(session: TenantSession, row: Dataset | Model, *, what: str) -> None:
    """Insert ``row``; ``ConflictError`` if the tenant already has a ``what`` of its name (also when a
    concurrent transaction took the name between the check and the insert)."""
    model = type(row)
    taken = f"a {what} named {row.name!r} already exists"
    if session.scalars(select(model).where(model.tenant_id == session.tenant, model.name == row.name)).first():
        raise ConflictError(taken)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as err:
        raise ConflictError(taken) from err


def _next_version(session: TenantSession, parent: Any, parent_id: str) -> int:
    """1 + the highest ``version`` among the rows whose ``parent`` column is ``parent_id``."""
    model = parent.class_
    latest = session.scalar(
        select(func.max(model.version)).where(model.tenant_id == session.tenant, parent == parent_id)
    )
    return (latest or 0) + 1


def _versions_of(session: TenantSession, parent: Any, parent_id: str) -> list[Any]:
    """The rows whose ``parent`` column is ``parent_id``, newest version first."""
    model = parent.class_
    return list(
        session.scalars(
            select(model).where(model.tenant_id == session.tenant, parent == parent_id).order_by(model.version.desc())
        )
    )


# --- datasets -------------------------------------------------------------------------------


def create_dataset(
    session: TenantSession, *, name: str, actor: str | None, description: str = "", sensitive: bool = False
) -> Dataset:
    """A new, empty dataset; ``ConflictError`` if the tenant already has one of that name."""
    name = _require_name(name, "dataset")
    dataset = Dataset(tenant_id=session.tenant, name=name, description=description, sensitive=sensitive,
                      created_by=actor)
    _add_named(session, dataset, what="dataset")
    record_event(session, actor=actor, action="dataset.created", object_type="dataset", object_id=dataset.id,
                 details={"name": name})
    return dataset


def get_dataset(session: TenantSession, dataset_id: str) -> Dataset:
    return get_owned(session, Dataset, dataset_id, what="dataset")


def list_datasets(session: TenantSession) -> list[Dataset]:
    """The tenant's datasets by name."""
    return list(session.scalars(select(Dataset).where(Dataset.tenant_id == session.tenant).order_by(Dataset.name)))


def add_dataset_version(
    session: TenantSession,
    *,
    dataset_id: str,
    content_hash: str,
    source: dict[str, Any],
    profile: dict[str, Any],
    actor: str | None,
    object_key: str | None = None,
    n_rows: int | None = None,
    n_columns: int | None = None,
    n_bytes: int = 0,
) -> DatasetVersion:
    """Append version N+1 to the dataset, after checking the storage quota for ``n_bytes``."""
    _require_hash(content_hash)
    _require_json(source, "the source description")
    _require_json(profile, "the profile")
    dataset = get_owned(session, Dataset, dataset_id, what="dataset", for_update=True)
    check_storage(session, adding_bytes=n_bytes)
    version = DatasetVersion(
        tenant_id=session.tenant, dataset_id=dataset.id,
        version=_next_version(session, DatasetVersion.dataset_id, dataset.id), content_hash=content_hash,
        source=source, profile=profile, object_key=object_key, n_rows=n_rows, n_columns=n_columns,
        n_bytes=n_bytes, created_by=actor,
    )
    session.add(version)
    session.flush()
    record_event(session, actor=actor, action="dataset_version.created", object_type="dataset_version",
                 object_id=version.id, details={"dataset_id": dataset.id, "version": version.version,
                                                "content_hash": content_hash})
    return version


def get_dataset_version(session: TenantSession, dataset_version_id: str) -> DatasetVersion:
    return get_owned(session, DatasetVersion, dataset_version_id, what="dataset version")


def list_dataset_versions(session: TenantSession, dataset_id: str) -> list[DatasetVersion]:
    """The dataset's versions, newest first."""
    return _versions_of(session, DatasetVersion.dataset_id, get_dataset(session, dataset_id).id)


# --- models ---------------------------------------------------------------------------------


def create_model(session: TenantSession, *, name: str, dataset_id: str, actor: str | None) -> Model:
    """A new model line for one dataset; ``ConflictError`` on a duplicate name."""
    name = _require_name(name, "model")
    dataset = get_dataset(session, dataset_id)
    model = Model(tenant_id=session.tenant, name=name, dataset_id=dataset.id, created_by=actor)
    _add_named(session, model, what="model")
    record_event(session, actor=actor, action="model.created", object_type="model", object_id=model.id,
                 details={"name": name, "dataset_id": dataset.id})
    return model


def get_model(session: TenantSession, model_id: str) -> Model:
    return get_owned(session, Model, model_id, what="model")


def list_models(session: TenantSession, *, dataset_id: str | None = None) -> list[Model]:
    """The tenant's models by name, optionally those of one dataset."""
    statement = select(Model).where(Model.tenant_id == session.tenant)
    if dataset_id is not None:
        statement = statement.where(Model.dataset_id == dataset_id)
    return list(session.scalars(statement.order_by(Model.name)))


def register_model_version(
    session: TenantSession,
    *,
    model_id: str,
    dataset_version_id: str,
    model_type: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    actor: str | None,
    privacy_spent: dict[str, Any] | None = None,
    object_key: str | None = None,
    content_hash: str | None = None,
    n_bytes: int = 0,
    job_id: str | None = None,
) -> ModelVersion:
    """Register version N+1 of the model, trained on ``dataset_version_id`` (a version of its dataset).

    With ``job_id``, a second call for the same job returns the version the first one made.
    """
    _require_hash(content_hash, optional=True)
    _require_json(config, "the model config")
    _require_json(metrics, "the training metrics")
    _require_json(privacy_spent, "the privacy spent")
    if (existing := _existing_for_job(session, ModelVersion, job_id)) is not None:
        return existing
    model = get_owned(session, Model, model_id, what="model", for_update=True)
    dataset_version = get_dataset_version(session, dataset_version_id)
    if dataset_version.dataset_id != model.dataset_id:
        raise ConfigError(
            f"dataset version {dataset_version_id} belongs to another dataset than model {model.name!r}'s"
        )
    version = ModelVersion(
        tenant_id=session.tenant, model_id=model.id, version=_next_version(session, ModelVersion.model_id, model.id),
        dataset_version_id=dataset_version.id, job_id=job_id, model_type=model_type, config=config,
        metrics=metrics, privacy_spent=privacy_spent, object_key=object_key, content_hash=content_hash,
        n_bytes=n_bytes, created_by=actor,
    )
    session.add(version)
    session.flush()
    record_event(session, actor=actor, action="model_version.registered", object_type="model_version",
                 object_id=version.id, details={"model_id": model.id, "version": version.version,
                                                "dataset_version_id": dataset_version.id, "job_id": job_id})
    return version


def get_model_version(session: TenantSession, model_version_id: str) -> ModelVersion:
    return get_owned(session, ModelVersion, model_version_id, what="model version")


def version_label(session: TenantSession, model_version_id: str) -> str:
    """``adult (ctgan) v2``: how the pages name a model version (its line's name and number)."""
    version = get_model_version(session, model_version_id)
    return f"{get_model(session, version.model_id).name} v{version.version}"


def list_model_versions(session: TenantSession, model_id: str) -> list[ModelVersion]:
    """The model's versions, newest first."""
    return _versions_of(session, ModelVersion.model_id, get_model(session, model_id).id)


def set_model_version_status(
    session: TenantSession, model_version_id: str, *, status: str, actor: str | None
) -> ModelVersion:
    """Change a model version's status, the one thing about it that may change."""
    if status not in MODEL_VERSION_STATUSES:
        raise ConfigError(f"unknown model version status {status!r}: expected one of {', '.join(MODEL_VERSION_STATUSES)}")
    version = get_model_version(session, model_version_id)
    previous, version.status = version.status, status
    session.flush()
    record_event(session, actor=actor, action="model_version.status_changed", object_type="model_version",
                 object_id=version.id, details={"from": previous, "to": status})
    return version


# --- results --------------------------------------------------------------------------------


def record_generated_dataset(
    session: TenantSession,
    *,
    model_version_id: str,
    n_rows: int,
    actor: str | None,
    params: dict[str, Any] | None = None,
    object_key: str | None = None,
    content_hash: str | None = None,
    n_bytes: int = 0,
    job_id: str | None = None,
) -> GeneratedDataset:
    """Record synthetic data sampled from a model version, once it is completely written."""
    _require_hash(content_hash, optional=True)
    _require_json(params, "the generation parameters")
    if (existing := _existing_for_job(session, GeneratedDataset, job_id)) is not None:
        return existing
    model_version = get_model_version(session, model_version_id)
    generated = GeneratedDataset(
        tenant_id=session.tenant, model_version_id=model_version.id, job_id=job_id, n_rows=n_rows,
        params=params or {}, object_key=object_key, content_hash=content_hash, n_bytes=n_bytes, created_by=actor,
    )
    session.add(generated)
    session.flush()
    record_event(session, actor=actor, action="generated_dataset.recorded", object_type="generated_dataset",
                 object_id=generated.id, details={"model_version_id": model_version.id, "n_rows": n_rows})
    return generated


def get_generated_dataset(session: TenantSession, generated_dataset_id: str) -> GeneratedDataset:
    return get_owned(session, GeneratedDataset, generated_dataset_id, what="generated dataset")


def record_quality_report(
    session: TenantSession,
    *,
    generated_dataset_id: str,
    passed: bool,
    scores: dict[str, Any],
    gates: list[Any],
    actor: str | None,
    object_key: str | None = None,
    job_id: str | None = None,
) -> QualityReport:
    """Record the quality report of a generated dataset (``report.to_json()``'s scores and gates)."""
    _require_json(scores, "the scores")
    _require_json(gates, "the gates")
    if (existing := _existing_for_job(session, QualityReport, job_id)) is not None:
        return existing
    generated = get_generated_dataset(session, generated_dataset_id)
    report = QualityReport(
        tenant_id=session.tenant, generated_dataset_id=generated.id, job_id=job_id, passed=bool(passed),
        scores=scores, gates=gates, object_key=object_key, created_by=actor,
    )
    session.add(report)
    session.flush()
    record_event(session, actor=actor, action="quality_report.recorded", object_type="quality_report",
                 object_id=report.id, details={"generated_dataset_id": generated.id, "passed": bool(passed)})
    return report


def get_quality_report(session: TenantSession, report_id: str) -> QualityReport:
    return get_owned(session, QualityReport, report_id, what="quality report")
