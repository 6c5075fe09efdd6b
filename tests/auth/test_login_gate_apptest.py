"""The login gate in the real entry script (app/main.py), run by Streamlit's AppTest.

AppTest cannot follow the OIDC redirect (the browser tests do); it sets ``st.user`` directly,
which is what Streamlit does from the identity cookie after a real login. The metadata
database is a real SQLite file (DOPPEL_DATABASE_URL), provisioned by the gate itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from app.identity import LOCAL_MODE_BANNER
from auth.gate import NO_ACCESS_TITLE, PICKER_TITLE, SIGN_IN_TITLE
from auth.share_links import create_share_link, list_share_links, revoke_share_link
from infra.db import Database, get_database, tenant_session
from infra.settings import get_settings
from tests.app.page_support import MAIN_SCRIPT
from tests.auth.conftest import SeededTenant, seed_tenant

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "c" * 40,
    "acme": {"display_name": "Acme SSO", "client_id": "doppel", "client_secret": "x" * 20,
             "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
    "globex": {"client_id": "doppel", "client_secret": "y" * 20,
               "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
}


@pytest.fixture
def app_db(tmp_path, monkeypatch) -> Iterator[Database]:
    """The database the workbench in this process uses (a fresh SQLite file)."""
    monkeypatch.setenv("DOPPEL_DATABASE_URL", f"sqlite:///{tmp_path / 'doppel.db'}")
    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield get_database()
    get_settings.cache_clear()


@pytest.fixture
def tenants(app_db) -> tuple[SeededTenant, SeededTenant]:
    return seed_tenant(app_db, prefix="acme"), seed_tenant(app_db, prefix="globex")


def workbench(*, user: dict | None, access: dict | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=60)
    at.secrets["auth"] = AUTH
    if access is not None:
        at.secrets["access"] = access
    if user is not None:
        at.user = user
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def signed_in(sub: str, *, email: str | None = None, groups: list[str] = ()) -> dict:
    user = {"is_logged_in": True, "iss": "https://idp.test", "sub": sub, "name": sub.title(), "groups": list(groups)}
    if email:
        user |= {"email": email, "email_verified": True}
    return user


def texts(at: AppTest) -> str:
    """Everything the page says, as a reader sees it (Markdown escapes removed)."""
    shown = " ".join(str(e.value) for kind in ("title", "markdown", "error", "info", "warning", "caption")
                     for e in getattr(at, kind))
    return re.sub(r"\\(.)", r"\1", shown)


def test_signed_out_visitors_see_only_the_sign_in_page_with_one_button_per_provider(app_db):
    at = workbench(user={"is_logged_in": False})
    assert not at.exception
    assert [t.value for t in at.title] == [SIGN_IN_TITLE]
    assert [b.label for b in at.button] == ["Sign in with Acme SSO", "Sign in with Globex"]
    assert not at.file_uploader and LOCAL_MODE_BANNER not in texts(at)


def test_an_incomplete_auth_section_is_refused_with_its_problem(app_db):
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=60)
    at.secrets["auth"] = {k: v for k, v in AUTH.items() if k != "cookie_secret"}
    at.run()
    assert any("cookie_secret" in e.value and "[auth]" in e.value for e in at.error)
    assert not at.button and not at.file_uploader


def test_malformed_access_rules_are_refused_with_their_problem(app_db):
    at = workbench(user=signed_in("ana"), access={"domains": [{"domain": "acme.example", "tenant": "Not Valid"}]})
    assert any("[access]" in e.value and "not a tenant name" in e.value for e in at.error)
    assert not at.file_uploader


def test_a_user_that_maps_to_no_tenant_sees_the_no_access_page_and_nothing_else(app_db):
    at = workbench(user=signed_in("eve", email="eve@unknown.example"), access={})
    assert [t.value for t in at.title] == [NO_ACCESS_TITLE]
    assert "eve@unknown" in texts(at) and "invite" in texts(at)
    assert [b.label for b in at.button] == ["Log out"]
    assert not at.file_uploader and not at.sidebar.selectbox


def test_a_member_lands_on_the_data_page_of_their_one_tenant(tenants):
    acme, _ = tenants
    at = workbench(user=signed_in("ana", groups=[f"tenant:{acme.name}", "role:member"]))
    assert not at.exception and len(at.file_uploader) == 1
    assert LOCAL_MODE_BANNER not in texts(at)
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "ACME" in sidebar and "member" in sidebar


def test_a_viewer_gets_reports_only_and_no_upload(tenants):
    acme, _ = tenants
    at = workbench(user=signed_in("val", groups=[f"tenant:{acme.name}", "role:viewer"]))
    assert not at.file_uploader
    assert [t.value for t in at.title] == ["Quality"]  # the workbench's reports page (issue 6)


def test_a_user_of_two_tenants_picks_one_and_works_in_it(tenants):
    acme, globex = tenants
    at = workbench(user=signed_in("max", groups=[f"tenant:{acme.name}", f"tenant:{globex.name}", "role:admin"]))
    assert [t.value for t in at.title] == [PICKER_TITLE] and not at.file_uploader
    choices = [b for b in at.button if "admin" in b.label]
    assert len(choices) == 2
    next(b for b in choices if globex.name.upper().replace("-", "\\-") in b.label).click()
    at.run()
    assert len(at.file_uploader) == 1
    assert any(globex.name.upper() in c.value.replace("\\", "") for c in at.sidebar.caption)
    switcher = at.sidebar.selectbox[0]
    assert set(switcher.options) == {f"{acme.name.upper()} (admin)", f"{globex.name.upper()} (admin)"}


def test_the_tenant_never_comes_from_the_url(tenants):
    acme, globex = tenants
    at = workbench(user=signed_in("nia", groups=[f"tenant:{acme.name}"]),
                   query={"tenant": globex.name, "page": "data"})
    assert len(at.file_uploader) == 1
    assert all(globex.name.upper() not in c.value.replace("\\", "") for c in at.sidebar.caption)


def test_logout_returns_to_the_sign_in_page(tenants):
    acme, _ = tenants
    at = workbench(user=signed_in("oli", groups=[f"tenant:{acme.name}"]))
    next(b for b in at.sidebar.button if b.label == "Log out").click()
    at.run()  # logs out (Streamlit redirects the browser) and shows nothing more
    assert not at.file_uploader
    at.run()
    assert [t.value for t in at.title] == [SIGN_IN_TITLE]


def test_a_share_link_opens_its_report_read_only_without_login(tenants, app_db):
    acme, _ = tenants
    with tenant_session(acme.name, database=app_db) as s:
        token = create_share_link(s, report_id=acme.report_id, expires_in=timedelta(hours=1), actor=acme.actors["member"])
    at = workbench(user={"is_logged_in": False}, query={"share": token})
    assert [t.value for t in at.title] == ["Shared quality report"]
    assert any("passed" in s.value for s in at.success)
    assert not at.button and not at.file_uploader and SIGN_IN_TITLE not in texts(at)


def test_a_revoked_or_unknown_share_link_says_so_and_shows_nothing(tenants, app_db):
    acme, _ = tenants
    with tenant_session(acme.name, database=app_db) as s:
        token = create_share_link(s, report_id=acme.report_id, expires_in=timedelta(hours=1), actor=acme.actors["member"])
        link = list_share_links(s, actor=acme.actors["member"])[0]
        revoke_share_link(s, link_id=link.id, actor=acme.actors["member"])
    revoked = workbench(user={"is_logged_in": False}, query={"share": token})
    assert any("revoked" in e.value for e in revoked.error) and not revoked.dataframe
    unknown = workbench(user={"is_logged_in": False}, query={"share": uuid.uuid4().hex * 2})
    assert any("not valid" in e.value for e in unknown.error) and not unknown.dataframe
