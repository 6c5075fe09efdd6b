"""The fast slice of the gate calibration suite (issue 22): no false block, no false pass.

The cases and their expected verdicts are ``tests.calibration.cases`` (the bench
tests/bench/bench_gates.py runs all of them on every dataset and size). Here: the cheap cases
(no model) on adult (mixed types) and mushroom (all categorical) at 1,000 and 5,000 training
rows, each with the holdout the platform sets aside (20 % of the training size). Fidelity and
privacy only: utility never blocks and its learner is the slow part.

tests/engine/test_quality_calibration.py covers copies, noisy copies, shuffled columns and
uniform noise with a large (4,000-row) holdout; this slice covers the cases it lacks and the
small holdouts a real run has. An "inconclusive" verdict is neither a false pass nor a false
block: it is allowed here, and counted by the bench.
"""

from __future__ import annotations

import functools

import pytest

import engine
from tests.calibration import cases as C

SIZES = [("adult", 1_000), ("adult", 5_000), ("mushroom", 1_000), ("mushroom", 5_000)]
WRONG = ("false_pass", "false_block")


@functools.lru_cache(maxsize=None)
def wrong_verdicts(case: str, dataset: str, n_train: int) -> list[str]:
    """The claimed verdicts of ``case`` that are a false pass or a false block, described."""
    s = C.split(dataset, n_train)
    report = engine.assess(real=s.train, synthetic=C.build(case, s), holdout=s.holdout,
                           config={"pillars": ["fidelity", "privacy"]}, seed=0)
    values = {g.name: g.value for g in report.gates}
    share = s.rows / n_train
    return [f"{v['gate']}: {v['status']} where {v['expected']} (value {values.get(v['gate'])}); "
            f"{C.expectation(case, v['gate'], share)[1]}"
            for v in C.verdicts(report, case, share) if v["outcome"] in WRONG]


def check(case: str, dataset: str, n_train: int) -> None:
    wrong = wrong_verdicts(case, dataset, n_train)
    assert not wrong, f"{case} on {dataset} at {n_train:,} training rows: " + " | ".join(wrong)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_unseen_real_rows_are_not_blocked_with_the_platform_holdout(dataset, n_train):
    check("unseen", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_twenty_percent_training_copies_among_unseen_rows_are_blocked_as_exact_copies(dataset, n_train):
    check("mixed_copies", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_the_rarest_training_rows_leaked_verbatim_are_blocked_as_exact_copies(dataset, n_train):
    check("rare_rows_leaked", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_fifty_training_rows_repeated_are_blocked_on_distributions_and_exact_copies(dataset, n_train):
    check("repeated_50", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_a_column_made_constant_is_blocked_on_distributions_only(dataset, n_train):
    check("constant_column", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_independent_draws_from_the_marginals_are_blocked_on_relationships(dataset, n_train):
    check("marginals_only", dataset, n_train)


@pytest.mark.parametrize(("dataset", "n_train"), SIZES)
def test_unseen_rows_duplicated_within_the_set_are_not_blocked(dataset, n_train):
    check("self_duplicates", dataset, n_train)


def test_a_verdict_is_judged_against_its_expectation():
    assert C.judge(C.BLOCK, "block") == "right"
    assert C.judge(C.BLOCK, "pass") == "false_pass"
    assert C.judge(C.BLOCK, "warn") == "false_pass"
    assert C.judge(C.PASS, "block") == "false_block"
    assert C.judge(C.PASS, "warn") == "false_warn"
    assert C.judge(C.NOT_BLOCK, "warn") == "right"
    assert C.judge(C.WARN, "block") == "false_block"
    assert C.judge(C.PASS, "inconclusive") == "inconclusive"
    assert C.judge(C.BLOCK, "skipped") == "skipped"


def test_every_case_builds_a_table_of_the_unseen_rows_size_with_the_training_columns():
    s = C.split("adult", 1_000)
    for case in C.CASES:
        if case in C.MODEL_CASES:
            continue
        table = C.build(case, s)
        assert table.height == s.rows, case
        assert table.columns == s.train.columns, case


def test_every_expectation_names_a_known_gate_and_verdict_with_a_reason():
    for case, claims in C.EXPECTED.items():
        assert case in C.CASES
        for gate, (verdict, reason) in claims.items():
            assert gate in (*C.GATES, C.OVERALL), (case, gate)
            assert verdict in C.EXPECTATIONS, (case, gate)
            assert reason.strip(), (case, gate)
