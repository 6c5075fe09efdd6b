"""The ``doppel`` command with ``--server URL --key KEY``: the CLI's commands sent to the real API server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import polars as pl
import pytest

from app.api.cli_remote import main
from tests.api.conftest import SAMPLE_COLUMNS, ApiServer, Trained, adult_csv


@pytest.fixture(scope="module")
def remote(api: ApiServer) -> list[str]:
    """``--server`` and ``--key`` options with a train-scoped key of the local owner."""
    answer = api.client.post("/keys", json={"name": f"cli-{uuid.uuid4().hex[:6]}", "scopes": ["train"]})
    assert answer.status_code == 201, answer.text
    return ["--server", api.url, "--key", answer.json()["secret"]]


@pytest.fixture(scope="module")
def adult_file(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Path:
    path = tmp_path_factory.mktemp("cli-server") / "adult_cli.csv"
    path.write_bytes(adult_csv(datasets, rows=200))
    return path


def test_profile_uploads_the_table_and_prints_the_server_s_profile(remote, adult_file, capsys) -> None:
    assert main(["profile", str(adult_file), *remote]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert set(SAMPLE_COLUMNS) <= set(json.dumps(profile).replace('"', " ").split())


def test_train_then_sample_through_the_server(remote, adult_file, tmp_path, capsys) -> None:
    assert main(["train", str(adult_file), "--model", "mst", "--epochs", "1", "--out", str(tmp_path / "m.json"),
                 *remote]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["status"] == "succeeded" and trained["model_version_id"]
    assert json.loads((tmp_path / "m.json").read_text()) == trained
    out = tmp_path / "rows.parquet"
    assert main(["sample", trained["model_id"], "-n", "30", "--seed", "2", "--conditions", '{"sex": "Male"}',
                 "--out", str(out), *remote]) == 0
    rows = pl.read_parquet(out)
    assert rows.height == 30 and set(rows["sex"]) == {"Male"}


def test_assess_exits_by_the_report_s_verdict(remote, trained: Trained, tmp_path, capsys) -> None:
    code = main(["assess", trained.model_version_id, "-n", "300", "--json", str(tmp_path / "r.json"), *remote])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == (0 if report["passed"] else 1) and summary["passed"] == report["passed"]


def test_a_refused_request_exits_2_with_the_server_s_message(api: ApiServer, capsys) -> None:
    made_up = f"dpk_local_{uuid.uuid4()}_{'x' * 43}"
    assert main(["sample", "m", "-n", "1", "--out", "x.csv", "--server", api.url, "--key", made_up]) == 2
    assert "invalid API key (401" in capsys.readouterr().err


def test_without_a_server_the_command_runs_locally(capsys) -> None:
    assert main(["profile", "does-not-exist.csv"]) == 2
    assert "data file not found" in capsys.readouterr().err
