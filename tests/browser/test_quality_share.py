"""The report shared is the report shown: assess twice in one browser session, then share and download.

A workspace is seeded through the real services (a sample of adult.csv, a CTGAN trained for
one epoch with a holdout set aside, 300 and 1,000 generated rows), then the workbench starts
on it and Chromium drives the Quality page: assess the 300 rows, then the 1,000 rows, each
against the model's own holdout (the default). The "Quality report" selector, the header, the
share link (opened in a fresh browser context, no session) and the JSON download must all be
the second report. Screenshots go to test-artifacts/quality-share-*.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.page_support import (
    ENVIRONMENT,
    FAST_TRANSFORMER,
    _install_worker_environment,
    adult_sample,
    clear_caches,
    csv_bytes,
    wait_for_job,
)
from tests.browser.conftest import _save_screenshot, launch_workbench

pytestmark = pytest.mark.browser

WAIT_MS = 60_000  # a Streamlit rerun on a busy machine
HOLDOUT_ENV = {"DOPPEL_HOLDOUT_MIN_TABLE_ROWS": "300", "DOPPEL_HOLDOUT_MIN_ROWS": "120"}
"""Let the 400-row sample spare a holdout of its own (120 rows: enough for the membership attacks)."""
JOB_MS = 240_000  # an assessment in the workbench's worker, on a busy 2-core machine


def _seed(data_dir: Path, datasets: Path) -> None:
    """A dataset, a one-epoch CTGAN and two generated datasets (300 and 1,000 rows), made by the real services."""
    from auth.provisioning import ensure_local_user
    from infra.jobs.queue import stop_embedded_worker
    from infra.tenant_ids import LOCAL_TENANT
    from infra.usecases import dataset_store, job_requests
    from infra.usecases.job_requests import TrainingRequest
    from workers.environment import use_environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(data_dir))
        for name, value in {**ENVIRONMENT, **HOLDOUT_ENV}.items():
            patch.setenv(name, value)
        clear_caches()
        _install_worker_environment()
        try:
            actor = ensure_local_user()
            stored = dataset_store.store_upload(LOCAL_TENANT, data=csv_bytes(adult_sample(datasets)),
                                                filename="adult-sample.csv", dataset_name="adult-sample", actor=actor)
            train = job_requests.request_training(LOCAL_TENANT, request=TrainingRequest(
                dataset_version_id=stored.version_id, model="ctgan", epochs=1, batch_size=200,
                transformer=FAST_TRANSFORMER, model_name="share test"), actor=actor)
            trained = wait_for_job(LOCAL_TENANT, train.id, actor)
            assert trained.state == "succeeded", trained.error
            for n_rows in (300, 1_000):
                job = job_requests.request_generation(LOCAL_TENANT, model_version_id=trained.result["model_version_id"],
                                                      n_rows=n_rows, actor=actor, seed=n_rows, output_format="csv")
                done = wait_for_job(LOCAL_TENANT, job.id, actor)
                assert done.state == "succeeded", done.error
        finally:
            stop_embedded_worker()
            use_environment(None)
            clear_caches()


@pytest.fixture(scope="module")
def seeded_bench(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[tuple[str, Path]]:
    """A workbench on a seeded workspace of its own, and the folder that workspace lives in."""
    data_dir = tmp_path_factory.mktemp("quality-share")
    _seed(data_dir, datasets)
    with launch_workbench(data_dir, env={**ENVIRONMENT, **HOLDOUT_ENV}) as url:
        yield url, data_dir


def choose(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option).first.click()


def assess(page: Page, generated: re.Pattern[str], rows: str) -> None:
    """Assess the generated data ``generated`` names; returns when the page shows a report of ``rows`` rows."""
    choose(page, "Generated data", generated)
    choose(page, "Target column for the utility test", "income")
    expect(page.get_by_role("combobox", name="Holdout", exact=True)).to_have_value(
        "The 120 rows set aside when share test v1 was trained")  # the model's own holdout, by default
    expect(page.get_by_text(re.compile(r"^Holdout: 120 rows of adult-sample v1 that share test v1 never saw"))
           ).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Assess quality").click()
    expect(page.get_by_text(f"Rows: real 280, synthetic {rows}, holdout 120").first).to_be_visible(timeout=JOB_MS)


def overall_score(page: Page) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text="Overall score").first
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def resolved_report_id(data_dir: Path, token: str) -> str:
    """The report the token opens, read from the workbench's own database."""
    from auth.share_links import resolve_share_link
    from infra.db import Database

    database = Database(f"sqlite:///{data_dir / 'doppel.db'}")
    try:
        return resolve_share_link(token, database=database).report_id
    finally:
        database.dispose()


def test_after_two_assessments_the_shared_and_downloaded_report_is_the_one_on_screen(browser, page, seeded_bench):
    url, data_dir = seeded_bench
    page.goto(url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Quality", exact=True).click()
    expect(page.get_by_role("heading", name="Quality", exact=True)).to_be_visible(timeout=WAIT_MS)

    assess(page, re.compile(r"^300 rows of"), "300")
    assess(page, re.compile(r"^1,000 rows of"), "1,000")

    selector = page.get_by_role("combobox", name="Quality report", exact=True)
    expect(selector).to_have_value(re.compile(r"^1,000 rows of"), timeout=WAIT_MS)
    header = page.get_by_text(re.compile(r"^Report [0-9a-f]{8} · 1,000 rows of")).first
    expect(header).to_be_visible(timeout=WAIT_MS)
    short_id = header.inner_text().split()[1]
    expect(selector).to_have_value(re.compile(short_id))
    score = overall_score(page)
    _save_screenshot(page, "quality-share-01-second-report")

    page.get_by_role("tab", name="Compare").click()
    expect(page.get_by_text(re.compile(r"^First: 1,000 rows of .*" + short_id))).to_be_visible(timeout=WAIT_MS)

    page.get_by_role("tab", name="Download").click()
    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_role("button", name="Download JSON").click()
    downloaded = json.loads(Path(download.value.path()).read_text())
    assert downloaded["report_id"].startswith(short_id)
    assert downloaded["inputs"]["rows"]["synthetic"] == 1_000
    assert f"{downloaded['scores']['overall']:.2f}" == score

    page.get_by_role("tab", name="Share").click()
    page.get_by_role("button", name="Create share link").click()
    code = page.get_by_test_id("stCode").filter(has_text="share=")
    expect(code).to_be_visible(timeout=WAIT_MS)
    link = code.inner_text().strip()
    expect(selector).to_have_value(re.compile(short_id))  # the click sent the selection back unchanged
    assert resolved_report_id(data_dir, link.split("share=", 1)[1]) == downloaded["report_id"]

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        viewer = fresh.new_page()
        viewer.goto(link)
        expect(viewer.get_by_role("heading", name="Shared quality report")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_text("Rows: real 280, synthetic 1,000, holdout 120").first).to_be_visible(timeout=WAIT_MS)
        assert overall_score(viewer) == score
        _save_screenshot(viewer, "quality-share-02-shared-view")
    finally:
        fresh.close()
    assert not page.problems.page_errors, page.problems.page_errors
