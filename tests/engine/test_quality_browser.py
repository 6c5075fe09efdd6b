"""The HTML report opens in a real (headless) Chromium from file://, offline, without errors.

Two adult reports: unseen real rows as the synthetic table (everything passes) and a noisy copy
of the training rows (privacy blocks). Screenshots go to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from tests.engine.quality_fixtures import split, synthetic_case

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("case", ["unseen", "noisy"])
def test_the_adult_report_renders_every_figure_without_console_errors(case, browser, tmp_path):
    train, holdout, _ = split("adult")
    report = engine.assess(real=train, synthetic=synthetic_case("adult", case), holdout=holdout, target="income",
                           config={"utility": {"importance_repeats": 1, "importance_rows": 1_000}})
    path = tmp_path / f"adult_{case}.html"
    report.to_html(path)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(path.as_uri(), wait_until="load")
    figures = page.locator("div.fig").count()
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {figures}", timeout=60_000)

    assert problems == []
    assert outside == []  # opens offline: nothing is fetched
    assert page.locator(".js-plotly-plot").count() == figures > 20
    assert page.locator("#gates tbody tr").count() == 5
    expected = "Passed" if case == "unseen" else "Blocked"
    assert page.locator("#summary strong").inner_text() == expected
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"quality_report_adult_{case}.png"), full_page=True)
    page.close()
