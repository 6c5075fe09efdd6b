"""Calibration: the report tells good synthetic data from bad, on adult and california_housing.

Each case is real data dressed up as a "synthetic" table whose verdict is known in advance:
unseen real rows must pass; a copy and a noisy copy of the training rows must fail on
privacy; columns shuffled apart must fail on relationships only; uniform noise must fail on
the distributions. 5,000 training rows and 4,000 holdout rows keep the suite fast (with fewer
holdout rows, the membership-inference bound of a fresh real sample comes close to its 10% gate).
"""

from __future__ import annotations

import pytest

from tests.engine.quality_fixtures import assessed

DATASETS = ["adult", "california"]


def report(name: str, case: str):
    return assessed(name, case)  # fidelity and privacy only: utility has its own tests


def status(rep, gate: str) -> str:
    return rep.gate(gate).status


@pytest.mark.parametrize("name", DATASETS)
def test_unseen_real_rows_pass_every_fidelity_and_privacy_gate(name):
    rep = report(name, "unseen")
    assert {g.name: g.status for g in rep.gates if g.pillar in ("fidelity", "privacy")} == {
        "column_distance": "pass",
        "correlation_difference": "pass",
        "membership_inference": "pass",
        "exact_copies": "pass",
    }
    assert rep.passed


@pytest.mark.parametrize("name", DATASETS)
def test_a_copy_of_the_training_rows_fails_the_exact_copy_and_membership_gates(name):
    rep = report(name, "copy")
    assert status(rep, "exact_copies") == "block"
    assert status(rep, "membership_inference") == "block"
    assert not rep.passed


@pytest.mark.parametrize("name", DATASETS)
def test_training_rows_with_small_noise_copy_nothing_exactly_but_fail_membership_inference(name):
    rep = report(name, "noisy")
    assert rep.privacy["metrics"]["exact_copies"] == 0
    assert status(rep, "exact_copies") == "pass"
    assert status(rep, "membership_inference") == "block"


@pytest.mark.parametrize("name", DATASETS)
def test_columns_shuffled_apart_fail_the_correlation_gate_but_pass_per_column(name):
    rep = report(name, "shuffled")
    assert status(rep, "column_distance") == "pass"
    assert status(rep, "correlation_difference") == "block"
    assert rep.gate("correlation_difference").offenders


@pytest.mark.parametrize("name", DATASETS)
def test_uniform_noise_fails_the_per_column_gate(name):
    rep = report(name, "uniform")
    assert status(rep, "column_distance") == "block"
    assert len(rep.gate("column_distance").offenders) >= len(rep.fidelity["columns"]) // 2


@pytest.mark.parametrize("name", DATASETS)
def test_fidelity_score_ranks_unseen_rows_above_shuffled_columns_above_uniform_noise(name):
    scores = [report(name, case).scores["fidelity"] for case in ("unseen", "shuffled", "uniform")]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize("name", DATASETS)
def test_privacy_score_ranks_unseen_rows_above_a_noisy_copy_above_a_copy(name):
    scores = [report(name, case).scores["privacy"] for case in ("unseen", "noisy", "copy")]
    assert scores[0] > scores[1] >= scores[2]


@pytest.mark.parametrize("name", DATASETS)
def test_unseen_real_rows_score_at_the_accuracy_ceiling_and_shuffled_columns_below_it(name):
    unseen = report(name, "unseen").fidelity["accuracy"]
    shuffled = report(name, "shuffled").fidelity["accuracy"]
    # a fresh real sample is as far from the training rows as the holdout is (sampling noise only)
    assert abs(unseen["gap"]["bivariate"]) < 0.02
    assert shuffled["gap"]["bivariate"] > 0.03
    assert unseen["ceiling"]["overall"] < 1.0
