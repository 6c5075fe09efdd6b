"""Use cases of share links, tenant first: what the Quality page (and any other caller) calls.

    token = share_report("acme", report_id=r.id, expires_in=timedelta(days=7), actor=user)
    links = report_links("acme", report_id=r.id, actor=user)
    revoke_report_link("acme", link_id=links[0].id, actor=user)

Each opens its own tenant transaction around ``auth.share_links``' session-level operations
(role checks, hashing, audit events), so a page never holds a database session, and returns
plain values (``LinkView``), never a row bound to a closed session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auth.share_links import create_share_link, list_share_links, revoke_share_link
from infra.db.models import ShareLink
from infra.db.session import Database, tenant_session
from infra.db.types import utcnow
from infra.records.authz import Actor


@dataclass(frozen=True)
class LinkView:
    """A share link as a page lists it (never its token: only its hash is kept)."""

    id: str
    report_id: str
    created_at: datetime
    expires_at: datetime
    revoked: bool

    @property
    def state(self) -> str:
        """``"active"``, ``"expired"`` or ``"revoked"``."""
        if self.revoked:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "active"


def _view(link: ShareLink) -> LinkView:
    return LinkView(id=link.id, report_id=link.report_id, created_at=link.created_at, expires_at=link.expires_at,
                    revoked=link.revoked_at is not None)


def share_report(tenant: str, *, report_id: str, expires_in: timedelta, actor: Actor,
                 database: Database | None = None) -> str:
    """Issue a link to report ``report_id`` of ``tenant``; returns its token (shown once, stored hashed)."""
    with tenant_session(tenant, database=database) as session:
        return create_share_link(session, report_id=report_id, expires_in=expires_in, actor=actor)


def report_links(tenant: str, *, report_id: str, actor: Actor, database: Database | None = None) -> list[LinkView]:
    """The links to report ``report_id``, newest first."""
    with tenant_session(tenant, database=database) as session:
        return [_view(link) for link in list_share_links(session, actor=actor, report_id=report_id)]


def revoke_report_link(tenant: str, *, link_id: str, actor: Actor, database: Database | None = None) -> LinkView:
    """Revoke link ``link_id`` of ``tenant`` (idempotent); its token stops working at once."""
    with tenant_session(tenant, database=database) as session:
        return _view(revoke_share_link(session, link_id=link_id, actor=actor))


__all__ = ["LinkView", "report_links", "revoke_report_link", "share_report"]
