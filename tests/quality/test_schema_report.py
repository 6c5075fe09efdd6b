"""The schema's quality report (engine.quality.schema_report) on baseball and berka samples."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.quality.schema_report import SchemaReport, assess_tables
from tests.conftest import DATASETS

MULTITABLE = DATASETS / "multitable"
BASEBALL_KEYS = {
    "primary_keys": {"players": "id"},
    "foreign_keys": ["batting.players_id -> players.id", "fielding.players_id -> players.id"],
}
BERKA_KEYS = {
    "primary_keys": {"district": "district_id", "account": "account_id", "loan": "loan_id"},
    "foreign_keys": ["account.district_id -> district.district_id", "loan.account_id -> account.account_id"],
}
FIDELITY_ONLY = {"tables": {"pillars": ["fidelity"]}}


def _read(schema: str, name: str) -> pl.DataFrame:
    return pl.read_csv(MULTITABLE / schema / f"{name}.csv.gz", infer_schema_length=20_000)


def _players(ids: pl.Series, players: pl.DataFrame, batting: pl.DataFrame, fielding: pl.DataFrame) -> dict[str, pl.DataFrame]:
    keep = pl.col("players_id").is_in(ids.implode())
    return {"players": players.filter(pl.col("id").is_in(ids.implode())),
            "batting": batting.filter(keep), "fielding": fielding.filter(keep)}


@pytest.fixture(scope="module")
def baseball() -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Two disjoint seeded samples of 400 players, each with all their batting and fielding rows."""
    players, batting, fielding = (_read("baseball", n) for n in ("players", "batting", "fielding"))
    ids = players["id"].sample(800, seed=0, shuffle=True)
    return _players(ids[:400], players, batting, fielding), _players(ids[400:], players, batting, fielding)


@pytest.fixture(scope="module")
def disjoint_report(baseball) -> SchemaReport:
    real, other = baseball
    return assess_tables(real=real, synthetic=other, keys=BASEBALL_KEYS, config=FIDELITY_ONLY)


@pytest.fixture(scope="module")
def berka() -> dict[str, pl.DataFrame]:
    return {name: _read("berka", name) for name in ("district", "account", "loan")}


def test_a_disjoint_real_sample_keeps_every_reference_and_scores_cardinality_high(disjoint_report):
    assert disjoint_report.gate("referential_integrity").status == "pass"
    assert set(disjoint_report.cross["referential_integrity"].values()) == {1.0}
    assert disjoint_report.gate("cardinality").status == "pass"
    assert disjoint_report.cross["cardinality_shape_similarity"] > 0.9
    assert disjoint_report.passed


def test_key_columns_are_left_out_of_each_tables_comparison(disjoint_report):
    kinds = {name: {c["name"]: c["kind"] for c in report.inputs["columns"]} for name, report in disjoint_report.tables.items()}
    assert kinds["players"]["id"] == "skip"
    assert kinds["batting"]["players_id"] == "skip"
    assert kinds["fielding"]["players_id"] == "skip"
    assert kinds["batting"]["HR"] != "skip"


def test_five_percent_orphan_foreign_keys_block_naming_the_relation(baseball):
    real, other = baseball
    batting = other["batting"]
    rng = np.random.default_rng(0)
    keys = batting["players_id"].to_numpy().copy()
    broken = rng.choice(keys.size, size=round(0.05 * keys.size), replace=False)
    keys[broken] = [f"ghost{i}" for i in broken]
    synthetic = {**other, "batting": batting.with_columns(pl.Series("players_id", keys))}
    report = assess_tables(real=real, synthetic=synthetic, keys=BASEBALL_KEYS, config=FIDELITY_ONLY)
    gate = report.gate("referential_integrity")
    assert gate.status == "block"
    assert not report.passed
    assert gate.value == pytest.approx(0.95, abs=0.001)
    assert "batting.players_id -> players.id" in gate.message and "95.0" in gate.message
    assert [o["relation"] for o in gate.offenders] == ["batting.players_id -> players.id"]


def test_children_reassigned_to_random_parents_lower_cardinality(baseball, disjoint_report):
    real, other = baseball
    rng = np.random.default_rng(0)
    parents = other["players"]["id"].to_numpy()
    synthetic = {**other, **{t: other[t].with_columns(pl.Series("players_id", rng.choice(parents, other[t].height)))
                             for t in ("batting", "fielding")}}
    report = assess_tables(real=real, synthetic=synthetic, keys=BASEBALL_KEYS, config=FIDELITY_ONLY)
    assert report.cross["cardinality_shape_similarity"] < disjoint_report.cross["cardinality_shape_similarity"] - 0.2
    assert report.gate("cardinality").status == "warn"
    assert report.gate("referential_integrity").status == "pass"


def test_to_dict_and_from_dict_round_trip_through_json(disjoint_report):
    data = json.loads(json.dumps(disjoint_report.to_dict(), allow_nan=False))
    again = SchemaReport.from_dict(data)
    assert again.to_dict() == disjoint_report.to_dict()
    assert again.passed == disjoint_report.passed
    assert list(again.tables) == ["players", "batting", "fielding"]


def test_summary_names_the_verdict_the_gates_and_every_table(disjoint_report):
    text = disjoint_report.summary()
    assert text.startswith("Schema quality report: PASSED")
    assert "relations/referential_integrity" in text and "relations/cardinality" in text
    assert all(f"Table {name}:" in text for name in ("players", "batting", "fielding"))


def test_a_synthetic_schema_missing_a_table_is_refused_naming_it(berka):
    synthetic = {name: frame for name, frame in berka.items() if name != "loan"}
    with pytest.raises(InputError, match=r"synthetic lacks table\(s\) \['loan'\]"):
        assess_tables(real=berka, synthetic=synthetic, keys=BERKA_KEYS, config=FIDELITY_ONLY)


def test_a_synthetic_schema_with_an_extra_table_is_refused_naming_it(berka):
    with pytest.raises(InputError, match=r"has table\(s\) the real schema lacks \['card'\]"):
        assess_tables(real=berka, synthetic={**berka, "card": berka["loan"]}, keys=BERKA_KEYS, config=FIDELITY_ONLY)


def test_an_unknown_schema_gate_is_refused_naming_the_gates(berka):
    with pytest.raises(ConfigError, match="schema gates are"):
        assess_tables(real=berka, synthetic=berka, keys=BERKA_KEYS, config={"gates": {"integrity": 1.0}})


def test_berka_against_itself_passes_every_schema_gate(berka):
    report = assess_tables(real=berka, synthetic=berka, keys=BERKA_KEYS, config=FIDELITY_ONLY)
    assert [report.gate(name).status for name in ("referential_integrity", "cardinality")] == ["pass", "pass"]
    assert report.cross["cardinality"]["loan.account_id -> account.account_id"]["shape_similarity"] == 1.0


def test_each_tables_report_uses_that_tables_holdout(baseball):
    real, other = baseball
    holdout = {name: frame.head(frame.height // 2) for name, frame in other.items()}
    report = assess_tables(real=real, synthetic=other, holdout=holdout, keys=BASEBALL_KEYS, config=FIDELITY_ONLY)
    assert {name: r.inputs["rows"]["holdout"] for name, r in report.tables.items()} == {
        name: frame.height for name, frame in holdout.items()}


def test_a_holdout_missing_a_table_is_refused_naming_it(baseball):
    real, other = baseball
    with pytest.raises(InputError, match=r"holdout lacks table\(s\) \['fielding'\]"):
        assess_tables(real=real, synthetic=other, holdout={"players": other["players"], "batting": other["batting"]},
                      keys=BASEBALL_KEYS, config=FIDELITY_ONLY)


def test_child_tables_get_no_row_level_membership_attack_and_the_report_says_why(baseball):
    real, other = baseball
    report = assess_tables(real=real, synthetic=other, holdout=other, keys=BASEBALL_KEYS,
                           config={"tables": {"pillars": ["privacy"]}})
    assert report.tables["players"].gate("membership_inference").status != "skipped"
    for child in ("batting", "fielding"):
        assert report.tables[child].gate("membership_inference").status == "skipped"
        assert any(note.startswith(f"{child}: no row-level membership attack") for note in report.notes)
    assert report.passed
