"""Claims -> tenant and role: the pure mapping of the [access] rules (no database, no browser)."""

from __future__ import annotations

import pytest

from auth.rules import (
    AccessRules,
    AccessRulesError,
    ClaimsError,
    Grant,
    identity_from_claims,
    map_claims,
)

RULES = AccessRules.from_mapping(
    {
        "default_role": "member",
        "tenants": {"acme": {"display_name": "Acme Corp"}},
        "domains": [
            {"domain": "acme.example", "tenant": "acme", "role": "member"},
            {"domain": "globex.example", "tenant": "globex", "role": "viewer", "include_subdomains": True},
        ],
        "emails": [{"email": "CTO@acme.example", "tenant": "acme", "role": "owner"}],
    }
)


def grants(claims: dict, rules: AccessRules = RULES) -> list[Grant]:
    return map_claims(identity_from_claims({"iss": "https://idp.test", "sub": "u1", **claims}, rules=rules), rules)


def as_pairs(found: list[Grant]) -> list[tuple[str, str]]:
    return [(g.tenant, g.role) for g in found]


def test_a_verified_address_at_a_configured_domain_joins_its_tenant():
    assert as_pairs(grants({"email": "ana@acme.example", "email_verified": True})) == [("acme", "member")]


def test_the_domain_match_ignores_case():
    assert as_pairs(grants({"email": "Ana@ACME.example", "email_verified": True})) == [("acme", "member")]


def test_an_unverified_address_matches_no_domain_rule():
    assert grants({"email": "ana@acme.example", "email_verified": False}) == []
    assert grants({"email": "ana@acme.example"}) == []


def test_verification_can_be_waived_for_providers_that_send_no_claim():
    rules = RULES.model_copy(update={"require_verified_email": False})
    assert as_pairs(grants({"email": "ana@acme.example"}, rules)) == [("acme", "member")]


def test_a_lookalike_domain_does_not_match():
    assert grants({"email": "eve@acme.example.evil.test", "email_verified": True}) == []
    assert grants({"email": "eve@notacme.example", "email_verified": True}) == []


def test_subdomains_match_only_when_the_rule_says_so():
    assert as_pairs(grants({"email": "bo@eu.globex.example", "email_verified": True})) == [("globex", "viewer")]
    assert grants({"email": "bo@eu.acme.example", "email_verified": True}) == []


def test_an_address_rule_gives_its_role_and_the_highest_role_wins():
    found = grants({"email": "cto@acme.example", "email_verified": True})
    assert as_pairs(found) == [("acme", "owner")]
    assert found[0].reason == "e-mail address rule"


def test_group_entries_name_tenants_and_a_role_for_them():
    found = grants({"groups": ["tenant:acme", "tenant:initech", "role:admin", "staff"]})
    assert as_pairs(found) == [("acme", "admin"), ("initech", "admin")]


def test_groups_without_a_role_entry_get_the_default_role():
    assert as_pairs(grants({"groups": ["tenant:initech"]})) == [("initech", "member")]


def test_several_role_entries_give_the_highest():
    assert as_pairs(grants({"groups": ["tenant:acme", "role:viewer", "role:admin"]})) == [("acme", "admin")]


def test_groups_may_come_as_one_space_or_comma_separated_string():
    assert as_pairs(grants({"groups": "tenant:acme, role:viewer tenant:initech"})) == [
        ("acme", "viewer"), ("initech", "viewer"),
    ]


def test_group_entries_naming_an_invalid_tenant_or_role_are_ignored():
    found = grants({"groups": ["tenant:../etc", "tenant:Acme", "tenant:", "tenant:ok", "role:root"]})
    assert as_pairs(found) == [("ok", "member")]


def test_a_domain_and_a_group_for_the_same_tenant_merge_to_the_higher_role():
    found = grants({"email": "ana@acme.example", "email_verified": True, "groups": ["tenant:acme", "role:admin"]})
    assert as_pairs(found) == [("acme", "admin")]


def test_the_groups_claim_name_and_prefixes_are_configurable():
    rules = AccessRules.from_mapping({"groups_claim": "roles", "tenant_prefix": "doppel-", "role_prefix": "doppel-role-"})
    identity = identity_from_claims({"sub": "u", "roles": ["doppel-acme", "doppel-role-viewer"]}, rules=rules)
    assert as_pairs(map_claims(identity, rules)) == [("acme", "viewer")]


def test_nothing_matches_an_identity_without_email_or_groups():
    assert grants({}) == []


def test_the_subject_is_scoped_by_the_issuer():
    rules = AccessRules()
    one = identity_from_claims({"iss": "https://a.test", "sub": "42"}, rules=rules)
    two = identity_from_claims({"iss": "https://b.test", "sub": "42"}, rules=rules)
    assert one.subject == "https://a.test|42" and one.subject != two.subject


def test_claims_without_a_subject_are_refused():
    with pytest.raises(ClaimsError, match="subject"):
        identity_from_claims({"email": "a@b.test"}, rules=AccessRules())


def test_no_access_section_admits_nobody():
    rules = AccessRules.from_mapping(None)
    assert map_claims(identity_from_claims({"sub": "x", "email": "a@acme.example", "email_verified": True}, rules=rules), rules) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"domains": [{"domain": "acme.example", "tenant": "acme", "role": "superuser"}]}, "domains.0.role"),
        ({"domains": [{"domain": "acme.example", "tenant": "Acme Corp"}]}, "not a tenant name"),
        ({"domains": [{"domain": "not a domain", "tenant": "acme"}]}, "not a domain name"),
        ({"emails": [{"email": "nobody", "tenant": "acme"}]}, "not an e-mail address"),
        ({"default_role": "god"}, "default_role"),
        ({"tenants": {"Bad Name": {}}}, "not a tenant name"),
        ({"domain": []}, "domain"),  # a typo of "domains" is not silently ignored
    ],
)
def test_malformed_rules_are_refused_naming_the_entry(section, message):
    with pytest.raises(AccessRulesError, match=message):
        AccessRules.from_mapping(section)


def test_without_an_issuer_the_provider_scopes_the_subject():
    rules = AccessRules()
    assert identity_from_claims({"sub": "42"}, rules=rules, provider="okta").subject == "okta|42"
    assert identity_from_claims({"sub": "42"}, rules=rules).subject == "oidc|42"
