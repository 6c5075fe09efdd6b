"""First login provisions the user and membership; later logins find every tenant of the user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from auth.provisioning import ensure_local_user, sign_in
from auth.rules import AccessRules
from infra.db import tenant_session
from infra.db.models import Invitation, User
from infra.records import invitations, members, tenancy
from infra.records.audit import list_events
from infra.records.directory import tenants_for
from infra.tenant_ids import LOCAL_TENANT


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def claims(sub: str, email: str | None = None, **extra) -> dict:
    base = {"iss": "https://idp.test", "sub": sub, "name": sub.title()}
    if email:
        base |= {"email": email, "email_verified": True}
    return base | extra


def rules_for(tenant: str, domain: str, *, role: str = "member") -> AccessRules:
    return AccessRules.from_mapping({
        "tenants": {tenant: {"display_name": tenant.upper()}},
        "domains": [{"domain": domain, "tenant": tenant, "role": role}],
    })


def test_first_login_creates_the_tenant_the_user_and_the_membership(db):
    tenant, domain = unique("acme"), f"{unique('acme')}.example"
    result = sign_in(claims("ana", f"ana@{domain}"), rules=rules_for(tenant, domain), database=db)
    assert [(t.tenant, t.display_name, t.role) for t in result.tenants] == [(tenant, tenant.upper(), "member")]
    with tenant_session(tenant, database=db) as s:
        user = s.scalars(select(User).where(User.subject == "https://idp.test|ana")).one()
        assert user.email == f"ana@{domain}" and user.id == result.user_id
        assert tenancy.role_of(s, user_id=user.id) == "member"
        assert [e.action for e in list_events(s, object_id=user.id)][:1] == ["membership.granted_at_login"]


def test_a_second_login_changes_nothing_and_finds_the_same_user(db):
    tenant, domain = unique("acme"), f"{unique('d')}.example"
    rules = rules_for(tenant, domain)
    first = sign_in(claims("bo", f"bo@{domain}"), rules=rules, database=db)
    again = sign_in(claims("bo", f"bo@{domain}"), rules=rules, database=db)
    assert again == first


def test_a_login_never_lowers_a_role_an_admin_gave(db):
    tenant, domain = unique("acme"), f"{unique('d')}.example"
    rules = rules_for(tenant, domain, role="viewer")
    first = sign_in(claims("cy", f"cy@{domain}"), rules=rules, database=db)
    with tenant_session(tenant, database=db) as s:
        tenancy.set_member(s, user_id=first.user_id, role="admin", actor="test")
    assert sign_in(claims("cy", f"cy@{domain}"), rules=rules, database=db).tenants[0].role == "admin"


def test_a_rule_that_grants_more_raises_the_role(db):
    tenant, domain = unique("acme"), f"{unique('d')}.example"
    sign_in(claims("di", f"di@{domain}"), rules=rules_for(tenant, domain, role="viewer"), database=db)
    raised = sign_in(claims("di", f"di@{domain}"), rules=rules_for(tenant, domain, role="admin"), database=db)
    assert raised.tenants[0].role == "admin"


def test_a_user_matched_by_nothing_gets_no_tenant_and_no_rows(db):
    result = sign_in(claims(unique("nobody"), "x@nowhere.example"), rules=rules_for(unique("t"), "acme.example"), database=db)
    assert result.tenants == () and result.user_id is None


def test_a_group_naming_an_undeclared_tenant_creates_nothing(db):
    ghost = unique("ghost")
    result = sign_in(claims("ed", groups=[f"tenant:{ghost}"]), rules=AccessRules(), database=db)
    assert result.tenants == ()
    with tenant_session(ghost, database=db) as s:
        with pytest.raises(Exception, match="not found"):
            tenancy.get_tenant(s)


def test_groups_admit_to_tenants_that_exist(db, make_tenant):
    existing = make_tenant()
    result = sign_in(claims(unique("fay"), groups=[f"tenant:{existing.name}", "role:viewer"]), rules=AccessRules(), database=db)
    assert [(t.tenant, t.role) for t in result.tenants] == [(existing.name, "viewer")]


def test_a_user_of_two_tenants_gets_both_to_pick_from(db):
    one, two, domain = unique("one"), unique("two"), f"{unique('d')}.example"
    rules = AccessRules.from_mapping({
        "tenants": {one: {}, two: {}},
        "domains": [{"domain": domain, "tenant": one}],
        "emails": [{"email": f"gus@{domain}", "tenant": two, "role": "admin"}],
    })
    result = sign_in(claims("gus", f"gus@{domain}"), rules=rules, database=db)
    assert sorted((t.tenant, t.role) for t in result.tenants) == sorted([(one, "member"), (two, "admin")])


def test_memberships_given_earlier_are_found_without_any_rule(db, make_tenant):
    tenant = make_tenant()
    subject = unique("hal")
    first = sign_in(claims(subject, groups=[f"tenant:{tenant.name}"]), rules=AccessRules(), database=db)
    later = sign_in(claims(subject), rules=AccessRules(), database=db)  # the group was taken away
    assert [t.tenant for t in later.tenants] == [tenant.name] and later.user_id == first.user_id


def test_an_invitation_is_accepted_at_the_first_login_with_its_role(db, make_tenant):
    tenant = make_tenant()
    email = f"{unique('ivy')}@elsewhere.example"
    with tenant_session(tenant.name, database=db) as s:
        invitations.invite(s, email=email.upper(), role="viewer", actor=tenant.actors["admin"])
    result = sign_in(claims(unique("ivy"), email), rules=AccessRules(), database=db)
    assert [(t.tenant, t.role) for t in result.tenants] == [(tenant.name, "viewer")]
    with tenant_session(tenant.name, database=db) as s:
        invitation = s.scalars(select(Invitation).where(Invitation.email == email)).one()
        assert invitation.accepted_by == result.user_id and invitation.accepted_at is not None


def test_an_invitation_needs_a_verified_address(db, make_tenant):
    tenant = make_tenant()
    email = f"{unique('jo')}@elsewhere.example"
    with tenant_session(tenant.name, database=db) as s:
        invitations.invite(s, email=email, role="member", actor=tenant.actors["admin"])
    unverified = claims(unique("jo")) | {"email": email, "email_verified": False}
    assert sign_in(unverified, rules=AccessRules(), database=db).tenants == ()


def test_an_expired_or_revoked_invitation_admits_nobody(db, make_tenant):
    tenant = make_tenant()
    late, gone = f"{unique('late')}@x.example", f"{unique('gone')}@x.example"
    with tenant_session(tenant.name, database=db) as s:
        invitations.invite(s, email=late, role="member", actor=tenant.actors["admin"],
                           now=datetime.now(UTC) - timedelta(days=30), expires_in=timedelta(days=1))
        revoked = invitations.invite(s, email=gone, role="member", actor=tenant.actors["admin"])
        invitations.revoke_invitation(s, invitation_id=revoked.id, actor=tenant.actors["admin"])
    assert sign_in(claims(unique("l"), late), rules=AccessRules(), database=db).tenants == ()
    assert sign_in(claims(unique("g"), gone), rules=AccessRules(), database=db).tenants == ()


def test_a_removed_member_no_longer_gets_the_tenant(db, make_tenant):
    tenant = make_tenant()
    subject = unique("kim")
    signed = sign_in(claims(subject, groups=[f"tenant:{tenant.name}"]), rules=AccessRules(), database=db)
    with tenant_session(tenant.name, database=db) as s:
        members.remove_member(s, user_id=signed.user_id, actor=tenant.actors["admin"])
    assert sign_in(claims(subject), rules=AccessRules(), database=db).tenants == ()
    assert tenants_for("member", signed.user_id, database=db) == []


def test_local_mode_has_one_owner_in_the_local_tenant(db):
    actor = ensure_local_user(db)
    assert ensure_local_user(db) == actor
    with tenant_session(LOCAL_TENANT, database=db) as s:
        assert tenancy.role_of(s, user_id=actor.user_id) == "owner"
