"""What the workspace made: generated datasets (preview, download) and quality reports (read, compare).

Read models over ``catalog`` and the object store, each behind the role check of its action.
A report's stored JSON (``report.to_json()``, written by the assessment worker) is the one
source of what the Quality page, the HTML download and the shared view show, so they agree.

CSV downloads go through ``infra.exports.csv_bytes``: synthetic data copies the real data's
values, and a text cell that starts like a spreadsheet formula must not run on the machine of
whoever opens the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import select

import engine
from engine.errors import InputError
from infra.db import tenant_session
from infra.db.models import GeneratedDataset, QualityReport
from infra.db.session import TenantSession
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.storage import open_tenant_store

MIME_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "ndjson": "application/x-ndjson"}


@dataclass(frozen=True)
class GeneratedItem:
    """A generated dataset: where it comes from, how it was asked for, its reports."""

    id: str
    model_version_id: str
    source_label: str  # "adult (ctgan) v1"
    n_rows: int
    params: dict[str, Any]
    n_bytes: int
    created_at: datetime
    object_key: str | None
    report_ids: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        return str(self.params.get("format") or (self.object_key or "x.parquet").rsplit(".", 1)[-1])

    @property
    def conditions(self) -> Any:
        return self.params.get("conditions")

    @property
    def label(self) -> str:
        cond = self.conditions
        cond_text = f" where {cond}" if isinstance(cond, str) and cond else (f" where {cond}" if cond else "")
        return f"{self.n_rows:,} rows of {self.source_label}{cond_text} ({self.created_at:%Y-%m-%d %H:%M})"


@dataclass(frozen=True)
class ReportItem:
    """A quality report in the list: verdict, scores, and what it assessed."""

    id: str
    generated_dataset_id: str
    passed: bool
    scores: dict[str, Any]
    gates: list[Any]
    created_at: datetime
    subject: str  # "1,000 rows of adult (ctgan) v1 ..."
    object_key: str | None

    @property
    def label(self) -> str:
        verdict = "passed" if self.passed else "blocked"
        unsure = [g for g in self.gates if isinstance(g, dict) and g.get("status") == "inconclusive"]
        if self.passed and unsure:  # never blocks, but says so: too few rows to tell
            verdict += f", {len(unsure)} gate(s) inconclusive"
        return f"{self.subject} — {verdict} ({self.created_at:%Y-%m-%d %H:%M})"


@dataclass(frozen=True)
class Download:
    """A file for ``st.download_button``."""

    filename: str
    data: bytes
    mime: str


def _generated_item(session: TenantSession, g: GeneratedDataset, report_ids: list[str]) -> GeneratedItem:
    return GeneratedItem(
        id=g.id, model_version_id=g.model_version_id, source_label=catalog.version_label(session, g.model_version_id),
        n_rows=g.n_rows, params=dict(g.params or {}), n_bytes=g.n_bytes, created_at=g.created_at,
        object_key=g.object_key, report_ids=report_ids,
    )


def list_generated(tenant: str, *, actor: Actor, model_version_id: str | None = None) -> list[GeneratedItem]:
    """The workspace's generated datasets, newest first (of one model version when given)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        statement = select(GeneratedDataset).where(GeneratedDataset.tenant_id == tenant)
        if model_version_id is not None:
            statement = statement.where(GeneratedDataset.model_version_id == model_version_id)
        generated = session.scalars(statement.order_by(GeneratedDataset.created_at.desc())).all()
        reports = session.execute(
            select(QualityReport.generated_dataset_id, QualityReport.id).where(QualityReport.tenant_id == tenant)
            .order_by(QualityReport.created_at.desc())
        ).all()
        by_generated: dict[str, list[str]] = {}
        for generated_id, report_id in reports:
            by_generated.setdefault(generated_id, []).append(report_id)
        return [_generated_item(session, g, by_generated.get(g.id, [])) for g in generated]


def get_generated(tenant: str, *, generated_dataset_id: str, actor: Actor) -> GeneratedItem:
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        g = catalog.get_generated_dataset(session, generated_dataset_id)
        report_ids = list(session.scalars(select(QualityReport.id).where(
            QualityReport.tenant_id == tenant, QualityReport.generated_dataset_id == g.id)))
        return _generated_item(session, g, report_ids)


def _read_generated(tenant: str, item: GeneratedItem) -> pl.DataFrame:
    if not item.object_key:
        raise InputError("this generated dataset has no stored rows")
    data = open_tenant_store(tenant).get_bytes(item.object_key)
    return engine.read(data, name=item.object_key.rsplit("/", 1)[-1])


def preview_generated(tenant: str, *, generated_dataset_id: str, actor: Actor, rows: int = 20) -> pl.DataFrame:
    """The first ``rows`` rows of a generated dataset."""
    item = get_generated(tenant, generated_dataset_id=generated_dataset_id, actor=actor)
    return _read_generated(tenant, item).head(rows)


def download_generated(tenant: str, *, generated_dataset_id: str, actor: Actor) -> Download:
    """The generated dataset as a file in the format it was generated in (CSV neutralised)."""
    item = get_generated(tenant, generated_dataset_id=generated_dataset_id, actor=actor)
    name = f"synthetic-{item.source_label}-{item.id[:8]}.{item.format}".replace(" ", "_").replace("(", "").replace(")", "")
    if item.format == "csv":
        from infra.exports import csv_bytes

        return Download(name, csv_bytes(_read_generated(tenant, item)), MIME_TYPES["csv"])
    if not item.object_key:
        raise InputError("this generated dataset has no stored rows")
    return Download(name, open_tenant_store(tenant).get_bytes(item.object_key),
                    MIME_TYPES.get(item.format, "application/octet-stream"))


def _report_item(session: TenantSession, report: QualityReport) -> ReportItem:
    try:
        generated = catalog.get_generated_dataset(session, report.generated_dataset_id)
        subject = f"{generated.n_rows:,} rows of {catalog.version_label(session, generated.model_version_id)}"
    except Exception:  # noqa: BLE001 - a report must stay listable
        subject = "generated data"
    return ReportItem(id=report.id, generated_dataset_id=report.generated_dataset_id, passed=report.passed,
                      scores=dict(report.scores or {}), gates=list(report.gates or []), created_at=report.created_at,
                      subject=subject, object_key=report.object_key)


def list_reports(tenant: str, *, actor: Actor) -> list[ReportItem]:
    """The workspace's quality reports, newest first."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "report.view")
        reports = session.scalars(select(QualityReport).where(QualityReport.tenant_id == tenant)
                                  .order_by(QualityReport.created_at.desc())).all()
        return [_report_item(session, r) for r in reports]


def report_document(tenant: str, *, report_id: str, actor: Actor | None) -> dict[str, Any]:
    """The full stored report (``QualityReport.to_dict()`` form) of ``report_id``.

    ``actor=None`` is for the holder of a share link, whose token was checked by the caller
    (``auth.share_links.resolve_share_link``) and names exactly this report and tenant.
    """
    with tenant_session(tenant) as session:
        if actor is not None:
            require_permission(session, actor, "report.view")
        report = catalog.get_quality_report(session, report_id)
        key, scores, gates, passed = report.object_key, report.scores, report.gates, report.passed
    if not key:  # recorded without a stored document: what the catalog holds
        return {"passed": passed, "scores": scores, "gates": gates, "recommendations": []}
    return json.loads(open_tenant_store(tenant).get_bytes(key))


def report_html(document: dict[str, Any]) -> str:
    """The standalone HTML page of a stored report (the same renderer as ``report.to_html``)."""
    return engine.QualityReport.from_dict(document).to_html()


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Scores and gate values of two report documents side by side, with the difference a - b."""
    rows: list[dict[str, Any]] = []
    for key in ("overall", "fidelity", "utility", "privacy"):
        left, right = (a.get("scores") or {}).get(key), (b.get("scores") or {}).get(key)
        rows.append({"measure": f"{key} score", "first": left, "second": right,
                     "difference": None if left is None or right is None else left - right})
    gates_b = {g.get("name"): g for g in b.get("gates") or []}
    for gate in a.get("gates") or []:
        other = gates_b.get(gate.get("name"), {})
        left, right = gate.get("value"), other.get("value")
        rows.append({"measure": f"gate {gate.get('name')} ({gate.get('status')} / {other.get('status', '—')})",
                     "first": left, "second": right,
                     "difference": None if left is None or right is None else left - right})
    return rows


__all__ = [
    "Download",
    "GeneratedItem",
    "ReportItem",
    "compare_reports",
    "download_generated",
    "get_generated",
    "list_generated",
    "list_reports",
    "preview_generated",
    "report_document",
    "report_html",
]
