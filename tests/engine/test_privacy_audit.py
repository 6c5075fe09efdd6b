"""The DP-SGD step is what the accountant claims: an empirical lower bound on epsilon.

Thousands of independent full-batch steps through ``make_dp_optimizer`` (the clipping and
noise training uses), a canary of huge gradient norm included in half of them at random; the
membership test on the noisy gradient bounds epsilon from below with Clopper-Pearson
intervals (``engine.privacy.audit``). The bound must stay at or below the claimed epsilon of
a correct configuration, and exceed the claim of a step whose noise is switched off and of an
accountant fed the wrong noise multiplier or sampling rate.

The audit's power, measured on this configuration (sigma 1, claim about 4.7): the bound of a
correct step lies around 1.9 (1.4 to 3.0 over 25 runs; the noise is not seeded), the most
16,000 trials can show is about 7.0 (noise off). So it catches a step with the noise off and
an accountant that believes in several times the real noise (five times: a claim of 0.79), or
in a small sampling rate for a full-batch step; a step with half the noise (bound about 3.6)
passes unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.privacy.audit import canary_scores, clopper_pearson_upper, epsilon_lower_bound
from engine.privacy.dpsgd import make_dp_optimizer, secure_generator
from engine.privacy.run import accountant_epsilon

SIGMA = 1.0
CLIP = 1.0
DELTA = 1e-5
TRIALS = 16_000


def _step(noise_multiplier: float):
    def make(params: list, expected_batch: int) -> object:
        return make_dp_optimizer(
            torch.optim.SGD(params, lr=0.1),
            noise_multiplier=noise_multiplier,
            max_grad_norm=CLIP,
            expected_batch_size=expected_batch,
            generator=secure_generator(),
        )

    return make


def _audit(noise_multiplier: float) -> float:
    scores, included = canary_scores(_step(noise_multiplier), trials=TRIALS, seed=3)
    return epsilon_lower_bound(scores, included, delta=DELTA)


def _claimed(noise_multiplier: float) -> float:
    return accountant_epsilon([(noise_multiplier, 1.0, 1)], delta=DELTA, accountant="rdp")


@pytest.fixture(scope="module")
def lower_bound() -> float:
    return _audit(SIGMA)


def test_the_lower_bound_of_a_correct_step_stays_within_its_claimed_epsilon(lower_bound: float) -> None:
    assert 0.5 < lower_bound <= _claimed(SIGMA)


def test_a_step_with_the_noise_switched_off_fails_the_audit() -> None:
    assert _audit(0.0) > _claimed(SIGMA)


def test_an_accountant_fed_the_wrong_noise_multiplier_fails_the_audit(lower_bound: float) -> None:
    misconfigured = _claimed(5 * SIGMA)  # the accountant believes in five times the noise
    assert lower_bound > misconfigured > 0.5  # a claim above the floor the first test already checks


def test_an_accountant_fed_the_wrong_sampling_rate_fails_the_audit(lower_bound: float) -> None:
    # the audited step takes every row; the accountant believes each row joins 1 step in 200
    misconfigured = accountant_epsilon([(SIGMA, 0.005, 1)], delta=DELTA, accountant="rdp")
    assert lower_bound > misconfigured > 0.5


def test_the_prv_accountant_claims_no_less_than_the_audit_shows(lower_bound: float) -> None:
    assert lower_bound <= accountant_epsilon([(SIGMA, 1.0, 1)], delta=DELTA, accountant="prv")


def test_clopper_pearson_bounds_cover_the_observed_rate() -> None:
    assert clopper_pearson_upper(0, 1000, 0.05) == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-6)
    assert 0.1 < clopper_pearson_upper(100, 1000, 0.05) < 0.12
    assert clopper_pearson_upper(5, 5, 0.05) == 1.0


def test_a_perfect_membership_test_is_bounded_by_the_number_of_trials() -> None:
    included = np.arange(4000) % 2 == 0
    bound = epsilon_lower_bound(included.astype(float), included, delta=DELTA)
    rate = clopper_pearson_upper(0, 1000, 0.025)  # no error among 1,000 held-out trials per side
    assert bound == pytest.approx(np.log((1 - DELTA - rate) / rate), rel=1e-6)
