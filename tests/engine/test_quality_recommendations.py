"""The report's recommendations know the model they are about: never that model again, never DP for a DP model."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.quality.gates import GateResult, ModelContext, recommend

FIDELITY = {"columns": [{"name": "age", "kind": "numeric", "null_share_real": 0.0, "null_share_synthetic": 0.0}]}


def _failed(name: str, pillar: str, value: float, **extra: object) -> GateResult:
    return GateResult(name=name, pillar=pillar, metric=name, threshold=0.1, value=value, status="block",
                      message=f"{name} failed", **extra)  # type: ignore[arg-type]


GATES = [
    _failed("column_distance", "fidelity", 0.3, offenders=[{"column": "age", "metric": "ks", "value": 0.3}]),
    _failed("correlation_difference", "fidelity", 0.4,
            offenders=[{"columns": ["age", "income"], "measure": "correlation_ratio", "value": 0.4}]),
    _failed("membership_inference", "privacy", 0.3),
    _failed("exact_copies", "privacy", 12.0),
]
PRIVACY = {"metrics": {"holdout_exact_copy_share": 0.0}}


@pytest.mark.parametrize("kind", ["ctgan", "tvae", "argn", "mst"])
def test_the_model_the_report_is_about_is_never_recommended(kind):
    advice = recommend(GATES, fidelity=FIDELITY, utility=None, privacy=PRIVACY, model={"kind": kind})
    text = " ".join(advice)
    assert f"another model than '{kind}'" in text
    assert f"'{kind}'" not in text.replace(f"another model than '{kind}'", ""), "suggested nowhere else"


def test_a_dp_model_is_told_to_lower_epsilon_not_to_use_dp():
    advice = recommend(GATES, fidelity=FIDELITY, utility=None, privacy=PRIVACY, model={"kind": "argn", "private": True})
    text = " ".join(advice)
    assert "differential privacy" not in text
    assert "smaller epsilon" in text and "larger epsilon keeps more of the structure" in text


def test_a_model_without_dp_is_told_to_train_with_dp_and_mst_is_not_told_about_epochs():
    text = " ".join(recommend(GATES, fidelity=FIDELITY, utility=None, privacy=PRIVACY, model={"kind": "mst"}))
    assert "train with differential privacy" in text.lower() and "epochs" not in text


def test_advice_is_in_words_not_engine_calls():
    text = " ".join(recommend(GATES, fidelity=FIDELITY, utility=None, privacy=PRIVACY))
    assert "engine.Privacy" not in text and "epsilon=" not in text


def test_a_malformed_model_context_is_refused_with_what_is_expected():
    with pytest.raises(ConfigError, match="'kind' and 'private'"):
        ModelContext.coerce({"type": "ctgan"})
    with pytest.raises(ConfigError, match="True or False"):
        ModelContext.coerce({"kind": "ctgan", "private": "yes"})
