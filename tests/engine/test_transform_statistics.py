"""One construction path: ``DataTransformer.fit(frame, statistics=...)`` with exact or private statistics."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from engine.errors import ConfigError, InputError
from engine.privacy import Privacy
from engine.privacy.private_statistics import private_statistics, private_transformer
from engine.privacy.run import PrivateRun
from engine.schema import SemanticType
from engine.transform import OTHER_LABEL, DataTransformer
from engine.transform.statistics import CategoryStatistics, NumberStatistics, TableStatistics
from tests.engine.test_transform_roundtrip import read_dataset

FAST = {"gmm_sample_rows": 2_000}


@pytest.fixture(scope="module")
def nyc(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "nyc_airbnb_2019.csv.gz", rows=5_000)


@pytest.fixture(scope="module")
def adult(datasets) -> pl.DataFrame:
    return read_dataset(datasets, "adult.csv", rows=5_000)


def _state(transformer: DataTransformer) -> str:
    return json.dumps(transformer.to_dict(), sort_keys=True)


@pytest.mark.parametrize("name", ["adult", "nyc"])
def test_exact_statistics_handed_in_give_the_transformer_fit_builds(name: str, request: pytest.FixtureRequest) -> None:
    frame: pl.DataFrame = request.getfixturevalue(name)
    kwargs = {**FAST, "column_types": {"last_review": "datetime"}} if name == "nyc" else FAST
    fitted = DataTransformer(**kwargs).fit(frame)
    statistics = DataTransformer(**kwargs).measure(frame)
    built = DataTransformer(**kwargs).fit(frame, statistics=statistics)
    assert _state(built) == _state(fitted)
    assert built.protections_ == fitted.protections_
    assert np.array_equal(built.transform(frame), fitted.transform(frame))
    assert np.array_equal(built.transform_tokens(frame), fitted.transform_tokens(frame))


def test_with_statistics_the_rows_are_read_for_nothing_else(adult: pl.DataFrame) -> None:
    statistics = DataTransformer(**FAST).measure(adult)
    other_rows = adult.tail(100).reverse()  # same schema, other rows, other count
    built = DataTransformer(**FAST).fit(other_rows, statistics=statistics)
    assert _state(built) == _state(DataTransformer(**FAST).fit(adult))
    assert built.n_rows_fit_ == adult.height


def test_statistics_of_other_columns_or_dtypes_are_refused_by_name(adult: pl.DataFrame) -> None:
    statistics = DataTransformer(**FAST).measure(adult.select("age", "sex"))
    with pytest.raises(InputError, match="the frame has"):
        DataTransformer().fit(adult.select("sex", "age"), statistics=statistics)
    with pytest.raises(InputError, match="'age'.*dtype"):
        DataTransformer().fit(adult.select(pl.col("age").cast(pl.Float64), "sex"), statistics=statistics)
    with pytest.raises(ConfigError, match="TableStatistics"):
        DataTransformer().fit(adult, statistics={"age": None})  # type: ignore[arg-type]


def test_hand_made_statistics_build_their_encoder(adult: pl.DataFrame) -> None:
    exact = DataTransformer(**FAST).measure(adult.select("age"))
    age = exact.columns[0]
    assert isinstance(age, NumberStatistics) and age.range.lo <= age.range.hi
    levels = pl.Series("sex", [" Male", " Female", OTHER_LABEL])
    stats = TableStatistics(
        (age, CategoryStatistics("sex", pl.String(), SemanticType.CATEGORICAL, levels)), 10, protections={"made": "by hand"}
    )
    frame = adult.select("age", "sex")
    transformer = DataTransformer().fit(frame, statistics=stats)
    assert transformer.protections_ == {"made": "by hand"} and transformer.n_rows_fit_ == 10
    codes = transformer.transform_tokens(frame.head(200))[:, -1]
    expected = frame.head(200).get_column("sex").replace_strict({" Male": 0, " Female": 1}, default=2).to_numpy()
    assert np.array_equal(codes, expected)


def test_private_statistics_build_the_private_transformer_through_fit(adult: pl.DataFrame) -> None:
    privacy = Privacy(epsilon=1.0, delta=1e-5)
    run = PrivateRun(privacy, adult.height)
    measured = private_statistics(adult, run=run, params=DataTransformer().validated_params(), needs_counts=True)
    assert measured.statistics.names == adult.columns
    assert [m["name"] for m in run.report()["mechanisms"]][0].startswith("preprocessing histograms")
    transformer = DataTransformer().fit(adult, statistics=measured.statistics)
    assert transformer.protections_ == {"differential_privacy": measured.columns}
    for name, counts in measured.counts.items():
        assert len(counts) == len(transformer.encoders_[transformer.columns_.index(name)].levels)
    domain = private_transformer(adult, run=PrivateRun(privacy, adult.height), transformer_kwargs={}, needs_counts=True)
    assert domain.transformer.columns_ == adult.columns and set(domain.counts) == set(measured.counts)
