"""API keys on PostgreSQL with row-level security: shown once, stored hashed, scoped, revocable, tenant-bound."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.errors import ConfigError
from infra.db import tenant_session
from infra.db.errors import NotFoundError
from infra.db.models import ApiKey, AuditEntry
from infra.records import tenancy
from infra.records.authz import Actor, PermissionDeniedError
from infra.records.members import grant_at_login, remove_member
from infra.usecases.api_keys import (
    ApiKeyError,
    authenticate_api_key,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from tests.infra.workspace_support import member_workspace

pytestmark = pytest.mark.services


@dataclass(frozen=True)
class Workspace:
    tenant: str
    member: Actor
    admin: Actor
    viewer: Actor
    other_tenant: str
    other_admin: Actor


def _person(session, role: str, name: str) -> Actor:
    user = tenancy.ensure_user(session, subject=f"test|{session.tenant}|{name}", email=f"{name}@{session.tenant}.test")
    grant_at_login(session, user_id=user.id, role=role, reason="test seed")
    return Actor(user_id=user.id, label=f"{name}@{session.tenant}.test")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with member_workspace("postgresql", tmp_path_factory.mktemp("api-keys"), prefix="keys") as (tenant, member):
        with tenant_session(tenant) as session:
            admin, viewer = _person(session, "admin", "ada"), _person(session, "viewer", "vic")
        other = f"keys-other-{uuid.uuid4().hex[:8]}"
        with tenant_session(other) as session:
            tenancy.ensure_tenant(session, display_name="Other", actor="test")
            other_admin = _person(session, "admin", "otto")
        yield Workspace(tenant, member, admin, viewer, other, other_admin)


def _stored(tenant: str, key_id: str) -> ApiKey:
    with tenant_session(tenant) as session:
        key = session.scalars(select(ApiKey).where(ApiKey.id == key_id)).one()
        session.expunge(key)
        return key


def test_a_new_key_authenticates_as_its_user_with_the_role_read_now(workspace: Workspace) -> None:
    info, token = create_api_key(workspace.tenant, actor=workspace.member, name="ci", scopes=["generate", "read"])
    principal = authenticate_api_key(token)
    assert token.startswith(f"dpk_{workspace.tenant}_{info.id}_")
    assert (principal.tenant, principal.user_id, principal.role, principal.key_id) == (
        workspace.tenant, workspace.member.user_id, "member", info.id)
    assert principal.scopes == ("read", "generate") == info.scopes
    assert principal.label == workspace.member.label


def test_the_secret_is_shown_once_and_only_its_sha256_is_stored(workspace: Workspace) -> None:
    info, token = create_api_key(workspace.tenant, actor=workspace.member, name="once", scopes=["read"])
    secret = token[-43:]  # dpk_<tenant>_<key id>_<43-character secret>
    stored = _stored(workspace.tenant, info.id)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(getattr(stored, column)) for column in ApiKey.__table__.columns.keys())
    listed = next(k for k in list_api_keys(workspace.tenant, actor=workspace.member) if k.id == info.id)
    assert secret not in repr(listed) and not hasattr(listed, "secret_hash")


def test_a_revoked_key_is_refused_with_the_one_message(workspace: Workspace) -> None:
    info, token = create_api_key(workspace.tenant, actor=workspace.member, name="short-lived", scopes=["read"])
    revoke_api_key(workspace.tenant, actor=workspace.member, key_id=info.id)
    with pytest.raises(ApiKeyError, match="^invalid API key$"):
        authenticate_api_key(token)
    listed = next(k for k in list_api_keys(workspace.tenant, actor=workspace.member) if k.id == info.id)
    assert listed.revoked and listed.revoked_at is not None


@pytest.mark.parametrize("token", ["", "dpk_", "not-a-key", "dpk_acme_123_abc",
                                   f"dpk_nobody_{uuid.uuid4()}_{'A' * 43}"])
def test_malformed_and_unknown_tokens_get_the_same_message(token: str) -> None:
    with pytest.raises(ApiKeyError, match="^invalid API key$"):
        authenticate_api_key(token)


def test_a_wrong_secret_for_a_real_key_is_refused(workspace: Workspace) -> None:
    _, token = create_api_key(workspace.tenant, actor=workspace.member, name="guessed", scopes=["read"])
    forged = token[:-43] + ("B" if token[-43] != "B" else "C") + token[-42:]
    with pytest.raises(ApiKeyError, match="^invalid API key$"):
        authenticate_api_key(forged)


def test_scopes_are_checked_and_capped_by_the_role(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="unknown scope.*superuser.*expected any of read, generate, train, admin"):
        create_api_key(workspace.tenant, actor=workspace.member, name="bad", scopes=["superuser"])
    with pytest.raises(ConfigError, match="at least one scope"):
        create_api_key(workspace.tenant, actor=workspace.member, name="bad", scopes=[])
    with pytest.raises(ConfigError, match="role here is viewer.*at most the 'read' scope, not train"):
        create_api_key(workspace.tenant, actor=workspace.viewer, name="bad", scopes=["train"])
    with pytest.raises(ConfigError, match="name of 1 to 100"):
        create_api_key(workspace.tenant, actor=workspace.member, name="  ", scopes=["read"])
    info, _ = create_api_key(workspace.tenant, actor=workspace.admin, name="ops", scopes=["admin"])
    assert info.scopes == ("admin",)


def test_a_demoted_member_s_key_acts_with_the_new_role_and_a_removed_one_s_not_at_all(workspace: Workspace) -> None:
    with tenant_session(workspace.tenant) as session:
        someone = _person(session, "member", f"temp{uuid.uuid4().hex[:6]}")
    _, token = create_api_key(workspace.tenant, actor=someone, name="demote-me", scopes=["train"])
    with tenant_session(workspace.tenant) as session:
        tenancy.set_member(session, user_id=someone.user_id, role="viewer", actor="test")
    assert authenticate_api_key(token).role == "viewer"
    with tenant_session(workspace.tenant) as session:
        remove_member(session, user_id=someone.user_id, actor=workspace.admin)
    with pytest.raises(ApiKeyError):
        authenticate_api_key(token)


def test_members_see_and_revoke_only_their_own_keys_admins_everyone_s(workspace: Workspace) -> None:
    mine, _ = create_api_key(workspace.tenant, actor=workspace.member, name="member-own", scopes=["read"])
    admins, _ = create_api_key(workspace.tenant, actor=workspace.admin, name="admin-own", scopes=["read"])
    assert admins.id not in {k.id for k in list_api_keys(workspace.tenant, actor=workspace.member)}
    assert {mine.id, admins.id} <= {k.id for k in list_api_keys(workspace.tenant, actor=workspace.admin)}
    with pytest.raises(NotFoundError, match=f"API key '{admins.id}' not found"):
        revoke_api_key(workspace.tenant, actor=workspace.member, key_id=admins.id)
    revoke_api_key(workspace.tenant, actor=workspace.admin, key_id=mine.id)
    assert _stored(workspace.tenant, mine.id).revoked_by == workspace.admin.label


def test_another_tenant_s_key_ids_answer_like_made_up_ids(workspace: Workspace) -> None:
    info, token = create_api_key(workspace.tenant, actor=workspace.member, name="ours", scopes=["read"])
    made_up = str(uuid.uuid4())
    for key_id in (info.id, made_up):
        with pytest.raises(NotFoundError, match=f"^API key '{key_id}' not found$"):
            revoke_api_key(workspace.other_tenant, actor=workspace.other_admin, key_id=key_id)
    assert info.id not in {k.id for k in list_api_keys(workspace.other_tenant, actor=workspace.other_admin)}
    with pytest.raises(ApiKeyError):  # the same key id and secret, pointed at the other tenant
        authenticate_api_key(token.replace(f"dpk_{workspace.tenant}_", f"dpk_{workspace.other_tenant}_", 1))
    assert authenticate_api_key(token).tenant == workspace.tenant  # untouched by the attempts


def test_row_level_security_hides_the_keys_from_another_tenant_s_session(workspace: Workspace) -> None:
    info, _ = create_api_key(workspace.tenant, actor=workspace.member, name="hidden", scopes=["read"])
    with tenant_session(workspace.other_tenant) as session:
        from sqlalchemy import text

        seen = session.execute(text("SELECT id FROM api_keys WHERE id = :id"), {"id": info.id}).all()
    assert seen == []


def test_a_stranger_cannot_create_keys_in_a_workspace(workspace: Workspace) -> None:
    with pytest.raises(PermissionDeniedError, match="not a member of this workspace"):
        create_api_key(workspace.tenant, actor=workspace.other_admin, name="intruder", scopes=["read"])


def test_creating_and_revoking_are_in_the_audit_log(workspace: Workspace) -> None:
    info, _ = create_api_key(workspace.tenant, actor=workspace.member, name="audited", scopes=["read"])
    revoke_api_key(workspace.tenant, actor=workspace.member, key_id=info.id)
    revoke_api_key(workspace.tenant, actor=workspace.member, key_id=info.id)  # again: nothing new
    with tenant_session(workspace.tenant) as session:
        events = session.execute(select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.object_id == info.id)
                                 .order_by(AuditEntry.id)).all()
    assert [tuple(e) for e in events] == [("api_key.created", workspace.member.label),
                                          ("api_key.revoked", workspace.member.label)]


def test_last_used_is_written_on_use_at_most_once_a_minute(workspace: Workspace) -> None:
    info, token = create_api_key(workspace.tenant, actor=workspace.member, name="busy", scopes=["read"])
    assert info.last_used_at is None
    authenticate_api_key(token)
    first = _stored(workspace.tenant, info.id).last_used_at
    authenticate_api_key(token)
    assert first is not None and _stored(workspace.tenant, info.id).last_used_at == first
    with tenant_session(workspace.tenant) as session:  # a minute later (moved back rather than waiting)
        key = session.get(ApiKey, info.id)
        key.last_used_at = first - timedelta(minutes=2)
    authenticate_api_key(token)
    assert _stored(workspace.tenant, info.id).last_used_at > first - timedelta(minutes=2)
