"""The Data page, run by Streamlit's AppTest through the real entry script (app/main.py)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components.column_charts import column_figure
from app.identity import LOCAL_MODE_BANNER
from app.uploads import OUTCOME_KEY

MAIN_SCRIPT = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT_S = 180  # profiling adult.csv on a busy 2-core machine


def shown(markdown: str) -> str:
    """The text a reader sees for Markdown whose punctuation was backslash-escaped."""
    return re.sub(r"\\([" + re.escape(string.punctuation) + "])", r"\1", markdown)


def open_app() -> AppTest:
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    return at.run()


def upload(at: AppTest, filename: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader[0].set_value((filename, data, mime))
    return at.run()


@pytest.fixture(scope="module")
def adult_page(datasets) -> AppTest:
    """The Data page after uploading the real adult.csv (profiled once for this module)."""
    return upload(open_app(), "adult.csv", (datasets / "adult.csv").read_bytes())


def test_first_visit_shows_the_local_mode_banner():
    at = open_app()
    assert not at.exception
    assert LOCAL_MODE_BANNER in [w.value for w in at.warning]


def test_first_visit_says_to_upload_a_file_first():
    at = open_app()
    assert len(at.file_uploader) == 1
    assert any("Start here" in info.value and "upload" in info.value for info in at.info)


def test_uploader_offers_tables_and_compressed_files():
    allowed = set(open_app().file_uploader[0].allowed_type)
    assert {".csv", ".tsv", ".parquet", ".json", ".ndjson", ".gz", ".zst"} <= allowed


def test_upload_shows_the_row_and_column_counts(adult_page):
    metrics = {metric.label: metric.value for metric in adult_page.metric}
    assert metrics["Rows"] == "32,561"
    assert metrics["Columns"] == "15"


def test_upload_shows_a_schema_row_per_column(adult_page):
    schema = next(df.value for df in adult_page.dataframe if "why this type" in df.value.columns)
    assert list(schema["column"]) == [
        "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
        "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
        "native-country", "income",
    ]
    assert schema["type"].notna().all() and schema["why this type"].str.len().gt(0).all()


def test_upload_charts_every_column_that_has_a_distribution(adult_page):
    profile = adult_page.session_state[OUTCOME_KEY].result.profile
    chartable = [name for name, column in profile.columns.items() if column_figure(column) is not None]
    assert len(chartable) >= 10
    assert len(adult_page.get("plotly_chart")) == len(chartable)


def test_upload_shows_every_profile_warning(adult_page):
    profile = adult_page.session_state[OUTCOME_KEY].result.profile
    assert profile.warnings, "adult.csv has skewed and derived columns the profile warns about"
    text = shown(" ".join(warning.value for warning in adult_page.warning))
    for warning in profile.warnings:
        assert warning.message in text


def test_upload_shows_the_recommended_model(adult_page):
    model = adult_page.session_state[OUTCOME_KEY].result.profile.recommendation.model
    assert any(f"Recommended model: {model}" in shown(info.value) for info in adult_page.info)


def test_upload_shows_the_first_rows(adult_page):
    preview = next(df.value for df in adult_page.dataframe if "fnlwgt" in df.value.columns)
    assert len(preview) == 20


def test_rerun_keeps_the_profile_instead_of_profiling_again(adult_page):
    outcome = adult_page.session_state[OUTCOME_KEY]
    adult_page.run()
    assert adult_page.session_state[OUTCOME_KEY] is outcome
    assert not adult_page.exception


def test_binary_bytes_named_csv_show_an_error_not_a_traceback(datasets):
    gzip_bytes = (datasets / "california_housing.csv.gz").read_bytes()[:4096]
    at = upload(open_app(), "housing.csv", gzip_bytes)
    assert not at.exception
    assert len(at.error) == 1 and "housing.csv" in shown(at.error[0].value)
    assert "Traceback" not in at.error[0].value
    assert not at.get("plotly_chart")


def test_empty_csv_shows_an_error_naming_the_file():
    at = upload(open_app(), "empty.csv", b"")
    assert not at.exception
    assert len(at.error) == 1 and "empty.csv" in shown(at.error[0].value)


def test_removing_the_file_goes_back_to_the_start_hint():
    at = upload(open_app(), "small.csv", b"city,visitors\nParis,3\nLyon,5\nNice,8\n")
    assert OUTCOME_KEY in at.session_state
    at.file_uploader[0].set_value(None)
    at.run()
    assert OUTCOME_KEY not in at.session_state
    assert any("Start here" in info.value for info in at.info)


def test_a_configured_login_provider_is_refused_not_ignored():
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    at.secrets["auth"] = {"client_id": "doppel", "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}
    at.run()
    assert any("[auth]" in error.value for error in at.error)
    assert not at.file_uploader


def test_personal_data_and_key_candidates_are_listed():
    rows = "".join(f"{1000 + i},user{i}@example.com,{['Lyon', 'Paris', 'Nice'][i % 3]}\n" for i in range(60))
    at = upload(open_app(), "customers.csv", ("customer_id,email,city\n" + rows).encode())
    pii = next(df.value for df in at.dataframe if "treatment" in df.value.columns)
    assert list(pii["column"]) == ["email"]
    assert pii["treatment"].iloc[0].split(":")[0] in {"drop", "fake", "keep"}
    profile = at.session_state[OUTCOME_KEY].result.profile
    assert "customer_id" in profile.key_candidates
    assert any("customer_id" in shown(md.value) and "primary key" in md.value for md in at.markdown)


def test_wide_tables_chart_the_first_columns_and_let_the_user_pick():
    header = ",".join(f"c{j}" for j in range(35))
    rows = "".join(",".join(str((i * (j + 3)) % 17) for j in range(35)) + "\n" for i in range(80))
    at = upload(open_app(), "wide.csv", (header + "\n" + rows).encode())
    picker = at.multiselect(key="profile_charted_columns")
    assert picker.value == [f"c{j}" for j in range(30)]
    picker.set_value(["c34"]).run()
    assert len(at.get("plotly_chart")) == 1
