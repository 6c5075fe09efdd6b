"""RDP curves and their composition, and the ledger's canonical hashing (no database)."""

from __future__ import annotations

import math

import pytest
from opacus.accountants import RDPAccountant

from engine.errors import ConfigError
from infra.privacy.ledger import canonical_json
from infra.privacy.rdp import RdpCurve, compose, default_orders

DP_SGD = (1.1, 0.01, 1000)  # noise multiplier, sample rate, steps
PREPROCESSING = (25.0, 1.0, 1)  # a full-batch Gaussian histogram


def _accountant_epsilon(history: list[tuple[float, float, int]], delta: float) -> float:
    accountant = RDPAccountant()
    accountant.history = list(history)
    return accountant.get_epsilon(delta=delta, alphas=default_orders())


def test_a_runs_curve_converts_to_its_own_accountant_epsilon():
    curve = RdpCurve.from_history([DP_SGD, PREPROCESSING])
    assert curve.epsilon(1e-5) == pytest.approx(_accountant_epsilon([DP_SGD, PREPROCESSING], 1e-5), rel=1e-12)


def test_a_curve_stored_on_the_ledger_converts_to_the_engines_own_epsilon():
    from engine.privacy.run import accountant_epsilon

    history = [DP_SGD, PREPROCESSING]
    engine_epsilon = accountant_epsilon(history, delta=9e-6, accountant="rdp")
    assert RdpCurve.from_history(history).epsilon(9e-6) == pytest.approx(engine_epsilon, rel=1e-12)


def test_composing_runs_is_the_accountant_of_their_joint_history_and_tighter_than_the_sum():
    one = RdpCurve.from_history([DP_SGD])
    composed = compose([one, one, one, one], delta=1e-5)
    assert composed.epsilon == pytest.approx(_accountant_epsilon([DP_SGD] * 4, 1e-5), rel=1e-12)
    assert one.epsilon(1e-5) < composed.epsilon < 0.7 * 4 * one.epsilon(1e-5)
    assert (composed.runs, composed.delta, composed.orders_used) == (4, 1e-5, len(default_orders()))


def test_delta_outside_rdp_is_taken_from_the_conversion_delta():
    plain = RdpCurve.from_history([DP_SGD])
    with_selection = RdpCurve.from_history([DP_SGD], delta_extra=4e-6)
    composed = compose([with_selection], delta=1e-5)
    assert composed.epsilon == pytest.approx(plain.epsilon(6e-6)) and composed.epsilon > plain.epsilon(1e-5)
    with pytest.raises(ConfigError, match="use up the whole delta"):
        compose([with_selection, with_selection, with_selection], delta=1e-5)


def test_a_curve_is_read_from_the_privacy_section_of_a_model_manifest():
    report = {"epsilon": 1.0, "delta": 1e-5, "accountant_delta": 9e-6, "history": [list(DP_SGD), list(PREPROCESSING)]}
    curve = RdpCurve.from_privacy_report(report)
    assert curve.delta_extra == pytest.approx(1e-6)
    assert curve.rdp == RdpCurve.from_history([DP_SGD, PREPROCESSING]).rdp
    with pytest.raises(ConfigError, match="no accountant 'history'"):
        RdpCurve.from_privacy_report({"epsilon": 1.0})


def test_only_the_orders_every_curve_has_are_composed():
    a = RdpCurve.of([2, 4, 8], [0.1, 0.2, 0.4])
    b = RdpCurve.of([4, 8, 16], [0.3, 0.5, 0.9])
    assert compose([a, b], delta=1e-5).orders_used == 2
    with pytest.raises(ConfigError, match="share no order"):
        compose([a, RdpCurve.of([3, 5], [0.1, 0.2])], delta=1e-5)


def test_a_curve_round_trips_through_its_stored_form_and_drops_vacuous_orders():
    curve = RdpCurve.of([1.5, 2, 64], [0.01, 0.02, math.inf], delta_extra=1e-7)
    assert curve.orders == (1.5, 2.0)
    assert RdpCurve.from_dict(curve.to_dict()) == curve


@pytest.mark.parametrize(
    ("orders", "rdp", "message"),
    [([1.0, 2.0], [0.1, 0.2], "above 1"), ([2.0], [-0.1], "non-negative"), ([2.0, 3.0], [0.1], "one value per order"),
     ([], [], "at least one order"), ([2.0, 2.0], [0.1, 0.2], "distinct"), ([2.0], [math.nan], "finite")],
)
def test_invalid_curves_are_refused(orders, rdp, message):
    with pytest.raises(ConfigError, match=message):
        RdpCurve(tuple(orders), tuple(rdp))


def test_an_empty_history_or_a_noiseless_step_has_no_curve():
    with pytest.raises(ConfigError, match="empty history"):
        RdpCurve.from_history([])
    with pytest.raises(ConfigError, match="noise > 0"):
        RdpCurve.from_history([(0.0, 0.01, 10)])


def test_canonical_json_reads_the_same_after_a_jsonb_round_trip():
    # PostgreSQL's JSONB writes 1e22 as 10000000000000000000000 and keeps keys in its own order.
    assert canonical_json({"b": 1e22, "a": [1.0, 0.5, (2, 3)]}) == canonical_json({"a": [1, 0.5, [2, 3]], "b": 10**22})
    assert canonical_json({"x": 1e-05}) == '{"x":1e-05}'
    with pytest.raises(ValueError, match="not a finite number"):
        canonical_json({"x": math.nan})
