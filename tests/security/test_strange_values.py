"""Strange values and hostile conditions (issue 14: profiling, transforms, conditions, assessment).

No crash, no silent corruption, a clear message: each case takes a slice of adult.csv, adds
the strange column (or writes the hostile condition) and expects either an outcome (checked
by a function) or an error (its class and a fragment of its message that names the problem
or the limit). The tries:

- UInt64 values near 2**64 and Int64 values near +-2**63 came back as 0 and -2**63 after a
  transform round trip and after training; nanosecond datetimes spanning all of Int64
  wrapped around the same way;
- the dates 9999-12-31 and 0001-01-01 raised OverflowError in profile;
- floats near 1e308 raised ValueError in profile (histogram edges overflowing to inf);
- a column named "" could not be transformed or trained (ColumnNotFoundError); a column
  named "len" crashed profile (DuplicateError);
- an all-null / all-NaN / all-inf synthetic column, or a synthetic target null everywhere,
  raised ValueError in assess;
- 2,400 nested ``not``s in a condition raised RecursionError; ``hours-per-week > 40`` gave
  no hint that the name needs quoting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import engine
from engine.errors import ConfigError, LimitExceededError
from engine.models.conditions import MAX_DEPTH, ConditionTooComplexError, parse_conditions
from engine.transform import DataTransformer

U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    frame = pl.read_csv(datasets / "adult.csv", n_rows=200)
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(pl.col(strings).str.strip_chars())


# -- the strange columns ------------------------------------------------------------------
def near_u64_max(n: int) -> pl.Series:
    return pl.Series("big_u", [U64_MAX - (i * 7919) % 1000 for i in range(n)], dtype=pl.UInt64)


def near_i64_limits(n: int) -> pl.Series:
    return pl.Series(
        "big_i", [(I64_MAX - (i * 31) % 500) if i % 2 else (I64_MIN + (i * 17) % 500) for i in range(n)], dtype=pl.Int64
    )


def full_range_ns(n: int) -> pl.Series:
    low, high = dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 10)
    return pl.Series("ns", [high if i % 2 else low for i in range(n)], dtype=pl.Datetime("ns"))


def calendar_ends(n: int) -> list[pl.Series]:
    return [
        pl.Series("d", [dt.date(9999, 12, 31) if i % 2 else dt.date(1, 1, 1) for i in range(n)]),
        pl.Series("ts", [dt.datetime(9999, 12, 31, 23, 59, 59) if i % 2 else dt.datetime(1, 1, 1) for i in range(n)]),
    ]


def near_float_max(n: int) -> pl.Series:
    return pl.Series("huge", [(1.7e308 - i * 1e305) * (1 if i % 3 else -1) for i in range(n)])


# -- what each case does --------------------------------------------------------------------
def round_trip(*columns: Callable[[int], pl.Series | list[pl.Series]]) -> Callable[[pl.DataFrame], Any]:
    """Fit the transformer (no capping) on adult's age plus the columns; both encodings back."""

    def act(adult: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        frame = adult.select("age")
        for make in columns:
            made = make(adult.height)
            frame = frame.with_columns(made if isinstance(made, list) else [made])
        fitted = DataTransformer(cap_quantiles=None).fit(frame)
        return frame, fitted.inverse_transform(fitted.transform(frame)), fitted.inverse_tokens(fitted.transform_tokens(frame))

    return act


def within_real_range(result: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    real, *restored = result
    for back in restored:
        assert back.schema == real.schema
        for name in real.columns:
            assert real[name].min() <= back[name].min() <= back[name].max() <= real[name].max(), name
        # both ends of every column come back: nothing wrapped to the other side
        for name in real.columns:
            assert back[name].max() > real[name].min() or real[name].n_unique() == 1, name


def exact(result: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    real, *restored = result
    for back in restored:
        assert back.sort(back.columns).equals(real.sort(real.columns))


def profile_with(*columns: Callable[[int], pl.Series | list[pl.Series]]) -> Callable[[pl.DataFrame], Any]:
    def act(adult: pl.DataFrame) -> engine.Profile:
        frame = adult.head(60)
        for make in columns:
            made = make(frame.height)
            frame = frame.with_columns(made if isinstance(made, list) else [made])
        return engine.profile(frame)

    return act


def calendar_stats(profile: Any) -> None:
    assert profile.columns["d"].stats["min"] == "0001-01-01"
    assert profile.columns["d"].stats["max"] == "9999-12-31"
    assert profile.columns["ts"].stats["max"] == "9999-12-31T23:59:59"
    assert profile.columns["d"].histogram["edges"][-1] == "10000-01-01"  # the last bin ends a day later


def huge_floats_profiled(profile: Any) -> None:
    column = profile.columns["huge"]
    assert column.stats["min"] < -1e308 and column.stats["max"] > 1e308
    assert sum(column.histogram["counts"]) == 60
    assert all(abs(e) < float("inf") for e in column.histogram["edges"])
    warning = next(w for w in profile.warnings if w.code == "overflow")
    assert warning.column == "huge" and "1.8e308" in warning.message


def assess_with_synthetic(column: str, value: pl.Expr, target: str | None = None) -> Callable[[pl.DataFrame], Any]:
    def act(adult: pl.DataFrame) -> dict[str, Any]:
        synthetic = adult.tail(100).with_columns(value.alias(column))
        return engine.assess(real=adult.head(100), synthetic=synthetic, target=target).to_dict()

    return act


def maximally_different(column: str) -> Callable[[dict[str, Any]], None]:
    def check(report: dict[str, Any]) -> None:
        measured = next(c for c in report["fidelity"]["columns"] if c["name"] == column)
        assert measured["distance"] == 1.0
        gate = next(g for g in report["gates"] if g["name"] == "column_distance")
        assert gate["status"] == "block" and column in gate["message"]

    return check


def utility_scored_as_nothing_learned(report: dict[str, Any]) -> None:
    gate = next(g for g in report["gates"] if g["name"] == "utility_ratio")
    assert gate["status"] in ("warn", "fail", "block") and gate["value"] < 0.8
    assert any("learned nothing" in note for note in report["utility"]["notes"])


def condition(text: str) -> Callable[[pl.DataFrame], Any]:
    def act(adult: pl.DataFrame) -> pl.DataFrame:
        parsed = parse_conditions(text, schema=adult.schema)
        assert parsed is not None
        return adult.filter(parsed.expr)

    return act


@dataclass(frozen=True)
class Case:
    name: str
    act: Callable[[pl.DataFrame], Any]
    expect: Callable[[Any], None] | None = None  # checks the outcome
    error: type[Exception] | None = None  # or: the error's class ...
    match: str | None = None  # ... and a fragment of its message


CASES = [
    Case("UInt64 near 2**64 round-trips inside its range", round_trip(near_u64_max), within_real_range),
    Case("UInt64 near 2**64 with a small range round-trips exactly", round_trip(near_u64_max), exact),
    Case("Int64 near +-2**63 round-trips inside its range", round_trip(near_i64_limits), within_real_range),
    Case("nanosecond datetimes spanning Int64 round-trip inside their range", round_trip(full_range_ns), within_real_range),
    Case("dates 0001-01-01 and 9999-12-31 round-trip exactly", round_trip(calendar_ends), exact),
    Case("dates 0001-01-01 and 9999-12-31 are profiled", profile_with(calendar_ends), calendar_stats),
    Case("floats near 1e308 are profiled, overflowing statistics left out with a warning",
         profile_with(near_float_max), huge_floats_profiled),
    Case("a column named '' is profiled", profile_with(lambda n: pl.Series("", range(n))),
         lambda p: p.columns[""].stats is not None),
    Case("a column named '' round-trips through the transformer", round_trip(lambda n: pl.Series("", range(n))), exact),
    Case("a column named 'len' is profiled with its top categories",
         profile_with(lambda n: pl.Series("len", ["a", "b", "a"] * (n // 3))),
         lambda p: p.columns["len"].top_categories[0][:2] == ("a", 40)),
    Case("an all-null synthetic column is maximally different",
         assess_with_synthetic("age", pl.lit(None, dtype=pl.Int64)), maximally_different("age")),
    Case("an all-NaN synthetic column is maximally different",
         assess_with_synthetic("fnlwgt", pl.lit(float("nan"))), maximally_different("fnlwgt")),
    Case("an all-inf synthetic column is maximally different",
         assess_with_synthetic("fnlwgt", pl.lit(float("inf"))), maximally_different("fnlwgt")),
    Case("an all-null synthetic text column is maximally different",
         assess_with_synthetic("workclass", pl.lit(None, dtype=pl.String)), maximally_different("workclass")),
    Case("a synthetic target null in every row gets a utility verdict",
         assess_with_synthetic("income", pl.lit(None, dtype=pl.String), target="income"),
         utility_scored_as_nothing_learned),
    Case("2,400 nested nots are refused naming the limit", condition("not " * 2400 + "age > 40"),
         error=ConditionTooComplexError, match=f"deeper than {MAX_DEPTH} levels"),
    Case("a too-deep condition is also a LimitExceededError", condition("-" * 5000 + "1 < age"),
         error=LimitExceededError, match=str(MAX_DEPTH)),
    Case("hours-per-week > 40 says to quote the name in backticks", condition("hours-per-week > 40"),
         error=ConfigError, match="write it in backticks, `hours-per-week`"),
    Case("hours-per-week > 40 points at the dict form too", condition("hours-per-week > 40"),
         error=ConfigError, match="dict form {'hours-per-week': value}"),
    Case("a backtick-quoted name selects rows", condition("`hours-per-week` > 40 and sex == 'Male'"),
         lambda rows: rows.height > 0 and (rows["hours-per-week"] > 40).all() and (rows["sex"] == "Male").all()),
    Case("an unclosed backtick is named", condition("`hours-per-week > 40"), error=ConfigError, match="not closed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_strange_value(case: Case, adult: pl.DataFrame) -> None:
    if case.error is not None:
        with pytest.raises(case.error) as caught:
            case.act(adult)
        assert case.match is not None and case.match in str(caught.value)
        return
    outcome = case.act(adult)
    assert case.expect is not None
    verdict = case.expect(outcome)
    assert verdict is None or verdict is True


def test_training_on_values_near_the_integer_limits_samples_inside_their_range(adult: pl.DataFrame) -> None:
    """The reported corruption end to end: a 1-epoch ARGN, sampled values within the real [min, max]."""
    frame = adult.select("age", "workclass").with_columns(near_u64_max(adult.height), near_i64_limits(adult.height))
    model = engine.train(frame, model="argn", epochs=1, seed=0)
    synthetic = model.sample(100, seed=1)
    for name in ("big_u", "big_i"):
        assert synthetic[name].dtype == frame[name].dtype
        assert frame[name].min() <= synthetic[name].min() <= synthetic[name].max() <= frame[name].max()
    # values near the top stay near the top (2**64 - 1 used to come back as 0)
    assert synthetic["big_u"].min() > U64_MAX - 2_000


def test_a_column_named_empty_trains_and_samples(adult: pl.DataFrame) -> None:
    frame = adult.select("age", "workclass", "sex").rename({"age": ""})
    synthetic = engine.train(frame, model="argn", epochs=1, seed=0).sample(20, seed=1)
    assert synthetic.columns == ["", "workclass", "sex"]
    assert synthetic[""].dtype == frame[""].dtype
