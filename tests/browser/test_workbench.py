"""The workbench in a real browser: open it, upload a real file, read its profile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WAIT_MS = 60_000  # a Streamlit rerun on a busy machine
PROFILE_MS = 180_000  # upload + read + profile of adult.csv on a busy machine


def open_workbench(page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_text("Single-user local mode")).to_be_visible(timeout=WAIT_MS)


def upload_and_wait_for_profile(page, path) -> None:
    """Upload through the real file input; return once the profile and a chart are drawn."""
    page.locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_role("heading", name=f"Profile of {path.name}")).to_be_visible(timeout=PROFILE_MS)
    expect(page.get_by_role("heading", name="First rows")).to_be_visible(timeout=WAIT_MS)


def test_first_visit_shows_the_banner_and_what_to_do_first(page, workbench, screenshot):
    open_workbench(page, workbench)
    expect(page.get_by_text("Start here:")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Data")).to_be_visible(timeout=WAIT_MS)
    screenshot("data-empty")
    assert not page.problems.console_errors and not page.problems.page_errors


def test_uploading_adult_csv_shows_its_profile(page, workbench, datasets, screenshot):
    open_workbench(page, workbench)
    upload_and_wait_for_profile(page, datasets / "adult.csv")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
    screenshot("data-adult-profile")
    expect(page.get_by_test_id("stMetric").filter(has_text="Rows").first).to_contain_text("32,561")
    schema = page.get_by_test_id("stDataFrame").filter(has_text="why this type")
    expect(schema).to_contain_text("education-num", timeout=WAIT_MS)
    derived = page.get_by_test_id("stAlert").filter(has_text="derived from the other")
    expect(derived).to_contain_text("'education' and 'education-num'", timeout=WAIT_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(15, timeout=WAIT_MS)
    assert not page.problems.console_errors and not page.problems.page_errors


def test_markup_in_uploaded_data_shows_as_text(page, workbench, tmp_path, screenshot):
    header = "<img src=x onerror=alert(1)>"
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(f"{header},**bold**\n" + "".join(f"<b>v{i % 3}</b>,{i}\n" for i in range(60)))
    open_workbench(page, workbench)
    upload_and_wait_for_profile(page, hostile)
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_be_visible(timeout=WAIT_MS)
    screenshot("data-hostile-upload")
    card_titles = page.get_by_test_id("stMarkdownContainer").locator("strong")
    expect(card_titles.filter(has_text=header)).to_be_visible(timeout=WAIT_MS)
    expect(card_titles.filter(has_text="**bold**").first).to_be_visible(timeout=WAIT_MS)
    expect(chart).to_contain_text("<b>v0</b>", timeout=WAIT_MS)
    assert page.locator("img[src=x]").count() == 0
    assert page.problems.dialogs == []
