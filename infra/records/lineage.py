"""Lineage, both ways: dataset version -> model versions -> generated datasets -> reports, and back.

Between the dataset version and a model version sits the training split: the model version's
``metrics["holdout"]`` records the row positions its training set aside
(``infra.records.holdouts``; ``Provenance.holdout``), from which both parts are rebuilt.

``downstream`` answers "what was made from this data?" (to withdraw models trained on a
version that must be deleted, say); ``upstream`` answers "where does this report, or this
synthetic table, come from?" Both stay inside the session's tenant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from infra.db.errors import ConfigError
from infra.db.models import Dataset, DatasetVersion, GeneratedDataset, Model, ModelVersion, QualityReport
from infra.db.session import TenantSession
from infra.records.catalog import (
    get_dataset,
    get_dataset_version,
    get_generated_dataset,
    get_model,
    get_model_version,
    get_quality_report,
)
from infra.records.holdouts import HoldoutRecord, record_of


@dataclass(frozen=True)
class GeneratedLineage:
    generated_dataset: GeneratedDataset
    reports: list[QualityReport] = field(default_factory=list)


@dataclass(frozen=True)
class ModelVersionLineage:
    model_version: ModelVersion
    generated: list[GeneratedLineage] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetVersionLineage:
    """Everything made from one dataset version, as a tree."""

    dataset_version: DatasetVersion
    model_versions: list[ModelVersionLineage] = field(default_factory=list)

    def all_reports(self) -> list[QualityReport]:
        return [r for m in self.model_versions for g in m.generated for r in g.reports]


@dataclass(frozen=True)
class Provenance:
    """Where an object comes from; the parts above the starting object are filled in."""

    dataset: Dataset
    dataset_version: DatasetVersion
    model: Model | None = None
    model_version: ModelVersion | None = None
    generated_dataset: GeneratedDataset | None = None
    report: QualityReport | None = None

    @property
    def holdout(self) -> HoldoutRecord | None:
        """The rows of ``dataset_version`` the model version's training set aside (never seen by it)."""
        return record_of(self.model_version.metrics) if self.model_version is not None else None


def _children(session: TenantSession, parent: Any, parent_ids: list[str]) -> list[Any]:
    """The session tenant's rows whose ``parent`` column is one of ``parent_ids``, oldest first."""
    if not parent_ids:
        return []
    model = parent.class_
    return list(
        session.scalars(
            select(model)
            .where(model.tenant_id == session.tenant, parent.in_(parent_ids))
            .order_by(model.created_at, model.id)
        )
    )


def downstream(session: TenantSession, dataset_version_id: str) -> DatasetVersionLineage:
    """The model versions trained on ``dataset_version_id``, their generated datasets and reports.

    Three queries whatever the size of the tree; everything ordered oldest first.
    """
    dataset_version = get_dataset_version(session, dataset_version_id)
    versions = _children(session, ModelVersion.dataset_version_id, [dataset_version.id])
    generated = _children(session, GeneratedDataset.model_version_id, [v.id for v in versions])
    reports = _children(session, QualityReport.generated_dataset_id, [g.id for g in generated])
    reports_by_generated: dict[str, list[QualityReport]] = defaultdict(list)
    for report in reports:
        reports_by_generated[report.generated_dataset_id].append(report)
    generated_by_version: dict[str, list[GeneratedLineage]] = defaultdict(list)
    for g in generated:
        generated_by_version[g.model_version_id].append(GeneratedLineage(g, reports_by_generated[g.id]))
    return DatasetVersionLineage(
        dataset_version, [ModelVersionLineage(v, generated_by_version[v.id]) for v in versions]
    )


def upstream(
    session: TenantSession,
    *,
    report_id: str | None = None,
    generated_dataset_id: str | None = None,
    model_version_id: str | None = None,
) -> Provenance:
    """The chain back to the dataset version, from exactly one of a report, generated dataset or model version."""
    given = [x for x in (report_id, generated_dataset_id, model_version_id) if x is not None]
    if len(given) != 1:
        raise ConfigError("upstream() takes exactly one of report_id, generated_dataset_id, model_version_id")
    report = get_quality_report(session, report_id) if report_id is not None else None
    if report is not None:
        generated_dataset_id = report.generated_dataset_id
    generated = get_generated_dataset(session, generated_dataset_id) if generated_dataset_id is not None else None
    if generated is not None:
        model_version_id = generated.model_version_id
    assert model_version_id is not None
    model_version = get_model_version(session, model_version_id)
    dataset_version = get_dataset_version(session, model_version.dataset_version_id)
    return Provenance(
        dataset=get_dataset(session, dataset_version.dataset_id),
        dataset_version=dataset_version,
        model=get_model(session, model_version.model_id),
        model_version=model_version,
        generated_dataset=generated,
        report=report,
    )
