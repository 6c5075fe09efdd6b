"""Who calls the API: an API key, an OIDC access token, or the local user of single-user mode.

- ``Authorization: Bearer dpk_...``: a Doppel API key (``infra.usecases.api_keys``); the key's
  scopes bound what it may do and the user's role in the tenant is re-read on every call.
- ``Authorization: Bearer <JWT>``: an OIDC access token, validated with Authlib's JOSE library
  (``joserfc``, which Authlib 1.9 depends on and moves ``authlib.jose`` to) against the JWKS
  of a provider of the secrets' ``[auth]`` section (issuer and audience = client id checked), its claims mapped to tenants and roles by the workbench's ``[access]`` rules. A user
  of several tenants names one with the ``X-Doppel-Tenant`` header. Its scope is the role's.
- No token, no login configured (single-user local mode): requests from loopback act as the
  local owner, exactly like the workbench; from elsewhere they are refused.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.api.problems import ApiProblem
from infra.records.authz import Actor

SCOPES = ("read", "generate", "train", "admin")
"""Each scope includes the ones before it."""
ROLE_SCOPE = {"viewer": "read", "member": "train", "admin": "admin", "owner": "admin"}
API_KEY_PREFIX = "dpk_"
TENANT_HEADER = "x-doppel-tenant"


@dataclass(frozen=True)
class Principal:
    """The caller: tenant, acting user, role there (read now), the scopes its credential grants."""

    tenant: str
    actor: Actor
    role: str
    scopes: frozenset[str]
    via: str  # "key", "oidc", "local"
    key_id: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether the credential's scopes reach ``scope`` (the role is checked by the use cases)."""
        wanted = SCOPES.index(scope)
        return any(SCOPES.index(s) >= wanted for s in self.scopes if s in SCOPES)


def scopes_up_to(scope: str) -> frozenset[str]:
    return frozenset(SCOPES[: SCOPES.index(scope) + 1])


@dataclass
class AuthConfig:
    """The login of the server: the secrets' ``[auth]`` and ``[access]`` tables (None: local mode)."""

    auth_section: Mapping[str, Any] | None = None
    access_section: Mapping[str, Any] | None = None
    _jwks: dict[str, tuple[float, Any, str, str]] = field(default_factory=dict)  # provider -> (at, keys, issuer, aud)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def local_mode(self) -> bool:
        return self.auth_section is None


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def authenticate(authorization: str | None, *, client_host: str | None, tenant_header: str | None,
                 config: AuthConfig) -> Principal:
    """The principal of a request's ``Authorization`` header (see the module docstring)."""
    token = _bearer(authorization)
    if token is None:
        if config.local_mode and is_loopback(client_host):
            return _local_principal()
        raise ApiProblem(401, "this API needs a bearer token: an API key (dpk_...) or an OIDC access token",
                         headers={"WWW-Authenticate": "Bearer"})
    if token.startswith(API_KEY_PREFIX):
        return _key_principal(token)
    return _oidc_principal(token, tenant_header=tenant_header, config=config)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiProblem(401, "the Authorization header must be 'Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    return value.strip()


_local_actor: list[Actor] = []


def _local_principal() -> Principal:
    from auth.provisioning import ensure_local_user
    from infra.tenant_ids import LOCAL_TENANT

    if not _local_actor:
        _local_actor.append(ensure_local_user())
    return Principal(tenant=LOCAL_TENANT, actor=_local_actor[0], role="owner", scopes=scopes_up_to("admin"), via="local")


def forget_local_user() -> None:
    """Forget the cached local user (a new database: tests)."""
    _local_actor.clear()


INVALID_KEY = "invalid API key"


def _key_principal(token: str) -> Principal:
    try:
        from infra.usecases.api_keys import ApiKeyError, authenticate_api_key
    except ImportError:  # a build without API keys: no key is valid
        raise ApiProblem(401, INVALID_KEY, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    try:
        key = authenticate_api_key(token)
    except ApiKeyError as err:  # unknown, revoked or malformed: one message for all
        raise ApiProblem(401, str(err) or INVALID_KEY,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    return Principal(tenant=key.tenant, actor=Actor(user_id=key.user_id, label=getattr(key, "label", None) or key.user_id),
                     role=key.role, scopes=frozenset(key.scopes), via="key", key_id=key.key_id)


def _oidc_principal(token: str, *, tenant_header: str | None, config: AuthConfig) -> Principal:
    if config.local_mode:
        raise ApiProblem(401, "invalid token: no login provider is configured; use an API key")
    from auth.provisioning import sign_in, tenant_access
    from auth.rules import AccessRules

    claims, provider = _verified_claims(token, config)
    signed = sign_in(claims, rules=AccessRules.from_mapping(config.access_section), provider=provider)
    if signed.user_id is None or not signed.tenants:
        raise ApiProblem(403, "this token's user has no workspace in Doppel")
    if tenant_header:
        chosen = signed.access_to(tenant_header)
    elif len(signed.tenants) == 1:
        chosen = signed.tenants[0]
    else:
        raise ApiProblem(400, f"this user works in several workspaces; name one with the {TENANT_HEADER} header")
    access = tenant_access(chosen.tenant, user_id=signed.user_id) if chosen else None
    if access is None:
        raise ApiProblem(403, "this token's user is not a member of that workspace")
    scope = ROLE_SCOPE.get(access.role, "read")
    return Principal(tenant=access.tenant, actor=Actor(user_id=signed.user_id, label=signed.label), role=access.role,
                     scopes=scopes_up_to(scope), via="oidc")


JWKS_TTL_S = 3600.0
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


def _providers(section: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    if section.get("server_metadata_url"):
        found["default"] = section
    for name, value in section.items():
        if isinstance(value, Mapping) and value.get("server_metadata_url"):
            found[name] = value
    return found


def _provider_keys(name: str, provider: Mapping[str, Any], config: AuthConfig) -> tuple[Any, str, str]:
    import httpx
    from joserfc.jwk import KeySet

    with config._lock:
        cached = config._jwks.get(name)
        if cached and time.monotonic() - cached[0] < JWKS_TTL_S:
            return cached[1], cached[2], cached[3]
    metadata = httpx.get(str(provider["server_metadata_url"]), timeout=10).raise_for_status().json()
    jwks = httpx.get(metadata["jwks_uri"], timeout=10).raise_for_status().json()
    keys = KeySet.import_key_set(jwks)
    entry = (time.monotonic(), keys, str(metadata.get("issuer", "")), str(provider.get("client_id", "")))
    with config._lock:
        config._jwks[name] = entry
    return entry[1], entry[2], entry[3]


def _verified_claims(token: str, config: AuthConfig) -> tuple[dict[str, Any], str | None]:
    from joserfc import jwt
    from joserfc.errors import JoseError

    assert config.auth_section is not None
    for name, provider in _providers(config.auth_section).items():
        try:
            keys, issuer, audience = _provider_keys(name, provider, config)
        except Exception:  # an unreachable provider cannot vouch for the token; try the next one
            continue
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=30, iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError):
            continue
        return dict(decoded.claims), None if name == "default" else name
    raise ApiProblem(401, "invalid token: not an API key, and no configured provider vouches for it",
                     headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse (403) a credential whose scopes do not reach ``scope``."""
    if not principal.allows(scope):
        raise ApiProblem(403, f"this API key's scopes ({', '.join(sorted(principal.scopes)) or 'none'}) do not "
                              f"include {scope!r}, which this call needs")


__all__ = ["AuthConfig", "Principal", "SCOPES", "authenticate", "require_scope", "scopes_up_to"]
