"""Usage metering per tenant and job (CPU and GPU seconds, rows generated, bytes stored).

Records are append-only; totals and a CSV export for a billing system are computed from them.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import func, select

from infra.db.errors import ConfigError
from infra.db.models import USAGE_METRICS, UsageRecord
from infra.db.session import TenantSession
from infra.db.types import utcnow

CSV_COLUMNS = ("tenant_id", "job_id", "metric", "quantity", "recorded_at")


def record_usage(
    session: TenantSession, *, metric: str, quantity: float, job_id: str | None = None, at: datetime | None = None
) -> UsageRecord:
    """Meter ``quantity`` of ``metric`` for the tenant (and the job that used it, if any)."""
    if metric not in USAGE_METRICS:
        raise ConfigError(f"unknown usage metric {metric!r}: expected one of {', '.join(USAGE_METRICS)}")
    if quantity < 0:
        raise ConfigError(f"usage quantity must not be negative, got {quantity}")
    record = UsageRecord(tenant_id=session.tenant, job_id=job_id, metric=metric, quantity=float(quantity),
                         recorded_at=at or utcnow())
    session.add(record)
    session.flush()
    return record


def _window(statement, since: datetime | None, until: datetime | None):  # noqa: ANN001, ANN202
    if since is not None:
        statement = statement.where(UsageRecord.recorded_at >= since)
    if until is not None:
        statement = statement.where(UsageRecord.recorded_at < until)
    return statement


def usage_totals(
    session: TenantSession, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, float]:
    """Total per metric for the tenant in ``[since, until)``; every metric present (0 if unused)."""
    statement = _window(
        select(UsageRecord.metric, func.sum(UsageRecord.quantity))
        .where(UsageRecord.tenant_id == session.tenant)
        .group_by(UsageRecord.metric),
        since,
        until,
    )
    totals = dict.fromkeys(USAGE_METRICS, 0.0)
    totals.update({metric: float(total) for metric, total in session.execute(statement).all()})
    return totals


def export_usage_csv(
    session: TenantSession, *, since: datetime | None = None, until: datetime | None = None
) -> str:
    """The tenant's usage records in ``[since, until)`` as CSV (header ``CSV_COLUMNS``), oldest first."""
    statement = _window(
        select(UsageRecord).where(UsageRecord.tenant_id == session.tenant), since, until
    ).order_by(UsageRecord.recorded_at, UsageRecord.id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in session.scalars(statement):
        writer.writerow([r.tenant_id, r.job_id or "", r.metric, repr(r.quantity), r.recorded_at.isoformat()])
    return out.getvalue()
