"""engine.profile on one table: semantic types with reasons, statistics, warnings, a model.

Every expectation is checked against the real datasets, with the expected figures computed
here from the data by polars (not copied from the profiler's output).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest

import engine
from engine.errors import ConfigError, InputError
from engine.profiling import ColumnProfile, Profile
from engine.schema import SemanticType


def _strip_adult(df: pl.DataFrame) -> pl.DataFrame:
    """adult.csv as meant: leading spaces stripped, '?' as missing."""
    strings = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([pl.col(c).str.strip_chars().replace("?", None) for c in strings])


@pytest.fixture(scope="module")
def adult(datasets) -> pl.DataFrame:
    return _strip_adult(pl.read_csv(datasets / "adult.csv"))


@pytest.fixture(scope="module")
def adult_profile(adult) -> Profile:
    return engine.profile(adult)


@pytest.fixture(scope="module")
def nyc(datasets) -> pl.DataFrame:
    return pl.read_csv(datasets / "nyc_airbnb_2019.csv.gz")


@pytest.fixture(scope="module")
def nyc_profile(nyc) -> Profile:
    return engine.profile(nyc)


@pytest.fixture(scope="module")
def mushroom_profile(datasets) -> Profile:
    return engine.profile(pl.read_csv(datasets / "mushroom.csv"))


# --- semantic types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("age", SemanticType.CONTINUOUS),
        ("fnlwgt", SemanticType.CONTINUOUS),
        ("hours-per-week", SemanticType.CONTINUOUS),
        ("education-num", SemanticType.DISCRETE),
        ("workclass", SemanticType.CATEGORICAL),
        ("native-country", SemanticType.CATEGORICAL),
        ("sex", SemanticType.BOOLEAN),
    ],
)
def test_adult_columns_get_the_type_their_meaning_calls_for(adult_profile, column, expected):
    assert adult_profile.columns[column].semantic_type == expected


def test_adult_income_target_is_categorical_or_boolean(adult_profile):
    assert adult_profile.columns["income"].semantic_type in (SemanticType.CATEGORICAL, SemanticType.BOOLEAN)


def test_reason_quotes_the_evidence_for_the_type(adult_profile, adult):
    reason = adult_profile.columns["age"].reason
    assert f"{adult.get_column('age').n_unique()} distinct" in reason
    assert f"{adult.height:,}" in reason
    assert "continuous" in reason


def test_every_column_has_a_one_sentence_reason(adult_profile):
    for col in adult_profile.columns.values():
        assert col.reason and "\n" not in col.reason


def test_mushroom_veil_type_is_constant_and_warned(mushroom_profile):
    assert mushroom_profile.columns["veil-type"].semantic_type == SemanticType.CONSTANT
    assert any(w.code == "constant" and w.column == "veil-type" for w in mushroom_profile.warnings)


def test_mushroom_letter_codes_are_categorical_or_boolean(mushroom_profile):
    kinds = {c.semantic_type for name, c in mushroom_profile.columns.items() if name != "veil-type"}
    assert kinds <= {SemanticType.CATEGORICAL, SemanticType.BOOLEAN}


def test_players_id_is_an_identifier_and_the_key_candidate(datasets):
    prof = engine.profile(pl.read_csv(datasets / "multitable" / "baseball" / "players.csv.gz"))
    assert prof.columns["id"].semantic_type == SemanticType.IDENTIFIER
    assert prof.key_candidates == ["id"]


def test_column_of_only_nulls_is_empty_and_warned(adult):
    prof = engine.profile(adult.head(500).with_columns(pl.lit(None, dtype=pl.Float64).alias("unused")))
    assert prof.columns["unused"].semantic_type == SemanticType.EMPTY
    assert prof.columns["unused"].null_share == 1.0
    assert any(w.code == "empty" and w.column == "unused" for w in prof.warnings)


def test_long_many_word_strings_are_free_text(adult):
    sentences = adult.head(3000).select(
        pl.format(
            "A {} year old {} works {} hours a week as {} in the {} sector",
            "age",
            "sex",
            "hours-per-week",
            "occupation",
            "workclass",
        ).alias("note")
        + pl.int_range(pl.len()).cast(pl.String)
    )
    prof = engine.profile(sentences)
    assert prof.columns["note"].semantic_type == SemanticType.TEXT


# --- dates, parsed strings ----------------------------------------------------------------------


def test_date_strings_are_detected_as_datetime_with_range_and_granularity(nyc_profile, nyc):
    col = nyc_profile.columns["last_review"]
    assert col.semantic_type == SemanticType.DATETIME
    assert col.datetime_range == (nyc.get_column("last_review").min(), nyc.get_column("last_review").max())
    assert col.datetime_granularity == "day"
    assert col.null_count == nyc.get_column("last_review").null_count()


def test_datetime_histogram_has_iso_edges_and_counts_every_sampled_date(nyc_profile, nyc):
    hist = nyc_profile.columns["last_review"].histogram
    assert len(hist["edges"]) == len(hist["counts"]) + 1
    assert hist["edges"][0] == "2011-03-28"
    assert sum(hist["counts"]) == nyc.get_column("last_review").drop_nulls().len()


def test_hourly_timestamps_have_hour_granularity(datasets):
    air = pl.read_csv(datasets / "timeseries" / "beijing_air_quality_4stations.csv.gz", null_values=["NA"], infer_schema_length=None)
    frame = air.head(20_000).select(pl.datetime("year", "month", "day", "hour").alias("ts"), "PM2.5", "station")
    col = engine.profile(frame).columns["ts"]
    assert col.semantic_type == SemanticType.DATETIME
    assert col.datetime_granularity == "hour"
    assert col.datetime_range == ("2013-03-01T00:00:00", frame.get_column("ts").max().isoformat())


def test_numbers_stored_as_text_with_a_sentinel_are_numeric(datasets):
    district = pl.read_csv(datasets / "multitable" / "berka" / "district.csv.gz")
    assert district.schema["A12"] == pl.String  # '?' for district 69
    col = engine.profile(district).columns["A12"]
    assert col.semantic_type == SemanticType.CONTINUOUS
    assert col.parsed_from == "number-string"
    assert col.null_count == 1
    assert col.stats["max"] == pytest.approx(district.filter(pl.col("A12") != "?").get_column("A12").cast(pl.Float64).max())


# --- statistics ---------------------------------------------------------------------------------


def test_null_share_counts_missing_values_over_all_rows(adult_profile, adult):
    col = adult_profile.columns["workclass"]
    assert col.null_count == adult.get_column("workclass").null_count() > 0
    assert col.null_share == pytest.approx(col.null_count / adult.height)


def test_distinct_count_excludes_null(adult_profile, adult):
    assert adult_profile.columns["workclass"].n_distinct == adult.get_column("workclass").drop_nulls().n_unique()


def test_numeric_statistics_match_the_data(adult_profile, adult):
    stats = adult_profile.columns["age"].stats
    age = adult.get_column("age")
    assert stats["min"] == age.min() and stats["max"] == age.max()
    assert stats["mean"] == pytest.approx(age.mean())
    assert stats["std"] == pytest.approx(age.std())
    assert stats["p50"] == pytest.approx(age.quantile(0.5, interpolation="linear"))
    assert stats["p01"] <= stats["p05"] <= stats["p25"] <= stats["p50"] <= stats["p75"] <= stats["p95"] <= stats["p99"]


def test_top_categories_are_exact_counts_in_descending_order(adult_profile, adult):
    top = adult_profile.columns["occupation"].top_categories
    counts = adult.get_column("occupation").drop_nulls().value_counts(sort=True)
    assert [(v, c) for v, c, _ in top] == [(v, c) for v, c in counts.head(20).iter_rows()]
    non_null = adult.get_column("occupation").drop_nulls().len()
    assert top[0][2] == pytest.approx(top[0][1] / non_null)


def test_top_categories_are_capped_at_twenty(nyc_profile):
    assert len(nyc_profile.columns["neighbourhood"].top_categories) == 20


def test_discrete_histogram_has_one_bin_per_value(adult_profile, adult):
    hist = adult_profile.columns["education-num"].histogram
    values = adult.get_column("education-num")
    assert len(hist["counts"]) == values.max() - values.min() + 1
    assert hist["counts"][0] == (values == values.min()).sum()
    assert sum(hist["counts"]) == adult.height


def test_continuous_histogram_spans_min_to_max(adult_profile, adult):
    hist = adult_profile.columns["fnlwgt"].histogram
    assert hist["edges"][0] == adult.get_column("fnlwgt").min()
    assert hist["edges"][-1] == adult.get_column("fnlwgt").max()
    assert sum(hist["counts"]) == adult.height


# --- sampling -----------------------------------------------------------------------------------


def test_sample_bounds_the_rows_used_for_quantiles_but_counts_use_all_rows(adult):
    prof = engine.profile(adult, sample_rows=5_000, seed=1)
    assert (prof.n_rows, prof.sampled_rows) == (adult.height, 5_000)
    assert prof.columns["workclass"].null_count == adult.get_column("workclass").null_count()
    assert prof.columns["fnlwgt"].n_distinct == adult.get_column("fnlwgt").n_unique()
    assert sum(prof.columns["age"].histogram["counts"]) == 5_000


def test_same_seed_gives_the_same_profile_and_another_seed_another_sample(adult):
    one = engine.profile(adult, sample_rows=2_000, seed=3).to_dict()
    two = engine.profile(adult, sample_rows=2_000, seed=3).to_dict()
    other = engine.profile(adult, sample_rows=2_000, seed=4).to_dict()
    assert one == two
    assert one["columns"]["fnlwgt"]["histogram"] != other["columns"]["fnlwgt"]["histogram"]


# --- inputs and outputs -------------------------------------------------------------------------


def test_pandas_input_gives_the_same_types_and_counts_as_polars(datasets, adult_profile):
    frame = pd.read_csv(datasets / "adult.csv", skipinitialspace=True, na_values="?")
    prof = engine.profile(frame)
    assert {n: (c.semantic_type, c.null_count, c.n_distinct) for n, c in prof.columns.items()} == {
        n: (c.semantic_type, c.null_count, c.n_distinct) for n, c in adult_profile.columns.items()
    }


def test_nan_in_a_pandas_float_column_counts_as_missing(datasets):
    housing = pd.read_csv(datasets / "california_housing.csv.gz")
    col = engine.profile(housing).columns["total_bedrooms"]
    assert col.null_count == int(housing["total_bedrooms"].isna().sum()) == 207
    assert col.semantic_type == SemanticType.CONTINUOUS


def test_columns_keep_the_input_order_and_the_contract_fields(adult_profile, adult):
    assert list(adult_profile.columns) == adult.columns
    assert adult_profile.n_columns == adult.width
    col = adult_profile.columns["age"]
    assert isinstance(col, ColumnProfile)
    assert col.dtype == "Int64"


def test_to_dict_is_json_serialisable_and_carries_every_part(nyc_profile):
    data = json.loads(json.dumps(nyc_profile.to_dict()))
    assert data["n_rows"] == nyc_profile.n_rows
    assert set(data) >= {"n_columns", "sampled_rows", "columns", "pii", "key_candidates", "warnings", "recommendation"}
    review = data["columns"]["last_review"]
    assert review["semantic_type"] == "datetime"
    assert review["datetime_range"] == list(nyc_profile.columns["last_review"].datetime_range)


def test_engine_profile_stays_callable_after_importing_the_profiling_package(adult):
    import engine.profiling  # noqa: F401  (the package is named apart from the function)

    assert engine.profile(adult.head(100)).n_rows == 100


def test_progress_is_reported_in_increasing_fractions_up_to_one(adult):
    seen: list[tuple[str, float]] = []
    engine.profile(adult.head(1_000), on_progress=lambda step, fraction: seen.append((step, fraction)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_table_without_rows_profiles_as_empty_columns(adult):
    prof = engine.profile(adult.head(0))
    assert prof.n_rows == 0
    assert {c.semantic_type for c in prof.columns.values()} == {SemanticType.EMPTY}
    assert any(w.code == "too_few_rows" for w in prof.warnings)


def test_a_non_frame_input_is_rejected_with_the_type_named():
    with pytest.raises(InputError, match="expected a polars or pandas DataFrame, got builtins.list"):
        engine.profile([[1, 2], [3, 4]])


def test_a_table_without_columns_is_rejected():
    with pytest.raises(InputError, match="no columns"):
        engine.profile(pl.DataFrame())


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1000", True])
def test_sample_rows_must_be_a_positive_integer(adult, bad):
    with pytest.raises(ConfigError, match="sample_rows must be a positive integer"):
        engine.profile(adult, sample_rows=bad)


# --- warnings -----------------------------------------------------------------------------------


def test_education_and_education_num_are_reported_as_derived(adult_profile):
    derived = [w for w in adult_profile.warnings if w.code == "derived_column"]
    assert [set(w.columns) for w in derived] == [{"education", "education-num"}]
    assert "one-to-one" in derived[0].message


def test_a_hierarchy_is_reported_as_a_one_way_dependency(nyc_profile):
    derived = [w.columns for w in nyc_profile.warnings if w.code == "derived_column"]
    assert ("neighbourhood", "neighbourhood_group") in derived


def test_a_rule_that_breaks_on_a_few_rows_is_not_reported_as_derived(datasets):
    batting = pl.read_csv(datasets / "multitable" / "baseball" / "batting.csv.gz")
    violating = batting.group_by("team").agg(pl.col("league").n_unique()).filter(pl.col("league") > 1)
    assert violating.height > 0  # HOU moved from the NL to the AL: team does not decide league
    prof = engine.profile(batting, sample_rows=50_000)
    assert not any(set(w.columns) == {"team", "league"} for w in prof.warnings if w.code == "derived_column")


def test_high_cardinality_categorical_is_warned(nyc_profile):
    flagged = [w.column for w in nyc_profile.warnings if w.code == "high_cardinality"]
    assert flagged == ["neighbourhood"]


def test_heavy_skew_is_warned_and_symmetric_columns_are_not(adult_profile):
    skewed = {w.column for w in adult_profile.warnings if w.code == "skewed"}
    assert "capital-gain" in skewed
    assert "age" not in skewed and "hours-per-week" not in skewed


def test_too_few_rows_is_warned_for_a_small_table_only(datasets, adult_profile):
    loan = engine.profile(pl.read_csv(datasets / "multitable" / "berka" / "loan.csv.gz"))
    assert any(w.code == "too_few_rows" for w in loan.warnings)
    assert not any(w.code == "too_few_rows" for w in adult_profile.warnings)


def test_warnings_speak_plain_language(adult_profile):
    for w in adult_profile.warnings:
        assert w.message.endswith(".") and len(w.message.split()) > 5


# --- recommendation -----------------------------------------------------------------------------


def test_recommendation_is_argn_with_settings_scaled_to_size(adult_profile, datasets):
    rec = adult_profile.recommendation
    assert rec.model == "argn"
    assert "argn" in rec.reason and f"{adult_profile.n_rows:,} rows" in rec.reason
    small = engine.profile(pl.read_csv(datasets / "multitable" / "berka" / "loan.csv.gz")).recommendation
    assert small.settings["epochs"] > rec.settings["epochs"]
    assert small.settings["batch_size"] < rec.settings["batch_size"]


def test_recommendation_regenerates_keys_and_copies_constants(datasets, mushroom_profile):
    players = engine.profile(pl.read_csv(datasets / "multitable" / "baseball" / "players.csv.gz"))
    assert "id" in players.recommendation.settings["columns"]["regenerate"]
    assert "id" not in players.recommendation.settings["columns"]["learn"]
    assert mushroom_profile.recommendation.settings["columns"]["copy"] == ["veil-type"]


def test_speed_benchmark_frame_builds_with_fifty_mixed_columns():
    """The benchmark's frame builder (tests/bench/bench_profile.py) keeps its promised shape."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_profile.py"
    spec = importlib.util.spec_from_file_location("bench_profile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.build_frame(2_000, seed=0)
    assert frame.shape == (2_000, 50)
    assert np.unique([str(t) for t in frame.dtypes]).size >= 6


def test_a_wide_frame_is_measured_column_by_column_correctly(adult):
    """2,000 columns (adult's columns repeated): every column gets the statistics of its own
    values, as polars computes them, whatever its position (statistics are computed over many
    columns at once, in chunks)."""
    base = adult.head(50)
    wide = pl.concat(
        [base.rename({c: f"{c}#{k}" for c in base.columns}) for k in range(2_000 // base.width + 1)], how="horizontal"
    ).select(pl.all().head(50)).select(pl.nth(range(2_000)))
    prof = engine.profile(wide)
    assert len(prof.columns) == 2_000 and list(prof.columns) == wide.columns
    for name in (wide.columns[0], wide.columns[1_002], wide.columns[-1], "hours-per-week#100", "fnlwgt#66"):
        col, values = prof.columns[name], wide.get_column(name)
        assert col.null_count == values.null_count() and col.n_distinct == values.drop_nulls().n_unique()
        if values.dtype.is_numeric():
            assert col.stats["min"] == values.min() and col.stats["max"] == values.max()
            assert col.stats["p50"] == pytest.approx(values.cast(pl.Float64).quantile(0.5, interpolation="linear"))
            assert sum(col.histogram["counts"]) == values.drop_nulls().len()
        else:
            top, count = values.value_counts(sort=True).row(0)
            assert col.top_categories[0][1] == count
