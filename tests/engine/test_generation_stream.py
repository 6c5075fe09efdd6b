"""Model-level generation: stream(), iter_samples(), write_sample() and rebalance(), on a
TVAE trained briefly on real adult rows."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.generation import write_sample
from engine.models.base import Progress
from engine.models.tvae import TVAE
from tests.engine.test_models_contract import TRANSFORMER, read_adult


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=2_000, seed=3)


@pytest.fixture(scope="module")
def model(adult: pl.DataFrame) -> TVAE:
    return TVAE(epochs=4, seed=1, device="cpu", transformer_params=TRANSFORMER).fit(adult)


def test_stream_yields_frames_of_the_batch_size_with_the_training_schema(model: TVAE, adult: pl.DataFrame) -> None:
    frames = list(itertools.islice(model.stream(batch_size=1, seed=4), 25))
    assert [f.height for f in frames] == [1] * 25
    assert all(f.schema == adult.schema for f in frames)
    assert [f.height for f in itertools.islice(model.stream(batch_size=64), 3)] == [64, 64, 64]


def test_stream_is_reproducible_for_a_seed_and_differs_across_seeds(model: TVAE) -> None:
    def first(seed: int) -> pl.DataFrame:
        return pl.concat(list(itertools.islice(model.stream(batch_size=5, seed=seed), 10)))

    assert first(8).equals(first(8))
    assert not first(8).equals(first(9))


def test_stream_with_conditions_yields_only_matching_rows(model: TVAE) -> None:
    rows = pl.concat(list(itertools.islice(model.stream(batch_size=1, conditions="sex == 'Female' and age >= 30"), 40)))
    assert rows.height == 40
    assert ((rows.get_column("sex") == "Female") & (rows.get_column("age") >= 30)).all()


def test_iter_samples_concatenates_to_exactly_sample(model: TVAE) -> None:
    for conditions in (None, {"income": ">50K"}):
        pieces = list(model.iter_samples(10_000, batch_rows=3_000, seed=2, conditions=conditions))
        assert [p.height for p in pieces] == [3_000, 3_000, 3_000, 1_000]
        assert pl.concat(pieces).equals(model.sample(10_000, seed=2, conditions=conditions))


def test_write_sample_streams_sample_to_a_file_in_chunks(model: TVAE, tmp_path: Path) -> None:
    events: list[Progress] = []
    result = write_sample(model, tmp_path / "syn.parquet", n=5_000, seed=3, batch_rows=1_000, on_progress=events.append)
    assert (result.rows, result.chunks) == (5_000, 5)
    assert pl.read_parquet(tmp_path / "syn.parquet").equals(model.sample(5_000, seed=3))
    assert [e.step for e in events] == [1, 2, 3, 4, 5] and events[-1].fraction == 1.0


def test_write_sample_keeps_conditions(model: TVAE, tmp_path: Path) -> None:
    write_sample(model, tmp_path / "old.csv", n=300, seed=1, conditions="age > 50")
    written = pl.read_csv(tmp_path / "old.csv")
    assert written.height == 300 and (written.get_column("age") > 50).all()


def test_rebalance_adds_synthetic_rows_of_the_minority_class(model: TVAE, adult: pl.DataFrame) -> None:
    balanced = engine.rebalance(model, data=adult, column="income", seed=5)
    counts = dict(balanced.get_column("income").value_counts().iter_rows())
    before = dict(adult.get_column("income").value_counts().iter_rows())
    assert counts[">50K"] == counts["<=50K"] == before["<=50K"]
    assert balanced.head(adult.height).equals(adult)  # the real rows first, unchanged


def test_rebalance_reaches_a_target_share(model: TVAE, adult: pl.DataFrame) -> None:
    balanced = engine.rebalance(model, data=adult, column="sex", value="Female", target_share=0.4)
    share = (balanced.get_column("sex") == "Female").mean()
    assert abs(share - 0.4) < 1e-3


def test_rebalance_rejects_an_impossible_share(model: TVAE, adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="target_share must be a number strictly between 0 and 1"):
        engine.rebalance(model, data=adult, column="sex", value="Female", target_share=1.0)


def test_sampling_arguments_are_checked(model: TVAE) -> None:
    with pytest.raises(ConfigError, match="n must be a non-negative integer"):
        model.sample(-1)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        next(model.stream(batch_size=0))
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        model.sample(3, seed=-2)
    assert model.sample(0).height == 0
