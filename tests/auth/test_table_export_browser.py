"""In a real browser: a table of uploaded data offers no export that would carry a formula out.

Streamlit's own "Download as CSV" (in the toolbar of every st.dataframe / st.data_editor)
writes cells as they are, so an uploaded ``=1+1`` or ``@SUM(A1)`` would reach a
spreadsheet as a formula. The workbench switches that export off (``app/data_export.py``):
the "First rows" table of an upload shows such cells literally, and every table's toolbar
has its other buttons but no download, whether the option came from the launcher
(``streamlit_config/config.toml``) or an environment variable turned it off and the entry
script turned it back on. (With the option off the same toolbars offer "Download as CSV".)
The workbench's own downloads are neutralised instead (``test_generated_csv_export``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import launch_workbench

pytestmark = pytest.mark.browser

WAIT_MS = 60_000  # a Streamlit rerun on a busy machine
FORMULAS = ["=1+1", "@SUM(A1)", "+SUM(A1)", "-2+3"]


@pytest.fixture(scope="module", params=["launcher", "option-turned-off"])
def workbench_url(request, tmp_path_factory) -> Iterator[str]:
    """"launcher": the run's shared workbench (``tests/conftest.py``), started by the launcher with its
    defaults; "option-turned-off": one of its own, with the option turned off in the environment."""
    if request.param == "launcher":
        yield request.getfixturevalue("workbench")
        return
    with launch_workbench(tmp_path_factory.mktemp("doppel-export"),
                          env={"STREAMLIT_CLIENT_DISABLE_DATA_EXPORT": "false"}) as url:
        yield url


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def test_the_first_rows_of_an_upload_show_formulas_literally_and_cannot_be_downloaded(page, workbench_url, tmp_path):
    upload = tmp_path / "formulas.csv"
    upload.write_text("city,amount\n" + "".join(f"{FORMULAS[i % len(FORMULAS)]},{i}\n" for i in range(40)))
    page.goto(workbench_url)
    expect(page.get_by_text("Single-user local mode")).to_be_visible(timeout=WAIT_MS)
    page.locator("input[type=file]").set_input_files(str(upload))
    expect(page.get_by_role("heading", name="First rows")).to_be_visible(timeout=180_000)

    tables = page.get_by_test_id("stDataFrame")
    first_rows = tables.filter(has_text="@SUM(A1)").first
    expect(first_rows).to_be_visible(timeout=WAIT_MS)
    for formula in FORMULAS:
        expect(first_rows).to_contain_text(formula, timeout=WAIT_MS)  # shown as it is, not rewritten

    # Every table on screen (a collapsed expander's table, such as the suggested settings, is not drawn).
    frames = page.get_by_test_id("stFullScreenFrame").filter(has=page.get_by_test_id("stDataFrame")).filter(visible=True)
    assert frames.count() >= 2  # every table of the upload's profile, each with its own toolbar
    for index in range(frames.count()):
        frame = frames.nth(index)
        frame.scroll_into_view_if_needed()
        frame.hover()
        expect(frame.get_by_role("button", name="Search")).to_be_visible(timeout=WAIT_MS)
        expect(frame.get_by_role("button", name="Download as CSV")).to_have_count(0)
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
