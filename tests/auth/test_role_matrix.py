"""Roles are enforced in the services, on SQLite and on PostgreSQL with row-level security.

The matrix below is the specification: owner > admin > member > viewer; a viewer reads, a
member makes data, models, jobs and share links, an admin runs the tenant (members, budgets,
gates, quotas), an owner also makes owners. Roles are read in the session's tenant, so an
admin of A is nobody in B.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.share_links import create_share_link
from infra.cache import MemoryCache
from infra.db import ConflictError, NotFoundError, tenant_session
from infra.records import invitations, members, tenancy
from infra.records.authz import PERMISSIONS, Actor, PermissionDeniedError, require_permission, require_role
from infra.records.rate_limits import RateLimit, RateLimitExceededError, admit_generation_request

ROLES = ("owner", "admin", "member", "viewer")

#                       owner  admin  member viewer
MATRIX = {
    "report.view":        (1,    1,     1,     1),
    "job.view":           (1,    1,     1,     1),
    "data.view":          (1,    1,     1,     1),
    "data.upload":        (1,    1,     1,     0),
    "data.delete":        (1,    1,     1,     0),
    "job.start":          (1,    1,     1,     0),
    "job.cancel":         (1,    1,     1,     0),
    "generation.request": (1,    1,     1,     0),
    "share_link.create":  (1,    1,     1,     0),
    "share_link.revoke":  (1,    1,     1,     0),
    "budget.change":      (1,    1,     0,     0),
    "gate.change":        (1,    1,     0,     0),
    "quota.change":       (1,    1,     0,     0),
    "member.manage":      (1,    1,     0,     0),
    "invitation.manage":  (1,    1,     0,     0),
    "webhook.manage":     (1,    1,     0,     0),
    "owner.manage":       (1,    0,     0,     0),
    "tier.change":        (1,    0,     0,     0),
}


def outcome(database, tenant: str, actor: Actor, permission: str) -> int:
    try:
        with tenant_session(tenant, database=database) as s:
            require_permission(s, actor, permission)
    except PermissionDeniedError:
        return 0
    return 1


def test_the_matrix_covers_every_guarded_action():
    assert set(MATRIX) == set(PERMISSIONS)


def test_each_role_may_do_exactly_what_the_matrix_says(db, two_tenants):
    a, _ = two_tenants
    found = {
        permission: tuple(outcome(db, a.name, a.actors[role], permission) for role in ROLES)
        for permission in MATRIX
    }
    assert found == MATRIX


def test_an_admin_of_one_tenant_is_nobody_in_another(db, two_tenants):
    a, b = two_tenants
    for permission in ("report.view", "job.start", "member.manage", "quota.change"):
        assert outcome(db, b.name, a.actors["admin"], permission) == 0, permission
        assert outcome(db, b.name, a.actors["owner"], permission) == 0, permission


def test_the_refusal_names_the_role_needed(db, two_tenants):
    a, b = two_tenants
    with pytest.raises(PermissionDeniedError, match="your role here is viewer; to start a job you need the member role"):
        with tenant_session(a.name, database=db) as s:
            require_permission(s, a.actors["viewer"], "job.start")
    with pytest.raises(PermissionDeniedError, match="not a member of this workspace"):
        with tenant_session(b.name, database=db) as s:
            require_role(s, a.actors["owner"], at_least="viewer")


def test_a_member_cannot_change_roles_or_invite(db, two_tenants):
    a, _ = two_tenants
    with pytest.raises(PermissionDeniedError, match="manage members"):
        with tenant_session(a.name, database=db) as s:
            members.change_role(s, user_id=a.actors["viewer"].user_id, role="admin", actor=a.actors["member"])
    with pytest.raises(PermissionDeniedError, match="invite people"):
        with tenant_session(a.name, database=db) as s:
            invitations.invite(s, email="new@a.test", role="member", actor=a.actors["member"])


def test_an_admin_manages_members_but_cannot_make_an_owner(db, two_tenants):
    a, _ = two_tenants
    with tenant_session(a.name, database=db) as s:
        members.change_role(s, user_id=a.actors["viewer"].user_id, role="member", actor=a.actors["admin"])
        assert tenancy.role_of(s, user_id=a.actors["viewer"].user_id) == "member"
    with pytest.raises(PermissionDeniedError, match="make or remove owners"):
        with tenant_session(a.name, database=db) as s:
            members.change_role(s, user_id=a.actors["member"].user_id, role="owner", actor=a.actors["admin"])
    with pytest.raises(PermissionDeniedError, match="make or remove owners"):
        with tenant_session(a.name, database=db) as s:
            invitations.invite(s, email="boss@a.test", role="owner", actor=a.actors["admin"])


def test_the_last_owner_cannot_be_demoted_or_removed(db, two_tenants):
    a, _ = two_tenants
    owner = a.actors["owner"]
    with pytest.raises(ConflictError, match="last owner"):
        with tenant_session(a.name, database=db) as s:
            members.change_role(s, user_id=owner.user_id, role="admin", actor=owner)
    with pytest.raises(ConflictError, match="last owner"):
        with tenant_session(a.name, database=db) as s:
            members.remove_member(s, user_id=owner.user_id, actor=owner)


def test_an_admin_of_a_cannot_change_a_member_of_b(db, two_tenants):
    a, b = two_tenants
    with pytest.raises(PermissionDeniedError):
        with tenant_session(b.name, database=db) as s:
            members.remove_member(s, user_id=b.actors["member"].user_id, actor=a.actors["admin"])
    with tenant_session(b.name, database=db) as s:
        assert tenancy.role_of(s, user_id=b.actors["member"].user_id) == "member"


def test_a_viewer_cannot_request_generation_and_uses_up_nothing(db, two_tenants):
    a, _ = two_tenants
    cache = MemoryCache(namespace="matrix")
    limit = RateLimit(max_requests=1, window_s=60)
    with pytest.raises(PermissionDeniedError, match="request synthetic data"):
        with tenant_session(a.name, database=db) as s:
            admit_generation_request(s, actor=a.actors["viewer"], limit=limit, cache=cache)
    with tenant_session(a.name, database=db) as s:
        assert admit_generation_request(s, actor=a.actors["member"], limit=limit, cache=cache).used == 1
    with pytest.raises(RateLimitExceededError):
        with tenant_session(a.name, database=db) as s:
            admit_generation_request(s, actor=a.actors["member"], limit=limit, cache=cache)


def test_a_viewer_cannot_create_a_share_link(db, two_tenants):
    a, _ = two_tenants
    with pytest.raises(PermissionDeniedError, match="create a share link"):
        with tenant_session(a.name, database=db) as s:
            create_share_link(s, report_id=a.report_id, expires_in=timedelta(days=1), actor=a.actors["viewer"])


def test_a_removed_member_is_refused_at_once(db, two_tenants):
    a, _ = two_tenants
    with tenant_session(a.name, database=db) as s:
        members.remove_member(s, user_id=a.actors["member"].user_id, actor=a.actors["admin"])
    assert outcome(db, a.name, a.actors["member"], "report.view") == 0
    with pytest.raises(NotFoundError):
        with tenant_session(a.name, database=db) as s:
            members.remove_member(s, user_id=a.actors["member"].user_id, actor=a.actors["admin"])
