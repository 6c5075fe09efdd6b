"""A real OpenID Connect provider on loopback, and a workbench configured to log in with it.

The provider is ``oidc-provider-mock`` (an Authlib-based provider from PyPI) served by
werkzeug on 127.0.0.1 and a free port: discovery, authorization form, token endpoint, JWKS,
userinfo and end-session are real HTTP endpoints, the ID tokens are RS256-signed. Any client
id is accepted; each test user's claims are set with ``provider.set_user(sub, claims)``.

The workbench is the real one (``python -m app`` via ``launch_workbench``), with a secrets
file (``[auth]`` with two named providers, ``[access]`` rules) passed through
``STREAMLIT_SECRETS_FILES``, PostgreSQL with row-level security as its metadata database
(through the app role) and Redis as its shared cache.

The test users (their claims live on the provider; the rules are in ``secrets_toml``) and
``sign_in``, which walks one of them through the real login, are shared by the browser tests
of this package.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from auth.share_links import create_share_link, list_share_links, revoke_share_link
from infra.db import Database, tenant_session
from tests.auth.conftest import PG_APP_ROLE, PG_OWNER_ROLE, REDIS_AUTH_URL, SeededTenant, seed_tenant
from tests.browser.conftest import free_port, launch_workbench
from tests.infra.db_fixtures import migrated_postgres

BROWSER_PG_DATABASE = "doppel_auth_browser_test"
WAIT_MS = 60_000  # a Streamlit rerun on a busy machine

# Users (claims as the provider gives them; the tenant and role follow from secrets_toml's rules):
# ana@acme.test, bea@acme.test: members of acme (e-mail domain rule); gil@globex.test: member of
# globex; max@acme.test: member of acme (domain) and admin of globex (address rule), picks one;
# vic (groups tenant:acme, role:viewer): viewer of acme; eve@nowhere.test: matches nothing.
USERS = {
    "ana": {"email": "ana@acme.test", "email_verified": True, "name": "Ana"},
    "bea": {"email": "bea@acme.test", "email_verified": True, "name": "Bea"},
    "gil": {"email": "gil@globex.test", "email_verified": True, "name": "Gil"},
    "max": {"email": "max@acme.test", "email_verified": True, "name": "Max"},
    "vic": {"name": "Vic", "groups": ["tenant:acme", "role:viewer"]},
    "eve": {"email": "eve@nowhere.test", "email_verified": True, "name": "Eve"},
}


@dataclass(frozen=True)
class OidcProvider:
    """The running provider: its base URL and a way to define users and their claims."""

    url: str

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_user(self, sub: str, claims: dict) -> None:
        request = urllib.request.Request(
            f"{self.url}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """oidc-provider-mock on 127.0.0.1 for the whole session."""
    import werkzeug.serving
    from oidc_provider_mock import app as provider_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback, tests only
        server = werkzeug.serving.make_server("127.0.0.1", 0, provider_app(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        try:
            yield OidcProvider(url=f"http://127.0.0.1:{server.server_port}")
        finally:
            server.shutdown()
            thread.join(5)
            server.server_close()


def secrets_toml(*, port: int, provider: OidcProvider) -> str:
    """The workbench's login configuration: two providers, rules for two tenants."""
    return f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"

[auth.acme-sso]
display_name = "Acme SSO"
client_id = "doppel-workbench"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider.metadata_url}"

[auth.partners]
display_name = "Partner login"
client_id = "doppel-partners"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider.metadata_url}"

[access]
default_role = "member"

[access.tenants.acme]
display_name = "Acme Corp"

[access.tenants.globex]
display_name = "Globex"

[[access.domains]]
domain = "acme.test"
tenant = "acme"

[[access.domains]]
domain = "globex.test"
tenant = "globex"

[[access.emails]]
email = "max@acme.test"
tenant = "globex"
role = "admin"
"""


@dataclass(frozen=True)
class LoginWorkbench:
    """A running workbench with login, its provider, and share tokens of tenant acme's report.

    ``data_dir`` is the workbench's ``DOPPEL_DATA_DIR`` (its stored objects) and ``database_url``
    the app role's URL of its PostgreSQL database, for tests that create objects through the
    services in this process, where the workbench sees them.
    """

    url: str
    provider: OidcProvider
    acme: SeededTenant
    valid_token: str
    expired_token: str
    revoked_token: str
    data_dir: Path
    database_url: str


@pytest.fixture(scope="session")
def login_workbench(tmp_path_factory, oidc_provider: OidcProvider) -> Iterator[LoginWorkbench]:
    with migrated_postgres(database=BROWSER_PG_DATABASE, owner_role=PG_OWNER_ROLE, app_role=PG_APP_ROLE) as setup:
        acme = seed_tenant(setup.database, name="acme", display_name="Acme Corp")
        tokens = _share_tokens(setup.database, acme)
        data_dir: Path = tmp_path_factory.mktemp("doppel-login")
        port = free_port()
        secrets_path = data_dir / "secrets.toml"
        secrets_path.write_text(secrets_toml(port=port, provider=oidc_provider))
        env = {
            "STREAMLIT_SECRETS_FILES": str(secrets_path),
            "DOPPEL_DATABASE_URL": setup.app_url,
            "DOPPEL_CACHE_URL": REDIS_AUTH_URL,
            "AUTHLIB_INSECURE_TRANSPORT": "1",
        }
        with launch_workbench(data_dir, port=port, env=env) as url:
            yield LoginWorkbench(url, oidc_provider, acme, *tokens, data_dir=data_dir, database_url=setup.app_url)


def sign_in(page, bench: LoginWorkbench, sub: str, *, path: str = "/", provider: str = "Acme SSO") -> None:
    """Open ``path`` signed out, sign in as ``sub`` at the provider, come back to the workbench."""
    bench.provider.set_user(sub, USERS[sub])
    page.goto(bench.url + path)
    expect(page.get_by_role("heading", name="Sign in to Doppel")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name=f"Sign in with {provider}").click()
    page.wait_for_url(f"{bench.provider.url}/oauth2/authorize**", timeout=WAIT_MS)
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{bench.url}/**", timeout=WAIT_MS)


def _share_tokens(database: Database, tenant: SeededTenant) -> tuple[str, str, str]:
    member = tenant.actors["member"]
    with tenant_session(tenant.name, database=database) as s:
        valid = create_share_link(s, report_id=tenant.report_id, expires_in=timedelta(hours=1), actor=member)
        expired = create_share_link(s, report_id=tenant.report_id, expires_in=timedelta(hours=1), actor=member,
                                    now=datetime.now(UTC) - timedelta(days=1))
        revoked = create_share_link(s, report_id=tenant.report_id, expires_in=timedelta(hours=1), actor=member)
        newest = list_share_links(s, actor=member)[0]  # the link just made
        revoke_share_link(s, link_id=newest.id, actor=member)
    return valid, expired, revoked
