"""Completion events: in-app notifications and the tenant's webhooks.

A webhook is signed with HMAC-SHA256 over ``f"{timestamp}.".encode() + body`` using the
webhook's secret (``webhook_signature``); the receiver recomputes it and rejects old
timestamps. Delivery (HTTP, retries) belongs to the workers; this module stores and signs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from engine.errors import UnsafeConnectionError
from engine.outbound import url_port
from infra.db.errors import ConfigError
from infra.db.lookup import get_owned
from infra.db.models import Notification, Webhook
from infra.db.session import TenantSession
from infra.db.types import utcnow
from infra.records.audit import record_event


def notify(
    session: TenantSession,
    *,
    kind: str,
    title: str,
    body: str = "",
    job_id: str | None = None,
    user_id: str | None = None,
) -> Notification:
    """Leave an in-app notification for one user, or for every member when ``user_id`` is None."""
    notification = Notification(tenant_id=session.tenant, kind=kind, title=title[:200], body=body,
                                job_id=job_id, user_id=user_id)
    session.add(notification)
    session.flush()
    return notification


def list_notifications(
    session: TenantSession, *, user_id: str | None = None, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """Newest first: the ones for everyone, plus those for ``user_id`` when given."""
    statement = select(Notification).where(Notification.tenant_id == session.tenant)
    statement = statement.where(
        Notification.user_id.is_(None) if user_id is None
        else (Notification.user_id.is_(None)) | (Notification.user_id == user_id)
    )
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    return list(session.scalars(statement.order_by(Notification.created_at.desc(), Notification.id).limit(limit)))


def mark_read(session: TenantSession, notification_id: str, *, now: datetime | None = None) -> Notification:
    notification = get_owned(session, Notification, notification_id, what="notification")
    notification.read_at = notification.read_at or now or utcnow()
    session.flush()
    return notification


def add_webhook(
    session: TenantSession, *, url: str, actor: str | None, events: list[str] | None = None, secret: str | None = None
) -> Webhook:
    """Register an https (or http) endpoint for ``events`` (empty = all); a secret is generated if not given."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"webhook URL {url!r} must be an absolute http(s) URL")
    try:
        url_port(parts.netloc, purpose="webhook")
    except UnsafeConnectionError as exc:
        raise ConfigError(f"webhook URL {url!r}: {exc}") from None
    webhook = Webhook(tenant_id=session.tenant, url=url, secret=secret or secrets.token_urlsafe(32),
                      events=list(events or []))
    session.add(webhook)
    session.flush()
    record_event(session, actor=actor, action="webhook.added", object_type="webhook", object_id=webhook.id,
                 details={"url": url, "events": webhook.events})
    return webhook


def remove_webhook(session: TenantSession, webhook_id: str, *, actor: str | None) -> None:
    webhook = get_owned(session, Webhook, webhook_id, what="webhook")
    session.delete(webhook)
    record_event(session, actor=actor, action="webhook.removed", object_type="webhook", object_id=webhook_id)
    session.flush()


def webhooks_for(session: TenantSession, *, event: str) -> list[Webhook]:
    """The tenant's active webhooks that want ``event`` (e.g. ``job.succeeded``)."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.tenant_id == session.tenant, Webhook.active.is_(True)).order_by(Webhook.created_at)
    )
    return [h for h in hooks if not h.events or event in h.events]


def webhook_signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` with the webhook's secret."""
    if not secret:
        raise ConfigError("a webhook signature needs a non-empty secret")
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
