"""The parts under assess_privacy: the distance encoding, blocked nearest neighbours, ROC figures, KDE."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import gaussian_kde
from sklearn.metrics import roc_auc_score, roc_curve

from engine.errors import ConfigError, InputError
from engine.quality import _mia_roc as roc
from engine.quality._mia_kde import GaussianKDE, PrincipalProjection
from engine.quality.distance import DistanceEncoder, nearest_neighbors
from tests.conftest import DATASETS

# -- distance encoding ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def housing() -> pl.DataFrame:
    return pl.read_csv(DATASETS / "california_housing.csv.gz")


def test_numbers_are_scaled_by_the_training_p1_p99_range_and_clipped(housing: pl.DataFrame) -> None:
    enc = DistanceEncoder().fit(housing)
    income = housing["median_income"]
    lo, hi = income.quantile(0.01, "linear"), income.quantile(0.99, "linear")
    assert enc.lows_["median_income"] == pytest.approx(lo)
    assert enc.spans_["median_income"] == pytest.approx(hi - lo)
    probe = housing[:3].with_columns(pl.Series("median_income", [lo - 5.0, (lo + hi) / 2, hi + 5.0]))
    column = enc.columns_.index("median_income")  # numeric value dimensions come first, in column order
    assert enc.transform(probe)[:, column].tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_categories_are_one_hot_at_0_7_so_two_levels_are_about_one_apart(housing: pl.DataFrame) -> None:
    enc = DistanceEncoder().fit(housing.select("ocean_proximity"))
    x = enc.transform(pl.DataFrame({"ocean_proximity": ["INLAND", "NEAR BAY", "INLAND"]}))
    assert sorted(set(x[0].tolist())) == [0.0, pytest.approx(0.7)]
    assert np.linalg.norm(x[0] - x[1]) == pytest.approx(np.sqrt(2 * 0.49))
    assert np.linalg.norm(x[0] - x[2]) == 0.0


def test_rare_and_unseen_levels_share_the_other_dimension() -> None:
    train = pl.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"] * 1})
    enc = DistanceEncoder(top_k=2).fit(train)
    assert enc.levels_["c"] == ["a", "b"]
    x = enc.transform(pl.DataFrame({"c": ["c", "never-seen", "a"]}))
    assert np.array_equal(x[0], x[1])
    assert not np.array_equal(x[0], x[2])


def test_a_null_has_its_own_dimension_in_numbers_and_categories(housing: pl.DataFrame) -> None:
    enc = DistanceEncoder().fit(housing)
    assert "total_bedrooms" in enc.null_columns_
    assert enc.n_features_out_ == 9 + 1 + (5 + 1)  # 9 numbers, 1 null indicator, 5 levels + other
    nulls = housing.filter(pl.col("total_bedrooms").is_null())[:1]
    filled = nulls.with_columns(pl.col("total_bedrooms").fill_null(housing["total_bedrooms"].median()))
    x = enc.transform(pl.concat([nulls, filled]))
    assert np.linalg.norm(x[0] - x[1]) == pytest.approx(1.0)  # same value slot (the median), indicator differs


def test_dates_are_numbers_on_their_epoch_and_units_do_not_matter() -> None:
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(101)]
    train = pl.DataFrame({"d": days})
    enc = DistanceEncoder().fit(train)
    as_datetime = pl.DataFrame({"d": [dt.datetime(2020, 1, 1) + dt.timedelta(days=50)]}).with_columns(
        pl.col("d").cast(pl.Datetime("ns"))
    )
    assert enc.transform(as_datetime)[0, 0] == pytest.approx(0.5, abs=0.01)


def test_encoder_follows_the_estimator_contract(housing: pl.DataFrame) -> None:
    enc = DistanceEncoder(top_k=3)
    assert enc.get_params()["top_k"] == 3
    assert not hasattr(enc, "columns_")
    assert enc.fit(housing) is enc
    assert enc.set_params(top_k=4).top_k == 4
    with pytest.raises(ConfigError, match="top_k must be a positive integer"):
        DistanceEncoder(top_k=0).fit(housing)
    with pytest.raises(ConfigError, match="has no parameter 'k'"):
        enc.set_params(k=3)
    with pytest.raises(InputError, match="not fitted yet"):
        DistanceEncoder().transform(housing)
    with pytest.raises(InputError, match=r"lacks column\(s\) \['ocean_proximity'\]"):
        enc.transform(housing.drop("ocean_proximity"))


def test_a_date_where_a_number_was_trained_is_refused_with_the_column_named() -> None:
    enc = DistanceEncoder().fit(pl.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(InputError, match="column 'x' is Date here but Float64 in training"):
        enc.transform(pl.DataFrame({"x": [dt.date(2020, 1, 1)]}))


# -- nearest neighbours ----------------------------------------------------------------------------


def _brute_force(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    full = np.sqrt(((queries[:, None, :].astype(np.float64) - reference[None, :, :]) ** 2).sum(-1))
    return np.sort(full, axis=1)[:, :k]


@pytest.mark.parametrize(("block_rows", "block_cols"), [(2048, 8192), (17, 50), (1, 7)])
def test_blocked_nearest_neighbours_equal_brute_force(block_rows: int, block_cols: int) -> None:
    rng = np.random.default_rng(0)
    reference = rng.random((400, 12), dtype=np.float32)
    queries = np.concatenate([rng.random((150, 12), dtype=np.float32), reference[:30]])
    distances, indices = nearest_neighbors(queries, reference, k=2, block_rows=block_rows, block_cols=block_cols)
    assert distances == pytest.approx(_brute_force(queries, reference, 2), abs=1e-9)
    recomputed = np.linalg.norm(queries[:, None, :] - reference[indices], axis=2)
    assert recomputed == pytest.approx(distances, abs=1e-6)


def test_an_exact_copy_is_at_distance_zero_exactly() -> None:
    rng = np.random.default_rng(1)
    reference = rng.random((1000, 40), dtype=np.float32) * 50  # large norms: float32 cancellation
    distances, indices = nearest_neighbors(reference[:100], reference, k=1)
    assert np.all(distances[:, 0] == 0.0)
    assert indices[:, 0].tolist() == list(range(100))


def test_nearest_neighbours_refuse_bad_arguments() -> None:
    x = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(InputError, match="at least k=2 reference rows"):
        nearest_neighbors(x, x[:1], k=2)
    with pytest.raises(ConfigError, match="k must be an integer between 1 and 16"):
        nearest_neighbors(x, x, k=0)
    with pytest.raises(InputError, match="same width"):
        nearest_neighbors(x, np.zeros((3, 3), dtype=np.float32))


# -- ROC figures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tied_scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    members = np.round(rng.normal(0.3, 1.0, 700), 1)  # rounding makes many ties
    nonmembers = np.round(rng.normal(0.0, 1.0, 900), 1)
    return members, nonmembers


def test_auc_equals_scikit_learn_with_ties(tied_scores) -> None:
    m, n = tied_scores
    labels = np.r_[np.ones(len(m)), np.zeros(len(n))]
    assert roc.auc(m, n) == pytest.approx(roc_auc_score(labels, np.r_[m, n]))


def test_advantage_and_low_fpr_tpr_read_the_scikit_learn_roc_curve(tied_scores) -> None:
    m, n = tied_scores
    fpr, tpr, _ = roc_curve(np.r_[np.ones(len(m)), np.zeros(len(n))], np.r_[m, n])
    assert roc.advantage(m, n) == pytest.approx(np.max(tpr - fpr))
    assert roc.tpr_at_fpr(m, n, 0.01) == pytest.approx(tpr[fpr <= 0.01].max())


def test_an_attack_that_works_backwards_has_no_advantage() -> None:
    assert roc.advantage(np.zeros(50), np.ones(50)) == 0.0
    assert roc.advantage(np.ones(50), np.zeros(50)) == 1.0


def test_roc_on_grid_has_21_points_and_never_falls(tied_scores) -> None:
    curve = roc.roc_on_grid(*tied_scores)
    assert len(curve["fpr"]) == len(curve["tpr"]) == 21
    assert curve["tpr"] == sorted(curve["tpr"]) and curve["tpr"][-1] == 1.0


# -- kernel densities ------------------------------------------------------------------------------


def test_gaussian_kde_matches_scipy_with_scotts_rule() -> None:
    rng = np.random.default_rng(4)
    points = rng.normal(size=(3000, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])
    queries = points[:200] + rng.normal(scale=0.1, size=(200, 3))
    ours = GaussianKDE(block_rows=64, block_cols=500).fit(points).score_samples(queries)
    assert ours == pytest.approx(gaussian_kde(points.T).logpdf(queries.T), abs=0.01)


def test_principal_projection_gives_unit_variance_components() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1, 0.0])
    z = PrincipalProjection(n_components=10).fit(x).transform(x)
    assert z.shape == (2000, 5)  # the constant direction is dropped
    assert np.std(z, axis=0, ddof=1) == pytest.approx(np.ones(5))
