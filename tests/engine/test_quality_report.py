"""The report's stable JSON schema, its versioning, and the standalone HTML page."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

import engine
from engine.errors import InputError
from engine.quality.definitions import METRICS_VERSION
from engine.quality.report import QualityReport
from tests.engine.quality_fixtures import assessed, split


@pytest.fixture(scope="module")
def full_report():
    return assessed("adult", "unseen", ("fidelity", "utility", "privacy"))


def test_engine_assess_is_public_and_returns_a_quality_report(full_report):
    assert engine.QualityReport is QualityReport
    assert isinstance(full_report, engine.QualityReport)


def test_the_json_reads_back_into_the_same_report(full_report):
    text = full_report.to_json()
    again = QualityReport.from_json(text)
    assert again.to_json() == text
    assert again.passed == full_report.passed
    assert [g.to_dict() for g in again.gates] == [g.to_dict() for g in full_report.gates]


def test_the_json_has_the_stable_top_level_schema_and_no_nan(full_report):
    data = json.loads(full_report.to_json())
    assert set(data) == {
        "schema", "schema_version", "metrics_version", "engine_version", "created_at", "passed", "status",
        "scores", "score_formulas", "score_components", "gates", "recommendations", "notes", "inputs",
        "fidelity", "utility", "privacy", "definitions", "config", "timings",
    }
    assert data["schema"] == "doppel.quality_report"
    assert set(data["gates"][0]) == {"name", "pillar", "metric", "comparison", "threshold", "value", "reference",
                                     "status", "severity", "message", "offenders", "lower", "upper", "confidence",
                                     "samples", "needed"}
    assert data["config"]["gates"]["column_distance"] == {"threshold": 0.15, "severity": "block", "enabled": True}
    assert "NaN" not in full_report.to_json()


def test_every_metric_definition_carries_a_version(full_report):
    data = full_report.to_dict()
    assert data["metrics_version"] == METRICS_VERSION
    for name in ("ks_distance", "tv_distance", "binned_accuracy", "tstr", "mia_advantage", "score_overall"):
        assert data["definitions"][name]["version"]
        assert data["definitions"][name]["text"]


def test_reports_of_different_metric_versions_are_never_compared(full_report):
    other = QualityReport.from_dict({**full_report.to_dict(), "metrics_version": "0.9"})
    with pytest.raises(InputError, match="different metric definitions"):
        full_report.compare(other)
    assert full_report.compare(full_report)["overall"] == 0.0


def test_a_file_that_is_not_a_report_or_from_a_newer_schema_is_refused(full_report):
    with pytest.raises(InputError, match="not a Doppel quality report"):
        QualityReport.from_json('{"scores": {}}')
    with pytest.raises(InputError, match="newer than this engine"):
        QualityReport.from_dict({**full_report.to_dict(), "schema_version": 99})


def test_the_html_is_one_offline_file_with_plotly_embedded_once(full_report, tmp_path):
    path = tmp_path / "report.html"
    page = full_report.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert not list(tmp_path.glob("*.part"))
    assert len(re.findall(r"plotly\.js v\d", page)) == 1  # the library's banner: embedded once
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing fetched
    columns = [c["name"] for c in full_report.fidelity["columns"]]
    figures = len(columns) + 3 + 2 + 2  # distributions, heatmaps, utility and importance, DCR and ROC
    assert page.count('class="fig"') == figures
    assert len(re.findall(r'Plotly\.newPlot\("fig-\d+"', page)) == figures  # all data inline
    for section in ("gates", "recommendations", "fidelity", "utility", "privacy", "notes"):
        assert f'id="{section}"' in page


def test_text_from_the_data_cannot_inject_markup(tmp_path):
    train, holdout, fresh = split("california")
    evil = "<img src=x onerror=alert(1)>"
    rename = {"ocean_proximity": evil}
    rep = engine.assess(real=train.rename(rename), synthetic=fresh.rename(rename), holdout=holdout.rename(rename),
                        config={"pillars": ["fidelity"]})
    page = rep.to_html(tmp_path / "r.html")
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_report_renders_from_its_stored_json_alone(full_report, tmp_path):
    again = QualityReport.from_json(full_report.to_json())
    assert again.to_html() == full_report.to_html()


def test_subsampling_is_stated_in_the_notes():
    frame = pl.concat([split("adult")[0]] * 3)  # 15,000 rows
    rep = engine.assess(real=frame, synthetic=frame, config={"pillars": ["utility"],
                                                             "utility": {"max_train_rows": 4_000, "importance_rows": 500}},
                        target="income")
    assert any("seeded sample of 4,000" in n for n in rep.notes)


def test_the_json_is_written_whole_to_a_path_when_given(full_report, tmp_path):
    path = tmp_path / "report.json"
    text = full_report.to_json(path, indent=2)
    assert path.read_text(encoding="utf-8") == text
    assert not list(tmp_path.glob("*.part"))
    assert QualityReport.from_json(text).to_json() == full_report.to_json()


# --- the HTML's binned-accuracy table, and advice that knows the model ----------------------------------------------


@pytest.fixture(scope="module")
def self_report(datasets):
    """A tiny slice of adult assessed against itself, as a DP CTGAN's output would be (every row an exact copy)."""
    frame = engine.read(datasets / "adult.csv").head(600)
    return engine.assess(real=frame, synthetic=frame, config={"pillars": ["fidelity", "privacy"]},
                         model={"kind": "ctgan", "private": True})


def _tables_after(html: str, heading: str) -> list[tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]]:
    """The tables that follow ``heading`` up to the next heading: [(header cells, body rows)], each cell (class, text)."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables: list[tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]] = []
            self.cell: list[str] | None = None
            self.row: list[tuple[str, str]] = []
            self.part = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.tables.append(([], []))
            elif tag in ("thead", "tbody"):
                self.part = tag
            elif tag == "tr":
                self.row = []
            elif tag in ("th", "td"):
                self.cell = [dict(attrs).get("class") or "", ""]

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell[1] += data

        def handle_endtag(self, tag: str) -> None:
            if tag in ("th", "td") and self.cell is not None:
                self.row.append((self.cell[0], self.cell[1]))
                self.cell = None
            elif tag == "tr" and self.tables:
                head, body = self.tables[-1]
                (head.extend(self.row) if self.part == "thead" else body.append(self.row))

    start = html.index(heading)
    end = html.find("<h3>", start + len(heading))
    parser = Cells()
    parser.feed(html[start:end if end != -1 else None])
    return parser.tables


def test_the_html_binned_accuracy_table_has_its_headers_over_its_columns(self_report):
    tables = _tables_after(self_report.to_html(), "Binned accuracy")
    assert len(tables) == 1
    header, rows = tables[0]
    assert [text for _, text in header] == ["level", "synthetic", "ceiling (holdout)", "gap"]
    assert [text for _, text in (row[0] for row in rows)] == ["univariate", "bivariate", "trivariate", "overall"]
    for row in rows:
        assert len(row) == len(header)
        assert [cls for cls, _ in row] == [cls for cls, _ in header], "each header aligned as its column's cells"


def test_the_html_per_column_table_aligns_every_header_with_its_cells(self_report):
    header, rows = _tables_after(self_report.to_html(), "<h3>Per column")[0]
    assert rows and all([cls for cls, _ in row] == [cls for cls, _ in header] for row in rows)


def test_advice_for_a_dp_model_never_suggests_dp_nor_the_same_model(self_report):
    assert any(g.name == "exact_copies" and g.failed for g in self_report.gates)
    advice = " ".join(self_report.recommendations)
    assert "smaller epsilon" in advice
    assert "differential privacy" not in advice and "'ctgan'" not in advice
    assert self_report.inputs["model"] == {"kind": "ctgan", "private": True}
