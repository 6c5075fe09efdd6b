"""The API keys' use cases: create (the token shown once), list, revoke, and authenticate a call.

The Settings page and the REST API's ``/keys`` routes call the first three with the signed-in
user; the API's authentication calls ``authenticate_api_key`` on every request that carries a
``dpk_`` bearer token. Every member may hold keys; admins see and may revoke everyone's keys in
their workspace. Creating and revoking are in the audit log (``api_key.created`` /
``api_key.revoked``), written in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from engine.errors import DoppelError
from infra.db import tenant_session
from infra.db.models import ApiKey, Membership, User
from infra.db.types import utcnow
from infra.records import api_keys as records
from infra.records.authz import Actor, require_actor, require_role, role_allows

INVALID_KEY_MESSAGE = "invalid API key"


class ApiKeyError(DoppelError):
    """A bearer token that is not a live API key (malformed, unknown, revoked, or of a former member).

    One message for every case, so a caller learns nothing about which keys exist.
    """

    def __init__(self, message: str = INVALID_KEY_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class ApiKeyInfo:
    """What the pages and the API show of a key: never its secret or its hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    user_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class KeyPrincipal:
    """Who a valid key speaks for: tenant, user (and audit label), the role read now, the key's scopes."""

    tenant: str
    user_id: str
    label: str
    role: str
    scopes: tuple[str, ...]
    key_id: str


def _info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(id=key.id, name=key.name, scopes=tuple(key.scopes or ()), user_id=key.user_id,
                      created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at)


def create_api_key(tenant: str, *, actor: Actor, name: str, scopes: list[str] | tuple[str, ...]
                   ) -> tuple[ApiKeyInfo, str]:
    """A new key of ``actor`` in ``tenant`` and its token ``dpk_...``, which is never shown again.

    Any member may create keys for themselves, with scopes up to their role's (a viewer's keys
    only read; a member's up to train; an admin's up to admin).
    """
    actor = require_actor(actor)
    with tenant_session(tenant) as session:
        role = require_role(session, actor, at_least="viewer", action="create an API key")
        chosen = records.require_scopes(scopes, role=role)
        key, token = records.create_key(session, user_id=actor.user_id, name=records.require_name(name),
                                        scopes=chosen, actor=actor.label)
        return _info(key), token


def list_api_keys(tenant: str, *, actor: Actor) -> list[ApiKeyInfo]:
    """The actor's keys in ``tenant``, newest first; an admin sees every member's keys."""
    actor = require_actor(actor)
    with tenant_session(tenant) as session:
        role = require_role(session, actor, at_least="viewer", action="see API keys")
        owner = None if role_allows(role, at_least="admin") else actor.user_id
        return [_info(key) for key in records.list_keys(session, user_id=owner)]


def revoke_api_key(tenant: str, *, actor: Actor, key_id: str) -> None:
    """Revoke one of the actor's keys (an admin: anyone's in the workspace).

    Another tenant's key, another member's key (for a non-admin) and a made-up id all raise the
    same ``NotFoundError``. Revoking a revoked key again changes nothing.
    """
    actor = require_actor(actor)
    with tenant_session(tenant) as session:
        role = require_role(session, actor, at_least="viewer", action="revoke an API key")
        owner = None if role_allows(role, at_least="admin") else actor.user_id
        records.revoke_key(session, records.get_key(session, key_id, user_id=owner), actor=actor.label)


def authenticate_api_key(token: str) -> KeyPrincipal:
    """The principal of a live key's token; ``ApiKeyError`` ("invalid API key") otherwise.

    The role is read now, in the key's tenant: a member removed from the workspace has no live
    keys, and a demoted member's keys act with the new role. ``last_used_at`` is written at most
    once a minute.
    """
    parsed = records.parse_token(token)
    if parsed is None:
        raise ApiKeyError()
    tenant, key_id, secret = parsed
    with tenant_session(tenant) as session:
        key = records.find_live_key(session, key_id=key_id, secret=secret)
        if key is None:
            raise ApiKeyError()
        person = session.execute(
            select(Membership.role, User.email, User.display_name, User.subject)
            .join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == session.tenant, Membership.user_id == key.user_id)
        ).first()
        if person is None:
            raise ApiKeyError()
        records.touch(session, key, now=utcnow())
        role, email, display_name, subject = person
        return KeyPrincipal(tenant=tenant, user_id=key.user_id, label=email or display_name or subject, role=role,
                            scopes=tuple(key.scopes or ()), key_id=key.id)


__all__ = ["ApiKeyError", "ApiKeyInfo", "KeyPrincipal", "authenticate_api_key", "create_api_key", "list_api_keys",
           "revoke_api_key"]
