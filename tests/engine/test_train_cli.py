"""``python -m engine train``: fit and save a model from the command line, and resume a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from engine.__main__ import main


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Path:
    path = tmp_path_factory.mktemp("cli") / "adult_1500.parquet"
    engine.read(datasets / "adult.csv").head(1_500).write_parquet(path)
    return path


def test_train_saves_a_model_and_resume_continues_from_its_checkpoint(rows: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = tmp_path / "checkpoints"
    common = [str(rows), "--checkpoint-dir", str(checkpoints), "--param", "num_threads=1"]
    assert main(["train", *common, "--model", "tvae", "--epochs", "3", "--out", str(tmp_path / "a.zip")]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["train", *common, "--resume", "--out", str(tmp_path / "b.zip")]) == 0  # kind and parameters from the checkpoint
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["model"] == resumed["model"] == "tvae" and first["epochs_run"] == resumed["epochs_run"] == 3
    assert engine.load_model(tmp_path / "b.zip").sample(50, seed=1).equals(engine.load_model(tmp_path / "a.zip").sample(50, seed=1))


def test_resume_without_a_checkpoint_folder_is_refused_by_name(rows: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(rows), "--resume", "--out", str(tmp_path / "m.zip")]) == 2
    assert "--resume needs --checkpoint-dir" in capsys.readouterr().err
