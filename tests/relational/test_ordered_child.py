"""A child table with an ``order_by`` inside ``engine.train_tables``: nasdaq split into a
companies table (sector, industry, market cap) and its daily prices, each company's prices a
history drawn under the synthetic company.

One short fit (through ``python -m engine train-tables``, the order in the keys file) serves
every test: they check what holds by construction or is learned at once (order, business-day
spacing, lengths, keys, files, conditions), not fidelity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import engine
from engine.__main__ import main
from engine.errors import ConfigError, InputError
from engine.relational.model import RelationalModel
from engine.sequences import SequenceModel

# Twelve companies; ZM was listed mid-year (177 trading days), the others have 252.
SYMBOLS = ["AAPL", "AMZN", "MSFT", "INTC", "CSCO", "PEP", "ADBE", "NVDA", "NFLX", "COST", "SBUX", "ZM"]
KEYS: dict[str, Any] = {"primary_keys": {"companies": "Symbol", "prices": "price_id"},
                        "foreign_keys": ["prices.Symbol -> companies.Symbol"]}
ORDER = {"prices": "Date"}


@pytest.fixture(scope="module")
def tables(datasets: Path) -> dict[str, pl.DataFrame]:
    long = engine.read(datasets / "timeseries" / "nasdaq100_2019.csv.gz").filter(pl.col("Symbol").is_in(SYMBOLS))
    companies = long.group_by("Symbol", maintain_order=True).agg(pl.col("MarketCap", "Sector", "Industry").first())
    prices = long.select("Symbol", "Date", "Open", "Close", "Volume").with_row_index("price_id", offset=1)
    return {"companies": companies, "prices": prices.with_columns(pl.col("price_id").cast(pl.Int64))}


@pytest.fixture(scope="module")
def saved(tables: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ordered")
    (folder / "nasdaq").mkdir()
    for name, frame in tables.items():
        frame.write_parquet(folder / "nasdaq" / f"{name}.parquet")
    (folder / "keys.json").write_text(json.dumps({**KEYS, "order_by": ORDER}))
    out = folder / "nasdaq.doppel"
    assert main(["train-tables", str(folder / "nasdaq"), "--keys", str(folder / "keys.json"),
                 "--max-training-time-s", "4", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def model(saved: Path) -> RelationalModel:
    loaded = engine.load_model(saved)
    assert isinstance(loaded, RelationalModel)
    return loaded


@pytest.fixture(scope="module")
def synthetic(model: RelationalModel) -> dict[str, pl.DataFrame]:
    return model.sample(seed=1)


def test_the_ordered_child_is_learned_as_histories_of_its_parent(model: RelationalModel) -> None:
    sequences = model.models_["prices"]
    assert isinstance(sequences, SequenceModel)
    assert sequences.order_by_ == "Date" and sequences.entity_ == "Symbol"
    assert set(sequences.context_) >= {"companies.Sector", "companies.MarketCap"}  # the parent's columns
    assert sequences.lengths_["min"] == 177 and sequences.lengths_["max"] == 252


def test_prices_come_back_in_order_with_business_day_spacing(synthetic: dict[str, pl.DataFrame],
                                                             tables: dict[str, pl.DataFrame]) -> None:
    prices = synthetic["prices"]
    assert prices.schema == tables["prices"].schema
    assert prices.equals(prices.sort(["Symbol", "Date"]))
    real = tables["prices"].select(pl.col("Date").diff().over("Symbol").dt.total_days()).to_series().drop_nulls()
    gaps = prices.select(pl.col("Date").diff().over("Symbol").dt.total_days()).to_series().drop_nulls()
    assert gaps.min() >= 1 and set(gaps.unique()) <= set(real.unique())  # strictly increasing, only the real spacings
    assert gaps.is_in([1, 3]).mean() > 0.8  # the next trading day, or Friday to Monday
    starts = prices.group_by("Symbol").agg(pl.col("Date").min()).get_column("Date")
    assert starts.is_in(tables["prices"].get_column("Date").implode()).all()


def test_history_lengths_stay_within_the_trained_range(synthetic: dict[str, pl.DataFrame]) -> None:
    lengths = synthetic["prices"].group_by("Symbol").len().get_column("len")
    assert lengths.min() >= 177 and lengths.max() <= 252


def test_every_price_points_at_a_generated_company_and_keys_are_unique(synthetic: dict[str, pl.DataFrame]) -> None:
    companies, prices = synthetic["companies"], synthetic["prices"]
    assert prices.filter(~pl.col("Symbol").is_in(companies.get_column("Symbol").implode())).height == 0
    ids = prices.get_column("price_id")
    assert ids.null_count() == 0 and ids.n_unique() == prices.height


def test_the_zip_archive_gives_the_same_samples_as_the_folder(model: RelationalModel, synthetic: dict[str, pl.DataFrame],
                                                              tmp_path: Path) -> None:
    again = engine.load_model(model.save(tmp_path / "nasdaq.zip"))
    assert isinstance(again, RelationalModel) and again.layouts_["prices"].order_by == "Date"
    sample = again.sample(seed=1)
    assert all(sample[t].equals(synthetic[t]) for t in ("companies", "prices"))


def test_sampling_by_size_and_condition_draws_histories_under_the_chosen_companies(model: RelationalModel) -> None:
    few = model.sample(n={"companies": 3}, seed=2)
    assert few["companies"].height == 3
    assert set(few["prices"].get_column("Symbol")) <= set(few["companies"].get_column("Symbol"))
    tech = model.sample(scale=0.5, conditions={"companies": {"Sector": "Technology"}}, seed=3)
    assert set(tech["companies"].get_column("Sector")) == {"Technology"}
    assert set(tech["prices"].get_column("Symbol")) <= set(tech["companies"].get_column("Symbol"))


@pytest.mark.parametrize(("order_by", "error", "says"), [
    ({"companies": "MarketCap"}, ConfigError, "a root table"),
    ({"prices": "When"}, ConfigError, "is not a column of 'prices'"),
    ({"prices": "price_id"}, ConfigError, "is a key column"),
    ({"trades": "Date"}, ConfigError, "not among the tables"),
    (["prices"], ConfigError, "must map child table names"),
])
def test_a_wrong_order_by_is_refused_with_its_reason(tables: dict[str, pl.DataFrame], order_by: Any, error: type,
                                                     says: str) -> None:
    with pytest.raises(error, match=says):
        engine.train_tables(tables, keys=KEYS, order_by=order_by)


def test_a_company_with_two_prices_on_one_day_is_refused(tables: dict[str, pl.DataFrame]) -> None:
    prices = tables["prices"]
    doubled = pl.concat([prices, prices.head(1).with_columns(pl.lit(10**9, dtype=pl.Int64).alias("price_id"))])
    with pytest.raises(InputError, match=r"table 'prices': 1 \(Symbol, Date\) pair\(s\) appear more than once"):
        engine.train_tables({**tables, "prices": doubled}, keys=KEYS, order_by=ORDER)


def test_order_by_under_differential_privacy_is_refused(tables: dict[str, pl.DataFrame]) -> None:
    with pytest.raises(ConfigError, match="not supported with privacy="):
        engine.train_tables(tables, keys=KEYS, order_by=ORDER, privacy={"epsilon": 1.0, "delta": 1e-3})
