"""Each page's URL is a deep link in a real browser, and the sidebar shows the product's name."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from app.branding import PRODUCT_NAME
from app.pages_registry import PAGE_SPECS

pytestmark = pytest.mark.browser

WAIT_MS = 60_000


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: s.url_path)
def test_each_page_url_opens_that_page(page, workbench, spec):
    page.goto(f"{workbench}/{spec.url_path}")
    expect(page.get_by_role("heading", name=spec.title, exact=True).first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.url.rstrip("/").endswith(f"/{spec.url_path}")
    assert not page.problems.page_errors


def test_the_root_url_opens_the_data_page_at_its_own_url(page, workbench):
    page.goto(workbench)
    expect(page.get_by_role("heading", name="Data", exact=True).first).to_be_visible(timeout=WAIT_MS)
    expect(page).to_have_url(f"{workbench}/data", timeout=WAIT_MS)
    expect(page.get_by_text("Page not found")).to_have_count(0)


def test_the_sidebar_shows_the_product_name(page, workbench, screenshot):
    page.goto(f"{workbench}/data")
    expect(page.get_by_text("Start here:")).to_be_visible(timeout=WAIT_MS)
    logo = page.get_by_test_id("stSidebarLogo")
    expect(logo).to_be_visible(timeout=WAIT_MS)
    source = logo.get_attribute("src") or ""
    assert source.startswith("data:image/svg+xml;base64,")
    assert f">{PRODUCT_NAME}</text>" in base64.b64decode(source.split(",", 1)[1]).decode()
    screenshot("sidebar-product-name")


def test_the_schema_table_shows_big_numbers_and_dates_in_full(page, workbench, tmp_path):
    table = tmp_path / "widths.csv"
    table.write_text("amount,day,label\n" + "".join(
        f"{1_484_705 - i * 9_973},2023-01-{1 + i % 28:02d},item {i % 5}\n" for i in range(80)))
    page.goto(f"{workbench}/data")
    page.locator("input[type=file]").set_input_files(str(table))
    schema = page.get_by_test_id("stDataFrame").filter(has_text="why this type")
    expect(schema).to_contain_text("1,484,705", timeout=WAIT_MS * 3)
    schema.scroll_into_view_if_needed()
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    schema.screenshot(path=str(ARTIFACTS / "profile-schema-widths.png"))  # read by eye: no value is cut
