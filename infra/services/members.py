"""Members of a tenant: granting a role at login, and the admin's changes, with the role checks.

``grant_at_login`` is what the login calls for a user whose claims or invitation give them a
role: it creates the membership, or raises a lower role to the granted one (it never lowers
one: a demotion is an admin's decision, made here with ``change_role``). ``change_role`` and
``remove_member`` are the admin's actions: they need the ``admin`` role, and the ``owner``
role when an owner is made or unmade; the last owner cannot be demoted or removed.

Every membership is routed in the tenant directory (kind ``member``, key the user id), so
the next login finds the tenant without scanning every tenant.
"""

from __future__ import annotations

from sqlalchemy import func, select

from infra.db.errors import ConflictError, NotFoundError
from infra.db.models import Membership, User
from infra.db.session import TenantSession
from infra.services import tenancy
from infra.services.audit import SYSTEM_ACTOR, record_event
from infra.services.authz import ROLE_RANK, Actor, require_known_role, require_permission
from infra.services.directory import add_route, remove_route


def grant_at_login(session: TenantSession, *, user_id: str, role: str, reason: str) -> str:
    """Make sure ``user_id`` has at least ``role`` in the session's tenant; return the role it has.

    ``reason`` (e.g. ``"domain acme.example"``, ``"invitation"``) goes into the audit log.
    """
    require_known_role(role)
    current = tenancy.role_of(session, user_id=user_id)
    if current is not None and ROLE_RANK[current] >= ROLE_RANK[role]:
        add_route(session, kind="member", key=user_id)
        return current
    tenancy.set_member(session, user_id=user_id, role=role, actor=SYSTEM_ACTOR)
    add_route(session, kind="member", key=user_id)
    record_event(session, actor=SYSTEM_ACTOR, action="membership.granted_at_login", object_type="user",
                 object_id=user_id, details={"from": current, "to": role, "reason": reason})
    return role


def _keep_an_owner(session: TenantSession) -> None:
    """``ConflictError`` when the tenant has one owner (or none): that owner must stay."""
    owners = session.scalar(
        select(func.count()).select_from(Membership).where(
            Membership.tenant_id == session.tenant, Membership.role == "owner"
        )
    ) or 0
    if owners <= 1:
        raise ConflictError("this is the workspace's last owner: make someone else owner first")


def change_role(session: TenantSession, *, user_id: str, role: str, actor: Actor) -> Membership:
    """Give a member another role (admin or higher; owner to make or unmake an owner)."""
    require_known_role(role)
    require_permission(session, actor, "member.manage")
    current = tenancy.role_of(session, user_id=user_id)
    if current is None:
        raise NotFoundError(f"user {user_id!r} is not a member of this workspace")
    if "owner" in (current, role):
        require_permission(session, actor, "owner.manage")
    if current == "owner" and role != "owner":
        _keep_an_owner(session)
    membership = tenancy.set_member(session, user_id=user_id, role=role, actor=actor.label)
    add_route(session, kind="member", key=user_id)
    return membership


def remove_member(session: TenantSession, *, user_id: str, actor: Actor) -> None:
    """Take a member out of the tenant (admin or higher; owner to remove an owner)."""
    require_permission(session, actor, "member.manage")
    current = tenancy.role_of(session, user_id=user_id)
    if current is None:
        raise NotFoundError(f"user {user_id!r} is not a member of this workspace")
    if current == "owner":
        require_permission(session, actor, "owner.manage")
        _keep_an_owner(session)
    tenancy.remove_member(session, user_id=user_id, actor=actor.label)
    remove_route(session, kind="member", key=user_id)


def list_members(session: TenantSession, *, actor: Actor) -> list[tuple[User, str]]:
    """The tenant's members and roles (any member may see who else is in the workspace)."""
    require_permission(session, actor, "report.view")
    return tenancy.list_members(session)
