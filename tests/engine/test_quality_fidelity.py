"""Fidelity metrics: per-column distances, pair associations, binned accuracy and its ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.stats import ks_2samp, spearmanr

import engine
from engine.errors import ConfigError, InputError
from engine.quality.associations import correlation_ratio, cramers_v, pearson_matrix, rank_columns
from engine.quality.columns import prepare
from engine.quality.config import FidelityConfig
from engine.quality.fidelity import assess_fidelity, ks_distance, tv_distance
from tests.engine.quality_fixtures import adult, airbnb, california, shuffled_columns, split


def kinds(frame: pl.DataFrame, **overrides: str) -> dict[str, str]:
    prep = prepare(frame, frame, None, column_types=overrides, max_int_levels=10)
    return {s.name: s.kind for s in prep.specs}


# ----------------------------------------------------------------------------- column kinds


def test_text_is_categorical_numbers_numeric_and_few_whole_values_categorical():
    frame = adult().head(3_000).with_columns((pl.col("age") % 4).alias("age_band"))
    found = kinds(frame)
    assert found["workclass"] == found["income"] == "categorical"
    assert found["age"] == found["fnlwgt"] == found["education-num"] == "numeric"
    assert found["age_band"] == "categorical"  # 4 distinct whole numbers: a code, not a quantity


def test_row_keys_and_mostly_unique_text_are_not_compared():
    frame = adult().head(3_000).with_row_index("row_id").with_columns(
        pl.format("person-{}", pl.col("row_id")).alias("name")
    )
    found = kinds(frame)
    assert found["row_id"] == "skip"
    assert found["name"] == "skip"


def test_column_types_in_the_config_override_the_inferred_kind():
    found = kinds(adult().head(1_000), **{"education-num": "categorical", "fnlwgt": "skip"})
    assert found["education-num"] == "categorical"
    assert found["fnlwgt"] == "skip"


def test_column_types_naming_an_unknown_column_are_refused():
    with pytest.raises(ConfigError, match="not in the real table"):
        kinds(adult().head(100), nope="numeric")


def test_tables_with_other_columns_are_refused_naming_them():
    train, holdout, _ = split("adult")
    with pytest.raises(InputError, match=r"synthetic lacks column\(s\) \['income'\]"):
        prepare(train, holdout.drop("income"), None, column_types={}, max_int_levels=10)
    with pytest.raises(InputError, match="extra"):
        prepare(train, holdout.with_columns(pl.lit(1).alias("extra")), None, column_types={}, max_int_levels=10)


def test_numbers_that_arrive_as_text_are_read_and_other_text_is_refused():
    train, holdout, _ = split("adult")
    as_text = holdout.with_columns(pl.col("age").cast(pl.String))
    prep = prepare(train, as_text, None, column_types={}, max_int_levels=10)
    assert np.array_equal(prep.synthetic.values["age"], holdout["age"].cast(pl.Float64).to_numpy())
    broken = as_text.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("old")).otherwise(pl.col("age")).alias("age"))
    with pytest.raises(InputError, match="synthetic column 'age' holds text that is not a number"):
        prepare(train, broken, None, column_types={}, max_int_levels=10)


def test_pandas_frames_are_accepted():
    train, holdout, _ = split("california")
    prep = prepare(train.to_pandas(), holdout.to_pandas(), None, column_types={}, max_int_levels=10)
    assert prep.real.n_rows == train.height


# ----------------------------------------------------------------------------- per column


def test_ks_distance_without_nulls_is_the_two_sample_ks_statistic():
    train, _, fresh = split("california")
    real, syn = train["median_income"].to_numpy(), fresh["median_income"].to_numpy()
    assert ks_distance(real, syn) == pytest.approx(ks_2samp(real, syn).statistic, abs=1e-12)


def test_ks_distance_counts_a_lost_null_share():
    train, _, fresh = split("california")
    real = train["total_bedrooms"].fill_null(np.nan).to_numpy()
    assert np.isnan(real).mean() > 0.005
    syn = fresh["total_bedrooms"].drop_nulls().to_numpy()
    assert ks_distance(real, syn) >= np.isnan(real).mean()
    assert ks_distance(real, syn, null_as_category=False) == pytest.approx(
        ks_2samp(real[~np.isnan(real)], syn).statistic, abs=1e-12
    )


def test_tv_distance_is_half_the_l1_gap_of_category_shares_with_null_a_category():
    train, _, fresh = split("adult")
    prep = prepare(train, fresh, None, column_types={}, max_int_levels=10)
    n_levels = len(prep.categories["workclass"]) + 1
    ours = tv_distance(prep.real.codes["workclass"], prep.synthetic.codes["workclass"], n_levels)
    shares = [f["workclass"].value_counts(normalize=True).rename({"proportion": name}) for f, name in ((train, "r"), (fresh, "s"))]
    joined = shares[0].join(shares[1], on="workclass", how="full", coalesce=True, nulls_equal=True).fill_null(0.0)
    assert ours == pytest.approx(0.5 * (joined["r"] - joined["s"]).abs().sum(), abs=1e-12)


def test_datetime_columns_are_compared_like_their_timestamps():
    frame = airbnb().sample(6_000, seed=0)
    real, syn = frame[:3_000], frame[3_000:]
    prep = prepare(real, syn, None, column_types={}, max_int_levels=10)
    assert {s.name: s.kind for s in prep.specs}["last_review"] == "datetime"
    result = assess_fidelity(prep, config=FidelityConfig())
    ours = next(c for c in result["columns"] if c["name"] == "last_review")
    days_real = real["last_review"].to_physical().cast(pl.Float64).fill_null(np.nan).to_numpy()
    days_syn = syn["last_review"].to_physical().cast(pl.Float64).fill_null(np.nan).to_numpy()
    assert ours["metric"] == "ks"
    assert ours["distance"] == pytest.approx(ks_distance(days_real, days_syn), abs=1e-12)
    assert ours["null_share_real"] == pytest.approx(real["last_review"].null_count() / real.height)


# ----------------------------------------------------------------------------- pairs


def test_pearson_uses_the_rows_where_both_values_are_present():
    frame = california().drop("ocean_proximity")
    assert frame["total_bedrooms"].null_count() > 0
    ours = pearson_matrix(frame.cast(pl.Float64).fill_null(np.nan).to_numpy())
    expected = frame.to_pandas().corr(method="pearson").to_numpy()  # pandas: pairwise-complete
    assert np.abs(ours - expected).max() < 1e-9


def test_spearman_without_nulls_is_scipys():
    frame = california().select("median_income", "housing_median_age", "population", "latitude").to_numpy()
    ours = pearson_matrix(rank_columns(frame))
    assert np.abs(ours - spearmanr(frame).statistic).max() < 1e-9


def test_cramers_v_is_one_for_a_function_of_the_other_column_and_near_zero_for_independent_ones():
    frame = adult().select("education", pl.col("education-num").cast(pl.String).alias("level"), "sex")
    shuffled = frame.with_columns(pl.col("sex").shuffle(seed=5))

    def table(a: str, b: str, f: pl.DataFrame) -> np.ndarray:
        return pd.crosstab(f[a].to_pandas(), f[b].to_pandas()).to_numpy()

    assert cramers_v(table("education", "level", frame)) == pytest.approx(1.0, abs=1e-3)
    assert cramers_v(table("education", "sex", shuffled)) < 0.02


def test_correlation_ratio_is_one_when_the_category_fixes_the_number_and_near_zero_when_unrelated():
    frame = adult()
    codes = frame["education"].cast(pl.Categorical).to_physical().cast(pl.Int64).to_numpy()
    numbers = frame["education-num"].cast(pl.Float64).to_numpy()
    assert correlation_ratio(numbers, codes, int(codes.max()) + 1) == pytest.approx(1.0, abs=1e-9)
    unrelated = np.random.default_rng(0).permutation(numbers)
    assert correlation_ratio(unrelated, codes, int(codes.max()) + 1) < 0.03


def test_the_largest_pair_differences_are_listed_with_both_values():
    train, _, _ = split("adult")
    prep = prepare(train, shuffled_columns(train), None, column_types={}, max_int_levels=10)
    result = assess_fidelity(prep, config=FidelityConfig())
    top = result["pairs"]["largest_differences"][0]
    assert set(top["columns"]) == {"education", "education-num"}
    measure = top["measures"][top["measure"]]
    assert measure["real"] > 0.95 and measure["synthetic"] < 0.1
    diffs = [p["difference"] for p in result["pairs"]["largest_differences"]]
    assert diffs == sorted(diffs, reverse=True)


# ----------------------------------------------------------------------------- binned accuracy


def test_univariate_accuracy_bins_numbers_at_real_deciles_and_keeps_the_top_ten_categories():
    train, _, fresh = split("adult")
    prep = prepare(train, fresh, None, column_types={}, max_int_levels=10)
    result = {c["name"]: c for c in assess_fidelity(prep, config=FidelityConfig())["columns"]}

    edges = np.unique(np.quantile(train["age"].to_numpy(), np.linspace(0, 1, 11))[1:-1])
    p = np.bincount(np.searchsorted(edges, train["age"].to_numpy(), side="right"), minlength=edges.size + 1) / train.height
    q = np.bincount(np.searchsorted(edges, fresh["age"].to_numpy(), side="right"), minlength=edges.size + 1) / fresh.height
    assert result["age"]["accuracy"] == pytest.approx(1 - 0.5 * np.abs(p - q).sum(), abs=1e-12)

    top = train["native-country"].drop_nulls().value_counts(sort=True).sort(["count", "native-country"], descending=[True, False])
    top10 = set(top["native-country"].head(10).to_list())

    def binned(f: pl.DataFrame) -> pl.DataFrame:
        label = pl.when(pl.col("native-country").is_null()).then(pl.lit("(null)")).when(
            pl.col("native-country").is_in(list(top10))).then(pl.col("native-country")).otherwise(pl.lit("(other)"))
        return f.select(label.alias("bin")).get_column("bin").value_counts(normalize=True)

    joined = binned(train).join(binned(fresh), on="bin", how="full", coalesce=True).fill_null(0.0)
    expected = 1 - 0.5 * (joined["proportion"] - joined["proportion_right"]).abs().sum()
    assert result["native-country"]["accuracy"] == pytest.approx(expected, abs=1e-12)


def test_a_real_sample_scores_below_one_and_the_report_states_the_gap_to_that_ceiling():
    train, holdout, fresh = split("adult")
    prep = prepare(train, fresh, holdout, column_types={}, max_int_levels=10)
    acc = assess_fidelity(prep, config=FidelityConfig())["accuracy"]
    assert 0.8 < acc["ceiling"]["overall"] < 1.0
    assert acc["gap"]["overall"] == pytest.approx(acc["ceiling"]["overall"] - acc["overall"])
    assert acc["ceiling"]["univariate"] >= acc["ceiling"]["bivariate"] >= acc["ceiling"]["trivariate"]


def test_a_copy_scores_perfect_accuracy():
    train, _, _ = split("adult")
    prep = prepare(train, train, None, column_types={}, max_int_levels=10)
    acc = assess_fidelity(prep, config=FidelityConfig())["accuracy"]
    assert acc["overall"] == 1.0


def test_column_triples_beyond_the_cap_are_sampled_and_the_note_says_so():
    train, _, fresh = split("adult")
    prep = prepare(train, fresh, None, column_types={}, max_int_levels=10)
    result = assess_fidelity(prep, config=FidelityConfig(max_triples=40))
    assert result["accuracy"]["triples_sampled"] == 40
    assert result["accuracy"]["triples_total"] == 455
    assert any("40 of the 455 column triples" in n for n in result["notes"])


def test_a_table_with_dates_nulls_and_many_categories_is_assessed_end_to_end():
    frame = airbnb().sample(9_000, seed=1)
    rep = engine.assess(real=frame[:4_000], synthetic=frame[4_000:7_000], holdout=frame[7_000:],
                        config={"pillars": ["fidelity"]})
    assert rep.gate("column_distance").status == "pass"
    assert any("most frequent real categories" in n for n in rep.notes)  # neighbourhood has >100 levels
