"""Our cross-table metrics equal sdmetrics 0.32's on baseball (players -> batting, players -> fielding).

sdmetrics runs in the judge venv (tests/judge/ensure_judge_venv.sh) through
``tests/quality/sdmetrics_tables_judge.py`` in a subprocess, on the very Parquet files our side
reads. Real: 600 players drawn with a fixed seed, with all their batting and fielding rows.
Synthetic: the same rows perturbed so that every metric lands away from 1: a fifth of the
batting rows moved to random players, 4 % of the fielding keys pointing at no player, a
parent column and a child column shuffled, and a child column jittered.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.quality.tables import assess_tables
from tests.conftest import DATASETS

REPO = Path(__file__).resolve().parents[2]
BASEBALL = DATASETS / "multitable" / "baseball"
TOLERANCE = 1e-6
FOREIGN_KEYS = [("batting", "players_id", "players", "id"), ("fielding", "players_id", "players", "id")]
NOT_COMPARED = {"players": {"nameFirst": "id", "nameLast": "id", "deathDate": "id"}}  # free text, mostly-null


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(BASEBALL / f"{name}.csv.gz", infer_schema_length=20_000)


@pytest.fixture(scope="module")
def schemas() -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    players = _read("players").sample(600, seed=3).with_columns(pl.col("birthDate").str.to_date(strict=False).cast(pl.Datetime("us")))
    keep = pl.col("players_id").is_in(players["id"].implode())
    real = {"players": players, "batting": _read("batting").filter(keep), "fielding": _read("fielding").filter(keep)}
    rng = np.random.default_rng(11)
    batting, fielding = real["batting"], real["fielding"]
    moved = rng.random(batting.height) < 0.2
    batting_keys = np.where(moved, rng.choice(players["id"].to_numpy(), batting.height), batting["players_id"].to_numpy())
    orphan = rng.random(fielding.height) < 0.04
    fielding_keys = np.where(orphan, "nobody01", fielding["players_id"].to_numpy())
    synthetic = {
        "players": players.with_columns(pl.col("weight").shuffle(seed=1)),
        "batting": batting.with_columns(
            pl.Series("players_id", batting_keys), pl.col("HR").shuffle(seed=2),
            (pl.col("AB") + pl.Series(rng.integers(-30, 31, batting.height))).alias("AB"),
        ),
        "fielding": fielding.with_columns(pl.Series("players_id", fielding_keys), pl.col("POS").shuffle(seed=4)),
    }
    return real, synthetic


def _sdtype(table: str, column: str, dtype: pl.DataType) -> str:
    if (table, column) in {("players", "id"), ("batting", "players_id"), ("fielding", "players_id")}:
        return "id"
    if column in NOT_COMPARED.get(table, {}):
        return "id"
    if dtype.is_numeric():
        return "numerical"
    return "datetime" if dtype.is_temporal() else "categorical"


@pytest.fixture(scope="module")
def theirs(schemas, judge_python, tmp_path_factory) -> dict:
    real, synthetic = schemas
    folder = tmp_path_factory.mktemp("tables_judge")
    paths: dict[str, dict[str, str]] = {"real": {}, "synthetic": {}}
    for side, tables in (("real", real), ("synthetic", synthetic)):
        for name, frame in tables.items():
            path = folder / f"{side}_{name}.parquet"
            frame.write_parquet(path)
            paths[side][name] = str(path)
    metadata = {
        "tables": {
            name: {"columns": {c: {"sdtype": _sdtype(name, c, d)} for c, d in frame.schema.items()}}
            for name, frame in real.items()
        },
        "relationships": [
            {"parent_table_name": p, "parent_primary_key": pc, "child_table_name": c, "child_foreign_key": cc}
            for c, cc, p, pc in FOREIGN_KEYS
        ],
    }
    metadata["tables"]["players"]["primary_key"] = "id"
    job = {**paths, "metadata": metadata}
    out = subprocess.run(
        [str(judge_python), str(Path(__file__).with_name("sdmetrics_tables_judge.py"))],
        input=json.dumps(job), capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def ours(schemas) -> dict:
    real, synthetic = schemas
    return assess_tables(real, synthetic, FOREIGN_KEYS, kinds=NOT_COMPARED)


def test_the_judge_runs_sdmetrics_without_copulas(theirs):
    assert theirs["copulas_loaded"] is False


def test_referential_integrity_equals_sdmetrics_per_foreign_key(ours, theirs):
    assert set(ours["referential_integrity"]) == set(theirs["referential_integrity"])
    for name, score in theirs["referential_integrity"].items():
        assert abs(ours["referential_integrity"][name] - score) < TOLERANCE, name
    assert min(theirs["referential_integrity"].values()) < 0.99  # the orphans really count


def test_cardinality_shape_similarity_equals_sdmetrics_per_relation(ours, theirs):
    for name, score in theirs["cardinality"].items():
        assert abs(ours["cardinality"][name]["shape_similarity"] - score) < TOLERANCE, name
    assert min(theirs["cardinality"].values()) < 0.95  # moved children really change the fan-out


def test_every_intertable_pair_equals_sdmetrics_score_and_whether_it_counts(ours, theirs):
    mine = {(p["relation"].split(".")[0], p["parent_column"], p["child_column"]): p for p in ours["intertable_trends"]["pairs"]}
    theirs_pairs = {(p["relation"].split(".")[0], p["parent_column"], p["child_column"]): p for p in theirs["pairs"]}
    assert set(mine) == set(theirs_pairs)
    for key, their in theirs_pairs.items():
        assert mine[key]["counted"] == their["counted"], key
        if their["counted"]:
            assert abs(mine[key]["score"] - their["score"]) < TOLERANCE, key
    assert sum(p["counted"] for p in theirs["pairs"]) >= 3


def test_intertable_trends_score_equals_sdmetrics(ours, theirs):
    assert theirs["intertable_trends"] is not None and not math.isnan(ours["intertable_trends"]["score"])
    assert abs(ours["intertable_trends"]["score"] - theirs["intertable_trends"]) < TOLERANCE
    assert theirs["intertable_trends"] < 0.99
