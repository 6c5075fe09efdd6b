"""``engine.train_sequences`` on real histories: a slice of nasdaq (daily prices of 16 companies,
one of them listed mid-year) and a few hundred hourly steps of beijing (nulls in the sensors).

The models train for a few seconds: the tests check what holds by construction or is learned
at once (order, spacing, lengths, columns, conditions, prefixes, files, seeds), not fidelity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import engine
from engine.sequences import SequenceModel

SYMBOLS = ["AAPL", "AMZN", "MSFT", "FB", "GOOGL", "GOOG", "INTC", "CSCO", "CMCSA", "PEP", "ADBE", "NVDA", "NFLX", "AVGO",
           "TXN", "ZM"]


@pytest.fixture(scope="module")
def nasdaq(datasets: Path) -> pl.DataFrame:
    frame = engine.read(datasets / "timeseries" / "nasdaq100_2019.csv.gz")
    return frame.filter(pl.col("Symbol").is_in(SYMBOLS))


@pytest.fixture(scope="module")
def model(nasdaq: pl.DataFrame) -> SequenceModel:
    shuffled = nasdaq.sample(fraction=1.0, shuffle=True, seed=0)  # out of order on purpose: sorted, and said
    return engine.train_sequences(shuffled, entity="Symbol", order_by="Date", max_training_time_s=6, seed=0)


@pytest.fixture(scope="module")
def synthetic(model: SequenceModel) -> pl.DataFrame:
    return model.sample(seed=1)


def test_the_model_reads_the_long_table(model: SequenceModel, nasdaq: pl.DataFrame) -> None:
    assert model.entity_ == "Symbol" and model.order_by_ == "Date"
    assert model.context_ == ("MarketCap", "Sector", "Industry")  # inferred: constant within every company
    assert model.steps_ == ("Open", "Close", "Volume")
    assert model.lengths_ == {"min": 177, "max": 252, "entities": 16}
    assert any("16 of 16 entities' histories were sorted by 'Date'" in note for note in model.notes_)
    assert any("max_length=50000" in note for note in model.notes_)


def test_the_long_table_comes_back_sorted_in_the_input_columns_and_dtypes(synthetic: pl.DataFrame, nasdaq: pl.DataFrame) -> None:
    assert synthetic.schema == nasdaq.schema
    assert synthetic.get_column("Symbol").n_unique() == 16
    assert synthetic.equals(synthetic.sort(["Symbol", "Date"]))
    context = synthetic.group_by("Symbol").agg(pl.col(c).n_unique() for c in ("MarketCap", "Sector", "Industry"))
    assert (context.drop("Symbol").max_horizontal() == 1).all()  # one context per history


def test_order_and_business_day_spacing_are_kept(synthetic: pl.DataFrame, nasdaq: pl.DataFrame) -> None:
    days = synthetic.with_columns(pl.col("Date").diff().over("Symbol").dt.total_days().alias("gap"))
    gaps = days.get_column("gap").drop_nulls()
    assert gaps.min() >= 1  # strictly increasing within every history
    real = set(nasdaq.with_columns(pl.col("Date").diff().over("Symbol").dt.total_days().alias("g")).get_column("g").drop_nulls())
    assert set(gaps.unique()) <= real  # gaps learned as categories: only the real spacings (1, 2, 3, 4 days)
    assert (gaps.is_in([1, 3])).mean() > 0.8
    starts = synthetic.group_by("Symbol").agg(pl.col("Date").min()).get_column("Date")
    assert starts.is_in(nasdaq.group_by("Symbol").agg(pl.col("Date").min()).get_column("Date").implode()).all()


def test_lengths_stay_within_the_trained_range(model: SequenceModel) -> None:
    lengths = model.sample(n_entities=40, seed=2).group_by("Symbol").len().get_column("len")
    assert lengths.len() == 40
    assert 177 <= lengths.min() and lengths.max() <= 252


def test_conditions_and_a_context_frame_fix_the_context(model: SequenceModel) -> None:
    tech = model.sample(n_entities=4, conditions="Sector == 'Technology'", seed=3)
    assert tech.get_column("Symbol").n_unique() == 4
    assert (tech.get_column("Sector") == "Technology").all()
    partial = model.sample(context=pl.DataFrame({"Sector": ["Technology", None, "Technology"]}), seed=4)
    firsts = partial.group_by("Symbol", maintain_order=True).agg(pl.col("Sector").first())
    assert firsts.height == 3 and firsts.get_column("Sector").to_list() == ["Technology", None, "Technology"]
    full = pl.DataFrame({"MarketCap": [1.0e12], "Sector": ["Technology"], "Industry": ["Computer Software: Prepackaged Software"]})
    one = model.sample(context=full, seed=5)
    assert one.get_column("Symbol").n_unique() == 1
    assert one.row(0, named=True)["Sector"] == "Technology"


def test_a_prefix_is_kept_and_continued(model: SequenceModel, nasdaq: pl.DataFrame) -> None:
    given = nasdaq.filter(pl.col("Symbol").is_in(["AAPL", "NFLX"])).sort(["Symbol", "Date"])
    given = given.filter(pl.int_range(pl.len()).over("Symbol") < 20)
    out = model.sample(prefix=given, seed=6)
    assert sorted(out.get_column("Symbol").unique()) == ["AAPL", "NFLX"]
    for symbol in ("AAPL", "NFLX"):
        history = out.filter(pl.col("Symbol") == symbol)
        assert history.height > 20
        assert history.head(20).equals(given.filter(pl.col("Symbol") == symbol))
        rest = history.slice(20)
        assert rest.get_column("Date").min() > given.filter(pl.col("Symbol") == symbol).get_column("Date").max()
        assert rest.get_column("Close").null_count() == 0


def test_save_load_round_trip_samples_the_same(model: SequenceModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "nasdaq.zip")
    assert path.is_file()
    loaded = engine.load_model(path)
    assert isinstance(loaded, SequenceModel)
    assert loaded.lengths_ == model.lengths_ and loaded.notes_ == model.notes_
    assert loaded.sample(n_entities=3, seed=7).equals(model.sample(n_entities=3, seed=7))
    assert isinstance(engine.load_model(path.read_bytes()), SequenceModel)
    with pytest.raises(engine.ConfigError, match=r"\.zip"):
        model.save(tmp_path / "nasdaq.doppel")


def test_the_same_seed_gives_the_same_table(model: SequenceModel) -> None:
    first = model.sample(n_entities=3, seed=8)
    assert first.equals(model.sample(n_entities=3, seed=8))
    assert not first.equals(model.sample(n_entities=3, seed=9))


@pytest.fixture(scope="module")
def beijing(datasets: Path) -> pl.DataFrame:
    frame = engine.read(datasets / "timeseries" / "beijing_air_quality_4stations.csv.gz")
    frame = frame.filter(pl.col("No") <= 300, pl.col("station").is_in(["Aotizhongxin", "Changping", "Dingling"]))
    return frame.with_columns(pl.datetime("year", "month", "day", "hour").alias("time")).select(
        "station", "time", "PM2.5", "PM10", "NO2", "CO", "TEMP", "wd", "WSPM")


def test_hourly_sensors_stay_hourly_with_their_nulls_and_truncation(beijing: pl.DataFrame) -> None:
    assert beijing.get_column("NO2").null_count() > 0 and beijing.get_column("CO").null_count() > 0  # sensors drop out
    model = engine.train_sequences(beijing, entity="station", order_by="time", context=[], max_length=200,
                                   max_training_time_s=5, seed=0)
    assert model.lengths_["max"] == 200
    assert any("truncated at max_length=200" in note and "3 entities lost 300 steps" in note for note in model.notes_)
    out = model.sample(n_entities=3, seed=1)
    assert out.schema == beijing.schema
    gaps = out.with_columns(pl.col("time").diff().over("station").alias("gap")).get_column("gap").drop_nulls()
    assert set(gaps.dt.total_seconds()) == {3600}  # regular data stays regular
    assert out.group_by("station").len().get_column("len").max() <= 200
    assert out.get_column("time").dt.year().min() == 2013
    assert out.get_column("NO2").null_count() + out.get_column("CO").null_count() > 0  # nulls learned like any value


# -- bad input ---------------------------------------------------------------------------------
def _tiny() -> pl.DataFrame:
    return pl.DataFrame({"id": ["a", "a", "a", "b", "b"], "t": [1, 2, 3, 1, 2], "x": [1.0, 2.0, 3.0, 4.0, 5.0],
                         "c": ["u", "u", "u", "v", "v"]})


def test_a_duplicated_entity_time_pair_is_refused_with_a_count_and_an_example() -> None:
    frame = pl.concat([_tiny(), _tiny().head(1)])
    with pytest.raises(engine.InputError, match=r"1 \(entity, time\) pair\(s\) appear more than once \(2 rows\), e\.g\. id='a' at t=1"):
        engine.train_sequences(frame, entity="id", order_by="t")


def test_single_row_entities_only_are_refused() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c"], "t": [1, 1, 1], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(engine.InputError, match="every one of the 3 entities in 'id' has a single row"):
        engine.train_sequences(frame, entity="id", order_by="t")


def test_mixed_time_zones_are_refused() -> None:
    frame = _tiny().with_columns(pl.Series("t", ["2024-03-01T10:00:00+01:00", "2024-03-01T11:00:00+01:00",
                                                 "2024-03-31T12:00:00+02:00", "2024-03-01T10:00:00+01:00",
                                                 "2024-03-01T11:00:00+01:00"]))
    with pytest.raises(engine.InputError, match=r"mixes time zones: 2 different UTC offsets \(\+01:00, \+02:00\)"):
        engine.train_sequences(frame, entity="id", order_by="t")


def test_missing_columns_and_a_varying_context_are_refused() -> None:
    with pytest.raises(engine.InputError, match="order_by column 'when' is not in the table"):
        engine.train_sequences(_tiny(), entity="id", order_by="when")
    with pytest.raises(engine.InputError, match=r"context columns \['sector'\] are not in the table"):
        engine.train_sequences(_tiny(), entity="id", order_by="t", context=["sector"])
    with pytest.raises(engine.InputError, match="context column 'x' is not constant within 2 entities"):
        engine.train_sequences(_tiny(), entity="id", order_by="t", context=["x"])
    with pytest.raises(engine.ConfigError, match="max_length must be a positive whole number"):
        engine.train_sequences(_tiny(), entity="id", order_by="t", max_length=0)


def test_prepare_notes_sorting_single_rows_and_parses_one_zone() -> None:
    from engine.sequences.checks import prepare_long

    frame = pl.DataFrame({"id": ["a", "b", "a", "c", "a"], "t": ["2024-01-01T02:00:00Z", "2024-01-01T00:00:00Z",
                                                                 "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z",
                                                                 "2024-01-01T01:00:00Z"], "x": [3, 1, 1, 1, 2]})
    long = prepare_long(frame, entity="id", order_by="t", context=None, max_length=None)
    assert long.frame.get_column("x").to_list() == [1, 2, 3, 1, 1]
    assert long.time.kind == "datetime" and long.time.text
    assert any("1 of 3 entities' histories were sorted by 't'" in n for n in long.notes)
    assert any("2 of 3 entities have a single row" in n for n in long.notes)
    assert np.all(np.diff(long.frame.filter(pl.col("id") == "a").get_column("t").dt.hour().to_numpy()) == 1)


def test_differential_privacy_takes_the_entity_as_the_unit(nasdaq: pl.DataFrame, tmp_path: Path) -> None:
    small = nasdaq.filter(pl.col("Symbol").is_in(SYMBOLS[:10]), pl.col("Date") < pl.date(2019, 3, 1))
    model = engine.train_sequences(small, entity="Symbol", order_by="Date", context=["Sector"], max_length=40,
                                   privacy=engine.Privacy(epsilon=4.0, delta=1e-3), max_training_time_s=4, seed=0)
    spent = model.privacy_spent_
    assert spent["unit"].startswith("entity")
    assert set(spent["tables"]) == {"entities", "steps"}
    steps = spent["tables"]["steps"]
    assert steps["mechanism"] == "differential privacy (add/remove one entity)" and steps["max_rows_per_entity"] == 40
    assert steps["entities"] == 10 and spent["tables"]["entities"]["max_rows_per_entity"] == 1
    assert 0 < spent["epsilon"] <= 4.0 + 1e-9 and spent["delta"] <= 1e-3
    assert model.layout_.deltas == () and model.lengths_["min"] == 1  # nothing read from the rows outside the runs
    assert model.stats_["steps"] is None
    out = model.sample(n_entities=3, seed=1)
    assert out.get_column("Symbol").n_unique() == 3 and out.group_by("Symbol").len().get_column("len").max() <= 40
    assert (out.with_columns(pl.col("Date").diff().over("Symbol").dt.total_days().alias("g")).get_column("g").drop_nulls() >= 1).all()
    loaded = engine.load_model(model.save(tmp_path / "private.zip"))
    assert loaded.privacy_spent_ == spent and loaded.sample(n_entities=3, seed=1).equals(out)


def _visits() -> pl.DataFrame:
    """24 patients' visits at irregular spacings (1, 7 or 30 days), a dose per visit, a kind per patient."""
    rng = np.random.default_rng(0)
    rows = []
    for e in range(24):
        t = int(rng.integers(0, 50))
        for _ in range(int(rng.integers(8, 16))):
            rows.append({"patient": f"p{e}", "day": t, "dose": float(rng.normal(10, 2)), "kind": "ab"[e % 2]})
            t += int(rng.choice([1, 7, 30]))
    return pl.DataFrame(rows)


def test_irregular_numeric_spacing_is_kept() -> None:
    frame = _visits()
    model = engine.train_sequences(frame, entity="patient", order_by="day", max_training_time_s=3, seed=0)
    assert model.context_ == ("kind",)
    out = model.sample(n_entities=10, seed=1)
    assert out.schema == frame.schema
    gaps = out.with_columns(pl.col("day").diff().over("patient").alias("gap")).get_column("gap").drop_nulls()
    assert set(gaps.unique()) <= {1, 7, 30}  # irregular visits keep their spacings
    assert 8 <= out.group_by("patient").len().get_column("len").min()
    bare = engine.train_sequences(frame.drop("kind"), entity="patient", order_by="day", context=[], max_training_time_s=2, seed=0)
    assert bare.layout_.deltas == () and bare.context_ == ()  # white noise is drawn as it is, nothing static
    assert bare.sample(n_entities=2, seed=1).get_column("patient").n_unique() == 2


def test_long_histories_train_on_windows_and_generate_whole(beijing: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.sequences.train as train_module

    monkeypatch.setattr(train_module, "MAX_STEP_ROWS", 400)  # beijing's 35,064 steps per station, in miniature
    monkeypatch.setattr(train_module, "WINDOW", 50)
    model = engine.train_sequences(beijing.to_pandas(), entity="station", order_by="time", max_training_time_s=3, seed=0)
    assert any("random windows of 50 steps" in note for note in model.notes_)
    out = model.sample(n_entities=2, seed=1)
    assert out.group_by("station").len().get_column("len").to_list() == [300, 300]  # one coherent history each
    gaps = out.with_columns(pl.col("time").diff().over("station").alias("gap")).get_column("gap").drop_nulls()
    assert set(gaps.dt.total_seconds()) == {3600}


def test_personal_data_in_a_history_is_faked() -> None:
    frame = _visits().with_columns((pl.col("patient") + pl.lit("@clinic-mail.org")).alias("email"))
    model = engine.train_sequences(frame, entity="patient", order_by="day", max_training_time_s=2, seed=0)
    assert model.context_ == ("kind", "email")
    out = model.sample(n_entities=5, seed=1)
    emails = out.get_column("email")
    assert emails.str.contains("@").all()
    assert not emails.is_in(frame.get_column("email").implode()).any()  # new fakes, none of the real addresses


def test_text_dates_come_back_as_text_in_order() -> None:
    frame = _visits().with_columns((pl.date(2024, 1, 1) + pl.duration(days=pl.col("day"))).dt.strftime("%Y-%m-%d").alias("day"))
    model = engine.train_sequences(frame, entity="patient", order_by="day", max_training_time_s=2, seed=0)
    out = model.sample(n_entities=4, seed=1)
    assert out.schema == frame.schema  # the dates stay text, in ISO form
    days = out.with_columns(pl.col("day").str.to_date("%Y-%m-%d"))
    assert (days.with_columns(pl.col("day").diff().over("patient").dt.total_days().alias("g")).get_column("g").drop_nulls() >= 1).all()
