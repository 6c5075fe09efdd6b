"""Gates at the sample size they have: block only on a credible excess, pass only on a credible margin.

On real adult rows: unseen real rows judged against a small holdout must never be blocked
(the membership gate says "inconclusive" instead, with the rows it would need), while a copy
of the training rows still blocks at that size; a report saved before error bars existed
still loads; and "inconclusive" never counts as a block anywhere a status is read.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import polars as pl
import pytest

import engine
from engine.quality import _mia_roc as roc
from engine.quality.report import QualityReport
from engine.quality.uncertainty import (
    advantage_bounds,
    advantage_rows_needed,
    allowed_copies,
    association_se,
    difference_bounds,
    distance_bounds,
)
from tests.engine.quality_fixtures import assessed, shuffled_columns, split

PRIVACY_ONLY = {"pillars": ["privacy"]}


@functools.lru_cache(maxsize=None)
def small_holdout_split():
    """adult as in the reported false block: 4,000 training rows, a 500-row holdout, 4,000 unseen real rows."""
    return split("adult", n_train=4_000, n_holdout=500, n_fresh=4_000, seed=0)


@functools.lru_cache(maxsize=None)
def small_holdout_report(case: str) -> QualityReport:
    train, holdout, fresh = small_holdout_split()
    synthetic = {"unseen": fresh, "copy": train}[case]
    return engine.assess(real=train, synthetic=synthetic, holdout=holdout,
                         config={"pillars": ["fidelity", "privacy"]}, seed=0)


# -- the membership gate at a small holdout -------------------------------------------------------


def test_unseen_real_rows_on_a_500_row_holdout_are_never_blocked_by_membership_inference():
    rep = small_holdout_report("unseen")
    gate = rep.gate("membership_inference")
    assert gate.status in ("pass", "inconclusive")
    assert gate.lower <= gate.threshold
    assert rep.passed


def test_an_inconclusive_membership_gate_names_the_holdout_size_and_the_rows_it_needs():
    gate = small_holdout_report("unseen").gate("membership_inference")
    assert gate.status == "inconclusive"  # 250 members per side cannot tell 0 from 10 %
    needed = advantage_rows_needed(gate.threshold, gate.confidence, attacks=3) * 2
    assert gate.needed == {"holdout_rows": needed}
    assert gate.samples == {"holdout_rows": 500, "members": 250, "non-members": 250}
    assert "the holdout is too small to tell (500 holdout rows" in gate.message
    assert f"at least {needed:,} holdout rows needed" in gate.message
    assert gate.lower <= gate.value <= gate.upper and gate.upper >= gate.threshold


def test_an_inconclusive_membership_gate_recommends_a_bigger_holdout_or_differential_privacy():
    rep = small_holdout_report("unseen")
    text = " ".join(rep.recommendations)
    needed = rep.gate("membership_inference").needed["holdout_rows"]
    assert f"a holdout of at least {needed:,} rows" in text
    assert "differential privacy" in text
    assert not any(r.startswith("Every gate that was evaluated passes") for r in rep.recommendations)


def test_a_copy_of_the_training_rows_still_blocks_on_a_500_row_holdout():
    rep = small_holdout_report("copy")
    assert rep.gate("membership_inference").status == "block"
    assert rep.gate("membership_inference").lower > 0.5
    assert rep.gate("exact_copies").status == "block"
    assert not rep.passed


def test_unseen_real_rows_pass_the_membership_gate_once_the_holdout_has_the_rows_it_needs():
    rep = assessed("adult", "unseen")  # 4,000 holdout rows, more than the no-signal rule asks for
    gate = rep.gate("membership_inference")
    assert gate.samples["holdout_rows"] >= advantage_rows_needed(gate.threshold, gate.confidence, 3) * 2
    assert gate.status == "pass"
    assert gate.upper < gate.threshold


# -- the rule itself ---------------------------------------------------------------------------------


def test_the_no_signal_rule_passes_95_percent_of_null_attacks_at_the_stated_size_and_blocks_none_below_it():
    """Three attacks on the same members with no signal: the worst one's upper bound clears 10 % at m / 2 per side."""
    rng = np.random.default_rng(0)
    per_side = advantage_rows_needed(0.10, 0.95, attacks=3)
    passed = blocked_small = 0
    trials = 300
    for _ in range(trials):
        for n, small in ((per_side, False), (250, True)):
            members, nonmembers = rng.normal(size=(3, n)), rng.normal(size=(3, n))
            bounds = [advantage_bounds(roc.advantage(m, x), n, n, 0.95, 3) for m, x in zip(members, nonmembers)]
            if small:
                blocked_small += max(lo for lo, _ in bounds) > 0.10
            else:
                passed += max(up for _, up in bounds) < 0.10
    assert passed / trials >= 0.93  # 95 % by the rule (3,000 trials: 95.4 %); 300 trials have a 1.3 % sd
    assert blocked_small == 0


def test_the_advantage_interval_covers_a_real_signal():
    """Members shifted by 0.5 sd: true advantage 2 * Phi(0.25) - 1 = 0.197; the interval holds it 95 %+ of the time."""
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    truth = 2 * norm.cdf(0.25) - 1
    covered = sum(
        lo <= truth <= up
        for lo, up in (advantage_bounds(roc.advantage(rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)), 400, 400, 0.95, 1)
                       for _ in range(200))
    )
    assert covered >= 0.95 * 200


def test_error_bars_shrink_with_the_rows_and_widen_with_the_items_maximised_over():
    assert distance_bounds(0.1, 200, 200, 0.95, 1)[1] > distance_bounds(0.1, 20_000, 20_000, 0.95, 1)[1]
    assert distance_bounds(0.3, 500, 500, 0.95, 20)[0] < distance_bounds(0.3, 500, 500, 0.95, 1)[0]
    se = association_se(0.3, 0.1, 500, 500)
    assert se == pytest.approx(math.sqrt((1 - 0.09) ** 2 / 497 + (1 - 0.01) ** 2 / 497))
    assert difference_bounds(0.2, se, 0.95, 100)[0] < difference_bounds(0.2, se, 0.95, 1)[0]


def test_allowed_copies_matches_the_exact_binomial_test():
    from scipy.stats import binom

    allowed = allowed_copies(3, 5_000, 1_000, 0.01)
    share = 5_000 / 6_000
    assert binom.sf(allowed - 1, allowed + 3, share) > 0.01  # allowed copies are not rejected
    assert binom.sf(allowed, allowed + 1 + 3, share) <= 0.01  # one more is


# -- the other gates at few rows -------------------------------------------------------------------


def test_fidelity_gates_on_300_unseen_rows_never_block_and_shuffled_columns_still_do():
    train, holdout, fresh = split("adult")
    unseen = engine.assess(real=train[:300], synthetic=fresh[:300], config={"pillars": ["fidelity"]})
    assert {unseen.gate(n).status for n in ("column_distance", "correlation_difference")} <= {"pass", "inconclusive"}
    assert unseen.passed
    shuffled = engine.assess(real=train[:300], synthetic=shuffled_columns(train[:300]), config={"pillars": ["fidelity"]})
    gate = shuffled.gate("correlation_difference")
    assert gate.status == "block"
    assert ["education", "education-num"] in [o["columns"] for o in gate.offenders]
    assert gate.samples == {"real_rows": 300, "synthetic_rows": 300}


def test_a_threshold_finer_than_the_rows_resolve_is_inconclusive_not_a_block():
    train, holdout, fresh = split("adult")
    rep = engine.assess(real=train, synthetic=fresh, holdout=holdout,
                        config={"pillars": ["fidelity"], "gates": {"column_distance": {"threshold": 0.01}}})
    gate = rep.gate("column_distance")
    assert gate.status == "inconclusive"
    assert gate.needed["rows_per_table"] > 5_000
    assert rep.passed


def test_a_few_copies_are_inconclusive_on_a_small_holdout_and_block_on_a_large_one():
    train, holdout, fresh = split("adult")
    synthetic = pl.concat([fresh[:3_970], train[:30]])  # 30 training rows among unseen ones
    small = engine.assess(real=train, synthetic=synthetic, holdout=holdout[:300], config=PRIVACY_ONLY)
    gate = small.gate("exact_copies")
    assert gate.status == "inconclusive"
    assert gate.needed["holdout_rows"] > 300
    large = engine.assess(real=train, synthetic=synthetic, holdout=holdout, config=PRIVACY_ONLY)
    assert large.gate("exact_copies").status == "block"


# -- reports, old and new; inconclusive is never a block ----------------------------------------------


def test_every_gate_reports_its_sample_sizes_and_error_bar():
    rep = assessed("adult", "unseen", ("fidelity", "utility", "privacy"))
    for gate in rep.gates:
        assert gate.samples and all(isinstance(v, int) and v > 0 for v in gate.samples.values()), gate.name
        if gate.name != "utility_ratio":
            assert gate.lower <= gate.value <= gate.upper, gate.name
            assert 0.5 <= gate.confidence < 1
    data = rep.to_dict()["gates"][0]
    assert {"lower", "upper", "confidence", "samples", "needed"} <= set(data)


def test_a_report_saved_before_error_bars_still_loads_and_renders():
    data = json.loads(assessed("adult", "unseen").to_json())
    data["metrics_version"] = "1.0"
    for gate in data["gates"]:
        for key in ("lower", "upper", "confidence", "samples", "needed"):
            gate.pop(key)
    old = QualityReport.from_dict(data)
    assert [g.status for g in old.gates] == [g["status"] for g in data["gates"]]
    assert old.gate("membership_inference").lower is None and old.gate("membership_inference").samples == {}
    assert old.passed
    assert "Gates" in old.to_html()
    assert "privacy/membership_inference" in old.summary()


def test_an_inconclusive_gate_is_a_warning_everywhere_a_status_is_read():
    rep = small_holdout_report("unseen")
    assert rep.inconclusive == ["membership_inference"]
    assert rep.passed and rep.status == "warn"
    data = rep.to_dict()
    assert data["passed"] is True and data["status"] == "warn"
    again = QualityReport.from_dict(json.loads(rep.to_json()))
    assert again.gate("membership_inference").status == "inconclusive" and again.passed
    assert "inconclusive" in rep.summary() and "[inconclusive] privacy/membership_inference" in rep.summary()
    assert ">inconclusive</span>" in rep.to_html()


def test_the_workbench_marks_an_inconclusive_gate_and_does_not_show_it_as_blocking():
    from app.components import report_view

    document = small_holdout_report("unseen").to_dict()
    table = report_view.gates_table(document)
    row = table.filter(pl.col("gate") == "membership_inference").row(0, named=True)
    assert row["status"] == "INCONCLUSIVE"
    assert row["rows"] == "holdout 500 · members 250 · non-members 250"
    assert row["error bar"].startswith("[")
    assert report_view.inconclusive_gates(document) == ["membership_inference"]
    assert report_view._status({k: v for k, v in document.items() if k not in ("status", "passed")}) == "warn"
