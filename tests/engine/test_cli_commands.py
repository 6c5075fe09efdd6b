"""``python -m engine`` on local files: profile, train, sample and assess a sample of adult.csv."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.__main__ import conditions_argument, main

COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> tuple[Path, Path]:
    """600 training rows and 300 holdout rows of adult.csv, as CSV files."""
    folder = tmp_path_factory.mktemp("cli-commands")
    rows = engine.read(datasets / "adult.csv").select(COLUMNS).sample(900, seed=3)
    rows.head(600).write_csv(folder / "train.csv")
    rows.tail(300).write_csv(folder / "holdout.csv")
    return folder / "train.csv", folder / "holdout.csv"


@pytest.fixture(scope="module")
def model(adult: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli-model") / "adult.zip"
    assert main(["train", str(adult[0]), "--model", "tvae", "--epochs", "1", "--param", "num_threads=1",
                 "--out", str(out)]) == 0
    return out


def test_profile_prints_the_table_s_profile_as_json(adult, capsys) -> None:
    assert main(["profile", str(adult[0])]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert profile["n_rows"] == 600 and set(profile["columns"]) == set(COLUMNS)
    assert profile["recommendation"]["model"]


def test_train_prints_a_summary_and_saves_a_loadable_model(model: Path) -> None:
    assert engine.load_model(model).kind == "tvae"


def test_sample_writes_n_rows_and_the_same_seed_gives_the_same_rows(model, tmp_path, capsys) -> None:
    for name in ("a.csv", "b.csv"):
        assert main(["sample", str(model), "-n", "250", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 250 and summary["format"] == "csv"
    first, second = pl.read_csv(tmp_path / "a.csv"), pl.read_csv(tmp_path / "b.csv")
    assert first.height == 250 and set(first.columns) == set(COLUMNS) and first.equals(second)


def test_sample_meets_conditions_given_as_an_expression_or_json(model, tmp_path) -> None:
    assert main(["sample", str(model), "-n", "40", "--conditions", '{"sex": "Female"}', "--seed", "1",
                 "--out", str(tmp_path / "f.ndjson")]) == 0
    assert set(pl.read_ndjson(tmp_path / "f.ndjson")["sex"]) == {"Female"}
    assert main(["sample", str(model), "-n", "40", "--conditions", "age >= 30", "--seed", "1",
                 "--out", str(tmp_path / "old.parquet")]) == 0
    assert pl.read_parquet(tmp_path / "old.parquet")["age"].min() >= 30


def test_bad_sample_options_exit_2_naming_the_problem(model, tmp_path, capsys) -> None:
    assert main(["sample", str(model), "-n", "0", "--out", str(tmp_path / "x.csv")]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert main(["sample", str(model), "-n", "5", "--conditions", "{nope", "--out", str(tmp_path / "x.csv")]) == 2
    assert "not one" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_assess_exit_code_follows_the_report_s_verdict(model, adult, tmp_path) -> None:
    syn = tmp_path / "syn.csv"
    assert main(["sample", str(model), "-n", "600", "--seed", "2", "--out", str(syn)]) == 0
    code = main(["assess", str(adult[0]), str(syn), "--holdout", str(adult[1]), "--quiet",
                 "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == (0 if report["passed"] else 1)


def test_a_server_option_is_sent_to_the_doppel_command_not_run_locally(capsys) -> None:
    assert main(["profile", "x.csv", "--server", "http://127.0.0.1:1", "--key", "dpk_x"]) == 2
    assert "doppel command" in capsys.readouterr().err


def test_conditions_text_becomes_a_dict_only_when_it_is_a_json_object() -> None:
    assert conditions_argument('{"sex": "Male"}') == {"sex": "Male"}
    assert conditions_argument("age > 3") == "age > 3" and conditions_argument("  ") is None
