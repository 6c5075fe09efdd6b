"""Extreme-value protection that keeps the tails (DESIGN, Privacy semantics).

By default no value is released beyond the k-th most extreme one on each side (k =
``rare_category_k``): the k-1 most extreme values are clipped onto the k-th, so a released
extreme is held by at least k training rows, and the tail up to it is kept (a P1/P99 cap
would cut the top percent of every column). Quantile caps stay available as the stricter
option, and transformer states saved with ``cap_quantiles`` load and decode as before.

Real data: california_housing's and nyc_airbnb's long-tailed columns, adult's capital-gain,
and the transformer state of a model saved before ``extremes`` existed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError
from engine.models.argn import ARGN
from engine.transform import DataTransformer
from tests.engine.test_transform_roundtrip import numeric_view, read_dataset

PLAIN = {"gmm_sample_rows": 2_000}  # no extremes argument: the tests of the k-th rule run under the default
K = 5
SAVED_ARGN = Path(__file__).parent / "saved_models" / "adult_argn.doppel" / "model.json"


@pytest.fixture(scope="module")
def california(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "california_housing.csv.gz", rows=None)


@pytest.fixture(scope="module")
def nyc(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "nyc_airbnb_2019.csv.gz", rows=None)


def kth(values: np.ndarray, k: int) -> tuple[float, float]:
    """The k-th smallest and k-th largest of the non-null values, by sorting."""
    ordered = np.sort(values[~np.isnan(values)])
    return float(ordered[k - 1]), float(ordered[-k])


def both_ways(transformer: DataTransformer, frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        "float": transformer.inverse_transform(transformer.transform(frame)),
        "tokens": transformer.inverse_tokens(transformer.transform_tokens(frame), seed=1),
    }


# -- the default: the k-th most extreme value on each side ----------------------------------


def test_the_inverse_never_passes_the_kth_value_and_reaches_it(california):
    columns = ["total_rooms", "population", "households", "median_income"]
    frame = california.select(columns)
    transformer = DataTransformer(**PLAIN).fit(frame)
    assert transformer.protections_["extremes"] == "kth"
    for encoding, restored in both_ways(transformer, frame).items():
        for name in columns:
            lo, hi = kth(numeric_view(frame.get_column(name)), K)
            back = numeric_view(restored.get_column(name))
            back = back[~np.isnan(back)]
            assert back.min() >= lo and back.max() <= hi, (encoding, name)
            if encoding == "tokens":  # the clip values are exact atoms of the token encoding
                assert back.min() == lo and back.max() == hi, name
            else:
                slack = transformer.max_error(name)
                assert back.min() <= lo + slack and back.max() >= hi - slack, name
            p99 = np.quantile(numeric_view(frame.get_column(name)), 0.99, method="inverted_cdf")
            assert back.max() > p99, name  # the tail beyond P99 is kept


def test_no_released_extreme_is_held_by_fewer_than_k_rows(california, nyc):
    for frame in (california, nyc):
        transformer = DataTransformer(**PLAIN).fit(frame)
        records = transformer.protections_["columns"]
        restored = transformer.inverse_tokens(transformer.transform_tokens(frame), seed=2)
        for name, record in records.items():
            if "capping" not in record:
                continue
            real = numeric_view(frame.get_column(name))
            real = real[~np.isnan(real)]
            cap = record["capping"]
            lower, upper = float(cap["lower"]), float(cap["upper"])  # days for dates
            assert np.count_nonzero(real >= upper) >= K and np.count_nonzero(real <= lower) >= K, name
            assert (lower, upper) == kth(real, K), name
            assert cap["capped_below"] == np.count_nonzero(real < lower)
            assert cap["capped_above"] == np.count_nonzero(real > upper)
            back = numeric_view(restored.get_column(name))
            back = back[~np.isnan(back)]
            # every released value at either end is one that at least k training rows reach
            assert np.count_nonzero(real >= back.max()) >= K and np.count_nonzero(real <= back.min()) >= K, name


def numbers_in(state: object) -> list[float]:
    """Every number in a JSON state (integer offsets are stored as strings)."""
    if isinstance(state, dict):
        return [v for item in state.values() for v in numbers_in(item)]
    if isinstance(state, list):
        return [v for item in state for v in numbers_in(item)]
    if isinstance(state, bool):
        return []
    if isinstance(state, (int, float)):
        return [float(state)]
    if isinstance(state, str) and state.lstrip("-").isdigit():
        return [float(state)]
    return []


def test_the_model_state_holds_the_kth_values_never_the_values_beyond(nyc):
    frame = nyc.select("price", "minimum_nights", "reviews_per_month", "last_review")
    state = json.loads(json.dumps(DataTransformer(**PLAIN).fit(frame).to_dict()))
    for column in state["columns"]:
        real = numeric_view(frame.get_column(column["name"]))
        lo, hi = kth(real, K)
        record = state["protections"]["columns"][column["name"]]["capping"]
        assert (record["lower"], record["upper"]) == (lo, hi)
        beyond = set(real[(real < lo) | (real > hi)].tolist())
        assert beyond, column["name"]  # each of these columns has values beyond its k-th ones
        assert not beyond & set(numbers_in(column["state"])), column["name"]
        assert not beyond & set(numbers_in(record)), column["name"]


def test_integers_stay_integers_at_the_kth_value(nyc, datasets):
    frame = nyc.select("price", "number_of_reviews")
    transformer = DataTransformer(**PLAIN).fit(frame)
    for restored in both_ways(transformer, frame).values():
        assert restored.schema == frame.schema
        for name in frame.columns:
            lo, hi = kth(numeric_view(frame.get_column(name)), K)
            assert restored.get_column(name).max() == hi and restored.get_column(name).min() == lo
    assert transformer.protections_["columns"]["price"]["capping"]["upper"] == 9999  # 10000 is held by 3 rows
    # a top-coded value held by many rows is not clipped: adult's capital-gain keeps its 99,999
    adult = read_dataset(datasets, "adult.csv", rows=None).select("capital-gain")
    gain = DataTransformer(**PLAIN).fit(adult)
    assert gain.protections_["columns"]["capital-gain"]["capping"]["capped_above"] == 0
    assert gain.inverse_tokens(gain.transform_tokens(adult)).get_column("capital-gain").max() == 99_999


def test_dates_are_clipped_at_the_kth_earliest_and_latest_day(nyc):
    frame = nyc.select("last_review")
    transformer = DataTransformer(**PLAIN).fit(frame)
    days = frame.get_column("last_review").drop_nulls().sort()
    first, last = days[K - 1], days[-K]
    record = transformer.protections_["columns"]["last_review"]["capping"]
    assert record["unit"] == "days"
    assert (record["lower"], record["upper"]) == kth(numeric_view(days), K)  # days since 1970-01-01
    assert record["capped_below"] == int((days < first).sum()) > 0
    for restored in both_ways(transformer, frame).values():
        back = restored.get_column("last_review")
        assert back.dtype == pl.Date and back.null_count() == frame.get_column("last_review").null_count()
        assert back.min() == first and back.max() == last
        assert int((days <= back.min()).sum()) >= K and int((days >= back.max()).sum()) >= K


def test_k_follows_rare_category_k(california):
    frame = california.select("population")
    transformer = DataTransformer(rare_category_k=20, **PLAIN).fit(frame)
    lo, hi = kth(numeric_view(frame.get_column("population")), 20)
    restored = transformer.inverse_tokens(transformer.transform_tokens(frame)).get_column("population")
    assert (restored.min(), restored.max()) == (lo, hi)


# -- the quantile option and no protection ---------------------------------------------------


def test_a_quantile_pair_still_caps_at_the_quantiles(california):
    frame = california.select("median_income")
    income = frame.get_column("median_income").to_numpy()
    lo, hi = np.quantile(income, [0.01, 0.99], method="inverted_cdf")
    for transformer in (
        DataTransformer(extremes=(0.01, 0.99), **PLAIN).fit(frame),
        DataTransformer(cap_quantiles=(0.01, 0.99), **PLAIN).fit(frame),  # the older name
    ):
        back = transformer.inverse_transform(transformer.transform(frame)).get_column("median_income")
        assert (back.min(), back.max()) == (lo, hi)
        assert transformer.protections_["extremes"] == [0.01, 0.99]
        assert transformer.get_params()["extremes"] == (0.01, 0.99)


def test_a_quantile_cap_is_never_looser_than_the_kth_value(california):
    # 60 rows: P1/P99 are the 1st and 60th values, held by one row each; the k-th rule wins.
    frame = california.select("population").head(60)
    transformer = DataTransformer(extremes=(0.01, 0.99), **PLAIN).fit(frame)
    lo, hi = kth(numeric_view(frame.get_column("population")), K)
    record = transformer.protections_["columns"]["population"]["capping"]
    assert (record["lower"], record["upper"]) == (lo, hi)


def test_none_releases_the_whole_range_and_records_nothing(california):
    frame = california.select("population")
    transformer = DataTransformer(extremes=None, **PLAIN).fit(frame)
    back = transformer.inverse_tokens(transformer.transform_tokens(frame)).get_column("population")
    assert back.max() <= frame.get_column("population").max()
    assert transformer.protections_["columns"] == {} and transformer.protections_["extremes"] is None


def test_the_default_is_the_kth_rule() -> None:
    assert DataTransformer().get_params()["extremes"] == "kth"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"extremes": "p99"}, r"extremes must be 'kth' .* a quantile pair .* or None .*got 'p99'"),
        ({"extremes": (0.99, 0.01)}, r"extremes must be 'kth'.*0 <= low < high <= 1"),
        ({"extremes": 5}, r"extremes must be 'kth'.*got 5"),
        ({"extremes": None, "cap_quantiles": (0.01, 0.99)}, r"give extremes \(None\) or its older name cap_quantiles"),
        ({"cap_quantiles": "kth"}, r"cap_quantiles must be None \(no capping\) or a pair"),
    ],
)
def test_anything_else_is_a_config_error_naming_the_parameter(params, message):
    with pytest.raises(ConfigError, match=message):
        DataTransformer(**params)


# -- transformer states saved with cap_quantiles --------------------------------------------


def test_a_state_saved_with_cap_quantiles_loads_and_decodes_as_before(california):
    frame = california.select("median_income", "population")
    fitted = DataTransformer(extremes=(0.01, 0.99), **PLAIN).fit(frame)
    old = copy.deepcopy(fitted.to_dict())
    old["params"]["cap_quantiles"] = old["params"].pop("extremes")  # the layout before ``extremes``
    loaded = DataTransformer.from_dict(json.loads(json.dumps(old)))
    assert loaded.get_params()["extremes"] == (0.01, 0.99)
    assert loaded.protections_["columns"] == fitted.protections_["columns"]
    assert loaded.inverse_transform(fitted.transform(frame)).equals(fitted.inverse_transform(fitted.transform(frame)))
    codes = fitted.transform_tokens(frame)
    assert loaded.inverse_tokens(codes, seed=3).equals(fitted.inverse_tokens(codes, seed=3))
    # refitting with the loaded parameters caps at the quantiles, as the old default did
    refit = DataTransformer(**loaded.get_params()).fit(frame)
    assert refit.protections_["columns"] == fitted.protections_["columns"]


def test_the_transformer_of_a_model_saved_before_extremes_loads_with_its_caps():
    state = json.loads(SAVED_ARGN.read_text())["transformer"]
    assert state["params"]["cap_quantiles"] == [0.01, 0.99] and "extremes" not in state["params"]
    loaded = DataTransformer.from_dict(state)
    assert loaded.get_params()["extremes"] == (0.01, 0.99)
    assert loaded.protections_["columns"]["age"] == state["protections"]["columns"]["age"]
    assert [c["state"] for c in loaded.to_dict()["columns"]] == [c["state"] for c in state["columns"]]


# -- a fitted ARGN -------------------------------------------------------------------------


def test_argn_generates_up_to_the_kth_largest_value_not_p99(nyc, tmp_path):
    # 3,000 listings: price and minimum_nights have long tails (P99 far below the maximum).
    frame = nyc.select("price", "minimum_nights", "room_type").sample(3_000, seed=7)
    model = ARGN(epochs=8, seed=3, device="cpu").fit(frame)  # the default rule
    synthetic = model.sample(20_000, seed=4)
    for name in ("price", "minimum_nights"):
        real = frame.get_column(name).to_numpy()
        lo, hi = kth(real.astype(np.float64), K)
        p99 = np.quantile(real, 0.99, method="inverted_cdf")
        made = synthetic.get_column(name)
        assert made.max() == hi and hi > p99, name
        assert made.min() >= lo, name
        assert np.count_nonzero(real >= made.max()) >= K
    assert model.transformer_.protections_["extremes"] == "kth"
    # the saved model file records the clip values and counts, never a value beyond them
    manifest = json.loads((model.save(tmp_path / "nyc.doppel") / "model.json").read_text())
    for name in ("price", "minimum_nights"):
        real = frame.get_column(name).to_numpy().astype(np.float64)
        lo, hi = kth(real, K)
        record = manifest["transformer"]["protections"]["columns"][name]["capping"]
        assert (record["lower"], record["upper"]) == (lo, hi)
        assert record["capped_above"] == np.count_nonzero(real > hi) > 0
        state = next(c["state"] for c in manifest["transformer"]["columns"] if c["name"] == name)
        # integers are stored as offsets from the low clip value: the bins span exactly [lo, hi]
        origin = int(state["offsets"]["origin"])
        bins = state["core"]["bins"]
        stored = np.concatenate([bins["atoms"], bins["edges"]]) + origin
        assert (stored.min(), stored.max()) == (lo, hi), name
        above = set(real[real > hi].tolist())  # each above hi, so above every offset too
        assert not above & set(numbers_in(state)) and not above & set(numbers_in(record)), name
