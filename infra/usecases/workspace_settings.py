"""The Settings page's use cases: the workspace's quotas and usage, its members and their roles.

Quotas come from the tenant's tier with per-tenant overrides (``infra.records.quotas``);
changing them needs the ``quota.change`` permission (admin). Members are managed through
``infra.records.members``, which checks the admin and owner rules (the last owner stays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from infra.db import tenant_session
from infra.records import invitations, members, quotas
from infra.records.authz import Actor, require_permission
from infra.records.tenancy import get_tenant


@dataclass(frozen=True)
class QuotaView:
    """The workspace's tier, its effective limits and what it uses now."""

    tier: str
    max_concurrent_jobs: int
    max_stored_bytes: int
    max_rows_per_generation: int
    active_jobs: int
    stored_bytes: int


@dataclass(frozen=True)
class InvitationView:
    id: str
    email: str
    role: str
    expires_at: datetime
    accepted: bool


@dataclass(frozen=True)
class MemberView:
    user_id: str
    name: str
    email: str | None
    role: str


def quota_view(tenant: str, *, actor: Actor) -> QuotaView:
    with tenant_session(tenant) as session:
        require_permission(session, actor, "report.view")
        policy = quotas.effective_policy(session)
        return QuotaView(
            tier=get_tenant(session).tier, max_concurrent_jobs=policy.max_concurrent_jobs,
            max_stored_bytes=policy.max_stored_bytes, max_rows_per_generation=policy.max_rows_per_generation,
            active_jobs=quotas.active_job_count(session), stored_bytes=quotas.stored_bytes(session),
        )


def set_quotas(
    tenant: str, *, actor: Actor, max_concurrent_jobs: int | None, max_stored_bytes: int | None,
    max_rows_per_generation: int | None,
) -> QuotaView:
    """Override the tier's limits (None: the tier's value again); admin only."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "quota.change")
        quotas.set_quota_overrides(session, actor=actor.label, max_concurrent_jobs=max_concurrent_jobs,
                                   max_stored_bytes=max_stored_bytes, max_rows_per_generation=max_rows_per_generation)
    return quota_view(tenant, actor=actor)


def member_list(tenant: str, *, actor: Actor) -> list[MemberView]:
    with tenant_session(tenant) as session:
        return [
            MemberView(user_id=user.id, name=user.display_name or user.email or user.subject, email=user.email, role=role)
            for user, role in members.list_members(session, actor=actor)
        ]


def change_role(tenant: str, *, user_id: str, role: str, actor: Actor) -> str:
    """Give a member another role (admin; owner to make or unmake an owner); returns the role."""
    with tenant_session(tenant) as session:
        return members.change_role(session, user_id=user_id, role=role, actor=actor).role


def remove_member(tenant: str, *, user_id: str, actor: Actor) -> bool:
    """Take a member out of the workspace (admin; owner for an owner; never the last owner)."""
    with tenant_session(tenant) as session:
        members.remove_member(session, user_id=user_id, actor=actor)
    return True


def invitation_list(tenant: str, *, actor: Actor) -> list[InvitationView]:
    """The workspace's invitations, newest first (admin)."""
    with tenant_session(tenant) as session:
        return [InvitationView(i.id, i.email, i.role, i.expires_at, i.accepted_at is not None)
                for i in invitations.list_invitations(session, actor=actor)]


def invite(tenant: str, *, email: str, role: str, actor: Actor) -> InvitationView:
    """Invite an e-mail address with a role; accepted at that person's first login (admin)."""
    with tenant_session(tenant) as session:
        i = invitations.invite(session, email=email, role=role, actor=actor)
        return InvitationView(i.id, i.email, i.role, i.expires_at, i.accepted_at is not None)


def revoke_invitation(tenant: str, *, invitation_id: str, actor: Actor) -> bool:
    with tenant_session(tenant) as session:
        invitations.revoke_invitation(session, invitation_id=invitation_id, actor=actor)
    return True


__all__ = ["InvitationView", "MemberView", "invitation_list", "invite", "revoke_invitation", "QuotaView", "change_role", "member_list", "quota_view", "remove_member", "set_quotas"]
