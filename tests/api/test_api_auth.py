"""Who may call the API: loopback-only local mode, bearer tokens, scopes, OIDC access tokens
checked by Authlib against a real JWKS served on loopback."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from joserfc import jwt
from joserfc.jwk import RSAKey

from app.api.principal import AuthConfig, Principal, authenticate, require_scope, scopes_up_to
from app.api.problems import ApiProblem
from infra.records.authz import Actor
from tests.api.conftest import ApiServer

CLIENT_ID = "doppel-api-test"


def test_local_mode_answers_loopback_callers_as_the_local_owner(api: ApiServer) -> None:
    principal = authenticate(None, client_host="127.0.0.1", tenant_header=None, config=AuthConfig())
    assert (principal.tenant, principal.role, principal.via) == ("local", "owner", "local")


def test_local_mode_refuses_callers_from_other_addresses() -> None:
    with pytest.raises(ApiProblem) as refused:
        authenticate(None, client_host="192.0.2.7", tenant_header=None, config=AuthConfig())
    assert refused.value.status == 401


def test_a_header_that_is_not_bearer_is_a_401_problem(api: ApiServer) -> None:
    answer = api.client.get("/models", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_unknown_api_key_is_refused_with_one_message(api: ApiServer) -> None:
    answer = api.client.get("/models", headers={"Authorization": "Bearer dpk_local_nokey_notasecret"})
    assert answer.status_code == 401 and answer.json()["detail"] == "invalid API key"


def test_scopes_include_the_ones_before_them() -> None:
    actor = Actor(user_id="u", label="u")
    reader = Principal(tenant="t", actor=actor, role="owner", scopes=frozenset({"read"}), via="key")
    trainer = Principal(tenant="t", actor=actor, role="owner", scopes=scopes_up_to("train"), via="key")
    assert reader.allows("read") and not reader.allows("generate")
    assert trainer.allows("generate") and trainer.allows("train") and not trainer.allows("admin")
    with pytest.raises(ApiProblem, match="do not include 'train'") as refused:
        require_scope(reader, "train")
    assert refused.value.status == 403


class _Provider:
    """Discovery and JWKS of an OpenID provider, over real HTTP on loopback."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        public = {"keys": [self.key.as_dict(private=False)]}
        documents: dict[str, Any] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        documents["/.well-known/openid-configuration"] = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"}
        documents["/jwks"] = public
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, claims: dict[str, Any], *, key: Any = None) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, body, key or self.key)


@pytest.fixture(scope="module")
def provider() -> Iterator[_Provider]:
    served = _Provider()
    yield served
    served.server.shutdown()


def _oidc_config(provider: _Provider, tenant: str) -> AuthConfig:
    auth = {"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x" * 40, "client_id": CLIENT_ID,
            "client_secret": "s", "server_metadata_url": f"{provider.issuer}/.well-known/openid-configuration"}
    access = {"default_role": "member", "tenants": {tenant: {"display_name": "Api Corp"}},
              "emails": [{"email": "svc@api.test", "tenant": tenant, "role": "admin"}]}
    return AuthConfig(auth_section=auth, access_section=access)


def test_an_oidc_access_token_maps_to_the_tenant_and_role_of_the_access_rules(api: ApiServer, provider: _Provider) -> None:
    tenant = f"apicorp-{uuid.uuid4().hex[:6]}"
    token = provider.token({"sub": "svc-1", "email": "svc@api.test", "email_verified": True})
    principal = authenticate(f"Bearer {token}", client_host="192.0.2.7", tenant_header=None,
                             config=_oidc_config(provider, tenant))
    assert (principal.tenant, principal.role, principal.via) == (tenant, "admin", "oidc")
    assert principal.allows("admin")


def test_an_oidc_token_signed_by_another_key_or_expired_is_refused(api: ApiServer, provider: _Provider) -> None:
    config = _oidc_config(provider, f"apicorp-{uuid.uuid4().hex[:6]}")
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    forged = provider.token({"sub": "svc-1", "email": "svc@api.test", "email_verified": True}, key=stranger)
    expired = provider.token({"sub": "svc-1", "email": "svc@api.test", "exp": int(time.time()) - 600})
    for token in (forged, expired):
        with pytest.raises(ApiProblem) as refused:
            authenticate(f"Bearer {token}", client_host="127.0.0.1", tenant_header=None, config=config)
        assert refused.value.status == 401
