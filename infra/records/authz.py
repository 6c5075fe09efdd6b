"""Roles and what they allow, checked inside the records and use cases (not only hidden in pages).

Four roles, each one allowing everything the ones below it allow:

- ``owner``  — everything, including making or removing other owners;
- ``admin``  — members and invitations, budgets, quality gates, quotas, the tenant's settings;
- ``member`` — data, training, generation, assessments, share links;
- ``viewer`` — reading reports (and what they link to), nothing that changes anything.

A record or use case that changes something calls
``require_permission(session, actor, "job.start")`` (or
``require_role(session, actor, at_least="admin")``) first, in the same transaction as the change. The role is read from ``memberships`` *in the session's tenant*: the tenant is
always the session's own (set from the login, never from a request parameter), so an admin
of tenant A holding a session for A has no role at all in tenant B, and on PostgreSQL cannot
even see B's membership rows. A refusal raises ``PermissionDeniedError`` with a message that
names the role needed, never whether the object acted on exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from engine.errors import DoppelError
from infra.db.errors import ConfigError
from infra.db.models import ROLES
from infra.db.session import TenantSession
from infra.records.tenancy import require_known_role, role_of

ROLE_RANK: Final[dict[str, int]] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
"""Higher allows more; every role allows what the lower ones allow."""

assert set(ROLE_RANK) == set(ROLES), "ROLE_RANK must rank exactly the roles of infra.db.models.ROLES"

PERMISSIONS: Final[dict[str, str]] = {
    # reading
    "report.view": "viewer",
    "job.view": "viewer",
    "data.view": "viewer",
    # making things
    "data.upload": "member",
    "data.delete": "member",
    "job.start": "member",
    "job.cancel": "member",
    "generation.request": "member",
    "share_link.create": "member",
    "share_link.revoke": "member",
    # running the tenant
    "budget.change": "admin",
    "gate.change": "admin",
    "quota.change": "admin",
    "member.manage": "admin",
    "invitation.manage": "admin",
    "webhook.manage": "admin",
    # the tenant itself
    "owner.manage": "owner",
    "tier.change": "owner",
}
"""Every action a record or use case guards, and the least role that may do it."""


class PermissionDeniedError(DoppelError, PermissionError):
    """The acting user's role in the session's tenant does not allow the action."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: the user's id (``users.id``) and the label the audit log records."""

    user_id: str
    label: str

    def __str__(self) -> str:
        return self.label


def require_actor(actor: object) -> Actor:
    """``actor`` when it is an ``Actor`` (the signed-in user: id and audit label); ``TypeError`` otherwise.

    The use cases that start work take the ``Actor`` itself, not a bare label, because they
    check the user's role: ``app.identity.current_actor()`` gives it to pages (in single-user
    local mode, the local user, owner of the local tenant).
    """
    if not isinstance(actor, Actor):
        raise TypeError(
            f"actor must be an infra.records.authz.Actor (the signed-in user's id and label), got "
            f"{type(actor).__name__} {actor!r}; pages get it from app.identity.current_actor()"
        )
    return actor


def role_allows(role: str | None, *, at_least: str) -> bool:
    """Whether ``role`` (None: not a member) is ``at_least`` or higher."""
    require_known_role(at_least)
    return role is not None and ROLE_RANK[require_known_role(role)] >= ROLE_RANK[at_least]


def highest_role(roles: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The highest of ``roles`` (unknown names ignored), or None when there is none."""
    known = [role for role in roles if role in ROLE_RANK]
    return max(known, key=ROLE_RANK.__getitem__) if known else None


def permission_role(permission: str) -> str:
    """The least role that may do ``permission`` (a key of ``PERMISSIONS``)."""
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise ConfigError(f"unknown permission {permission!r}: expected one of {', '.join(sorted(PERMISSIONS))}") from None


def _user_id(user: Actor | str) -> str:
    user_id = user.user_id if isinstance(user, Actor) else user
    if not isinstance(user_id, str) or not user_id:
        raise PermissionDeniedError("this action needs a signed-in user")
    return user_id


def require_role(session: TenantSession, user: Actor | str, *, at_least: str, action: str | None = None) -> str:
    """The user's role in the session's tenant when it is ``at_least`` or higher.

    Raises ``PermissionDeniedError`` when the user is not a member of the session's tenant or
    has a lower role. ``action`` (e.g. "start a job") makes the message say what was refused.
    """
    require_known_role(at_least)
    role = role_of(session, user_id=_user_id(user))
    what = action or "do this"
    if role is None:
        raise PermissionDeniedError(f"you are not a member of this workspace, so you cannot {what}")
    if ROLE_RANK[role] < ROLE_RANK[at_least]:
        raise PermissionDeniedError(
            f"your role here is {role}; to {what} you need the {at_least} role or higher — ask an admin"
        )
    return role


def require_permission(session: TenantSession, user: Actor | str, permission: str) -> str:
    """``require_role`` for one named action of ``PERMISSIONS`` (e.g. ``"job.start"``)."""
    return require_role(
        session, user, at_least=permission_role(permission), action=_ACTION_WORDS.get(permission, permission)
    )


_ACTION_WORDS: Final[dict[str, str]] = {
    "report.view": "view reports",
    "job.view": "view jobs",
    "data.view": "view data",
    "data.upload": "upload data",
    "data.delete": "delete data",
    "job.start": "start a job",
    "job.cancel": "cancel a job",
    "generation.request": "request synthetic data",
    "share_link.create": "create a share link",
    "share_link.revoke": "revoke a share link",
    "budget.change": "change privacy budgets",
    "gate.change": "change quality gates",
    "quota.change": "change quotas",
    "member.manage": "manage members",
    "invitation.manage": "invite people",
    "webhook.manage": "manage webhooks",
    "owner.manage": "make or remove owners",
    "tier.change": "change the tier",
}
