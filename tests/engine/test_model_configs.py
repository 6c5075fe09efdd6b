"""Every model's typed configuration, checked the same way for every kind the registry lists.

The numeric parameters and their bounds are read from each config class's declarations, so a
parameter added later is checked without a new test. Nothing here trains except one tiny MST
fit (no networks) that goes through a model file.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import polars as pl
import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo

import engine
from engine.errors import ConfigError
from engine.models.config import SynthesizerConfig
from engine.models.registry import available_kinds, load_model, model_class, validate_params
from tests.engine.test_models_contract import read_adult

KINDS = available_kinds()
SAVED = Path(__file__).parent / "saved_models"
PRIVACY = {"epsilon": 1.0, "delta": 1e-5}


def _scalar(annotation: Any, metadata: list[Any]) -> tuple[type | None, list[Any]]:
    """The number type (int or float; None for anything else) a field declares, with its constraints."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        flat = [m for extra in extras for m in (extra.metadata if isinstance(extra, FieldInfo) else [extra])]
        return _scalar(base, [*metadata, *flat])
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        return _scalar(members[0], metadata) if len(members) == 1 else (None, [])
    return (annotation, metadata) if annotation in (int, float) else (None, [])


def _numeric_fields(config: type[SynthesizerConfig]) -> list[tuple[str, type, list[Any]]]:
    fields = []
    for name, info in config.model_fields.items():
        kind, constraints = _scalar(info.annotation, list(info.metadata))
        if kind is not None:
            fields.append((name, kind, constraints))
    return fields


def _bound_cases(kind: type, constraints: list[Any]) -> list[tuple[Any, Any, Any]]:
    """``(value outside the bound, the constraint, the bound)`` for every declared bound."""
    step = 1 if kind is int else 0.5
    cases = []
    for c in constraints:
        if isinstance(c, annotated_types.Ge):
            cases.append((c.ge - step, c, c.ge))
        elif isinstance(c, annotated_types.Gt):
            cases.append((c.gt, c, c.gt))
        elif isinstance(c, annotated_types.Le):
            cases.append((c.le + step, c, c.le))
        elif isinstance(c, annotated_types.Lt):
            cases.append((c.lt, c, c.lt))
    return cases


def _bound_texts(number: type, constraint: Any, bound: Any) -> set[str]:
    """How a message may name the bound: the number, or "positive" (> 0, or >= 1 for integers) / "non-negative" (>= 0)."""
    texts = {f"{bound:g}" if isinstance(bound, float) else str(bound)}
    if (isinstance(constraint, annotated_types.Gt) and bound == 0) or (number is int and isinstance(constraint, annotated_types.Ge) and bound == 1):
        texts.add("positive")
    if isinstance(constraint, annotated_types.Ge) and bound == 0:
        texts.add("non-negative")
    return texts


def _refused(kind: str, **params: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        model_class(kind)(**params)
    return str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_the_config_is_frozen_and_is_what_get_params_returns(kind: str) -> None:
    cls = model_class(kind)
    model = cls(epochs=3, seed=1)

    assert isinstance(model.config, cls.config_class) and model.get_params() is model.config
    with pytest.raises(ValidationError, match="frozen"):
        model.config.epochs = 5
    with pytest.raises(AttributeError, match="fixed when the model is built"):
        model.epochs = 5
    with pytest.raises(TypeError):
        model.model_params[next(iter(cls.default_params))] = 1  # type: ignore[index]
    assert model.epochs == 3 and model.seed == 1
    assert dict(model.model_params) == model.config.own_params() == cls.default_params


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_parameter_is_refused_naming_the_known_ones(kind: str) -> None:
    cls = model_class(kind)
    message = _refused(kind, no_such_parameter=1)

    assert message.startswith(f"{cls.config_class.display_name}: unknown parameters ['no_such_parameter']; allowed: [")
    assert all(f"'{name}'" in message for name in cls.config_class.model_fields)


@pytest.mark.parametrize("kind", KINDS)
def test_every_numeric_parameter_refuses_a_bool_a_string_and_a_value_outside_its_bound(kind: str) -> None:
    config = model_class(kind).config_class
    fields = _numeric_fields(config)
    assert {"epochs", "batch_size", "seed", "validation_share"} <= {name for name, _, _ in fields}
    for name, number, constraints in fields:
        extra = {"checkpoint_dir": "checkpoints"} if name == "checkpoint_every" else {}
        for value in (True, "1"):
            message = _refused(kind, **{name: value}, **extra)
            assert f"{config.display_name}: {name} must be " in message and f"got {value!r}" in message, message
        cases = _bound_cases(number, constraints)
        assert cases, f"{kind}.{name} declares no bound"
        for value, constraint, bound in cases:
            message = _refused(kind, **{name: value}, **extra)
            named = any(text in message.removesuffix(f"got {value!r}") for text in _bound_texts(number, constraint, bound))
            assert f"{name} must be " in message and message.endswith(f"; got {value!r}") and named, message


# Every (kind, flag) pair, so that a kind without flags is not counted as checked.
FLAGS = [(kind, name) for kind in KINDS for name, info in model_class(kind).config_class.model_fields.items()
         if info.annotation is bool]


@pytest.mark.parametrize(("kind", "name"), FLAGS)
def test_every_flag_refuses_a_number_and_a_string(kind: str, name: str) -> None:
    for value in (1, "yes"):
        assert f"{name} must be True or False; got {value!r}" in _refused(kind, **{name: value})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("privacy", [None, PRIVACY])
def test_the_defaults_round_trip_through_the_stored_config(kind: str, privacy: dict | None) -> None:
    cls = model_class(kind)
    model = cls(privacy=privacy)
    stored = json.loads(json.dumps(model._config()))  # what a model file holds

    rebuilt = cls(**cls.config_class.from_saved(stored))  # what load builds from it

    assert rebuilt.config == model.config
    assert rebuilt._config() == stored
    assert set(stored) == set(cls.config_class.model_fields) - {"checkpoint_dir", "checkpoint_every"}


@pytest.mark.parametrize("kind", KINDS)
def test_dp_defaults_apply_only_to_the_parameters_not_given(kind: str) -> None:
    cls = model_class(kind)
    dp = cls.config_class.dp_defaults
    assert {"epochs", "batch_size"} <= set(dp)

    private, plain = cls(privacy=PRIVACY), cls()
    for name, value in dp.items():
        assert getattr(private.config, name) == value
        assert getattr(plain.config, name) == cls.config_class.model_fields[name].default
    given = {name: cls.config_class.model_fields[name].default for name in dp}
    given |= {"epochs": 3, "batch_size": 7}
    chosen = cls(privacy=PRIVACY, **given)
    assert {name: getattr(chosen.config, name) for name in dp} == given
    assert cls(privacy=PRIVACY, epochs=None).epochs == dp["epochs"]  # None means "the default"
    assert validate_params(kind, {}, private=True) == cls.config_class.resolve({}, private=True)
    assert validate_params(kind, {}, private=True).epochs == dp["epochs"]
    assert validate_params(kind, {"epochs": 2}, private=True).epochs == 2


@pytest.mark.parametrize("kind", KINDS)
def test_engine_train_and_the_form_refuse_with_the_configs_message_before_training(kind: str) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3]})
    name = model_class(kind).config_class.display_name
    with pytest.raises(ConfigError, match=rf"^{name}: seed must be a non-negative integer; got -1$"):
        engine.train(frame, model=kind, seed=-1)
    with pytest.raises(ConfigError, match=rf"^{name}: unknown parameters \['layers'\]"):
        validate_params(kind, {"layers": 3}, private=False)


def test_a_message_names_the_model_the_parameter_the_value_and_what_is_allowed() -> None:
    assert _refused("argn", dropout=1.5) == "ARGN: dropout must be a number in [0, 1); got 1.5"
    assert _refused("tvae", learning_rate=True) == "TVAE: learning_rate must be a positive number; got True"
    assert _refused("ctgan", learning_rate=True).startswith("CTGAN: unknown parameters ['learning_rate']")
    assert _refused("tvae", device="cuda:x") == "TVAE: device must be one of auto, cpu, cuda, cuda:N; got 'cuda:x'"
    assert _refused("argn", generation_order=["age", "age"]).startswith("ARGN: generation_order must be one of table, or a list")
    assert _refused("tvae", checkpoint_every=2) == "TVAE: checkpoint_every needs checkpoint_dir: the folder to write checkpoints into"
    assert _refused("tvae", privacy={"epsilon": -1}) == "TVAE: privacy: epsilon must lie in (0, 100]; got -1.0"
    both = _refused("argn", hidden_dim=0, top_p=2)
    assert "hidden_dim must be a positive integer; got 0" in both and "top_p must be a number in (0, 1]; got 2" in both


def test_the_thread_setting_is_num_threads_everywhere_and_old_ctgan_files_still_load() -> None:
    for kind in KINDS:
        fields = model_class(kind).config_class.model_fields
        assert "n_threads" not in fields and ("num_threads" in fields or kind == "mst")
    assert json.loads((SAVED / "adult_ctgan.doppel" / "model.json").read_text())["config"]["n_threads"] is None
    old = load_model(SAVED / "adult_ctgan.doppel")
    assert old.config.num_threads is None and "num_threads" in old._config() and "n_threads" not in old._config()
    assert model_class("ctgan").config_class.from_saved({"n_threads": 2}) == {"num_threads": 2}


def test_a_model_file_stores_the_config_and_loads_it_back(datasets: Path, tmp_path: Path) -> None:
    rows = read_adult(datasets / "adult.csv", rows=300, seed=1).select("age", "sex", "workclass")
    model = model_class("mst")(epochs=2, seed=4, device="cpu", compress=False).fit(rows)
    loaded = load_model(model.save(tmp_path / "mst.doppel"))

    assert loaded.config == model.config and loaded.get_params().compress is False
