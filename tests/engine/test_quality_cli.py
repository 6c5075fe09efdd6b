"""`python -m engine assess`: a CI step that fails (exit 1) when a blocking gate fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.quality_fixtures import split

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    train, holdout, fresh = split("adult")
    paths = {"train": folder / "train.csv", "holdout": folder / "holdout.parquet", "fresh": folder / "fresh.csv"}
    train.write_csv(paths["train"])
    holdout.write_parquet(paths["holdout"])
    fresh.write_csv(paths["fresh"])
    return paths


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "assess", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_unseen_rows_exit_0_and_write_the_html_and_json_reports(files, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"utility": {"importance_repeats": 1, "importance_rows": 500}}))
    out = run_cli(files["train"], files["fresh"], "--holdout", files["holdout"], "--target", "income",
                  "--config", config, "--html", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is True
    assert report["utility"]["target"] == "income"
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "Quality report: PASSED" in out.stdout
    assert "[        pass] privacy/membership_inference" in out.stdout


def test_a_copy_of_the_training_rows_exits_1(files, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"pillars": ["fidelity", "privacy"]}))
    out = run_cli(files["train"], files["train"], "--holdout", files["holdout"], "--config", config, "--quiet")
    assert out.returncode == 1
    assert out.stdout == ""


def test_a_missing_file_exits_2_naming_it(files):
    out = run_cli(files["train"], "/nowhere/synthetic.csv")
    assert out.returncode == 2
    assert "synthetic file not found: /nowhere/synthetic.csv" in out.stderr


def test_a_wrong_config_exits_2_saying_what_is_allowed(files, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"gates": {"column_distance": {"severity": "fatal"}}}))
    out = run_cli(files["train"], files["fresh"], "--config", config)
    assert out.returncode == 2
    assert "'block' or 'warn'" in out.stderr


def test_raw_csv_text_can_be_stripped_and_a_sentinel_read_as_null(datasets, tmp_path):
    lines = (datasets / "adult.csv").read_text().splitlines(keepends=True)
    (tmp_path / "real.csv").write_text("".join(lines[:3_001]))
    (tmp_path / "synthetic.csv").write_text(lines[0] + "".join(lines[3_001:6_001]))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"pillars": ["fidelity"]}))
    out = run_cli(tmp_path / "real.csv", tmp_path / "synthetic.csv", "--strip", "--null-value", "?",
                  "--config", config, "--json", tmp_path / "r.json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    workclass = next(c for c in report["fidelity"]["columns"] if c["name"] == "workclass")
    assert 0.03 < workclass["null_share_real"] < 0.09  # '?' became null
    assert report["fidelity"]["distributions"]["sex"]["labels"][:2] == ["Male", "Female"]  # no leading space


def test_raw_csv_text_is_read_as_engine_read_reads_it_without_any_flag(datasets, tmp_path):
    lines = (datasets / "adult.csv").read_text().splitlines(keepends=True)
    (tmp_path / "real.csv").write_text("".join(lines[:3_001]))
    (tmp_path / "synthetic.csv").write_text(lines[0] + "".join(lines[3_001:6_001]))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"pillars": ["fidelity"]}))
    out = run_cli(tmp_path / "real.csv", tmp_path / "synthetic.csv", "--config", config,
                  "--json", tmp_path / "r.json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    workclass = next(c for c in report["fidelity"]["columns"] if c["name"] == "workclass")
    assert 0.03 < workclass["null_share_real"] < 0.09  # a lone '?' is a missing marker
    assert report["fidelity"]["distributions"]["sex"]["labels"][:2] == ["Male", "Female"]  # no leading space
