"""API keys: a user's bearer tokens for the REST API, stored as the SHA-256 of their secret.

A token reads ``dpk_<tenant>_<key id>_<secret>``. The tenant in it only says which tenant's
session to open (row-level security hides every other tenant's keys); the key id finds the row
and the secret is checked against the stored hash with ``hmac.compare_digest``. The secret is
never stored and never shown again after creation.

Scopes rank like roles: ``read < generate < train < admin``, each including the ones before.
A key never carries a scope above its user's role when it is made, and the role is re-read on
every authentication, so demoting a member demotes their keys at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update

from infra.db.errors import ConfigError, NotFoundError
from infra.db.models import ApiKey
from infra.db.session import TenantSession
from infra.db.types import utcnow
from infra.records.audit import record_event

TOKEN_PREFIX: Final = "dpk_"
SCOPES: Final[tuple[str, ...]] = ("read", "generate", "train", "admin")
"""Each scope includes the ones before it."""
ROLE_CEILING: Final[dict[str, str]] = {"viewer": "read", "member": "train", "admin": "admin", "owner": "admin"}
"""The highest scope a key of a user with that role may carry (a viewer only reads)."""
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key, so busy keys do not write on every call."""
MAX_NAME_LENGTH: Final = 100

_SECRET_BYTES = 32  # secrets.token_urlsafe(32): 43 characters
_TOKEN = re.compile(
    r"dpk_(?P<tenant>[a-z0-9][a-z0-9_-]{0,62})_(?P<key_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"_(?P<secret>[A-Za-z0-9_-]{43})"
)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a key's secret: what the table stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_token(token: str) -> tuple[str, str, str] | None:
    """``(tenant, key id, secret)`` of a well-formed token, else None (the caller says 'invalid API key')."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    return (match["tenant"], match["key_id"], match["secret"]) if match else None


def require_scopes(scopes: object, *, role: str) -> list[str]:
    """The scopes, checked and in rank order; ``ConfigError`` naming what is wrong and what is allowed."""
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple, set, frozenset)):
        raise ConfigError(f"scopes must be a list of {', '.join(SCOPES)}, got {scopes!r}")
    chosen = set(scopes)
    unknown = sorted(str(s) for s in chosen - set(SCOPES))
    if unknown:
        raise ConfigError(f"unknown scope(s) {', '.join(unknown)}: expected any of {', '.join(SCOPES)}")
    if not chosen:
        raise ConfigError(f"a key needs at least one scope: any of {', '.join(SCOPES)}")
    ceiling = ROLE_CEILING.get(role, "read")
    too_high = [s for s in SCOPES if s in chosen and SCOPES.index(s) > SCOPES.index(ceiling)]
    if too_high:
        raise ConfigError(
            f"your role here is {role}, so your keys can have at most the {ceiling!r} scope, not {', '.join(too_high)}"
        )
    return [s for s in SCOPES if s in chosen]


def require_name(name: object) -> str:
    """The key's name, stripped; ``ConfigError`` when it is empty or longer than 100 characters."""
    value = str(name or "").strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise ConfigError(f"a key needs a name of 1 to {MAX_NAME_LENGTH} characters, got {name!r}")
    return value


def create_key(session: TenantSession, *, user_id: str, name: str, scopes: list[str], actor: str
               ) -> tuple[ApiKey, str]:
    """A new key of ``user_id`` and its token (the only time the secret exists outside the caller)."""
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    key = ApiKey(tenant_id=session.tenant, user_id=user_id, name=name, scopes=list(scopes),
                 secret_hash=hash_secret(secret))
    session.add(key)
    session.flush()
    record_event(session, actor=actor, action="api_key.created", object_type="api_key", object_id=key.id,
                 details={"name": name, "scopes": list(scopes), "user_id": user_id})
    return key, f"{TOKEN_PREFIX}{session.tenant}_{key.id}_{secret}"


def list_keys(session: TenantSession, *, user_id: str | None) -> list[ApiKey]:
    """The tenant's keys, newest first; only ``user_id``'s when given (None: everyone's)."""
    statement = select(ApiKey).where(ApiKey.tenant_id == session.tenant)
    if user_id is not None:
        statement = statement.where(ApiKey.user_id == user_id)
    return list(session.scalars(statement.order_by(ApiKey.created_at.desc(), ApiKey.id)))


def get_key(session: TenantSession, key_id: str, *, user_id: str | None) -> ApiKey:
    """One key of the session's tenant (of ``user_id`` when given); ``NotFoundError`` otherwise.

    Another tenant's key, another user's key and a made-up id all get the same message.
    """
    statement = select(ApiKey).where(ApiKey.tenant_id == session.tenant, ApiKey.id == str(key_id))
    if user_id is not None:
        statement = statement.where(ApiKey.user_id == user_id)
    key = session.scalars(statement).first()
    if key is None:
        raise NotFoundError(f"API key {key_id!r} not found")
    return key


def revoke_key(session: TenantSession, key: ApiKey, *, actor: str, now: datetime | None = None) -> ApiKey:
    """Revoke ``key`` for good (a second revocation changes nothing and records nothing)."""
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = now or utcnow(), actor
        session.flush()
        record_event(session, actor=actor, action="api_key.revoked", object_type="api_key", object_id=key.id,
                     details={"name": key.name, "user_id": key.user_id})
    return key


def find_live_key(session: TenantSession, *, key_id: str, secret: str) -> ApiKey | None:
    """The unrevoked key ``key_id`` whose stored hash matches ``secret``, else None.

    The hash is compared in constant time, and a missing key is compared against a dummy hash,
    so the answer's timing does not tell an unknown id from a wrong secret.
    """
    key = session.scalars(select(ApiKey).where(ApiKey.tenant_id == session.tenant, ApiKey.id == key_id)).first()
    expected = key.secret_hash if key is not None else "0" * 64
    matches = hmac.compare_digest(hash_secret(secret), expected)
    if key is None or not matches or key.revoked_at is not None:
        return None
    return key


def touch(session: TenantSession, key: ApiKey, *, now: datetime | None = None) -> None:
    """Record that ``key`` was used, at most once per ``LAST_USED_RESOLUTION``.

    A conditional UPDATE, so concurrent calls in the same minute do not all write.
    """
    now = now or utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = now - LAST_USED_RESOLUTION
    session.execute(
        update(ApiKey)
        .where(ApiKey.tenant_id == session.tenant, ApiKey.id == key.id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at <= stale))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


__all__ = ["LAST_USED_RESOLUTION", "ROLE_CEILING", "SCOPES", "TOKEN_PREFIX", "create_key", "find_live_key",
           "get_key", "hash_secret", "list_keys", "parse_token", "require_name", "require_scopes", "revoke_key",
           "touch"]
