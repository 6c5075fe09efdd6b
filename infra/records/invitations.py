"""Invitations: a tenant admin invites an e-mail address with a role; the first login accepts it.

An invitation is one of the three ways into a tenant (with the e-mail-domain and groups
rules of the login configuration, see ``auth.rules``). It is keyed by the lower-cased
address, expires (``DOPPEL_INVITATION_EXPIRY_S``, 14 days by default) and is accepted at the
invitee's next login when the identity provider vouches for that address (a verified
e-mail claim). Inviting an address again renews the invitation with the new role.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from infra.db.errors import ConfigError, NotFoundError
from infra.db.lookup import get_owned
from infra.db.models import Invitation
from infra.db.session import TenantSession
from infra.db.types import utcnow
from infra.records.audit import record_event
from infra.records.authz import Actor, require_known_role, require_permission
from infra.records.directory import add_route, remove_route
from infra.settings import get_settings

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


def normalise_email(email: str) -> str:
    """The address lower-cased and stripped; ``ConfigError`` when it is not an e-mail address."""
    value = str(email or "").strip().lower()
    if not _EMAIL.fullmatch(value) or "." not in value.rsplit("@", 1)[1]:
        raise ConfigError(f"{email!r} is not an e-mail address")
    return value


def invite(
    session: TenantSession,
    *,
    email: str,
    role: str,
    actor: Actor,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> Invitation:
    """Invite ``email`` into the session's tenant with ``role`` (admin or higher; owner to invite an owner)."""
    require_known_role(role)
    require_permission(session, actor, "invitation.manage")
    if role == "owner":
        require_permission(session, actor, "owner.manage")
    address = normalise_email(email)
    lifetime = expires_in or timedelta(seconds=get_settings().invitation_expiry_s)
    if lifetime <= timedelta(0):
        raise ConfigError("an invitation must expire in the future")
    now = now or utcnow()
    invitation = session.scalars(
        select(Invitation).where(Invitation.tenant_id == session.tenant, Invitation.email == address)
    ).first()
    if invitation is None:
        invitation = Invitation(tenant_id=session.tenant, email=address, role=role, invited_by=actor.label,
                                created_at=now, expires_at=now + lifetime)
        session.add(invitation)
    else:
        invitation.role, invitation.invited_by = role, actor.label
        invitation.expires_at, invitation.accepted_at, invitation.accepted_by = now + lifetime, None, None
    session.flush()
    add_route(session, kind="invitation", key=address)
    record_event(session, actor=actor.label, action="invitation.sent", object_type="invitation",
                 object_id=invitation.id, details={"role": role})
    return invitation


def list_invitations(session: TenantSession, *, actor: Actor) -> list[Invitation]:
    """The tenant's invitations, newest first (admin or higher)."""
    require_permission(session, actor, "invitation.manage")
    return list(session.scalars(
        select(Invitation).where(Invitation.tenant_id == session.tenant).order_by(Invitation.created_at.desc())
    ))


def revoke_invitation(session: TenantSession, *, invitation_id: str, actor: Actor) -> None:
    """Withdraw an invitation (admin or higher). Another tenant's id is 'not found', like an unknown one."""
    require_permission(session, actor, "invitation.manage")
    invitation = get_owned(session, Invitation, invitation_id, what="invitation")
    email = invitation.email
    session.delete(invitation)
    session.flush()
    remove_route(session, kind="invitation", key=email)
    record_event(session, actor=actor.label, action="invitation.revoked", object_type="invitation",
                 object_id=invitation_id)


def pending_invitation(session: TenantSession, *, email: str, now: datetime | None = None) -> Invitation | None:
    """The session tenant's open invitation of ``email`` (not accepted, not expired), or None."""
    try:
        address = normalise_email(email)
    except ConfigError:
        return None
    invitation = session.scalars(
        select(Invitation).where(Invitation.tenant_id == session.tenant, Invitation.email == address)
    ).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= (now or utcnow()):
        return None
    return invitation


def mark_accepted(session: TenantSession, *, invitation_id: str, user_id: str, now: datetime | None = None) -> None:
    """Record that ``user_id`` accepted the invitation at login."""
    invitation = get_owned(session, Invitation, invitation_id, what="invitation")
    if invitation.accepted_at is not None:
        raise NotFoundError(f"invitation {invitation_id!r} was already accepted")
    invitation.accepted_at, invitation.accepted_by = now or utcnow(), user_id
    session.flush()
    record_event(session, actor=user_id, action="invitation.accepted", object_type="invitation",
                 object_id=invitation.id)
