"""Signed share links: a read-only, expiring, revocable capability for one quality report.

The token is 256 bits from ``secrets.token_urlsafe`` (43 URL-safe characters): whoever holds
it may read that one report, without logging in, until it expires or is revoked. Only its
SHA-256 is stored (``share_links.token_hash``), with the report, the tenant, the expiry and
the revocation; a database dump therefore holds no usable link.

Resolving a token happens before any tenant is known, while row-level security hides every
tenant's share links. Rather than giving the app a way around RLS, resolution takes two
narrow steps: ``doppel_directory_lookup('share_link', sha256(token))`` — a SECURITY DEFINER
function that answers only that exact hash with the tenant that issued it — then a normal
tenant session for that tenant reads the link row under RLS and checks revocation and
expiry. Without the token one cannot compute the hash, so the function lists nothing to
someone who does not already hold the capability. (A dedicated lookup table with a SELECT
grant would let the app role enumerate every tenant's links and reports; a BYPASSRLS role
would exempt far more than this one question.)

Creating and revoking need the ``member`` role in the session's tenant. Another tenant's
report or link id is "not found", exactly like an id that does not exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.errors import DoppelError
from infra.db.errors import ConfigError
from infra.db.lookup import get_owned
from infra.db.models import QualityReport, ShareLink
from infra.db.session import Database, TenantSession, get_database, tenant_session
from infra.db.types import utcnow
from infra.records.audit import record_event
from infra.records.authz import Actor, require_permission
from infra.records.directory import add_route, tenants_for
from infra.settings import get_settings

TOKEN_BYTES = 32
"""Random bytes per token (256 bits; the issue asks for at least 128)."""

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22,128}")


class ShareLinkError(DoppelError):
    """A share link cannot be opened; the message says why in words for its holder."""


class ShareLinkUnknownError(ShareLinkError):
    """No link has this token (never issued, mistyped or truncated)."""


class ShareLinkExpiredError(ShareLinkError):
    """The link was valid and has expired."""


class ShareLinkRevokedError(ShareLinkError):
    """The link was revoked by the workspace that issued it."""


@dataclass(frozen=True)
class SharedReport:
    """What a valid token opens: one report of one tenant, until ``expires_at``."""

    tenant: str
    report_id: str
    link_id: str
    expires_at: datetime


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_share_link(
    session: TenantSession,
    *,
    report_id: str,
    expires_in: timedelta,
    actor: Actor,
    now: datetime | None = None,
) -> str:
    """Issue a link to report ``report_id`` of the session's tenant; return its token (shown once).

    ``expires_in`` must be positive and at most ``DOPPEL_SHARE_LINK_MAX_EXPIRY_S`` (30 days).
    """
    require_permission(session, actor, "share_link.create")
    longest = timedelta(seconds=get_settings().share_link_max_expiry_s)
    if not isinstance(expires_in, timedelta) or expires_in <= timedelta(0):
        raise ConfigError("a share link must expire in the future: give expires_in as a positive timedelta")
    if expires_in > longest:
        raise ConfigError(f"a share link may last at most {longest.days} days (DOPPEL_SHARE_LINK_MAX_EXPIRY_S)")
    report = get_owned(session, QualityReport, report_id, what="quality report")
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink(tenant_id=session.tenant, report_id=report.id, token_hash=hash_token(token),
                     created_by=actor.label, created_at=now, expires_at=now + expires_in)
    session.add(link)
    session.flush()
    add_route(session, kind="share_link", key=link.token_hash)
    record_event(session, actor=actor.label, action="share_link.created", object_type="share_link",
                 object_id=link.id, details={"report_id": report.id, "expires_at": link.expires_at.isoformat()})
    return token


def resolve_share_link(token: str, *, database: Database | None = None, now: datetime | None = None) -> SharedReport:
    """The report a token opens; ``ShareLinkUnknownError`` / ``ExpiredError`` / ``RevokedError`` otherwise.

    Needs no tenant and no login: the token is the capability (see the module docstring).
    """
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise ShareLinkUnknownError(_UNKNOWN)
    database = database or get_database()
    digest = hash_token(token)
    for tenant in tenants_for("share_link", digest, database=database):
        with tenant_session(tenant, database=database) as session:
            link = session.scalars(
                select(ShareLink).where(ShareLink.tenant_id == tenant, ShareLink.token_hash == digest)
            ).first()
            if link is None:
                continue
            if link.revoked_at is not None:
                raise ShareLinkRevokedError(
                    "This share link was revoked by the workspace that shared it. Ask them for a new one."
                )
            if link.expires_at <= (now or utcnow()):
                raise ShareLinkExpiredError(
                    f"This share link expired on {link.expires_at:%Y-%m-%d %H:%M} UTC. "
                    "Ask whoever shared it for a new one."
                )
            return SharedReport(tenant=tenant, report_id=link.report_id, link_id=link.id, expires_at=link.expires_at)
    raise ShareLinkUnknownError(_UNKNOWN)


_UNKNOWN = "This share link is not valid. Check that the whole link was copied, or ask for a new one."


def revoke_share_link(
    session: TenantSession, *, link_id: str, actor: Actor, now: datetime | None = None
) -> ShareLink:
    """Revoke a link of the session's tenant (idempotent); the token stops working at once."""
    require_permission(session, actor, "share_link.revoke")
    link = get_owned(session, ShareLink, link_id, what="share link")
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = now or utcnow(), actor.label
        session.flush()
        record_event(session, actor=actor.label, action="share_link.revoked", object_type="share_link",
                     object_id=link.id, details={"report_id": link.report_id})
    return link


def list_share_links(session: TenantSession, *, actor: Actor, report_id: str | None = None) -> list[ShareLink]:
    """The session tenant's links (for one report when given), newest first."""
    require_permission(session, actor, "report.view")
    statement = select(ShareLink).where(ShareLink.tenant_id == session.tenant)
    if report_id is not None:
        statement = statement.where(ShareLink.report_id == report_id)
    return list(session.scalars(statement.order_by(ShareLink.created_at.desc())))
