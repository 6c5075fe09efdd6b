"""RowSource: exact takes, rejection with adaptive rounds, and the infeasibility error.

The generator here draws real adult rows at random (a bootstrap of the real table), so the
acceptance rate of a condition is the real share of rows that meet it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.models.conditions import InfeasibleConditionError, parse_conditions
from engine.models.row_source import RowSource


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    frame = pl.read_csv(datasets / "adult.csv")
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(pl.col(strings).str.strip_chars_start())


class Bootstrap:
    """generate(k): k rows of the real table drawn with replacement, seeded; records round sizes."""

    def __init__(self, frame: pl.DataFrame, seed: int = 0) -> None:
        self.frame = frame
        self.rng = np.random.default_rng(seed)
        self.rounds: list[int] = []

    def __call__(self, k: int) -> pl.DataFrame:
        self.rounds.append(k)
        return self.frame[self.rng.integers(0, self.frame.height, size=k)]


def _source(adult: pl.DataFrame, conditions: object, *, round_rows: int, seed: int = 0) -> tuple[RowSource, Bootstrap]:
    gen = Bootstrap(adult, seed)
    plan = parse_conditions(conditions, schema=adult.schema)
    return RowSource(gen, conditions=plan, schema=adult.schema, round_rows=round_rows), gen


def test_takes_return_exactly_the_rows_asked_for(adult: pl.DataFrame) -> None:
    source, _ = _source(adult, None, round_rows=1_000)
    assert [source.take(k).height for k in (1, 999, 2_500, 0, 7)] == [1, 999, 2_500, 0, 7]


def test_rows_taken_in_pieces_are_the_rows_taken_at_once(adult: pl.DataFrame) -> None:
    for conditions in (None, "age > 60"):
        whole, _ = _source(adult, conditions, round_rows=1_000)
        pieces, _ = _source(adult, conditions, round_rows=1_000)
        joined = pl.concat([pieces.take(k) for k in (10, 990, 1, 1_999)])
        assert joined.equals(whole.take(3_000))


def test_every_taken_row_meets_the_conditions(adult: pl.DataFrame) -> None:
    source, _ = _source(adult, "age > 65 and sex == 'Female'", round_rows=500)
    rows = source.take(500)
    assert rows.height == 500
    assert ((rows.get_column("age") > 65) & (rows.get_column("sex") == "Female")).all()


def test_rounds_grow_with_the_inverse_of_the_acceptance_rate(adult: pl.DataFrame) -> None:
    source, gen = _source(adult, "age > 70", round_rows=1_000)  # about 1.4% of adults
    source.take(1_000)
    rate = (adult.get_column("age") > 70).mean()
    assert gen.rounds[0] == 1_200  # one round's worth with a margin, before any rate is known
    assert gen.rounds[1] > 20 * gen.rounds[0]  # then sized by the observed rate
    assert abs(source.acceptance_rate - rate) < 0.01
    assert len(gen.rounds) <= 4


def test_a_condition_nothing_meets_fails_with_its_name_and_rate(adult: pl.DataFrame) -> None:
    source, gen = _source(adult, "sex == 'Male' and age > 120", round_rows=100)
    with pytest.raises(InfeasibleConditionError, match=r"`age > 120` was satisfied by 0 of [\d,]+ generated rows \(acceptance rate 0%\)") as info:
        source.take(100)
    assert info.value.condition == "age > 120" and info.value.acceptance_rate == 0.0
    assert 20_000 <= sum(gen.rounds) < 100_000


def test_a_rate_too_low_for_the_request_fails_with_the_observed_rate(adult: pl.DataFrame) -> None:
    # 'Holand-Netherlands' is 1 row in 32,561: 200,000 rows at that rate exceed the budget
    source, _ = _source(adult, {"native-country": "Holand-Netherlands"}, round_rows=65_536)
    with pytest.raises(InfeasibleConditionError, match=r"acceptance rate 0\.00\d+%.*would take about") as info:
        source.take(200_000)
    assert 0 < info.value.acceptance_rate < 1e-4


def test_the_same_rows_come_for_the_same_seed(adult: pl.DataFrame) -> None:
    a, _ = _source(adult, "age < 25", round_rows=300, seed=3)
    b, _ = _source(adult, "age < 25", round_rows=300, seed=3)
    assert a.take(300).equals(b.take(300))
