"""The one-run audit's bound (Steinke, Nasr & Jagielski 2023, the main theorem): known inputs, fast.

``engine.privacy.audit.one_run_epsilon_lower_bound`` turns "v right guesses out of r, m
canaries" into a 95 % lower bound on epsilon; ``tests/bench/bench_dp_audit.py`` feeds it a real
DP training run. These checks need no training: closed forms, monotonicity, and a simulated
epsilon-DP mechanism (randomised response) whose bound must stay below its epsilon.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.privacy.audit import one_run_epsilon_lower_bound, one_run_p_value

M = 1_000
DELTA = 1e-5


def test_with_every_guess_right_the_bound_grows_with_the_number_of_guesses() -> None:
    bounds = [one_run_epsilon_lower_bound(M, r, r, delta=DELTA) for r in (10, 50, 100, 200, 500, 1_000)]
    assert all(a < b for a, b in zip(bounds, bounds[1:]))
    assert 5.0 < bounds[-1] < 6.5  # 1,000 right guesses out of 1,000 show about 5.8


def test_half_the_guesses_right_show_nothing() -> None:
    assert one_run_epsilon_lower_bound(M, 1_000, 500, delta=DELTA) == 0.0
    assert one_run_epsilon_lower_bound(M, 100, 40, delta=DELTA) == 0.0
    assert one_run_epsilon_lower_bound(M, 0, 0, delta=DELTA) == 0.0


def test_pure_dp_with_every_guess_right_matches_the_closed_form() -> None:
    # delta = 0, v = r: the tail is q^r, so the bound solves q^r = alpha, epsilon = log(q / (1 - q))
    q = 0.05 ** (1 / 100)
    assert one_run_epsilon_lower_bound(M, 100, 100, delta=0.0) == pytest.approx(math.log(q / (1 - q)), abs=1e-5)


def test_delta_and_confidence_only_lower_the_bound() -> None:
    pure = one_run_epsilon_lower_bound(M, 400, 330, delta=0.0)
    assert 0 < one_run_epsilon_lower_bound(M, 400, 330, delta=DELTA) < pure
    assert one_run_epsilon_lower_bound(M, 400, 330, delta=0.0, alpha=0.01) < pure


def test_the_bound_is_where_the_p_value_crosses_alpha() -> None:
    bound = one_run_epsilon_lower_bound(M, 300, 240, delta=DELTA)
    assert one_run_p_value(M, 300, 240, epsilon=bound, delta=DELTA) < 0.05
    assert one_run_p_value(M, 300, 240, epsilon=bound + 1e-4, delta=DELTA) >= 0.05
    assert one_run_p_value(M, 300, 240, epsilon=0.0, delta=0.0) == pytest.approx(
        sum(math.comb(300, k) for k in range(240, 301)) / 2**300, rel=1e-9
    )


def test_randomised_response_at_epsilon_2_is_bounded_below_2() -> None:
    # the tightest epsilon-DP guesser: right with probability e^eps / (1 + e^eps), independently
    epsilon, r = 2.0, 5_000
    right = int((np.random.default_rng(0).random(r) < 1 / (1 + math.exp(-epsilon))).sum())
    assert 1.5 < one_run_epsilon_lower_bound(r, r, right, delta=0.0) <= epsilon


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        one_run_p_value(10, 20, 5, epsilon=1.0, delta=0.0)
    with pytest.raises(ValueError):
        one_run_p_value(10, 5, 6, epsilon=1.0, delta=0.0)
