"""``python -m engine train-tables`` and ``sample-tables``: a folder of tables in, a folder of synthetic tables out."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.__main__ import main
from tests.relational.conftest import BERKA_KEYS

KEPT = ("district", "account", "client", "disp")
SAVED_TVAE = Path(__file__).resolve().parents[1] / "engine" / "saved_models" / "adult_tvae.doppel"
"""A TVAE of adult's rows, saved (``tests/engine/test_models_saved_before.py``)."""
SUBSET_KEYS = {
    "primary_keys": {t: c for t, c in BERKA_KEYS["primary_keys"].items() if t in KEPT},
    "foreign_keys": [fk for fk in BERKA_KEYS["foreign_keys"] if fk.split(".")[0] in KEPT and fk.split("-> ")[1].split(".")[0] in KEPT],
}


@pytest.fixture(scope="module")
def saved_model(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four berka tables as Parquet files (districts, their accounts and clients, and the
    dispositions that link an account to a client), the clients reduced to their keys."""
    folder = tmp_path_factory.mktemp("cli")
    tables = folder / "berka"
    tables.mkdir()
    for name, frame in engine.read_tables(datasets / "multitable" / "berka").items():
        if name in KEPT:
            (frame.drop("birth_number") if name == "client" else frame).write_parquet(tables / f"{name}.parquet")
    keys = folder / "keys.json"
    keys.write_text(json.dumps(SUBSET_KEYS))
    out = folder / "berka.doppel"
    code = main(["train-tables", str(tables), "--keys", str(keys), "--model", "argn",
                 "--max-training-time-s", "3", "--out", str(out)])  # keys are intact whatever the training
    assert code == 0
    return out


def test_sample_tables_writes_one_file_per_table_with_every_key_intact(saved_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    assert main(["sample-tables", str(saved_model), "--out", str(out), "--format", "parquet", "--seed", "3"]) == 0
    tables = engine.read_tables(out)
    assert set(tables) == set(KEPT)
    for fk in SUBSET_KEYS["foreign_keys"]:
        child, parent = (side.strip().split(".") for side in fk.split("->"))
        parents = tables[parent[0]].get_column(parent[1]).implode()
        assert tables[child[0]].filter(~pl.col(child[1]).is_in(parents)).height == 0, fk


def test_sample_tables_never_writes_into_an_existing_folder(saved_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample-tables", str(saved_model), "--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_sample_tables_refuses_a_single_table_model_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_table = SAVED_TVAE  # any model of one table will do: a saved one, not one fitted for the purpose
    assert engine.load_model(one_table).kind == "tvae"
    assert main(["sample-tables", str(one_table), "--out", str(tmp_path / "o")]) == 2
    assert "is a model of one table" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_sample_tables_refuses_a_missing_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample-tables", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_train_tables_with_an_unreadable_keys_file_says_so(datasets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{not json")
    assert main(["train-tables", str(datasets / "multitable" / "berka"), "--keys", str(keys), "--out", str(tmp_path / "m")]) == 2
    assert "could not be read as JSON" in capsys.readouterr().err
