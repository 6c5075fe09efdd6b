"""Login and isolation in a real browser: Debian's Chromium, a real OIDC provider, PostgreSQL.

Users: ``tests.auth.oidc_fixtures.USERS`` (ana and bea of acme, gil of globex, max of both,
vic a viewer of acme, eve of no tenant).
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.auth.oidc_fixtures import WAIT_MS, sign_in
from tests.browser.conftest import page, screenshot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.services]


def sidebar_text(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text(timeout=WAIT_MS)


def test_a_member_signs_in_works_in_their_tenant_and_signs_out(page, login_workbench, screenshot):
    bench = login_workbench
    sign_in(page, bench, "ana")
    expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("ana@acme.test", timeout=WAIT_MS)
    assert "Acme Corp" in sidebar_text(page) and "member" in sidebar_text(page)
    expect(page.get_by_text("Single-user local mode")).to_have_count(0)
    screenshot("login-member-data")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{bench.provider.url}/oauth2/end_session**", timeout=WAIT_MS)
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("heading", name="Sign in to Doppel")).to_be_visible(timeout=WAIT_MS)
    page.goto(bench.url + "/data")  # the identity cookie is gone: still signed out
    expect(page.get_by_role("heading", name="Sign in to Doppel")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("input[type=file]")).to_have_count(0)
    assert not page.problems.page_errors


def test_a_deep_link_opened_signed_out_lands_on_its_page_after_login(page, login_workbench):
    bench = login_workbench
    sign_in(page, bench, "bea", path="/?page=data&report=r-123&view=gates", provider="Partner login")
    expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(r"\?(?=.*report=r-123)(?=.*view=gates)"), timeout=WAIT_MS)
    assert "page=" not in page.url and page.url.startswith(bench.url)


def test_a_user_that_maps_to_no_tenant_sees_no_access_and_nothing_else(page, login_workbench, screenshot):
    sign_in(page, login_workbench, "eve")
    expect(page.get_by_role("heading", name="No access to Doppel")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("eve@nowhere.test")).to_be_visible()
    screenshot("login-no-access")
    expect(page.locator("input[type=file]")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    page.goto(login_workbench.url + "/data")
    expect(page.get_by_role("heading", name="No access to Doppel")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("input[type=file]")).to_have_count(0)


def test_a_user_of_two_tenants_picks_one_then_switches(page, login_workbench, screenshot):
    sign_in(page, login_workbench, "max")
    expect(page.get_by_role("heading", name="Choose a workspace")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("input[type=file]")).to_have_count(0)
    screenshot("login-tenant-picker")
    page.get_by_role("button", name="Globex — admin").click()
    expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Globex", timeout=WAIT_MS)
    assert "admin" in sidebar_text(page)

    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="Acme Corp (member)").click()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("role member", timeout=WAIT_MS)
    assert "Workspace Acme Corp" in sidebar_text(page)


def test_tenants_do_not_see_each_others_uploads(browser, login_workbench, tmp_path):
    bench = login_workbench
    marker = "acme_only_secret_column"
    upload = tmp_path / "acme-private.csv"
    upload.write_text(f"{marker},city\n" + "".join(f"{i},Lyon\n" for i in range(30)))

    ana = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(ana, bench, "ana")
    ana.locator("input[type=file]").set_input_files(str(upload))
    expect(ana.get_by_role("heading", name="Profile of acme-private.csv")).to_be_visible(timeout=WAIT_MS)

    gil = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(gil, bench, "gil", path="/?tenant=acme")  # asking for acme in the URL changes nothing
    expect(gil.get_by_text("Start here:")).to_be_visible(timeout=WAIT_MS)
    expect(gil.get_by_test_id("stSidebar")).to_contain_text("Globex", timeout=WAIT_MS)
    expect(gil.get_by_text(marker)).to_have_count(0)
    expect(gil.get_by_text("acme-private.csv")).to_have_count(0)
    ana.context.close()
    gil.context.close()


def test_a_viewer_gets_reports_only_even_when_opening_the_data_page(page, login_workbench):
    sign_in(page, login_workbench, "vic", path="/?page=data")
    expect(page.get_by_role("heading", name="Quality")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("viewer", timeout=WAIT_MS)
    page.goto(login_workbench.url + "/data")
    expect(page.get_by_role("heading", name="Quality")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("input[type=file]")).to_have_count(0)


def test_a_forged_identity_cookie_is_ignored(browser, login_workbench):
    context = browser.new_context()
    forged = {"is_logged_in": True, "origin": login_workbench.url, "provider": "acme-sso",
              "iss": login_workbench.provider.url, "sub": "max", "email": "max@acme.test", "email_verified": True}
    context.add_cookies([{"name": "_streamlit_user", "value": json.dumps(forged), "url": login_workbench.url}])
    page = context.new_page()
    page.goto(login_workbench.url + "/data")
    expect(page.get_by_role("heading", name="Sign in to Doppel")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("input[type=file]")).to_have_count(0)
    context.close()


def test_a_share_link_opens_one_report_without_login_and_bad_links_say_why(browser, login_workbench, screenshot):
    bench = login_workbench
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{bench.url}/?share={bench.valid_token}")
    expect(page.get_by_role("heading", name="Shared quality report")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Every blocking quality gate passed.")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Sign in to Doppel")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    page.set_viewport_size({"width": 1400, "height": 1000})
    for token, words in ((bench.expired_token, "expired on"), (bench.revoked_token, "was revoked"),
                         (bench.valid_token[:-2] + "zz", "not valid")):
        page.goto(f"{bench.url}/?share={token}")
        expect(page.get_by_text(words)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Every blocking quality gate passed.")).to_have_count(0)
    context.close()
