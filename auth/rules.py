"""The access rules: which tenant, with which role, an identity provider's claims lead to.

Configured in the ``[access]`` table of the secrets file, next to ``[auth]`` (see
``streamlit_config/secrets.toml.example``)::

    [access]
    default_role = "member"          # the role a rule gives when it names none
    groups_claim = "groups"          # the claim that lists group entries
    require_verified_email = true    # e-mail rules and invitations need email_verified = true

    [access.tenants.acme]            # tenants the rules may create at first login
    display_name = "Acme Corp"

    [[access.domains]]               # everyone with an @acme.example address
    domain = "acme.example"
    tenant = "acme"
    role = "member"

    [[access.emails]]                # one person, e.g. the first owner
    email = "ceo@acme.example"
    tenant = "acme"
    role = "owner"

Group entries of the form ``tenant:acme`` admit to a tenant and ``role:admin`` sets the role
in the tenants the groups admit to (the highest when there are several; ``default_role``
when there is none). Invitations by a tenant admin are the third way in (they live in the
database, ``infra.records.invitations``).

Everything here is pure (no database, no Streamlit), so tests reach the mapping directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.records.authz import ROLE_RANK, highest_role

Role = Literal["owner", "admin", "member", "viewer"]

_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class AccessRulesError(ValueError):
    """The ``[access]`` configuration is malformed; the message names the entry."""


def _tenant_name(value: str) -> str:
    if not _TENANT.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a tenant name: 1-63 lowercase letters, digits, '-' or '_', starting alphanumeric"
        )
    return value


TenantName = Annotated[str, AfterValidator(_tenant_name)]
"""A tenant name as the rules may give it (checked by ``_tenant_name``)."""


class DomainRule(BaseModel):
    """Everyone whose verified e-mail address is at ``domain`` joins ``tenant`` as ``role``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str
    tenant: TenantName
    role: Role | None = None
    include_subdomains: bool = False

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower().lstrip("@")
        if not _DOMAIN.fullmatch(value):
            raise ValueError(f"{value!r} is not a domain name (e.g. acme.example)")
        return value


class EmailRule(BaseModel):
    """One verified e-mail address joins ``tenant`` as ``role``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    tenant: TenantName
    role: Role | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if value.count("@") != 1 or not all(value.split("@")):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class TenantDeclaration(BaseModel):
    """A tenant the rules may create at its first member's login."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str | None = None
    tier: Literal["enterprise", "business", "starter"] = "starter"


class AccessRules(BaseModel):
    """The ``[access]`` table, validated. An absent table gives rules that admit nobody."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_role: Role = "member"
    groups_claim: str = "groups"
    tenant_prefix: str = Field(default="tenant:", min_length=1)
    role_prefix: str = Field(default="role:", min_length=1)
    require_verified_email: bool = True
    create_tenants_from_groups: bool = False
    domains: tuple[DomainRule, ...] = ()
    emails: tuple[EmailRule, ...] = ()
    tenants: dict[TenantName, TenantDeclaration] = Field(default_factory=dict)

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any] | None) -> "AccessRules":
        """Rules from a parsed ``[access]`` table (``None``: no rules); ``AccessRulesError`` if malformed."""
        try:
            return cls.model_validate(_plain(section or {}))
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'access'}: {e['msg']}" for e in err.errors()
            )
            raise AccessRulesError(f"the [access] section of the secrets file is invalid: {problems}") from None

    def declares(self, tenant: str) -> bool:
        """Whether ``tenant`` is named by a rule or declared under ``[access.tenants]``."""
        return (
            tenant in self.tenants
            or any(rule.tenant == tenant for rule in self.domains)
            or any(rule.tenant == tenant for rule in self.emails)
        )


def _plain(value: Any) -> Any:
    """Streamlit's AttrDict (and nested ones) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class ClaimsIdentity:
    """What Doppel uses of an identity provider's claims."""

    subject: str  # unique across providers: "<issuer>|<sub>"
    email: str | None
    email_verified: bool | None
    name: str | None
    groups: tuple[str, ...]

    @property
    def domain(self) -> str | None:
        return self.email.rsplit("@", 1)[1] if self.email and "@" in self.email else None


class ClaimsError(ValueError):
    """The claims lack what a login needs (a subject)."""


def identity_from_claims(claims: Mapping[str, Any], *, rules: AccessRules, provider: str | None = None) -> ClaimsIdentity:
    """Read the subject, e-mail, name and groups out of an ID token's claims (``st.user``)."""
    subject = subject_of(claims, provider=provider)
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) and "@" in email else None
    verified = claims.get("email_verified")
    if isinstance(verified, str):
        verified = verified.strip().lower() == "true"
    name = claims.get("name") or claims.get("preferred_username")
    return ClaimsIdentity(
        subject=subject,
        email=email,
        email_verified=verified if isinstance(verified, bool) else None,
        name=str(name) if name else None,
        groups=_groups(claims.get(rules.groups_claim)),
    )


def subject_of(claims: Mapping[str, Any], *, provider: str | None = None) -> str:
    """The user's id across providers, ``"<issuer>|<sub>"``; ``ClaimsError`` when there is no ``sub``."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ClaimsError("the identity provider sent no subject ('sub' claim)")
    return f"{claims.get('iss') or provider or 'oidc'}|{sub}"


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[\s,]+", value) if part)
    if isinstance(value, (list, tuple)):
        return tuple(str(part).strip() for part in value if str(part).strip())
    return ()


def email_trusted(identity: ClaimsIdentity, rules: AccessRules) -> bool:
    """Whether the e-mail address may be used for domain rules, e-mail rules and invitations."""
    if identity.email is None:
        return False
    return identity.email_verified is True or not rules.require_verified_email


@dataclass(frozen=True)
class Grant:
    """One rule's answer: ``tenant`` with ``role``, and why (for the audit log)."""

    tenant: str
    role: str
    reason: str


def map_claims(identity: ClaimsIdentity, rules: AccessRules) -> list[Grant]:
    """The tenants and roles the configured rules give this identity, one grant per tenant.

    When several rules name the same tenant the highest role wins. Group entries naming an
    invalid tenant are ignored. Invitations are not rules: see ``auth.provisioning``.
    """
    grants: list[Grant] = []
    if email_trusted(identity, rules):
        domain = identity.domain or ""
        for rule in rules.domains:
            if domain == rule.domain or (rule.include_subdomains and domain.endswith("." + rule.domain)):
                grants.append(Grant(rule.tenant, rule.role or rules.default_role, f"e-mail domain {rule.domain}"))
        for rule in rules.emails:
            if identity.email == rule.email:
                grants.append(Grant(rule.tenant, rule.role or rules.default_role, "e-mail address rule"))
    role_entries = [g for g in identity.groups if g.startswith(rules.role_prefix)]
    group_role = highest_role([g[len(rules.role_prefix):] for g in role_entries])
    group_tenants = [  # a role entry is never a tenant entry, even when one prefix starts the other
        g[len(rules.tenant_prefix):] for g in identity.groups if g.startswith(rules.tenant_prefix) and g not in role_entries
    ]
    for tenant in group_tenants:
        if _TENANT.fullmatch(tenant):
            grants.append(Grant(tenant, group_role or rules.default_role, f"group {rules.tenant_prefix}{tenant}"))
    return merge_grants(grants)


def merge_grants(grants: list[Grant]) -> list[Grant]:
    """One grant per tenant (the highest role, the first reason for it), in tenant order."""
    best: dict[str, Grant] = {}
    for grant in grants:
        kept = best.get(grant.tenant)
        if kept is None or ROLE_RANK[grant.role] > ROLE_RANK[kept.role]:
            best[grant.tenant] = grant
    return [best[tenant] for tenant in sorted(best)]
