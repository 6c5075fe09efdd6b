"""The model registry as the workbench shows it: models, their versions, metrics, privacy, lineage.

Read-only views over ``catalog`` and ``lineage``: each ``ModelVersionView`` says what it was
trained on (and which rows of it were set aside as its holdout, ``.holdout``), with which settings, how training went (the per-epoch loss history), what
differential privacy it spent, and what was made from it (generated datasets and their
reports). ``compare_versions`` lines two versions up setting by setting and metric by metric.
Only the status of a version may change (ready, archived, withdrawn).

A schema's model version (``model_type == "tables"``, trained by ``engine.train_tables``)
has no loss history of its own: ``tables`` lists each table with its model kind, the rows it
was trained on, the rows its holdout kept and how its run went; ``keys`` are the keys it was
trained with, ``notes`` what the training noted, and ``tables_holdout`` the schema holdout
record (whole root subtrees, ``infra.records.schema_holdouts``). Its model file is one zip,
loaded by ``engine.load_model`` like a table's (through the worker's model cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from infra.db import tenant_session
from infra.db.models import GeneratedDataset, ModelVersion, QualityReport
from infra.db.session import TenantSession
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.records.holdouts import HoldoutRecord, record_of
from infra.records.schema_holdouts import TablesHoldoutRecord, is_tables_record, tables_record_of
from infra.records.sequence_holdouts import SequencesHoldoutRecord, sequences_record_of
from infra.usecases.training import SCHEMA_KIND, SEQUENCE_KIND


@dataclass(frozen=True)
class GeneratedView:
    """A generated dataset of a model version, with the ids of its quality reports."""

    id: str
    n_rows: int
    params: dict[str, Any]
    created_at: datetime
    report_ids: list[str] = field(default_factory=list)
    report_passed: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaTableView:
    """One table of a schema model version: its model, rows trained on and held out, and its run."""

    name: str
    model: str | None
    rows: int | None  # the rows its model was trained on (the holdout's left out)
    holdout_rows: int | None
    parent: str | None  # the context parent its rows were drawn under; None for a root table
    epochs_run: int | None
    fit_seconds: float | None


@dataclass(frozen=True)
class ModelVersionView:
    """One immutable model version, and where it sits in the lineage."""

    id: str
    model_id: str
    model_name: str
    version: int
    model_type: str
    status: str
    created_at: datetime
    created_by: str | None
    dataset_id: str
    dataset_name: str
    dataset_version_id: str
    dataset_version: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    privacy_spent: dict[str, Any] | None
    n_bytes: int
    job_id: str | None
    generated: list[GeneratedView] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version}"

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch losses: ``[{"epoch": 1, "generator": ..., ...}, ...]``."""
        return list(self.metrics.get("history") or [])

    @property
    def holdout(self) -> HoldoutRecord | None:
        """The rows its training set aside (lineage); ``rows == 0``: none (``reason`` says why);
        None: trained before holdouts were recorded, or a schema's (see ``tables_holdout``)."""
        return None if is_tables_record(self.metrics.get("holdout")) else record_of(self.metrics)

    @property
    def is_schema(self) -> bool:
        """Whether the version models related tables (``engine.train_tables``)."""
        return self.model_type == SCHEMA_KIND

    @property
    def tables_holdout(self) -> TablesHoldoutRecord | None:
        """A schema version's holdout record (whole root subtrees); None for a table's."""
        return tables_record_of(self.metrics)

    @property
    def is_sequence(self) -> bool:
        """Whether the version models histories (``engine.train_sequences``)."""
        return self.model_type == SEQUENCE_KIND

    @property
    def sequences_holdout(self) -> SequencesHoldoutRecord | None:
        """A sequence version's holdout record (whole histories, or each history's end); None otherwise."""
        return sequences_record_of(self.metrics)

    @property
    def sequence(self) -> dict[str, Any]:
        """What a sequence version learned: its roles, step columns, entities, rows and lengths; empty otherwise."""
        facts = self.metrics.get("sequence") if self.is_sequence else None
        return dict(facts) if isinstance(facts, dict) else {}

    @property
    def holdout_rows(self) -> int | None:
        """The rows set aside: a table's, a history table's, or all of a schema's tables together; None when unrecorded."""
        if self.tables_holdout is not None:
            return sum(self.tables_holdout.rows.values())
        if self.sequences_holdout is not None:
            return self.sequences_holdout.rows
        return self.holdout.rows if self.holdout is not None else None

    @property
    def keys(self) -> dict[str, Any]:
        """The keys a schema version was trained with (``primary_keys``, ``foreign_keys``); empty for a table's."""
        return dict(self.config.get("keys") or {}) if self.is_schema else {}

    @property
    def notes(self) -> list[str]:
        """What the training noted (a schema's: orphans, inferred keys, personal data left out, ...)."""
        notes = self.metrics.get("notes") or []
        return [str(note) for note in notes] if isinstance(notes, list) else []

    @property
    def tables(self) -> list[SchemaTableView]:
        """A schema version's tables in the schema's order; empty for a table's version."""
        if not self.is_schema:
            return []
        configured = self.config.get("tables") or {}
        runs = self.metrics.get("tables") or {}
        held = self.tables_holdout.rows if self.tables_holdout is not None else {}
        out = []
        for name, facts in configured.items():
            run = runs.get(name) or {}
            out.append(SchemaTableView(
                name=name, model=facts.get("model"), rows=facts.get("rows"), holdout_rows=held.get(name, 0),
                parent=facts.get("context"), epochs_run=run.get("epochs_run"), fit_seconds=run.get("fit_seconds")))
        return out

    @property
    def epsilon(self) -> float | None:
        if not self.privacy_spent:
            return None
        value = self.privacy_spent.get("epsilon")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class ModelView:
    """A model line: the versions trained under one name, newest first."""

    id: str
    name: str
    dataset_id: str
    dataset_name: str
    versions: list[ModelVersionView]


def _version_view(session: TenantSession, version: ModelVersion, *, model_name: str,
                  generated: list[GeneratedView] | None = None) -> ModelVersionView:
    dataset_version = catalog.get_dataset_version(session, version.dataset_version_id)
    dataset = catalog.get_dataset(session, dataset_version.dataset_id)
    return ModelVersionView(
        id=version.id, model_id=version.model_id, model_name=model_name, version=version.version,
        model_type=version.model_type, status=version.status, created_at=version.created_at,
        created_by=version.created_by, dataset_id=dataset.id, dataset_name=dataset.name,
        dataset_version_id=dataset_version.id, dataset_version=dataset_version.version,
        config=dict(version.config or {}), metrics=dict(version.metrics or {}),
        privacy_spent=dict(version.privacy_spent) if version.privacy_spent else None, n_bytes=version.n_bytes,
        job_id=version.job_id, generated=generated or [],
    )


def _generated_of(session: TenantSession, version_ids: list[str]) -> dict[str, list[GeneratedView]]:
    if not version_ids:
        return {}
    generated = session.scalars(
        select(GeneratedDataset).where(GeneratedDataset.tenant_id == session.tenant,
                                       GeneratedDataset.model_version_id.in_(version_ids))
        .order_by(GeneratedDataset.created_at.desc())
    ).all()
    reports = session.scalars(
        select(QualityReport).where(QualityReport.tenant_id == session.tenant,
                                    QualityReport.generated_dataset_id.in_([g.id for g in generated]))
        .order_by(QualityReport.created_at.desc())
    ).all() if generated else []
    out: dict[str, list[GeneratedView]] = {}
    for g in generated:
        mine = [r for r in reports if r.generated_dataset_id == g.id]
        out.setdefault(g.model_version_id, []).append(GeneratedView(
            id=g.id, n_rows=g.n_rows, params=dict(g.params or {}), created_at=g.created_at,
            report_ids=[r.id for r in mine], report_passed=[r.passed for r in mine]))
    return out


def list_models(tenant: str, *, actor: Actor, dataset_id: str | None = None) -> list[ModelView]:
    """The workspace's models by name, each with its versions (newest first) and their lineage."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "report.view")
        models = catalog.list_models(session, dataset_id=dataset_id)
        versions = {model.id: catalog.list_model_versions(session, model.id) for model in models}
        generated = _generated_of(session, [v.id for line in versions.values() for v in line])  # one read for all
        out = []
        for model in models:
            dataset = catalog.get_dataset(session, model.dataset_id)
            out.append(ModelView(
                id=model.id, name=model.name, dataset_id=dataset.id, dataset_name=dataset.name,
                versions=[_version_view(session, v, model_name=model.name, generated=generated.get(v.id))
                          for v in versions[model.id]]))
        return out


def ready_versions(tenant: str, *, actor: Actor) -> list[ModelVersionView]:
    """Every model version that can generate data (status ready, with a model file), newest first."""
    versions = [v for m in list_models(tenant, actor=actor) for v in m.versions if v.status == "ready"]
    return sorted(versions, key=lambda v: v.created_at, reverse=True)


def get_version(tenant: str, *, model_version_id: str, actor: Actor) -> ModelVersionView:
    """One model version with its lineage."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "report.view")
        version = catalog.get_model_version(session, model_version_id)
        model = catalog.get_model(session, version.model_id)
        generated = _generated_of(session, [version.id])
        return _version_view(session, version, model_name=model.name, generated=generated.get(version.id))


def set_status(tenant: str, *, model_version_id: str, status: str, actor: Actor) -> ModelVersionView:
    """Archive, withdraw or restore a version (a withdrawn or archived version generates nothing)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "job.start")
        catalog.set_model_version_status(session, model_version_id, status=status, actor=actor.label)
    return get_version(tenant, model_version_id=model_version_id, actor=actor)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list) and len(value) > 8:
        out[prefix] = f"[{len(value)} items]"
    else:
        out[prefix] = value


def compare_versions(a: ModelVersionView, b: ModelVersionView) -> list[dict[str, str]]:
    """Rows ``{"what", "<a label>", "<b label>", "same"}`` for every setting and final metric."""
    rows: list[dict[str, str]] = []
    facts = {
        "model type": (a.model_type, b.model_type),
        "trained on": (f"{a.dataset_name} v{a.dataset_version}", f"{b.dataset_name} v{b.dataset_version}"),
        "epochs run": (a.metrics.get("epochs_run"), b.metrics.get("epochs_run")),
        "training seconds": (_round(a.metrics.get("fit_seconds")), _round(b.metrics.get("fit_seconds"))),
        "epsilon spent": (a.epsilon, b.epsilon),
        "holdout rows": (a.holdout_rows, b.holdout_rows),
        "status": (a.status, b.status),
    }
    last_a = a.history[-1] if a.history else {}
    last_b = b.history[-1] if b.history else {}
    for loss in sorted((set(last_a) | set(last_b)) - {"epoch"}):
        facts[f"final {loss} loss"] = (_round(last_a.get(loss)), _round(last_b.get(loss)))
    config_a: dict[str, Any] = {}
    config_b: dict[str, Any] = {}
    _flat("", a.config, config_a)
    _flat("", b.config, config_b)
    for key in sorted(set(config_a) | set(config_b)):
        facts[f"setting {key}"] = (config_a.get(key), config_b.get(key))
    for what, (left, right) in facts.items():
        rows.append({"what": what, a.label: _text(left), b.label: _text(right), "same": "yes" if left == right else "no"})
    return rows


def _round(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


__all__ = ["GeneratedView", "ModelVersionView", "ModelView", "SchemaTableView", "compare_versions", "get_version",
           "list_models", "ready_versions", "set_status"]
