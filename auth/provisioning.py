"""From a login's claims to the tenants the user may work in, provisioning on first login.

``sign_in(claims, rules=...)`` is called once per browser session after the identity
provider has vouched for the user (``st.user``). It

1. maps the claims through the access rules (``auth.rules.map_claims``: e-mail domain,
   e-mail address, ``tenant:``/``role:`` groups) and adds the open invitations of the
   verified e-mail address (found through the tenant directory);
2. for each tenant granted: creates the tenant if the rules declare it and it does not exist
   yet, creates or refreshes the user (``tenancy.ensure_user``), and makes sure the user has
   at least the granted role (``members.grant_at_login``; an invitation is marked accepted);
3. returns every tenant the user is a member of — granted now, or earlier (by a rule, an
   invitation or an admin) — with the role read back from that tenant's own session.

An empty ``SignIn.tenants`` means "no access": the gate shows that page and nothing else.
No tenant ever comes from the request: only from the claims, the rules and the database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from auth.rules import AccessRules, Grant, email_trusted, identity_from_claims, map_claims, merge_grants
from infra.db.models import Tenant, User
from infra.db.session import Database, get_database, tenant_session
from infra.records import invitations, tenancy
from infra.records.authz import Actor
from infra.records.directory import tenants_for
from infra.records.members import grant_at_login
from infra.tenant_ids import LOCAL_TENANT

logger = logging.getLogger(__name__)

LOCAL_SUBJECT = "local|local"
"""The subject of the one user of single-user local mode."""


@dataclass(frozen=True)
class TenantAccess:
    """One tenant the user may work in, and the user's role there."""

    tenant: str
    display_name: str
    role: str


@dataclass(frozen=True)
class SignIn:
    """The outcome of a login: who the user is and where they may work (empty: nowhere)."""

    user_id: str | None
    subject: str
    email: str | None
    name: str | None
    tenants: tuple[TenantAccess, ...]

    @property
    def label(self) -> str:
        """How the user is named in the audit log and on screen."""
        return self.email or self.name or self.subject

    def access_to(self, tenant: str) -> TenantAccess | None:
        return next((access for access in self.tenants if access.tenant == tenant), None)


def sign_in(
    claims: Mapping[str, Any],
    *,
    rules: AccessRules,
    provider: str | None = None,
    database: Database | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Provision and resolve the tenants of the user the ``claims`` describe (see the module doc)."""
    database = database or get_database()
    identity = identity_from_claims(claims, rules=rules, provider=provider)
    rule_grants = map_claims(identity, rules)
    invited: dict[str, str] = {}  # tenant -> invitation id
    grants = list(rule_grants)
    if email_trusted(identity, rules) and identity.email:
        for tenant in tenants_for("invitation", identity.email, database=database):
            with tenant_session(tenant, database=database) as session:
                invitation = invitations.pending_invitation(session, email=identity.email, now=now)
                if invitation is not None:
                    invited[tenant] = invitation.id
                    grants.append(Grant(tenant, invitation.role, "invitation"))

    user_id = _find_user_id(database, identity.subject)
    granted: list[str] = []
    for grant in merge_grants(grants):
        with tenant_session(grant.tenant, database=database) as session:
            if session.get(Tenant, grant.tenant) is None:
                declaration = rules.tenants.get(grant.tenant)
                may_create = rules.declares(grant.tenant) or (
                    rules.create_tenants_from_groups and grant.reason.startswith("group ")
                )
                if not may_create:
                    logger.info("login: %s grants unknown tenant %r, ignored", grant.reason, grant.tenant)
                    continue
                tenancy.ensure_tenant(
                    session,
                    display_name=declaration.display_name if declaration else None,
                    tier=declaration.tier if declaration else "starter",
                    actor="login",
                )
            user = tenancy.ensure_user(
                session, subject=identity.subject, email=identity.email, display_name=identity.name
            )
            user_id = user.id
            grant_at_login(session, user_id=user.id, role=grant.role, reason=grant.reason)
            if grant.tenant in invited:
                invitations.mark_accepted(session, invitation_id=invited[grant.tenant], user_id=user.id, now=now)
        granted.append(grant.tenant)

    tenants: list[TenantAccess] = []
    if user_id is not None:
        for tenant in sorted({*granted, *tenants_for("member", user_id, database=database)}):
            access = tenant_access(tenant, user_id=user_id, database=database)
            if access is not None:
                tenants.append(access)
    if not tenants:
        logger.info("login: no tenant for this user (%d rule grants, %d invitations)", len(rule_grants), len(invited))
    return SignIn(
        user_id=user_id, subject=identity.subject, email=identity.email, name=identity.name, tenants=tuple(tenants)
    )


def tenant_access(tenant: str, *, user_id: str, database: Database | None = None) -> TenantAccess | None:
    """The user's role in ``tenant`` now (read in that tenant's session), or None when not a member."""
    with tenant_session(tenant, database=database or get_database()) as session:
        role = tenancy.role_of(session, user_id=user_id)
        if role is None:
            return None
        row = session.get(Tenant, tenant)
        return TenantAccess(tenant=tenant, display_name=row.display_name if row else tenant, role=role)


def _find_user_id(database: Database, subject: str) -> str | None:
    # ``users`` is the one global table (no tenant, no row-level security).
    with database.engine.connect() as connection:
        return connection.execute(select(User.id).where(User.subject == subject)).scalar_one_or_none()


def ensure_local_user(database: Database | None = None) -> Actor:
    """The one user of single-user local mode: owner of the local tenant, created on first use."""
    database = database or get_database()
    with tenant_session(LOCAL_TENANT, database=database) as session:
        tenancy.ensure_tenant(session, display_name="Local", actor="local")
        user = tenancy.ensure_user(session, subject=LOCAL_SUBJECT, display_name="Local user")
        grant_at_login(session, user_id=user.id, role="owner", reason="single-user local mode")
        return Actor(user_id=user.id, label="local user")
