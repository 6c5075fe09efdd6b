"""Tenant rows, people and their roles.

A tenant's row is written in a session for that tenant (``tenant_session("acme")``): on
PostgreSQL its row-level-security policy admits no other. Users are global (one person may
belong to several tenants); what a tenant sees of them goes through its memberships. Taking a member out, listing the
members and changing a role under the admin and owner rules are ``infra.records.members``'.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.db.errors import ConfigError, NotFoundError
from infra.db.models import ROLES, TIERS, Membership, Tenant, User
from infra.db.session import TenantSession
from infra.records.audit import record_event


def _require_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}: expected one of {', '.join(TIERS)}")
    return tier


def require_known_role(role: str) -> str:
    """``role`` when it is one of owner, admin, member, viewer; else ``ConfigError``."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def get_tenant(session: TenantSession) -> Tenant:
    """The session's tenant row; ``NotFoundError`` if it was never created."""
    tenant = session.get(Tenant, session.tenant)
    if tenant is None:
        raise NotFoundError(f"tenant {session.tenant!r} not found")
    return tenant


def ensure_tenant(
    session: TenantSession, *, display_name: str | None = None, tier: str = "starter", actor: str | None = None
) -> Tenant:
    """The session's tenant row, created (with ``display_name`` and ``tier``) if missing; idempotent."""
    existing = session.get(Tenant, session.tenant)
    if existing is not None:
        return existing
    tenant = Tenant(id=session.tenant, display_name=display_name or session.tenant, tier=_require_tier(tier))
    try:
        with session.begin_nested():
            session.add(tenant)
    except IntegrityError:  # created by a concurrent transaction
        return get_tenant(session)
    record_event(session, actor=actor, action="tenant.created", object_type="tenant", object_id=tenant.id,
                 details={"tier": tenant.tier})
    return tenant


def set_tier(session: TenantSession, *, tier: str, actor: str | None) -> Tenant:
    """Move the tenant to another tier (which sets its default quotas and job priority)."""
    tenant = get_tenant(session)
    previous, tenant.tier = tenant.tier, _require_tier(tier)
    record_event(session, actor=actor, action="tenant.tier_changed", object_type="tenant", object_id=tenant.id,
                 details={"from": previous, "to": tier})
    session.flush()
    return tenant


def ensure_user(
    session: TenantSession, *, subject: str, email: str | None = None, display_name: str | None = None
) -> User:
    """The user with identity-provider ``subject``, created or refreshed (email, name)."""
    if not subject:
        raise ConfigError("a user needs a non-empty subject (the identity provider's user id)")
    user = session.scalars(select(User).where(User.subject == subject)).first()
    if user is None:
        user = User(subject=subject, email=email, display_name=display_name)
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # first login of the same person in two tabs at once
            user = session.scalars(select(User).where(User.subject == subject)).one()
    else:
        user.email = email if email is not None else user.email
        user.display_name = display_name if display_name is not None else user.display_name
    session.flush()
    return user


def set_member(session: TenantSession, *, user_id: str, role: str, actor: str | None) -> Membership:
    """Give ``user_id`` the ``role`` (owner, admin, member, viewer) in the session's tenant."""
    require_known_role(role)
    if session.get(User, user_id) is None:
        raise NotFoundError(f"user {user_id!r} not found")
    membership = session.get(Membership, (session.tenant, user_id))
    previous = membership.role if membership else None
    if membership is None:
        membership = Membership(tenant_id=session.tenant, user_id=user_id, role=role)
        session.add(membership)
    else:
        membership.role = role
    record_event(session, actor=actor, action="membership.set", object_type="user", object_id=user_id,
                 details={"from": previous, "to": role})
    session.flush()
    return membership


def role_of(session: TenantSession, *, user_id: str) -> str | None:
    """The user's role in the session's tenant, or None when not a member."""
    membership = session.get(Membership, (session.tenant, user_id))
    return membership.role if membership else None
