"""The whole journey in a real browser on the embedded defaults (SQLite, local objects, in-process worker).

Open the workbench, upload adult.csv (its first 16,000 rows, as the file the user picks: every
step below reads, trains and assesses half the full file's rows, and the holdout of 3,200 rows
still bounds the membership attacks' advantage well below the gate's 0.1), save it, see its
profile, train CTGAN for two epochs, watch the job reach 100%, generate 1,000 rows with a
condition, assess them, read the report, create a share link and open it in a fresh browser
context (no session, no login); an expired link says so. Then the release gates: set adult's
privacy budget, train a non-DP argn (three epochs) and a DP model ("auto" at the default per-run
epsilon 1 trains MST), generate 2,000 rows from each and assess each against its model's own
holdout (the Quality page's default): the exact-copy and membership-inference gates pass, and
the report counts the holdout's rows.
One screenshot per page goes to test-artifacts/journey-*.png; journey-train-after.png shows the
Train page's DP hints and journey-quality-holdout.png a report against the default holdout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import WAIT_MS, _save_screenshot, choose, gate_cells, go_to, launch_workbench

pytestmark = pytest.mark.browser

PROFILE_MS = 180_000  # upload, read and profile the 16,000 rows of the adult.csv uploaded
TRAIN_MS = 420_000  # two CTGAN epochs on adult.csv in the worker's child process, on a busy 2-core machine
JOB_MS = 180_000  # generation or assessment
RELEASE_MS = 600_000  # argn (3 epochs) then MST on adult.csv's training split, one after the other
ADULT_ROWS = 16_000  # the first rows of the real adult.csv (32,561 rows)
GATES_THAT_NEED_A_HOLDOUT = ("exact_copies", "membership_inference")


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Path:
    """adult.csv's header and its first ``ADULT_ROWS`` records, byte for byte, in a file also named adult.csv."""
    lines = (datasets / "adult.csv").read_bytes().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("upload") / "adult.csv"
    path.write_bytes(b"".join(lines[: ADULT_ROWS + 1]))
    return path


@pytest.fixture(scope="module")
def journey_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A workbench of its own (its state starts empty), and the folder that state lives in."""
    data_dir = tmp_path_factory.mktemp("journey")
    with launch_workbench(data_dir, env={"DOPPEL_JOB_LEASE_S": "4"}) as url:
        yield url, data_dir


def type_number(page: Page, label: str, value: int) -> None:
    """Type ``value`` into the number input ``label`` until it stays there.

    A rerun still in flight from the previous input (a model choice sets its default epochs)
    can overwrite a value typed too early, so the value is typed again until it holds for a second.
    """
    field = page.get_by_label(label, exact=True)
    for _ in range(5):
        field.fill(str(value))
        field.press("Enter")
        page.wait_for_timeout(1_000)
        if field.input_value() == str(value):
            return
    raise AssertionError(f"{label!r} did not keep the value {value} (shows {field.input_value()!r})")


def assess_against_the_models_holdout(page: Page, model_label: str) -> str:
    """Assess the 2,000 rows generated from ``model_label`` against its own holdout; return the gates' rows shown.

    The holdout selector starts on the rows the model's training set aside; the report counts
    them, its real rows are the rest of adult, and the exact-copy and membership gates pass.
    """
    name = re.escape(model_label)
    choose(page, "Generated data", re.compile(rf"^2,000 rows of {name}"))
    choose(page, "Target column for the utility test", "income")
    expect(page.get_by_role("combobox", name="Holdout", exact=True)).to_have_value(
        re.compile(rf"^The [\d,]+ rows set aside when {name} was trained$"), timeout=WAIT_MS)
    expect(page.get_by_text(re.compile(rf"^Holdout: [\d,]+ rows of adult v1 that {name} never saw"))
           ).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Assess quality").click()
    expect(page.get_by_text(re.compile(rf"^Report [0-9a-f]{{8}} · 2,000 rows of {name}")).first
           ).to_be_visible(timeout=JOB_MS)
    counts = page.get_by_text(re.compile(r"^Rows: real [\d,]+, synthetic 2,000, holdout [\d,]+")).first
    expect(counts).to_be_visible(timeout=WAIT_MS)
    real, _, holdout = (int(n.replace(",", "")) for n in re.findall(r"[\d,]*\d", counts.inner_text())[:3])
    assert real + holdout == ADULT_ROWS and holdout >= 0.2 * ADULT_ROWS - 1, counts.inner_text()
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=WAIT_MS)  # the whole report redrawn
    rows = {gate: gate_cells(page, gate) for gate in GATES_THAT_NEED_A_HOLDOUT}
    for gate, cells in rows.items():
        assert cells[:1] == ["PASS"], f"{model_label}: the {gate} gate did not pass against the holdout: {rows}"
    return " / ".join(" | ".join(cells) for cells in rows.values())


def expired_link(data_dir: Path) -> str:
    """A share link to the workspace's report that expired an hour ago, made in the workbench's own database."""
    from sqlalchemy import select

    from auth.provisioning import ensure_local_user
    from auth.share_links import create_share_link
    from infra.db import Database, tenant_session
    from infra.db.models import QualityReport
    from infra.db.types import utcnow
    from infra.tenant_ids import LOCAL_TENANT

    database = Database(f"sqlite:///{data_dir / 'doppel.db'}")
    try:
        actor = ensure_local_user(database)
        with tenant_session(LOCAL_TENANT, database=database) as session:
            report_id = session.scalars(select(QualityReport.id)).first()
            return create_share_link(session, report_id=report_id, expires_in=timedelta(hours=1), actor=actor,
                                     now=utcnow() - timedelta(hours=2))
    finally:
        database.dispose()


def test_from_upload_to_a_shared_quality_report(browser, page, journey_bench, adult_csv):
    url, data_dir = journey_bench
    shot = lambda name: _save_screenshot(page, f"journey-{name}")  # noqa: E731

    page.goto(url)
    expect(page.get_by_text("Single-user local mode")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Start here:")).to_be_visible(timeout=WAIT_MS)
    shot("01-data-empty")

    # Data: upload, profile, save as a dataset version.
    page.locator("input[type=file]").set_input_files(str(adult_csv))
    expect(page.get_by_role("heading", name="Profile of adult.csv")).to_be_visible(timeout=PROFILE_MS)
    page.get_by_role("button", name="Save as dataset").click()
    expect(page.get_by_text("Saved as adult v1")).to_be_visible(timeout=WAIT_MS)
    shot("02-data-saved")

    # Profile of the stored version.
    go_to(page, "Profile")
    expect(page.get_by_test_id("stMetric").filter(has_text="Rows").first).to_contain_text(f"{ADULT_ROWS:,}", timeout=WAIT_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
    shot("03-profile")

    # Train CTGAN for two epochs.
    go_to(page, "Train")
    expect(page.get_by_text("Auto picks")).to_be_visible(timeout=WAIT_MS)
    choose(page, "Model", re.compile(r"^ctgan"))
    type_number(page, "Epochs", 2)
    type_number(page, "Batch size", 1000)
    page.get_by_text("Advanced", exact=True).click()
    type_number(page, "Modes per numeric column", 3)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Training ctgan on adult v1, 2 epochs")).to_be_visible(timeout=WAIT_MS)
    shot("04-train")

    # Jobs: live progress to 100%, then finished with its loss curves.
    go_to(page, "Jobs")
    expect(page.get_by_text("Training ctgan on adult v1, 2 epochs").first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text(re.compile(r"^100%")).first).to_be_visible(timeout=TRAIN_MS)
    expect(page.get_by_text("Finished (1 most recent)")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
    shot("05-jobs")

    # Models: the registry.
    go_to(page, "Models")
    expect(page.get_by_text(re.compile(r"^Trained on "))).to_be_visible(timeout=WAIT_MS)  # not the grid's "trained on" header
    shot("06-models")

    # Generate 1,000 rows with a condition.
    go_to(page, "Generate")
    choose(page, "Column", "sex")
    choose(page, "Operator", "equals")
    choose(page, "Value", "Female")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("stCode").filter(has_text="sex == 'Female'")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text("Generated 1,000 rows")).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_test_id("stDownloadButton")).to_be_visible(timeout=WAIT_MS)
    shot("07-generate")

    # Quality: assess, then read the report.
    go_to(page, "Quality")
    choose(page, "Target column for the utility test", "income")
    page.get_by_role("button", name="Assess quality").click()
    expect(page.get_by_text(re.compile(r"quality gate (passed|failed)")).first).to_be_visible(timeout=JOB_MS)
    expect(page.get_by_role("heading", name="Gates")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
    shot("08-quality")

    # Share: create a link, open it in a fresh context without any session or login.
    page.get_by_role("tab", name="Share").click()
    page.get_by_role("button", name="Create share link").click()
    code = page.get_by_test_id("stCode").filter(has_text="share=")
    expect(code).to_be_visible(timeout=WAIT_MS)
    link = code.inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?share=[A-Za-z0-9_-]{43}", link), link
    shot("09-share")

    # Privacy: give adult the default budget (its caps allow four runs at the default per-run settings).
    go_to(page, "Privacy")
    page.get_by_text("Change the budget and sensitivity (owners and admins)").click()
    page.get_by_role("button", name="Save the budget").click()
    expect(page.get_by_text(re.compile(r"^Budget of adult set"))).to_be_visible(timeout=WAIT_MS)
    shot("10-privacy")
    go_to(page, "Settings")
    shot("10-settings")

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        viewer = fresh.new_page()
        viewer.goto(link)
        expect(viewer.get_by_role("heading", name="Shared quality report")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_text(re.compile(r"quality gate (passed|failed)")).first).to_be_visible(timeout=WAIT_MS)
        expect(viewer.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_test_id("stSidebar")).to_have_count(0)
        expect(viewer.locator("input[type=file]")).to_have_count(0)
        _save_screenshot(viewer, "journey-11-shared-report")

        viewer.goto(f"{url}/?share={expired_link(data_dir)}")
        expect(viewer.get_by_text("expired on")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.locator(".js-plotly-plot")).to_have_count(0)
        _save_screenshot(viewer, "journey-12-expired-link")
    finally:
        fresh.close()

    # Release gates: a non-DP argn and a DP model, each assessed against the holdout its training set aside.
    go_to(page, "Train")
    choose(page, "Model", re.compile(r"^argn"))
    type_number(page, "Epochs", 3)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Training argn on adult v1, 3 epochs")).to_be_visible(timeout=WAIT_MS)
    choose(page, "Model", "Let the profile choose")
    page.get_by_text("Train with differential privacy").click()
    expect(page.get_by_text(re.compile(r"^Auto picks mst\."))).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text(re.compile(r"^This dataset's budget allows 4 more runs of epsilon 1, delta"))
           ).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_label("Model name", exact=True)).to_have_attribute("placeholder", "adult (mst)")
    type_number(page, "Epochs", 30)  # MST's estimation rounds (its default)
    _save_screenshot(page, "journey-train-after")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"^Training (auto|mst) on adult v1.*with differential privacy")).first
           ).to_be_visible(timeout=WAIT_MS)

    go_to(page, "Jobs")  # CTGAN, its generation and assessment, then argn and the DP model
    expect(page.get_by_text("Finished (5 most recent)")).to_be_visible(timeout=RELEASE_MS)

    go_to(page, "Generate")
    page.get_by_role("button", name="Clear the conditions").click()
    expect(page.get_by_test_id("stCode").filter(has_text="sex == 'Female'")).to_have_count(0, timeout=WAIT_MS)
    type_number(page, "Rows", 2_000)
    for model_label in ("adult (argn) v1", "adult (mst) v1"):
        choose(page, "Model version", re.compile(rf"^{re.escape(model_label)}"))
        page.get_by_role("button", name="Generate", exact=True).click()
        expect(page.get_by_text(f"Generated 2,000 rows of {model_label}")).to_be_visible(timeout=JOB_MS)

    go_to(page, "Quality")
    seen = {label: assess_against_the_models_holdout(page, label) for label in ("adult (argn) v1", "adult (mst) v1")}
    print(f"gates against the default holdout: {seen}")
    _save_screenshot(page, "journey-quality-holdout")
    assert not page.problems.page_errors and not page.problems.console_errors, page.problems.console_errors
