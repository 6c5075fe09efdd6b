"""Gates, scores and recommendations: DESIGN.md's defaults, configurable per call."""

from __future__ import annotations

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.quality.config import QualityConfig
from tests.engine.quality_fixtures import assessed, split, synthetic_case

GATES = {
    "column_distance": ("fidelity", "<", 0.15, "block"),
    "correlation_difference": ("fidelity", "<", 0.2, "block"),
    "utility_ratio": ("utility", ">", 0.8, "warn"),
    "membership_inference": ("privacy", "<", 0.10, "block"),
    "exact_copies": ("privacy", "<=", 0.0, "block"),
}


def assess_adult(case: str, **config):
    train, holdout, _ = split("adult")
    config.setdefault("pillars", ["fidelity"])
    return engine.assess(real=train, synthetic=synthetic_case("adult", case), holdout=holdout, config=config)


def test_every_gate_reports_its_metric_threshold_value_and_status_with_the_design_defaults():
    rep = assessed("adult", "unseen", ("fidelity", "utility", "privacy"))
    assert [g.name for g in rep.gates] == list(GATES)
    for gate in rep.gates:
        pillar, comparison, threshold, severity = GATES[gate.name]
        assert (gate.pillar, gate.comparison, gate.threshold, gate.severity) == (pillar, comparison, threshold, severity)
        assert gate.status == "pass"
        assert isinstance(gate.value, float)
        assert gate.metric and gate.message


def test_a_tighter_threshold_turns_a_pass_into_a_block_and_names_the_columns_credibly_above_it():
    train, holdout, fresh = split("adult")
    older = fresh.with_columns(pl.col("age") + 3)  # unseen rows, three years older
    loose = engine.assess(real=train, synthetic=older, holdout=holdout, config={"pillars": ["fidelity"]})
    assert loose.gate("column_distance").status == "pass"
    rep = engine.assess(real=train, synthetic=older, holdout=holdout,
                        config={"pillars": ["fidelity"], "gates": {"column_distance": {"threshold": 0.05}}})
    gate = rep.gate("column_distance")
    assert gate.status == "block"
    assert not rep.passed
    assert [o["column"] for o in gate.offenders] == ["age"]
    assert {o["column"] for o in gate.offenders} == {c["name"] for c in rep.fidelity["columns"]
                                                   if c["distance_lower"] >= 0.05}
    assert gate.offenders[0]["column"] in gate.message


def test_a_failing_gate_set_to_warn_does_not_block():
    rep = assess_adult("shuffled", gates={"correlation_difference": {"severity": "warn"}})
    assert rep.gate("correlation_difference").status == "warn"
    assert rep.passed
    assert rep.status == "warn"


def test_a_disabled_gate_is_skipped_and_never_blocks():
    rep = assess_adult("uniform", gates={"column_distance": {"enabled": False}, "correlation_difference": {"enabled": False}})
    assert rep.gate("column_distance").status == "skipped"
    assert rep.passed


def test_without_a_holdout_membership_inference_is_skipped_and_says_why():
    train, _, fresh = split("adult")
    rep = engine.assess(real=train, synthetic=fresh, config={"pillars": ["fidelity", "privacy"]})
    gate = rep.gate("membership_inference")
    assert gate.status == "skipped"
    assert gate.value is None
    assert "holdout" in gate.message.lower()
    # exact copies are still counted, against the training rows alone (no holdout rate to allow for)
    assert rep.gate("exact_copies").value == rep.privacy["metrics"]["exact_copies"]


def test_utility_without_a_target_is_skipped_when_no_suggestion_is_wanted():
    rep = assess_adult("unseen", pillars=["fidelity", "utility"], utility={"auto_target": False})
    gate = rep.gate("utility_ratio")
    assert gate.status == "skipped"
    assert "target" in gate.message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"gate": {}}, "unknown config key"),
        ({"gates": {"column_distanse": 0.1}}, "unknown gate 'column_distanse'"),
        ({"gates": {"column_distance": {"severity": "stop"}}}, "'block' or 'warn'"),
        ({"gates": {"column_distance": {"threshold": "low"}}}, "must be a number"),
        ({"fidelity": {"bins": 0}}, "positive integer"),
        ({"column_types": {"age": "number"}}, "allowed kinds"),
        ({"pillars": ["fidelity", "speed"]}, "unknown pillar"),
        ({"threads": 0}, "positive integer"),
    ],
)
def test_a_wrong_config_is_refused_saying_what_is_allowed(config, message):
    with pytest.raises(ConfigError, match=message):
        QualityConfig.from_mapping(config)


def test_a_bare_number_sets_a_gate_threshold_and_keeps_its_severity():
    cfg = QualityConfig.from_mapping({"gates": {"utility_ratio": 0.9}})
    assert (cfg.gates["utility_ratio"].threshold, cfg.gates["utility_ratio"].severity) == (0.9, "warn")


def test_scores_lie_in_the_unit_interval_and_the_report_writes_their_formulas():
    rep = assessed("adult", "unseen", ("fidelity", "utility", "privacy"))
    assert set(rep.scores) == {"fidelity", "utility", "privacy", "overall"}
    assert all(0.0 <= v <= 1.0 for v in rep.scores.values())
    assert rep.scores["overall"] == pytest.approx((rep.scores["fidelity"] + rep.scores["utility"] + rep.scores["privacy"]) / 3)
    data = rep.to_dict()
    assert set(data["score_formulas"]) == {"fidelity", "utility", "privacy", "overall"}
    assert "mean(column_similarity" in data["score_formulas"]["fidelity"]
    assert data["score_components"]["fidelity"]["column_similarity"] > 0.9


def test_recommendations_name_the_failing_columns_and_what_to_try():
    uniform = assessed("adult", "uniform")
    text = " ".join(uniform.recommendations)
    worst = uniform.gate("column_distance").offenders[0]["column"]
    assert worst in text
    assert "epochs" in text and "another model" in text
    copy = " ".join(assessed("adult", "copy").recommendations)
    assert "differential privacy" in copy and "copy rare training rows" in copy
    shuffled = " ".join(assessed("adult", "shuffled").recommendations)
    assert "education and education-num" in shuffled


def test_a_report_that_passes_everything_says_so():
    rep = assessed("adult", "unseen")
    assert rep.recommendations[-1].startswith("Every gate that was evaluated passes")
    assert "utility_ratio" in rep.recommendations[-1]  # left out of this run, and named as such


def test_without_a_holdout_a_blocking_copy_count_advises_passing_one():
    train, _, fresh = split("adult")  # adult has duplicated people: fresh rows match unique training rows
    rep = engine.assess(real=train, synthetic=fresh, config={"pillars": ["privacy"]})
    assert rep.gate("exact_copies").status == "block"
    assert any("pass holdout=" in r for r in rep.recommendations)
