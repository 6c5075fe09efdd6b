"""What the workspace made: generated datasets (preview, download) and quality reports (read, compare).

Read models over ``catalog`` and the object store, each behind the role check of its action.
A report's stored JSON (``report.to_json()``, written by the assessment worker) is the one
source of what the Quality page, the HTML download and the shared view show, so they agree.

CSV downloads go through ``infra.exports.csv_bytes``: synthetic data copies the real data's
values, and a text cell that starts like a spreadsheet formula must not run on the machine of
whoever opens the file.

A generated schema (related tables, ``params["kind"] == "tables"``) is one zip of a file per
table: ``preview_tables`` shows each table, ``download_generated`` offers the zip (its CSV
files neutralised one by one); a schema written to S3 is listed with where it went. A schema's
report is a ``SchemaReport`` document (``is_schema_document``): ``report_html`` renders it with
``engine.quality.schema_html``, and ``compare_reports`` compares two schema reports (their
schema gates and each table's scores) but refuses a schema report against a table's.
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

MIME_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "ndjson": "application/x-ndjson",
              "zip": "application/zip"}
SCHEMA_KIND = "tables"  # GeneratedDataset.params["kind"] of a generated schema


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
    def is_schema(self) -> bool:
        """Whether this is a generated schema (one file per table) rather than one table."""
        return self.params.get("kind") == SCHEMA_KIND

    @property
    def tables(self) -> dict[str, int]:
        """A generated schema's rows per table (empty for one table)."""
        return {str(k): int(v) for k, v in (self.params.get("tables") or {}).items()} if self.is_schema else {}

    @property
    def destination(self) -> str | None:
        """The S3 folder a schema was written to instead of the store; None when it is stored here."""
        return self.params.get("destination") or None

    @property
    def label(self) -> str:
        if self.is_schema:
            where = f" to {self.destination}" if self.destination else ""
            return (f"{self.n_rows:,} rows in {len(self.tables)} tables of {self.source_label}{where} "
                    f"({self.created_at:%Y-%m-%d %H:%M})")
        if self.params.get("kind") == "sequences":  # histories (workers.sequence_generation)
            where = f" to {self.destination}" if self.destination else ""
            cond = f" where {self.conditions}" if self.conditions else ""
            return (f"{int(self.params.get('entities') or 0):,} histories ({self.n_rows:,} steps) of "
                    f"{self.source_label}{cond}{where} ({self.created_at:%Y-%m-%d %H:%M})")
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
    kind: str = "table"  # "tables" for a schema's report

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
    """The first ``rows`` rows of a generated dataset (of one table; a schema's: ``preview_tables``)."""
    item = get_generated(tenant, generated_dataset_id=generated_dataset_id, actor=actor)
    if item.is_schema:
        raise InputError("this generated dataset is a schema of several tables: preview it table by table")
    return _read_generated(tenant, item).head(rows)


def _read_tables(tenant: str, item: GeneratedItem) -> dict[str, pl.DataFrame]:
    if not item.object_key:
        where = f" it was written to {item.destination}" if item.destination else ""
        raise InputError(f"this generated schema is not stored in the workspace:{where or ' it has no stored rows'}")
    return engine.read_tables(open_tenant_store(tenant).get_bytes(item.object_key))


def preview_tables(tenant: str, *, generated_dataset_id: str, actor: Actor, rows: int = 20) -> dict[str, pl.DataFrame]:
    """The first ``rows`` rows of each table of a generated schema, in the schema's table order."""
    item = get_generated(tenant, generated_dataset_id=generated_dataset_id, actor=actor)
    if not item.is_schema:
        raise InputError("this generated dataset is one table, not a schema: preview its rows instead")
    tables = _read_tables(tenant, item)
    order = [name for name in item.tables if name in tables] + [name for name in tables if name not in item.tables]
    return {name: tables[name].head(rows) for name in order}


def _schema_download(tenant: str, item: GeneratedItem, stem: str) -> Download:
    """The stored zip of a schema; a CSV zip is rebuilt with every table neutralised (``infra.exports``)."""
    if not item.object_key:
        _read_tables(tenant, item)  # raises: where it went instead
    data = open_tenant_store(tenant).get_bytes(str(item.object_key))
    if item.format == "csv":
        import io
        import zipfile

        from infra.exports import csv_bytes

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, frame in engine.read_tables(data).items():
                archive.writestr(f"{name}.csv", csv_bytes(frame))
        data = buffer.getvalue()
    return Download(f"{stem}-{item.format}.zip", data, MIME_TYPES["zip"])


def download_generated(tenant: str, *, generated_dataset_id: str, actor: Actor) -> Download:
    """The generated dataset as a file in the format it was generated in (CSV neutralised); a schema as a zip."""
    item = get_generated(tenant, generated_dataset_id=generated_dataset_id, actor=actor)
    stem = f"synthetic-{item.source_label}-{item.id[:8]}".replace(" ", "_").replace("(", "").replace(")", "")
    if item.is_schema:
        return _schema_download(tenant, item, stem)
    name = f"{stem}.{item.format}"
    if item.format == "csv":
        from infra.exports import csv_bytes

        return Download(name, csv_bytes(_read_generated(tenant, item)), MIME_TYPES["csv"])
    if not item.object_key:
        raise InputError("this generated dataset has no stored rows")
    return Download(name, open_tenant_store(tenant).get_bytes(item.object_key),
                    MIME_TYPES.get(item.format, "application/octet-stream"))


def _report_item(session: TenantSession, report: QualityReport) -> ReportItem:
    kind = "table"
    try:
        generated = catalog.get_generated_dataset(session, report.generated_dataset_id)
        label = catalog.version_label(session, generated.model_version_id)
        if (generated.params or {}).get("kind") == SCHEMA_KIND:
            kind = SCHEMA_KIND
            subject = f"{generated.n_rows:,} rows in {len(generated.params.get('tables') or {})} tables of {label}"
        elif (generated.params or {}).get("kind") == "sequences":  # generated histories
            kind = "sequences"
            subject = f"{generated.params.get('entities', 0):,} histories ({generated.n_rows:,} steps) of {label}"
        else:
            subject = f"{generated.n_rows:,} rows of {label}"
    except Exception:  # noqa: BLE001 - a report must stay listable
        subject = "generated data"
    return ReportItem(id=report.id, generated_dataset_id=report.generated_dataset_id, passed=report.passed,
                      scores=dict(report.scores or {}), gates=list(report.gates or []), created_at=report.created_at,
                      subject=subject, object_key=report.object_key, kind=kind)


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


def is_schema_document(document: dict[str, Any]) -> bool:
    """Whether a stored report document is a schema's (``SchemaReport.to_dict()``) rather than a table's."""
    from engine.quality.schema_report import SCHEMA_REPORT

    return isinstance(document, dict) and document.get("schema") == SCHEMA_REPORT


def is_sequence_document(document: dict[str, Any]) -> bool:
    """Whether a stored report document is a sequence report (``SequenceReport.to_dict()``)."""
    from engine.quality.sequences.report import SEQUENCE_REPORT

    return isinstance(document, dict) and document.get("schema") == SEQUENCE_REPORT


def report_html(document: dict[str, Any]) -> str:
    """The standalone HTML page of a stored report (the same renderer as ``report.to_html``; a schema's:
    ``engine.quality.schema_html``)."""
    if is_sequence_document(document):
        from engine.quality.sequences.html import render_sequence_html
        from engine.quality.sequences.report import SequenceReport

        SequenceReport.from_dict(document)  # refuses a damaged or newer document
        return render_sequence_html(document)
    if is_schema_document(document):
        from engine.quality.schema_html import render_schema_html

        engine.SchemaReport.from_dict(document)  # refuses a damaged or newer document, as for a table's
        return render_schema_html(document)
    return engine.QualityReport.from_dict(document).to_html()


def _difference(left: Any, right: Any) -> float | None:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    return left - right if numbers else None


def _compare_gates(a: list[Any], b: list[Any], prefix: str = "") -> list[dict[str, Any]]:
    rows = []
    gates_b = {g.get("name"): g for g in b or [] if isinstance(g, dict)}
    for gate in a or []:
        if not isinstance(gate, dict):
            continue
        other = gates_b.get(gate.get("name"), {})
        left, right = gate.get("value"), other.get("value")
        rows.append({"measure": f"{prefix}gate {gate.get('name')} ({gate.get('status')} / {other.get('status', '—')})",
                     "first": left, "second": right, "difference": _difference(left, right)})
    return rows


def compare_schema_reports(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Two schema reports side by side: the figures across tables, the schema gates, then each table
    both hold (its scores and gates)."""
    def headline(document: dict[str, Any]) -> dict[str, Any]:
        cross = document.get("cross") or {}
        return {"cardinality shape similarity": cross.get("cardinality_shape_similarity"),
                "inter-table trends": (cross.get("intertable_trends") or {}).get("score"),
                "child aggregates": (cross.get("child_aggregates") or {}).get("score")}

    first, second = headline(a), headline(b)
    rows = [{"measure": measure, "first": first[measure], "second": second[measure],
             "difference": _difference(first[measure], second[measure])} for measure in first]
    rows += _compare_gates(a.get("gates") or [], b.get("gates") or [], prefix="schema ")
    tables_b = b.get("tables") or {}
    for name, table in (a.get("tables") or {}).items():
        other = tables_b.get(name)
        if other is None:
            continue
        for key in ("overall", "fidelity", "utility", "privacy"):
            left, right = (table.get("scores") or {}).get(key), (other.get("scores") or {}).get(key)
            rows.append({"measure": f"table {name}: {key} score", "first": left, "second": right,
                         "difference": _difference(left, right)})
        rows += _compare_gates(table.get("gates") or [], other.get("gates") or [], prefix=f"table {name}: ")
    return rows


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Scores and gate values of two report documents side by side, with the difference a - b.

    Two schema reports compare their figures across tables, their schema gates and each table
    they share; a schema report and a table's report measure different things and are refused
    (``InputError``).
    """
    if is_sequence_document(a) or is_sequence_document(b):
        if not (is_sequence_document(a) and is_sequence_document(b)):
            raise InputError("a report of histories and a report of one table or a schema measure different "
                             "things and cannot be compared; compare two reports of histories")
        return _compare_flat(a, b, [k for k in (a.get("scores") or {}) if k in (b.get("scores") or {})])
    if is_schema_document(a) or is_schema_document(b):
        if not (is_schema_document(a) and is_schema_document(b)):
            raise InputError("a schema's report (related tables) and a single table's report measure different "
                             "things and cannot be compared; compare two schema reports, or two table reports")
        return compare_schema_reports(a, b)
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


def _compare_flat(a: dict[str, Any], b: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    """The named scores and the gates of two reports side by side (two sequence reports)."""
    rows = [{"measure": key, "first": (a.get("scores") or {}).get(key), "second": (b.get("scores") or {}).get(key),
             "difference": _difference((a.get("scores") or {}).get(key), (b.get("scores") or {}).get(key))}
            for key in keys]
    return rows + _compare_gates(a.get("gates") or [], b.get("gates") or [])


__all__ = [
    "Download",
    "GeneratedItem",
    "ReportItem",
    "compare_reports",
    "download_generated",
    "get_generated",
    "list_generated",
    "list_reports",
    "compare_schema_reports",
    "is_schema_document",
    "is_sequence_document",
    "preview_generated",
    "preview_tables",
    "report_document",
    "report_html",
]
