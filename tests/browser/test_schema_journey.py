"""The journey of a two-table dataset in a real Chromium, on the embedded defaults (issue 18's "Done when").

Two related CSV files made from real baseball data — 200 players and every batting row of theirs,
keys intact — are uploaded together on the Data page and saved as one dataset; the Profile page
shows the schema graph (batting -> players on players_id) and lists the relation, which the user
confirms (a new version). The Train page trains the schema version under a small time limit,
Jobs sees the job finish, Models shows the schema model's two tables, Generate makes a zip of
CSV at scale 1.0 which the browser downloads and Python opens: every batting.players_id is a
players.id of the same download, and no real player's key is in it. Quality assesses it against
the model's own holdout of whole player subtrees (referential integrity 100 %, a tab per table)
and a share link opens the report in a fresh browser context, with no session. The quality
verdict itself is not asserted: two seconds of training are not meant to pass the fidelity gates.
One screenshot per page goes to test-artifacts/schema-journey-*.png; ``pytest -s`` prints the
seconds each stage took.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import Page, expect

import engine
from tests.browser.conftest import WAIT_MS, _save_screenshot, choose, gate_cells, go_to, launch_workbench

pytestmark = pytest.mark.browser

N_PLAYERS = 200
# The workbench sets aside a holdout of whole player subtrees (20 % of the roots) even for so few players.
HOLDOUT_ENV = {"DOPPEL_HOLDOUT_MIN_TABLE_ROWS": "100", "DOPPEL_HOLDOUT_MIN_ROWS": "20"}
HELD_OUT_PLAYERS = 40
TIME_LIMIT_S = 2.0  # the whole schema's training time; each table still trains at least one epoch
SAVE_MS = 120_000  # read, check, infer the keys and profile both tables
TRAIN_MS = 300_000  # a worker child process imports torch and trains two small ARGNs, on a busy 2-core machine
JOB_MS = 180_000  # a schema's generation or assessment


@pytest.fixture(scope="module")
def baseball_files(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> dict[str, Path]:
    """players.csv (the first 200 players) and batting.csv (all their batting rows): real rows, keys intact."""
    source = datasets / "multitable" / "baseball"
    players = engine.read(source / "players.csv.gz").head(N_PLAYERS)
    batting = engine.read(source / "batting.csv.gz").filter(pl.col("players_id").is_in(players["id"].implode()))
    folder = tmp_path_factory.mktemp("baseball")
    files = {"players": folder / "players.csv", "batting": folder / "batting.csv"}
    players.write_csv(files["players"])
    batting.write_csv(files["batting"])
    return files


@pytest.fixture(scope="module")
def schema_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A workbench of its own, its state starting empty."""
    data_dir = tmp_path_factory.mktemp("schema-journey")
    with launch_workbench(data_dir, env={"DOPPEL_JOB_LEASE_S": "4", **HOLDOUT_ENV}) as url:
        yield url


def type_seconds(page: Page, label: str, value: float) -> None:
    """Type ``value`` into the decimal number input ``label`` until it stays there (see test_journey.type_number)."""
    field = page.get_by_label(label, exact=True)
    for _ in range(5):
        field.fill(str(value))
        field.press("Enter")
        page.wait_for_timeout(1_000)
        if float(field.input_value() or "nan") == value:
            return
    raise AssertionError(f"{label!r} did not keep the value {value} (shows {field.input_value()!r})")


def relation_cells(page: Page) -> list[str]:
    """The cells of the one row of the report's relations table (relation, referential integrity, cardinality, ...)."""
    row = page.get_by_test_id("stDataFrame").filter(has_text="referential integrity").locator("tbody tr")
    expect(row).to_have_count(1, timeout=WAIT_MS)
    return [cell.strip() for cell in row.locator("td").all_text_contents()]


def test_a_two_table_dataset_from_upload_to_a_shared_report(browser, page, schema_bench, baseball_files):
    url = schema_bench
    real_rows = {name: pl.read_csv(path).height for name, path in baseball_files.items()}
    shot = lambda name: _save_screenshot(page, f"schema-journey-{name}")  # noqa: E731
    started, seconds = time.monotonic(), {}

    def lap(stage: str) -> None:  # seconds per stage, printed at the end (pytest -s) to see where the time goes
        seconds[stage] = round(time.monotonic() - started - sum(seconds.values()), 1)

    # Data: upload both files at once; they become one dataset of two related tables.
    page.goto(url)
    expect(page.get_by_text("Start here:")).to_be_visible(timeout=WAIT_MS)
    page.locator("input[type=file]").set_input_files([str(baseball_files["players"]), str(baseball_files["batting"])])
    expect(page.get_by_text(re.compile(r"2 files.*become one dataset of related tables"))).to_be_visible(
        timeout=WAIT_MS)
    name = page.get_by_label("Dataset name", exact=True).filter(visible=True)  # the S3 tab has one too
    expect(name).to_have_value("players_batting", timeout=WAIT_MS)
    page.get_by_role("button", name="Save as dataset").click()
    expect(page.get_by_text(re.compile(r"^Saved as players_batting v1 \(2 tables, "))).to_be_visible(timeout=SAVE_MS)
    shot("01-data")
    lap("data")

    # Profile: the schema graph (an arrow from batting to players, on players_id) and the relation, then confirm it.
    go_to(page, "Profile")
    graph = page.get_by_test_id("stGraphVizChart")
    expect(graph).to_be_visible(timeout=WAIT_MS)
    expect(graph.locator("g.node").filter(has_text="players")).to_contain_text(f"{N_PLAYERS} rows")
    expect(graph.locator("g.node").filter(has_text="players")).to_contain_text("key: id")
    expect(graph.locator("g.node").filter(has_text="batting")).to_have_count(1)
    edge = graph.locator("g.edge")
    expect(edge).to_have_count(1)
    expect(edge).to_contain_text("players_id → id")
    expect(edge.locator("title")).to_have_text("batting->players")
    relations = page.get_by_test_id("stDataFrame").filter(has_text="child table").locator("tbody tr")
    expect(relations).to_have_count(1, timeout=WAIT_MS)
    assert [c.strip() for c in relations.locator("td").all_text_contents()][:4] == [
        "batting", "players_id", "players", "id"]
    # The checkbox's label shows "->" as an arrow (Streamlit's Markdown); its accessible name is the escaped Markdown.
    keep = page.get_by_test_id("stCheckbox").filter(has_text="batting.players_id → players.id · inferred")
    expect(keep).to_have_count(1)
    keep = keep.get_by_role("checkbox")
    expect(keep).to_be_checked()
    expect(page.get_by_text("confirms them as declared keys")).to_be_visible()
    shot("02-profile")
    page.get_by_role("button", name="Save relations").click()
    expect(page.get_by_text("Saved as players_batting v2")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("confirms them as declared keys")).to_have_count(0, timeout=WAIT_MS)
    expect(graph.locator("g.edge")).to_contain_text("declared")
    shot("03-profile-confirmed")
    lap("profile")

    # Train: the confirmed version (the selector moved to it), its tables and keys, a small time limit.
    go_to(page, "Train")
    expect(page.get_by_role("combobox", name="Dataset version", exact=True)).to_have_value(
        re.compile(r"^players_batting v2"), timeout=WAIT_MS)
    tables = page.get_by_test_id("stDataFrame").filter(has_text="learned as").locator("tbody tr")
    expect(tables).to_have_count(2, timeout=WAIT_MS)
    expect(tables.filter(has_text="root: the chosen model")).to_contain_text("players")
    expect(tables.filter(has_text="child of players: ARGN")).to_contain_text("batting")
    expect(page.get_by_test_id("stMarkdown").filter(has_text="Keys training uses")).to_contain_text(
        "batting.players_id -> players.id")
    type_seconds(page, "Time limit (seconds)", TIME_LIMIT_S)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"Training \w+ on players_batting v2")).first).to_be_visible(timeout=WAIT_MS)
    shot("04-train")
    lap("train")

    # Jobs: the training ends.
    go_to(page, "Jobs")
    expect(page.get_by_text("Finished (1 most recent)")).to_be_visible(timeout=TRAIN_MS)
    expect(page.get_by_text(re.compile(r"Training \w+ on players_batting v2 · Finished"))).to_be_visible(
        timeout=WAIT_MS)
    shot("05-jobs")
    lap("jobs")

    # Models: the schema model's version, its two tables and the key it was trained with.
    go_to(page, "Models")
    expect(page.get_by_role("combobox", name="Model version", exact=True)).to_have_value(
        re.compile(r"^players_batting \(tables\) v1"), timeout=WAIT_MS)
    expect(page.get_by_test_id("stMetric").filter(has_text="Tables")).to_contain_text("2", timeout=WAIT_MS)
    model_tables = page.get_by_test_id("stDataFrame").filter(has_text="rows trained on").locator("tbody tr")
    expect(model_tables).to_have_count(2, timeout=WAIT_MS)
    names = sorted(row.locator("td").first.inner_text().strip() for row in model_tables.all())
    assert names == ["batting", "players"], names
    expect(page.get_by_test_id("stMarkdown").filter(has_text="foreign keys")).to_contain_text(
        "batting.players_id -> players.id")
    expect(page.get_by_text(re.compile(r"^Holdout: whole subtrees of 20% of the root rows \(seed 0\)"))).to_be_visible()
    players_row = [c.strip() for c in model_tables.filter(has_text="(root)").locator("td").all_text_contents()]
    assert players_row[:4] == ["players", players_row[1], str(N_PLAYERS - HELD_OUT_PLAYERS), str(HELD_OUT_PLAYERS)], \
        players_row
    shot("06-models")
    lap("models")

    # Generate: scale 1.0, a zip of CSV, downloaded by the browser and opened here.
    go_to(page, "Generate")
    expect(page.get_by_label("Scale", exact=True)).to_have_value("1.00", timeout=WAIT_MS)
    choose(page, "Output", re.compile(r"^A zip of CSV files"))
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Generated [\d,]+ rows in 2 tables of players_batting \(tables\) v1"))
           ).to_be_visible(timeout=JOB_MS)
    download_button = page.get_by_test_id("stDownloadButton").filter(has_text="Download the tables (zip of csv")
    expect(download_button).to_be_visible(timeout=WAIT_MS)
    shot("07-generate")
    with page.expect_download(timeout=WAIT_MS) as download_info:
        download_button.get_by_role("button").click()
    zipped = Path(download_info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        names = sorted(archive.namelist())
        assert names == ["batting.csv", "players.csv"], names
        players = pl.read_csv(archive.read("players.csv"), infer_schema_length=0)
        batting = pl.read_csv(archive.read("batting.csv"), infer_schema_length=0)
    assert players.height == N_PLAYERS - HELD_OUT_PLAYERS and players["id"].n_unique() == players.height
    assert batting.height > 0
    orphans = batting.filter(~pl.col("players_id").is_in(players["id"].implode()))
    assert orphans.height == 0, f"{orphans.height} of {batting.height} batting rows point at no generated player"
    real_ids = set(pl.read_csv(baseball_files["players"], infer_schema_length=0)["id"])
    assert not real_ids & set(players["id"]), "a real player's key appears in the synthetic players"
    lap("generate")

    # Quality: assess against the model's own holdout; the cross-table section and a tab per table.
    go_to(page, "Quality")
    expect(page.get_by_role("combobox", name="Generated data", exact=True)).to_have_value(
        re.compile(r"rows in 2 tables of players_batting \(tables\) v1"), timeout=WAIT_MS)
    expect(page.get_by_role("combobox", name="Holdout", exact=True)).to_have_value(
        re.compile(r"^The [\d,]+ rows set aside when players_batting \(tables\) v1 was trained$"), timeout=WAIT_MS)
    page.get_by_role("button", name="Assess quality").click()
    expect(page.get_by_role("heading", name="Schema gates")).to_be_visible(timeout=JOB_MS)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=WAIT_MS)
    counts_pattern = re.compile(r"Rows in all: real ([\d,]+), synthetic ([\d,]+), holdout ([\d,]+)")
    counts = page.get_by_text(counts_pattern).first
    expect(counts).to_be_visible(timeout=WAIT_MS)
    numbers = counts_pattern.search(counts.inner_text()).groups()  # one pattern for Playwright (JS) and Python
    rows = {k: int(v.replace(",", "")) for k, v in zip(("real", "synthetic", "holdout"), numbers)}
    assert rows["real"] + rows["holdout"] == sum(real_rows.values()) and rows["holdout"] > 0, rows
    assert rows["synthetic"] == players.height + batting.height, rows
    assert gate_cells(page, "referential_integrity")[:1] == ["PASS"]
    relation = relation_cells(page)
    assert relation[0] == "batting.players_id -> players.id" and float(relation[1]) == 1.0, relation
    tabs = [t.strip() for t in page.get_by_role("tab").all_inner_texts()]
    assert {"Across tables", "Table players", "Table batting"} <= set(tabs), tabs
    shot("08-quality")
    page.get_by_role("tab", name="Table batting").click()
    expect(page.get_by_role("heading", name="Gates", exact=True).filter(visible=True)).to_have_count(1, timeout=WAIT_MS)
    lap("quality")

    # Share: a link, opened in a fresh context without any session or login.
    page.get_by_role("tab", name="Share").click()
    page.get_by_role("button", name="Create share link").click()
    code = page.get_by_test_id("stCode").filter(has_text="share=")
    expect(code).to_be_visible(timeout=WAIT_MS)
    link = code.inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?share=[A-Za-z0-9_-]{43}", link), link
    shot("09-share")

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        viewer = fresh.new_page()
        viewer.goto(link)
        expect(viewer.get_by_role("heading", name="Shared quality report")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_role("heading", name="Schema gates")).to_be_visible(timeout=WAIT_MS)
        assert relation_cells(viewer) == relation
        expect(viewer.get_by_role("tab", name="Table players")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_role("tab", name="Table batting")).to_be_visible(timeout=WAIT_MS)
        expect(viewer.locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
        expect(viewer.get_by_test_id("stSidebar")).to_have_count(0)
        expect(viewer.locator("input[type=file]")).to_have_count(0)
        _save_screenshot(viewer, "schema-journey-10-shared-report")
    finally:
        fresh.close()
    lap("share")
    print(f"seconds per stage: {seconds}")
    assert not page.problems.page_errors and not page.problems.console_errors, page.problems.console_errors
