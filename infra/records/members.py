"""Members of a tenant: granting a role at login, and the admin's changes, with the role checks.

``grant_at_login`` is what the login calls for a user whose claims or invitation give them a
role: it creates the membership, or raises a lower role to the granted one (it never lowers
one: a demotion is an admin's decision, made here with ``change_role``). ``change_role`` and
``remove_member`` are the admin's actions: they need the ``admin`` role, and the ``owner``
role when an owner is made or unmade; the last owner cannot be demoted or removed.

"A workspace always has an owner" holds under concurrency too: every change that can take an
owner away first locks the tenant's row (``_lock_memberships``), then checks the actor's role
and counts the owners. A second change of the same workspace waits for the first to commit
and then sees its result, so two owners demoting or removing each other at once cannot both
pass the count (on SQLite, the embedded default, writers are serialised by ``BEGIN IMMEDIATE``
already and the lock clause is not rendered). The rule itself lives in ``_keep_an_owner``.

Every membership is routed in the tenant directory (kind ``member``, key the user id), so
the next login finds the tenant without scanning every tenant.
"""

from __future__ import annotations

from sqlalchemy import func, select

from infra.db.errors import ConflictError, NotFoundError
from infra.db.models import Membership, Tenant, User
from infra.db.session import TenantSession
from infra.records import tenancy
from infra.records.audit import SYSTEM_ACTOR, record_event
from infra.records.authz import ROLE_RANK, Actor, require_known_role, require_permission
from infra.records.directory import add_route, remove_route


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


def _lock_memberships(session: TenantSession) -> None:
    """Serialise the changes of the session's tenant's memberships, and forget memberships read before.

    ``SELECT ... FOR UPDATE`` on the tenant's row (PostgreSQL): a concurrent change of the same
    workspace waits here until this transaction ends. Under READ COMMITTED each later statement
    sees what the other committed; the memberships this session loaded earlier are expired so
    that the role checks read them again too. Call it before any role is read.
    """
    session.flush()
    tenant = session.scalars(select(Tenant).where(Tenant.id == session.tenant).with_for_update()).first()
    if tenant is None:
        raise NotFoundError(f"tenant {session.tenant!r} not found")
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Membership):
            session.expire(loaded)


def _keep_an_owner(session: TenantSession, *, losing: str) -> None:
    """``ConflictError`` unless an owner other than ``losing`` remains; call under ``_lock_memberships``."""
    others = session.scalar(
        select(func.count()).select_from(Membership).where(
            Membership.tenant_id == session.tenant, Membership.role == "owner", Membership.user_id != losing
        )
    ) or 0
    if others == 0:
        raise ConflictError("this is the workspace's last owner: make someone else owner first")


def change_role(session: TenantSession, *, user_id: str, role: str, actor: Actor) -> Membership:
    """Give a member another role (admin or higher; owner to make or unmake an owner)."""
    require_known_role(role)
    _lock_memberships(session)
    require_permission(session, actor, "member.manage")
    current = tenancy.role_of(session, user_id=user_id)
    if current is None:
        raise NotFoundError(f"user {user_id!r} is not a member of this workspace")
    if "owner" in (current, role):
        require_permission(session, actor, "owner.manage")
    if current == "owner" and role != "owner":
        _keep_an_owner(session, losing=user_id)
    membership = tenancy.set_member(session, user_id=user_id, role=role, actor=actor.label)
    add_route(session, kind="member", key=user_id)
    return membership


def remove_member(session: TenantSession, *, user_id: str, actor: Actor) -> None:
    """Take a member out of the tenant (admin or higher; owner to remove an owner); also how one leaves."""
    _lock_memberships(session)
    require_permission(session, actor, "member.manage")
    current = tenancy.role_of(session, user_id=user_id)
    if current is None:
        raise NotFoundError(f"user {user_id!r} is not a member of this workspace")
    if current == "owner":
        require_permission(session, actor, "owner.manage")
        _keep_an_owner(session, losing=user_id)
    session.delete(session.get(Membership, (session.tenant, user_id)))
    record_event(session, actor=actor.label, action="membership.removed", object_type="user", object_id=user_id)
    remove_route(session, kind="member", key=user_id)
    session.flush()


def list_members(session: TenantSession, *, actor: Actor) -> list[tuple[User, str]]:
    """The tenant's members and roles, by e-mail then subject (any member may see who else is in it)."""
    require_permission(session, actor, "report.view")
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == session.tenant)
        .order_by(User.email, User.subject)
    ).all()
    return [(user, role) for user, role in rows]
