"""DataTransformer behaviours beyond the plain round trip: protections, layout, errors, state.

Every test runs on the real datasets (read as test_transform_roundtrip.read_dataset reads
them); mixtures are fitted on small samples where the behaviour does not depend on their size.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.schema import SemanticType
from engine.transform import OTHER_LABEL, DataTransformer
from tests.engine.test_transform_roundtrip import read_dataset

FAST = {"gmm_sample_rows": 2_000}


@pytest.fixture(scope="module")
def adult(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "adult.csv", rows=None)


@pytest.fixture(scope="module")
def nyc(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "nyc_airbnb_2019.csv.gz", rows=None)


@pytest.fixture(scope="module")
def california(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "california_housing.csv.gz", rows=None)


@pytest.fixture(scope="module")
def adult_default(adult) -> DataTransformer:
    """Adult with the default protections (k=5: rare levels merged, extremes clipped at the k-th value)."""
    return DataTransformer(**FAST).fit(adult)


# -- protections ----------------------------------------------------------------------------


def test_rare_levels_are_merged_into_the_other_bucket(adult, adult_default):
    counts = adult.get_column("native-country").value_counts()
    rare = counts.filter(pl.col("count") < 5).get_column("native-country").to_list()
    assert rare == ["Holand-Netherlands"]  # the one level of adult below k=5
    restored = adult_default.inverse_transform(adult_default.transform(adult)).get_column("native-country")
    was_rare = adult.get_column("native-country").is_in(rare)
    assert (restored.filter(was_rare) == OTHER_LABEL).all()
    assert restored.filter(~was_rare).equals(adult.get_column("native-country").filter(~was_rare))


def test_rare_merge_is_recorded_without_naming_the_rare_levels(adult_default):
    record = adult_default.protections_["columns"]["native-country"]["rare_merge"]
    assert record == {"rare_category_k": 5, "merged_levels": 1, "merged_rows": 1, "merged_into": OTHER_LABEL}
    assert adult_default.protections_["rare_category_k"] == 5
    assert "Holand-Netherlands" not in json.dumps(adult_default.to_dict())


def test_rare_merge_threshold_is_configurable(adult):
    transformer = DataTransformer(rare_category_k=15, cap_quantiles=None, **FAST).fit(adult.select("native-country"))
    restored = transformer.inverse_tokens(transformer.transform_tokens(adult.select("native-country")))
    counts = adult.get_column("native-country").value_counts()
    rare = counts.filter(pl.col("count") < 15).get_column("native-country")
    assert len(rare) == 5
    merged = adult.get_column("native-country").is_in(rare.implode())
    assert (restored.get_column("native-country").filter(merged) == OTHER_LABEL).all()
    assert transformer.protections_["columns"]["native-country"]["rare_merge"]["merged_rows"] == int(merged.sum())


def test_rare_levels_of_a_discrete_integer_column_merge_into_the_nearest_level(adult):
    # education-num: levels 1 (51 rows), 2 (168) and 3 (333) are below k=400 -> 4 (646 rows).
    frame = adult.select("education-num")
    transformer = DataTransformer(rare_category_k=400, **FAST).fit(frame)
    assert transformer.kinds_["education-num"] is SemanticType.DISCRETE
    restored = transformer.inverse_transform(transformer.transform(frame)).get_column("education-num")
    original = frame.get_column("education-num")
    assert restored.dtype == pl.Int64
    assert (restored.filter(original <= 4) == 4).all()
    assert restored.filter(original > 4).equals(original.filter(original > 4))


def test_enum_and_categorical_dtypes_keep_their_dtype_through_the_merge(adult):
    # race: "Amer-Indian-Eskimo" (311 rows) and "Other" (271) are below k=400.
    frame = adult.select(
        pl.col("race").cast(pl.Enum(sorted(adult.get_column("race").unique().to_list()))).alias("race_enum"),
        pl.col("race").cast(pl.Categorical).alias("race_categorical"),
    )
    transformer = DataTransformer(rare_category_k=400, **FAST).fit(frame)
    restored = transformer.inverse_tokens(transformer.transform_tokens(frame))
    assert restored.schema == frame.schema
    rare = adult.get_column("race").is_in(["Amer-Indian-Eskimo", "Other"])
    assert (restored.get_column("race_enum").filter(rare) == "White").all()  # an enum cannot hold a new label
    assert (restored.get_column("race_categorical").cast(pl.String).filter(rare) == OTHER_LABEL).all()
    assert restored.filter(~rare).cast(pl.String).equals(frame.filter(~rare).cast(pl.String))


def test_the_p1_p99_option_caps_extremes_at_p1_and_p99(california):
    # the stricter option; the default k-th rule is tested in test_extreme_values.py
    transformer = DataTransformer(extremes=(0.01, 0.99), **FAST).fit(california)
    restored = transformer.inverse_transform(transformer.transform(california))
    income = california.get_column("median_income").to_numpy()
    lo, hi = np.quantile(income, [0.01, 0.99], method="inverted_cdf")
    back = restored.get_column("median_income").to_numpy()
    assert back.min() == lo and back.max() == hi
    assert np.all(back[income <= lo] == lo) and np.all(back[income >= hi] == hi)
    inside = (income > lo) & (income < hi)
    assert np.max(np.abs(back[inside] - income[inside])) <= transformer.max_error("median_income")
    record = transformer.protections_["columns"]["median_income"]["capping"]
    assert record == {
        "lower": lo,
        "upper": hi,
        "capped_below": int((income < lo).sum()),
        "capped_above": int((income > hi).sum()),
    }
    assert transformer.protections_["extremes"] == [0.01, 0.99]


def test_capping_is_configurable_and_can_be_disabled(california):
    frame = california.select("median_income")
    wide = DataTransformer(cap_quantiles=(0.1, 0.9), **FAST).fit(frame)
    none = DataTransformer(cap_quantiles=None, **FAST).fit(frame)
    income = frame.get_column("median_income").to_numpy()
    assert wide.inverse_transform(wide.transform(frame)).get_column("median_income").max() == np.quantile(
        income, 0.9, method="inverted_cdf"
    )
    assert none.inverse_transform(none.transform(frame)).get_column("median_income").max() == income.max()
    assert "median_income" not in none.protections_["columns"]


# -- layout -----------------------------------------------------------------------------------


def test_high_cardinality_column_gets_a_narrow_digit_encoding(datasets):
    players = read_dataset(datasets, "multitable/baseball/players.csv.gz", rows=None).select("nameLast")
    transformer = DataTransformer(rare_category_k=1, **FAST).fit(players)
    spans = transformer.output_info_
    assert players.get_column("nameLast").n_unique() == 10_144
    assert {span.kind for span in spans} == {"digit"}
    assert transformer.output_dim_ == 3 + 4 * 8  # 10,144 levels in base 8: 5 digits, leading one 0..2
    assert transformer.condition_spans_ == []
    restored = transformer.inverse_transform(transformer.transform(players))
    assert restored.equals(players)


def test_neighbourhood_with_221_levels_is_encoded_in_20_floats(nyc):
    frame = nyc.select("neighbourhood")
    transformer = DataTransformer(rare_category_k=1, **FAST).fit(frame)
    assert transformer.output_dim_ == 4 + 8 + 8
    assert transformer.token_info_[0].vocab_size == 221
    assert transformer.inverse_transform(transformer.transform(frame)).equals(frame)


def test_low_cardinality_categoricals_are_one_hot_condition_spans(adult_default, adult):
    matrix = adult_default.transform(adult.head(1000))
    columns = [c.column for c in adult_default.condition_spans_]
    one_hot_kinds = (SemanticType.CATEGORICAL, SemanticType.DISCRETE)
    assert columns == [c for c, k in adult_default.kinds_.items() if k in one_hot_kinds]
    for condition in adult_default.condition_spans_:
        span = adult_default.output_info_[condition.index]
        assert (span.column, span.kind, span.size) == (condition.column, "category", condition.size)
        assert adult_default.span_starts_[condition.index] == condition.start
        block = matrix[:, condition.start : condition.start + condition.size]
        assert np.array_equal(block.sum(axis=1), np.ones(1000, np.float32))


def test_continuous_columns_are_a_tanh_value_and_a_mode_one_hot(adult_default):
    spans = [s for s in adult_default.output_info_ if s.column == "age"]
    assert [(s.kind, s.activation) for s in spans] == [("value", "tanh"), ("mode", "softmax")]
    assert spans[0].size == 1 and 1 <= spans[1].size <= 10 + 1


def test_identifiers_constants_and_empty_columns_own_no_span(datasets):
    mushroom = read_dataset(datasets, "mushroom.csv").with_columns(
        pl.lit(None, dtype=pl.Float64).alias("nothing"),
        pl.format("M{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(5)).alias("mushroom_id"),
    )
    transformer = DataTransformer(**FAST).fit(mushroom)
    assert transformer.kinds_["veil-type"] is SemanticType.CONSTANT
    assert transformer.kinds_["nothing"] is SemanticType.EMPTY
    assert transformer.kinds_["mushroom_id"] is SemanticType.IDENTIFIER
    owners = {s.column for s in transformer.output_info_} | {t.column for t in transformer.token_info_}
    assert owners.isdisjoint({"veil-type", "nothing", "mushroom_id"})
    restored = transformer.inverse_transform(transformer.transform(mushroom))
    assert restored.get_column("veil-type").equals(mushroom.get_column("veil-type"))
    assert restored.get_column("nothing").equals(mushroom.get_column("nothing"))


# -- nulls, datetimes, identifiers, precision -------------------------------------------------


def test_structural_null_pattern_survives_both_encodings(nyc):
    transformer = DataTransformer(**FAST).fit(nyc)
    assert [s.size for s in transformer.output_info_ if s.kind == "null"] == [2, 2]
    assert {s.column for s in transformer.output_info_ if s.kind == "null"} == {"last_review", "reviews_per_month"}
    nulls = nyc.select(pl.col("last_review", "reviews_per_month").is_null())
    for restored in (
        transformer.inverse_transform(transformer.transform(nyc)),
        transformer.inverse_tokens(transformer.transform_tokens(nyc), seed=3),
    ):
        assert restored.select(pl.col("last_review", "reviews_per_month").is_null()).equals(nulls)


def test_date_strings_declared_datetime_come_back_as_the_same_strings(datasets):
    raw = pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz", columns=["last_review"], n_rows=20_000)
    assert raw.schema["last_review"] == pl.String
    transformer = DataTransformer(column_types={"last_review": "datetime"}, cap_quantiles=None, **FAST).fit(raw)
    assert [s.kind for s in transformer.output_info_] == ["value", "mode", "day_of_week", "day_of_year", "null"]
    assert transformer.inverse_transform(transformer.transform(raw)).equals(raw)
    assert transformer.inverse_tokens(transformer.transform_tokens(raw)).get_column("last_review").dtype == pl.String


def test_time_zone_aware_datetimes_and_booleans_come_back_exactly(datasets, adult):
    prices = read_dataset(datasets, "timeseries/nasdaq100_2019.csv.gz").select(
        (pl.col("Date").cast(pl.Datetime("ms")) + pl.duration(hours=16)).dt.replace_time_zone("America/New_York"),
    )
    rich = adult.select((pl.col("income") == ">50K").alias("rich"))
    for frame in (prices, rich):
        transformer = DataTransformer(cap_quantiles=None, **FAST).fit(frame)
        assert transformer.inverse_transform(transformer.transform(frame)).equals(frame)
        assert transformer.inverse_tokens(transformer.transform_tokens(frame)).schema == frame.schema
    assert transformer.kinds_["rich"] is SemanticType.BOOLEAN
    assert [(s.kind, s.size) for s in transformer.output_info_] == [("category", 2)]


def test_hourly_datetimes_keep_their_granularity_even_from_raw_model_output(datasets):
    air = read_dataset(
        datasets, "timeseries/beijing_air_quality_4stations.csv.gz", columns=["year", "month", "day", "hour", "wd"]
    )
    frame = air.select(pl.datetime("year", "month", "day", "hour").alias("measured_at"), "wd")
    transformer = DataTransformer(cap_quantiles=None, **FAST).fit(frame)
    kinds = [s.kind for s in transformer.output_info_ if s.column == "measured_at"]
    assert kinds == ["value", "mode", "day_of_week", "day_of_year", "time_of_day"]
    assert transformer.inverse_transform(transformer.transform(frame)).equals(frame)
    noise = np.random.default_rng(0).normal(size=(5_000, transformer.output_dim_)).astype(np.float32)
    stamps = transformer.inverse_transform(noise).get_column("measured_at")
    assert stamps.dtype == pl.Datetime("us")
    assert (stamps.dt.minute() == 0).all() and (stamps.dt.second() == 0).all()
    assert stamps.min() >= frame.get_column("measured_at").min()
    assert stamps.max() <= frame.get_column("measured_at").max()


def test_weekday_parts_keep_trading_days_off_weekends_when_the_linear_part_drifts(datasets):
    prices = read_dataset(datasets, "timeseries/nasdaq100_2019.csv.gz").select("Date")
    assert prices.get_column("Date").dt.weekday().max() <= 5  # no trading on weekends
    transformer = DataTransformer(cap_quantiles=None, **FAST).fit(prices)
    matrix = transformer.transform(prices)
    value = transformer.span_starts_[[s.kind for s in transformer.output_info_].index("value")]
    matrix[:, value] += np.random.default_rng(1).normal(0, 0.02, len(matrix)).astype(np.float32)  # days off
    drifted = transformer.inverse_transform(matrix).get_column("Date")
    assert not drifted.equals(prices.get_column("Date"))
    assert drifted.dt.weekday().max() <= 5


def test_identifiers_are_regenerated_as_new_unique_keys_in_the_same_format(datasets):
    players = read_dataset(datasets, "multitable/baseball/players.csv.gz").select("id", "bats")
    accounts = read_dataset(datasets, "multitable/berka/account.csv.gz").select("account_id", "frequency")
    for frame, key in ((players, "id"), (accounts, "account_id")):
        transformer = DataTransformer(**FAST).fit(frame)
        assert transformer.kinds_[key] is SemanticType.IDENTIFIER
        keys = transformer.inverse_tokens(transformer.transform_tokens(frame)).get_column(key)
        assert keys.dtype == frame.schema[key] and keys.n_unique() == frame.height and keys.null_count() == 0
        if key == "id":
            assert keys.str.contains(r"^[a-z]{7}[0-9]{2}$").all()  # the shape of 'aardsda01'
            assert not keys.is_in(frame.get_column("id").implode()).any()
        else:
            assert keys.to_list() == list(range(1, frame.height + 1))  # a run from the smallest key


def test_integers_decimals_and_floats_come_back_at_their_precision(california):
    frame = california.select(
        pl.col("median_income"),  # 4 decimals
        pl.col("median_income").cast(pl.Decimal(10, 4)).alias("income_decimal"),
        pl.col("households").cast(pl.Int32),
        pl.col("latitude").cast(pl.Float32),
    )
    transformer = DataTransformer(cap_quantiles=None, **FAST).fit(frame)
    restored = transformer.inverse_transform(transformer.transform(frame))
    assert restored.schema == frame.schema
    assert restored.equals(frame)  # every error bound here is below half a unit of precision


def test_raw_model_output_decodes_to_valid_values(adult_default, adult):
    noise = np.random.default_rng(5).normal(0, 3, size=(2_000, adult_default.output_dim_))
    synthetic = adult_default.inverse_transform(noise)
    assert synthetic.schema == adult.schema
    for name, kind in adult_default.kinds_.items():
        column = synthetic.get_column(name)
        if kind is SemanticType.CATEGORICAL:
            allowed = adult.get_column(name).unique().append(pl.Series([OTHER_LABEL]))
            assert column.drop_nulls().is_in(allowed.implode()).all()
        else:
            caps = adult_default.protections_["columns"].get(name, {}).get("capping")
            if caps:
                assert column.min() >= caps["lower"] and column.max() <= caps["upper"]


def test_mode_sampling_is_seeded_and_still_reversible(california):
    frame = california.select("total_rooms", "median_house_value")
    transformer = DataTransformer(mode_selection="sample", cap_quantiles=None, seed=4, **FAST).fit(frame)
    first, second = transformer.transform(frame), transformer.transform(frame)
    assert np.array_equal(first, second)
    argmax = DataTransformer(cap_quantiles=None, seed=4, **FAST).fit(frame)
    assert not np.array_equal(first, argmax.transform(frame))  # some values changed mode
    assert transformer.inverse_transform(first).equals(frame)


# -- state ------------------------------------------------------------------------------------


def test_json_state_reproduces_identical_outputs(nyc, datasets):
    players = read_dataset(datasets, "multitable/baseball/players.csv.gz")
    for frame in (nyc.head(5_000), players.head(5_000)):
        transformer = DataTransformer(**FAST).fit(frame)
        state = json.loads(json.dumps(transformer.to_dict(), allow_nan=False))
        copy = DataTransformer.from_dict(state)
        matrix, codes = transformer.transform(frame), transformer.transform_tokens(frame)
        assert np.array_equal(copy.transform(frame), matrix)
        assert np.array_equal(copy.transform_tokens(frame), codes)
        assert copy.inverse_transform(matrix).equals(transformer.inverse_transform(matrix))
        assert copy.inverse_tokens(codes, seed=9).equals(transformer.inverse_tokens(codes, seed=9))
        assert copy.output_info_ == transformer.output_info_ and copy.token_info_ == transformer.token_info_
        assert copy.protections_ == transformer.protections_


def test_fit_is_deterministic_whatever_the_number_of_threads(california):
    one = DataTransformer(n_jobs=1, **FAST).fit(california).to_dict()
    two = DataTransformer(n_jobs=2, **FAST).fit(california).to_dict()
    assert one["columns"] == two["columns"] and one["protections"] == two["protections"]


def test_inverse_tokens_is_seeded(california):
    transformer = DataTransformer(**FAST).fit(california)
    codes = transformer.transform_tokens(california)
    assert transformer.inverse_tokens(codes, seed=1).equals(transformer.inverse_tokens(codes, seed=1))
    assert not transformer.inverse_tokens(codes, seed=1).equals(transformer.inverse_tokens(codes, seed=2))
    same_stream = transformer.inverse_tokens(codes, seed=np.random.default_rng(1))
    assert transformer.inverse_tokens(codes, seed=np.random.default_rng(1)).equals(same_stream)


def test_pandas_input_gives_the_same_encoding_as_polars(adult_default, adult):
    head = adult.head(2_000)
    assert np.array_equal(adult_default.transform(head.to_pandas()), adult_default.transform(head))


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_onehot": 1}, "max_onehot must be between|max_onehot must be >= 2"),
        ({"rare_category_k": 0}, "rare_category_k must be >= 1"),
        ({"rare_category_k": 2.5}, "rare_category_k must be an integer"),
        ({"cap_quantiles": (0.99, 0.01)}, "cap_quantiles must be None .* 0 <= low < high <= 1"),
        ({"cap_quantiles": 0.01}, "cap_quantiles must be None"),
        ({"n_modes": 0}, "n_modes must be between 1 and 100"),
        ({"gmm_sample_rows": 10}, "gmm_sample_rows must be >= 100"),
        ({"n_bins": 1}, "n_bins must be between 2 and 100000"),
        ({"code_base": 64}, r"code_base \(64\) must not exceed max_onehot \(50\)"),
        ({"mode_selection": "random"}, "mode_selection must be one of argmax, sample"),
        ({"n_jobs": 0}, "n_jobs must be a positive number of threads or -1"),
        ({"column_types": {"age": "numberish"}}, "'numberish' is not a semantic type; allowed: continuous"),
        ({"seed": -1}, "seed must be between 0 and"),
    ],
)
def test_bad_parameters_raise_config_error_saying_what_is_allowed(params, message):
    with pytest.raises(ConfigError, match=message):
        DataTransformer(**params)


def test_kind_that_does_not_fit_the_dtype_is_refused(adult):
    with pytest.raises(ConfigError, match="'workclass' is declared continuous, but its dtype is String"):
        DataTransformer(column_types={"workclass": SemanticType.CONTINUOUS}, **FAST).fit(adult)
    with pytest.raises(ConfigError, match=r"column_types names columns the frame does not have: \['salary'\]"):
        DataTransformer(column_types={"salary": "continuous"}, **FAST).fit(adult)


def test_transform_names_the_missing_columns(adult_default, adult):
    with pytest.raises(InputError, match=r"lacks columns the transformer was fitted on: \['age', 'income'\]"):
        adult_default.transform(adult.drop("age", "income"))


def test_unseen_category_goes_to_the_other_bucket(adult_default, adult):
    frame = adult.head(3).with_columns(pl.Series("native-country", ["Atlantis", "Lemuria", "Cuba"]))
    restored = adult_default.inverse_transform(adult_default.transform(frame)).get_column("native-country")
    assert restored.to_list() == [OTHER_LABEL, OTHER_LABEL, "Cuba"]


def test_unseen_category_without_a_bucket_is_an_error_naming_it(adult_default, adult):
    frame = adult.head(2).with_columns(pl.Series("sex", ["Other", "Male"]))
    with pytest.raises(InputError, match=r"column 'sex' has values never seen .* \['Other'\]"):
        adult_default.transform(frame)


def test_nulls_in_a_column_fitted_without_nulls_are_an_error(adult_default, adult):
    frame = adult.head(2).with_columns(pl.Series("age", [None, 30], dtype=pl.Int64))
    with pytest.raises(InputError, match="column 'age' has 1 missing values, but had none"):
        adult_default.transform_tokens(frame)


def test_wrong_matrix_shape_and_unfitted_use_are_clear_errors(adult_default):
    with pytest.raises(InputError, match=rf"must have shape \(n_rows, {adult_default.output_dim_}\), got \(4, 3\)"):
        adult_default.inverse_transform(np.zeros((4, 3)))
    with pytest.raises(ConfigError, match="not fitted yet"):
        DataTransformer().transform(pl.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="expected a polars or pandas DataFrame, got list"):
        DataTransformer().fit([[1, 2]])


def test_foreign_or_damaged_state_is_refused_with_input_error(adult_default):
    with pytest.raises(InputError, match="not a transformer state"):
        DataTransformer.from_dict({"format": "something else"})
    state = json.loads(json.dumps(adult_default.to_dict()))
    del state["columns"][0]["state"]["core"]["vgm"]
    with pytest.raises(InputError, match="transformer state is malformed: KeyError"):
        DataTransformer.from_dict(state)


def test_fallback_rule_names_the_kinds_of_real_columns(adult_default, datasets):
    assert adult_default.kinds_["age"] is SemanticType.CONTINUOUS
    assert adult_default.kinds_["education-num"] is SemanticType.DISCRETE
    assert adult_default.kinds_["sex"] is SemanticType.CATEGORICAL
    card = read_dataset(datasets, "multitable/berka/card.csv.gz")
    kinds = DataTransformer(**FAST).fit(card).kinds_
    assert kinds == {
        "card_id": SemanticType.IDENTIFIER,
        "disp_id": SemanticType.IDENTIFIER,
        "type": SemanticType.CATEGORICAL,
        "issued": SemanticType.DATETIME,
    }
