"""``engine.assess_sequences`` and ``engine.split_sequences`` on histories whose answer is known.

Hand-made panels (AR(1) with phi 0.9 against white noise of the same variance; two independent
draws of one process; a table against itself; a sticky categorical chain against shuffled
steps) and the real nasdaq panel (copies of training histories as the synthetic table).
Small sizes and few boosting rounds keep each test to a few seconds.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError

NASDAQ = "/work/shared/datasets/timeseries/nasdaq100_2019.csv.gz"
BEIJING = "/work/shared/datasets/timeseries/beijing_air_quality_4stations.csv.gz"
FAST = {"max_windows": 600, "max_iter": 30, "folds": 3}


def panel(*, phi: float, entities: int, length: int | np.ndarray, seed: int, categorical: bool = False) -> pl.DataFrame:
    """Long table of ``entities`` AR(1) histories of unit variance (phi 0: white noise), column y = x + noise."""
    rng = np.random.default_rng(seed)
    lengths = np.full(entities, length) if np.isscalar(length) else np.asarray(length)
    rows = []
    for e, n in enumerate(lengths):
        x = np.empty(n)
        x[0] = rng.normal()
        shocks = rng.normal(scale=np.sqrt(1 - phi ** 2), size=n)
        for t in range(1, n):
            x[t] = phi * x[t - 1] + shocks[t]
        frame = {"id": np.full(n, f"e{e:03d}"), "t": np.arange(n), "x": x, "y": x + 0.3 * rng.normal(size=n),
                 "group": np.full(n, "a" if e % 2 else "b")}
        if categorical:
            frame["state"] = np.where(x > 0, "up", "down")
        rows.append(pl.DataFrame(frame))
    return pl.concat(rows)


def assess(real: pl.DataFrame, synthetic: pl.DataFrame, **kwargs):
    config = {**FAST, **kwargs.pop("config", {})}
    return engine.assess_sequences(real=real, synthetic=synthetic, entity="id", order_by="t", config=config, **kwargs)


# ----------------------------------------------------------------------------- the metrics


def test_white_noise_is_told_apart_from_an_ar1_process() -> None:
    real = panel(phi=0.9, entities=30, length=120, seed=1)
    noise = panel(phi=0.0, entities=30, length=120, seed=2)
    report = assess(real, noise, config={"parts": ["temporal", "discriminative", "predictive"]})
    assert report.scores["discriminative_score"] > 0.4  # near 0.5: told apart
    assert report.scores["autocorrelation_error"] > 0.3  # lag-1 0.9 against 0, lag 10 0.35 against 0
    assert report.gate("autocorrelation").status == "warn"
    assert report.gate("discriminative").status == "warn"
    assert report.scores["predictive_score"] > 1.5  # a model trained on noise cannot predict the AR(1)'s next step
    curves = report.figures["autocorrelation"]["columns"]["x"]
    assert curves["real"][0] == pytest.approx(0.9, abs=0.06) and abs(curves["synthetic"][0]) < 0.06


def test_two_draws_of_one_process_score_near_zero() -> None:
    real = panel(phi=0.9, entities=30, length=120, seed=3)
    other = panel(phi=0.9, entities=30, length=120, seed=4)
    report = assess(real, other, config={"parts": ["temporal", "discriminative", "predictive"]})
    assert report.scores["discriminative_score"] < 0.1
    assert report.scores["autocorrelation_error"] < 0.06
    assert report.scores["cross_correlation_error"] < 0.06
    assert report.scores["length_ks_similarity"] == 1.0
    assert report.scores["predictive_score"] == pytest.approx(1.0, abs=0.15)
    assert report.gate("autocorrelation").status == "pass"


def test_a_table_against_itself() -> None:
    real = panel(phi=0.5, entities=24, length=60, seed=5, categorical=True)
    report = assess(real, real.sample(fraction=1.0, shuffle=True, seed=0))  # row order does not matter
    assert report.scores["discriminative_score"] < 0.05
    assert report.scores["autocorrelation_error"] == pytest.approx(0.0, abs=1e-12)
    assert report.scores["cross_correlation_error"] == pytest.approx(0.0, abs=1e-12)
    assert report.scores["coherence"] == pytest.approx(1.0)
    assert report.scores["length_ks_similarity"] == 1.0 and report.scores["gap_ks_similarity"] == 1.0
    assert report.scores["step_fidelity"] == pytest.approx(1.0)
    assert report.inputs["context"] == ["group"] and report.inputs["context_source"] == "inferred"
    assert report.scores["dcr_share"] is None and report.gate("entity_membership").status == "skipped"


def test_one_history_a_side_is_inconclusive() -> None:
    real = panel(phi=0.9, entities=1, length=400, seed=13)
    noise = panel(phi=0.0, entities=1, length=400, seed=14)
    report = assess(real, noise, config={"parts": ["temporal", "predictive"]})
    assert report.scores["autocorrelation_error"] > 0.3
    assert report.gate("autocorrelation").status == "inconclusive"  # no spread across histories to weigh noise by
    assert any("last 20 % of each real history" in n for n in report.notes)  # the predictor's own test split
    assert report.scores["predictive_score"] > 1.3
    assert report.gate("discriminative").status == "skipped"


def test_lengths_compared_by_ks() -> None:
    rng = np.random.default_rng(0)
    real = panel(phi=0.5, entities=500, length=rng.integers(5, 40, 500), seed=6)
    same = panel(phi=0.5, entities=500, length=rng.integers(5, 40, 500), seed=7)
    longer = panel(phi=0.5, entities=500, length=rng.integers(30, 80, 500), seed=8)
    only = {"parts": ["temporal"]}
    near = assess(real, same, config=only)
    far = assess(real, longer, config=only)
    assert near.scores["length_ks_similarity"] > 0.85
    assert near.gate("sequence_length").status == "pass"
    assert far.scores["length_ks_similarity"] < 0.5
    assert far.gate("sequence_length").status == "block" and not far.passed


def test_cross_correlation_and_coherence_see_broken_dependence() -> None:
    real = panel(phi=0.9, entities=30, length=100, seed=9, categorical=True)
    rng = np.random.default_rng(1)
    # the same values, each column shuffled on its own within the table: marginals kept, time and pairs broken
    broken = real.with_columns(pl.Series("y", rng.permutation(real["y"].to_numpy())),
                               pl.Series("state", rng.permutation(real["state"].to_numpy())))
    report = assess(real, broken, config={"parts": ["temporal"]})
    cross = report.figures["cross_correlation"]
    assert cross["same_step_error"] > 0.6  # corr(x, y) ~0.96 in the real, ~0 in the shuffled
    coherence = report.figures["coherence"]["columns"]["state"]
    assert coherence["transition_similarity"] < 0.7  # sticky states (phi 0.9) against independent draws
    assert report.figures["coherence"]["columns"]["x"]["change_similarity"] == pytest.approx(1.0)  # x untouched


# ----------------------------------------------------------------------------- privacy on real data


@pytest.fixture(scope="module")
def nasdaq() -> pl.DataFrame:
    return engine.read(NASDAQ)


def test_copied_nasdaq_histories_are_caught(nasdaq: pl.DataFrame) -> None:
    train, holdout = engine.split_sequences(nasdaq, entity="Symbol", order_by="Date", holdout=0.5, seed=0)
    report = engine.assess_sequences(real=train, synthetic=train, holdout=holdout, entity="Symbol", order_by="Date",
                                     config={**FAST, "parts": ["privacy"]})
    assert report.scores["dcr_share"] > 0.95  # copies: every synthetic history sits on a training one
    assert report.scores["membership_advantage"] > 0.5
    assert report.gate("entity_membership").status == "block"
    assert report.gate("entity_dcr_share").status == "warn"
    assert not report.passed
    fresh = engine.assess_sequences(real=train, synthetic=holdout, holdout=holdout, entity="Symbol", order_by="Date",
                                    config={**FAST, "parts": ["privacy"]})
    assert fresh.scores["dcr_share"] < 0.1  # holdout histories sit on holdout histories, not on training ones


def test_beijing_by_time_with_nulls() -> None:
    data = engine.read(BEIJING).filter(pl.col("No") <= 600).drop("year", "month", "day", "hour")
    train, later = engine.split_sequences(data, entity="station", order_by="No", holdout=0.25, by="time")
    report = engine.assess_sequences(real=train, synthetic=later, entity="station", order_by="No",
                                     config={**FAST, "parts": ["fidelity", "temporal", "discriminative"]})
    assert report.inputs["entities"] == {"real": 4, "synthetic": 4}
    assert report.scores["length_ks_similarity"] == 0.0  # 450 steps against 150 in every station
    assert report.gate("sequence_length").status == "inconclusive"  # four histories a side cannot tell
    assert report.scores["coherence"] is not None and 0 < report.scores["coherence"] <= 1
    assert report.scores["autocorrelation_error"] is not None
    assert report.steps is not None and report.scores["step_fidelity"] is not None
    assert report.scores["discriminative_score"] is not None


# ----------------------------------------------------------------------------- splitting


def test_split_by_entity_sets_whole_entities_aside(nasdaq: pl.DataFrame) -> None:
    train, holdout = engine.split_sequences(nasdaq, entity="Symbol", order_by="Date", holdout=0.2, seed=3)
    a, b = set(train["Symbol"]), set(holdout["Symbol"])
    assert not a & b and a | b == set(nasdaq["Symbol"])
    assert len(b) == round(0.2 * nasdaq["Symbol"].n_unique())
    assert train.height + holdout.height == nasdaq.height
    again = engine.split_sequences(nasdaq, entity="Symbol", order_by="Date", holdout=0.2, seed=3)[1]
    assert again.equals(holdout)
    other = engine.split_sequences(nasdaq, entity="Symbol", order_by="Date", holdout=0.2, seed=4)[1]
    assert set(other["Symbol"]) != b


def test_split_by_time_sets_the_end_of_each_history_aside(nasdaq: pl.DataFrame) -> None:
    train, holdout = engine.split_sequences(nasdaq, entity="Symbol", order_by="Date", holdout=0.2, by="time")
    ends = train.group_by("Symbol").agg(pl.col("Date").max().alias("end"), pl.len().alias("n_train"))
    starts = holdout.group_by("Symbol").agg(pl.col("Date").min().alias("start"), pl.len().alias("n_hold"))
    both = ends.join(starts, on="Symbol", how="inner")
    assert both.height == nasdaq["Symbol"].n_unique()  # every entity on both sides
    assert (both["end"] < both["start"]).all()
    total = both["n_train"] + both["n_hold"]
    assert (both["n_hold"] == (0.2 * total).round(0).cast(pl.UInt32)).all()


# ----------------------------------------------------------------------------- bad input and the report


def test_bad_input_gets_clear_messages() -> None:
    real = panel(phi=0.5, entities=12, length=20, seed=10)
    with pytest.raises(InputError, match="synthetic table has no entity column 'id'"):
        assess(real, real.drop("id"))
    with pytest.raises(InputError, match="real table has no order_by column 'when'"):
        engine.assess_sequences(real=real, synthetic=real, entity="id", order_by="when")
    with pytest.raises(InputError, match="synthetic table has no rows"):
        assess(real, real.head(0))
    with pytest.raises(InputError, match=r"missing \['y'\]"):
        assess(real, real.drop("y"))
    with pytest.raises(InputError, match="order_by column 't' of the real table is String"):
        assess(real.with_columns(pl.col("t").cast(pl.String)), real)
    with pytest.raises(ConfigError, match="unknown sequence quality config key"):
        assess(real, real, config={"lagz": 3})
    with pytest.raises(InputError, match="'when' is not a column"):
        engine.split_sequences(real, entity="id", order_by="when")
    with pytest.raises(InputError, match="no rows"):
        engine.split_sequences(real.head(0), entity="id", order_by="t")
    with pytest.raises(InputError, match="at least 2 entities"):
        engine.split_sequences(real.filter(pl.col("id") == "e000"), entity="id", order_by="t")
    with pytest.raises(ConfigError, match="by must be one of"):
        engine.split_sequences(real, entity="id", order_by="t", by="row")


def test_report_round_trips_through_json() -> None:
    real = panel(phi=0.7, entities=40, length=30, seed=11, categorical=True)
    train, holdout = engine.split_sequences(real, entity="id", order_by="t", holdout=0.5, seed=0)
    synthetic = panel(phi=0.7, entities=20, length=30, seed=12, categorical=True)
    report = engine.assess_sequences(real=train, synthetic=synthetic, holdout=holdout, entity="id", order_by="t",
                                     context=["group"], config=FAST)
    assert isinstance(report, engine.SequenceReport)
    assert report.scores["discriminative_ceiling"] is not None and report.scores["dcr_share"] is not None
    text = report.to_json()
    back = engine.SequenceReport.from_json(text)
    assert back.to_dict() == json.loads(text)
    assert back.status == report.status and back.scores == report.scores
    summary = report.summary()
    assert "discriminative_score" in summary and "entity_membership" in summary
    with pytest.raises(InputError, match="not a Doppel sequence quality report"):
        engine.SequenceReport.from_json('{"schema": "other"}')
