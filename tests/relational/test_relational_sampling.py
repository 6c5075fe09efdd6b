"""A schema model as one zip file, and sampling with fixed root sizes and root conditions."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.models.files import ModelFileError
from tests.relational.conftest import BASEBALL_KEYS


@pytest.fixture(scope="module")
def small_baseball(baseball: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    players = baseball["players"].sample(300, seed=4)
    ids = players.get_column("id").implode()
    return {"players": players,
            "batting": baseball["batting"].filter(pl.col("players_id").is_in(ids)),
            "fielding": baseball["fielding"].filter(pl.col("players_id").is_in(ids))}


@pytest.fixture(scope="module")
def model(small_baseball: dict[str, pl.DataFrame]) -> Any:
    return engine.train_tables(small_baseball, keys=BASEBALL_KEYS, model="argn", seed=0, max_training_time_s=4)


def _dangling(tables: dict[str, pl.DataFrame]) -> int:
    ids = tables["players"].get_column("id").implode()
    return sum(tables[c].filter(~pl.col("players_id").is_in(ids)).height for c in ("batting", "fielding"))


def test_a_zip_model_file_loads_from_its_path_and_its_bytes_and_samples_the_same(model, tmp_path: Path):
    path = model.save(tmp_path / "baseball.zip")
    assert zipfile.is_zipfile(path)
    expected = model.sample(scale=0.5, seed=2)
    for source in (path, path.read_bytes()):
        loaded = engine.load_model(source)
        assert isinstance(loaded, engine.RelationalModel) and loaded.keys == model.keys
        again = loaded.sample(scale=0.5, seed=2)
        assert all(again[name].equals(frame) for name, frame in expected.items())


def test_a_zip_with_an_unexpected_member_is_refused_naming_it(model, tmp_path: Path):
    path = model.save(tmp_path / "m.zip")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("tables/../../evil.py", b"print('x')")
    with pytest.raises(ModelFileError, match="unexpected members"):
        engine.load_model(path)


def test_n_fixes_a_root_table_size_and_the_children_follow(model):
    tables = model.sample(n={"players": 123}, seed=1)
    assert tables["players"].height == 123
    assert tables["batting"].height > 0 and _dangling(tables) == 0


def test_a_root_condition_holds_on_every_root_row_and_the_children_follow(model, small_baseball):
    hand = small_baseball["players"].get_column("bats").drop_nulls().mode()[0]
    tables = model.sample(n={"players": 50}, conditions={"players": f"bats == '{hand}'"}, seed=1)
    assert tables["players"].height == 50
    assert tables["players"].get_column("bats").eq(hand).all()
    assert _dangling(tables) == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": {"batting": 10}}, "child table"),
    ({"n": {"teams": 10}}, "not a table of this schema"),
    ({"n": {"players": 0}}, "whole number of rows"),
    ({"n": [("players", 3)]}, "must map root table names"),
    ({"conditions": {"fielding": "G > 3"}}, "child table"),
])
def test_sizes_and_conditions_for_anything_but_a_root_are_refused(model, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        model.sample(seed=1, **kwargs)


def test_the_cli_fixes_root_rows_and_conditions_from_a_zip_model(model, small_baseball, tmp_path: Path):
    from engine.__main__ import main

    saved = model.save(tmp_path / "baseball.zip")
    hand = small_baseball["players"].get_column("bats").drop_nulls().mode()[0]
    out = tmp_path / "synthetic"
    assert main(["sample-tables", str(saved), "--out", str(out), "--rows", "players=40",
                 "--condition", f"players=bats == '{hand}'", "--format", "parquet"]) == 0
    tables = engine.read_tables(out)
    assert tables["players"].height == 40 and tables["players"].get_column("bats").eq(hand).all()
    assert _dangling(tables) == 0


@pytest.mark.parametrize(("option", "message"), [
    (["--rows", "players"], "expected TABLE=VALUE"),
    (["--rows", "players=many"], "expected a whole number"),
    (["--rows", "players=3", "--rows", "players=4"], "twice"),
])
def test_the_cli_refuses_a_malformed_root_option_naming_it(model, tmp_path: Path, capsys, option, message):
    from engine.__main__ import main

    saved = model.save(tmp_path / "m.zip")
    assert main(["sample-tables", str(saved), "--out", str(tmp_path / "out"), *option]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
