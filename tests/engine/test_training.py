"""engine.train: one call from a table to a fitted model; "auto" follows the profile."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from engine.models.base import Progress, Synthesizer
from engine.models.registry import available_kinds, model_class
from tests.engine.test_models_contract import TRANSFORMER, read_adult


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=600, seed=5)


def test_train_fits_the_named_model_with_the_given_settings(adult: pl.DataFrame) -> None:
    events: list[Progress] = []
    model = engine.train(
        adult, model="tvae", seed=3, epochs=2, device="cpu", on_progress=events.append, transformer_params=TRANSFORMER
    )
    assert isinstance(model, model_class("tvae"))
    assert (model.seed, model.epochs, model.metrics_["epochs_run"]) == (3, 2, 2)
    assert [e.epoch for e in events] == [1, 2]
    assert model.sample(10).schema == adult.schema


def test_auto_trains_the_model_the_profile_recommends_with_its_column_types(adult: pl.DataFrame) -> None:
    prof = engine.profile(adult)
    model = engine.train(adult, model="auto", epochs=1, device="cpu", transformer_params=TRANSFORMER)
    assert isinstance(model, Synthesizer)
    assert model.kind == prof.recommendation.model
    assert model.column_types == {name: col.semantic_type for name, col in prof.columns.items()}
    assert model.transformer_.kinds_ == model.column_types


def test_an_invalid_privacy_setting_is_refused_naming_it(adult: pl.DataFrame) -> None:
    # differentially private training itself is specified in tests/engine/test_privacy_models.py
    with pytest.raises(ConfigError, match=r"epsilon must lie in \(0, 100\]; got -1.0"):
        engine.train(adult, model="tvae", privacy={"epsilon": -1.0})


def test_an_unknown_model_lists_the_available_ones(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown model 'gan'; available models: " + ", ".join(available_kinds())):
        engine.train(adult, model="gan")


def test_an_unknown_parameter_is_named_with_the_allowed_ones(adult: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"unknown parameters \['layers'\]; allowed: \[.*'embedding_dim'"):
        engine.train(adult, model="tvae", layers=3)


def test_bad_base_parameters_say_what_is_allowed() -> None:
    tvae = model_class("tvae")
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        tvae(epochs=0)
    with pytest.raises(ConfigError, match="device must be one of auto, cpu, cuda"):
        tvae(device="tpu")
    with pytest.raises(ConfigError, match=r"validation_share must be a number in \[0, 0.5\)"):
        tvae(validation_share=0.7)
    with pytest.raises(ConfigError, match="checkpoint_every needs checkpoint_dir"):
        tvae(checkpoint_every=2)


def test_an_unfitted_model_cannot_sample() -> None:
    with pytest.raises(ConfigError, match="not fitted yet"):
        model_class("tvae")().sample(3)


def test_training_needs_rows(adult: pl.DataFrame) -> None:
    with pytest.raises(engine.InputError, match="at least 2 rows"):
        engine.train(adult.head(1), model="tvae")
