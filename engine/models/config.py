"""The typed, frozen configuration a model is built from, and the one way its errors read.

Every model has a ``SynthesizerConfig`` subclass (``engine/models/<kind>/config.py``) that
declares its own parameters beside the base ones below: the type, the default and the allowed
values (``Field(ge=..., gt=..., le=..., lt=...)``, ``Literal``, ``min_length``), so the
constructor, ``engine.train`` and the workbench's form all check a parameter the same way.
Numbers are strict: a bool or a string is never a number. A validator is used only where a
constraint cannot be declared (the device name ``cuda:N``, distinct column names); it carries
an ``Allowed`` text saying in words what it lets through.

``resolve`` is the one entry point: it applies the DP defaults (``dp_defaults``: parameters
whose default differs under differential privacy, used only where the caller gave none),
validates, and turns pydantic's ``ValidationError`` into ``ConfigError`` with a message
generated from the declarations: the model, the parameter, the value given and what is
allowed, e.g. ``"ARGN: dropout must be a number in [0, 1); got 1.5"``; unknown parameters are
listed with the known ones.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, Strict, ValidationError, field_serializer, model_validator
from pydantic.fields import FieldInfo

from engine.errors import ConfigError

# The device names a model takes; "cuda:N" is a numbered GPU.
DEVICES = ("auto", "cpu", "cuda", "cuda:N")


@dataclass(frozen=True)
class Allowed:
    """Field metadata: what a validator lets through, in words, where no declared constraint says it."""

    text: str


# Strict numbers: ``True`` is not 1 and ``"3"`` is not 3 (an int is still a number).
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
PositiveNumber = Annotated[float, Strict(), Field(gt=0)]
NonNegativeNumber = Annotated[float, Strict(), Field(ge=0)]
Flag = Annotated[bool, Strict()]
# A CPU thread count: far above any host's cores is a typo or an attack (``TorchThreads``
# clamps a count above this machine's CPUs when it is used: a model from a larger host loads).
MAX_THREADS = 1024
ThreadCount = Annotated[int, Strict(), Field(ge=1, le=MAX_THREADS)]


def is_device_name(value: Any) -> bool:
    """Whether ``value`` is one of ``DEVICES`` (``cuda:N`` with a number for N)."""
    return isinstance(value, str) and (value in DEVICES[:3] or (value.startswith("cuda:") and value[5:].isdigit()))


def _device(value: Any) -> str:
    if not is_device_name(value):
        raise ValueError("not a device name")
    return value


def _privacy(value: Any) -> Any:
    from engine.privacy.config import Privacy

    return Privacy.coerce(value)  # its ConfigError names the setting; ``config_error`` keeps its words


Device = Annotated[str, BeforeValidator(_device), Allowed(f"one of {', '.join(DEVICES)}")]


class SynthesizerConfig(BaseModel):
    """The parameters every model takes (see ``Synthesizer`` for what each one does).

    Frozen: a model's configuration is fixed when it is built; a different one is a new model.
    Subclasses add the model's own parameters and may set the class attributes below.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # The model's name in messages.
    display_name: ClassVar[str] = "Synthesizer"
    # Defaults that differ under differential privacy: every step costs budget, so fewer epochs
    # of larger batches. Applied only to the parameters the caller did not give.
    dp_defaults: ClassVar[Mapping[str, Any]] = {"epochs": 20, "batch_size": 1000}
    # Names a model file written by an earlier version may hold -> today's names.
    legacy_names: ClassVar[Mapping[str, str]] = {}
    # Values implied by a model file written before a parameter existed (its behaviour then).
    saved_defaults: ClassVar[Mapping[str, Any]] = {}

    epochs: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    seed: NonNegativeInt = 0
    device: Device = "auto"
    checkpoint_every: PositiveInt | None = None
    checkpoint_dir: str | Path | None = None
    validation_share: Number = Field(0.1, ge=0, lt=0.5)
    patience: NonNegativeInt | None = None
    max_training_time_s: PositiveNumber | None = None
    transformer_params: dict[str, Any] | None = None
    column_types: dict[str, Any] | None = None
    privacy: Annotated[Any, PlainValidator(_privacy), Allowed("an engine.Privacy, a dict of its settings, or None")] = None

    @model_validator(mode="after")
    def _checkpoint_every_needs_a_folder(self) -> Self:
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir: the folder to write checkpoints into")
        return self

    @field_serializer("privacy")
    def _privacy_as_dict(self, value: Any) -> dict[str, Any] | None:
        return None if value is None else value.to_dict()

    # -- building -------------------------------------------------------------------------
    @classmethod
    def resolve(cls, params: Mapping[str, Any], *, private: bool = False) -> Self:
        """The validated configuration of ``params``; ``ConfigError`` naming what is wrong.

        Under differential privacy (``private``, or a ``privacy`` in ``params``) the
        ``dp_defaults`` fill the parameters not given (absent, or None where None means "the
        default").
        """
        given = dict(params)
        if private or given.get("privacy") is not None:
            for name, value in cls.dp_defaults.items():
                if name not in given or (given[name] is None and cls.model_fields[name].default is None):
                    given[name] = value
        try:
            return cls.model_validate(given)
        except ValidationError as err:
            raise config_error(cls, err, given) from None

    @classmethod
    def from_saved(cls, saved: Mapping[str, Any]) -> dict[str, Any]:
        """A model file's (or checkpoint's) stored parameters with legacy names mapped to today's."""
        params = dict(saved)
        for old, new in cls.legacy_names.items():
            if old in params:
                value = params.pop(old)
                params.setdefault(new, value)
        for name, value in cls.saved_defaults.items():
            params.setdefault(name, value)
        return params

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def own_names(cls) -> tuple[str, ...]:
        """The model's own parameters (those not common to every model), in declaration order."""
        return tuple(name for name in cls.model_fields if name not in SynthesizerConfig.model_fields)

    @classmethod
    def own_defaults(cls) -> dict[str, Any]:
        """The model's own parameters with their defaults."""
        return {name: cls.model_fields[name].default for name in cls.own_names()}

    def own_params(self) -> dict[str, Any]:
        """This configuration's values of the model's own parameters."""
        return {name: getattr(self, name) for name in self.own_names()}

    @classmethod
    def allowed(cls, name: str) -> str:
        """What parameter ``name`` allows, in words (generated from its declaration)."""
        info = cls.model_fields[name]
        return describe(info.annotation, list(info.metadata))


# -- messages -------------------------------------------------------------------------------
def config_error(config: type[SynthesizerConfig], err: ValidationError, given: Mapping[str, Any]) -> ConfigError:
    """pydantic's ``err`` as one ``ConfigError``: the model, each parameter, its value and what is allowed."""
    parts: list[str] = []
    unknown = sorted(str(e["loc"][0]) for e in err.errors() if e["type"] == "extra_forbidden")
    if unknown:
        parts.append(f"unknown parameters {unknown}; allowed: {sorted(config.model_fields)}")
    seen: set[str] = set()
    for e in err.errors():
        cause = (e.get("ctx") or {}).get("error")
        if e["type"] == "extra_forbidden":
            continue
        if not e["loc"]:  # a rule across parameters: its validator says it
            parts.append(str(cause) if cause is not None else e["msg"])
            continue
        name = str(e["loc"][0])
        if name in seen:
            continue
        seen.add(name)
        if isinstance(cause, ConfigError):  # a nested configuration (privacy) that names its own setting
            parts.append(f"{name}: {cause}")
        else:
            parts.append(f"{name} must be {config.allowed(name)}; got {given.get(name)!r}")
    return ConfigError(f"{config.display_name}: " + ". ".join(parts))


def describe(annotation: Any, metadata: list[Any], *, plural: bool = False) -> str:
    """The values ``annotation`` with ``metadata`` (pydantic / annotated-types constraints) allows, in words."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        return describe(base, [*metadata, *_flatten(extras)], plural=plural)
    allowed = next((m.text for m in metadata if isinstance(m, Allowed)), None)
    if allowed is not None:
        return allowed
    if origin in (Union, types.UnionType):
        members = get_args(annotation)
        words = ", or ".join(describe(m, metadata, plural=plural) for m in members if m is not type(None))
        return f"{words} or None" if type(None) in members else words
    if origin is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(annotation))
    if annotation is bool:
        return "True or False"
    if annotation is int:
        return _bounded("integer", metadata, plural=plural)
    if annotation is float:
        return _bounded("number", metadata, plural=plural)
    if annotation is str:
        return "strings" if plural else "a string"
    if origin in (tuple, list):
        items = describe(get_args(annotation)[0], [], plural=True)
        non_empty = any(isinstance(m, annotated_types.MinLen) and m.min_length > 0 for m in metadata)
        return f"a {'non-empty ' if non_empty else ''}sequence of {items}"
    if annotation is dict or origin is dict:
        return "a dict"
    if annotation is Path:
        return "a path"
    return getattr(annotation, "__name__", str(annotation))


def _flatten(extras: list[Any]) -> list[Any]:
    """Annotated's extras with the constraints of a nested ``Field(...)`` spelled out."""
    out: list[Any] = []
    for extra in extras:
        out.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
    return out


def _bounded(noun: str, metadata: list[Any], *, plural: bool) -> str:
    """"a positive integer", "a number in [0, 0.5)", ... from the Ge/Gt/Le/Lt constraints."""
    low = high = None
    low_open = high_open = False
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            low, low_open = m.ge, False
        elif isinstance(m, annotated_types.Gt):
            low, low_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            high, high_open = m.le, False
        elif isinstance(m, annotated_types.Lt):
            high, high_open = m.lt, True
    nouns = noun + "s" if plural else noun
    positive = low is not None and ((low == 0 and low_open) or (noun == "integer" and low == 1 and not low_open))
    if (positive or (low == 0 and not low_open)) and (high is None or noun == "integer"):
        words = f"{'positive' if positive else 'non-negative'} {nouns}"
        if high is not None:
            words += f" {'below' if high_open else 'of at most'} {_number(high)}"
        return words if plural else f"a {words}"
    if low is not None and high is not None:
        words = f"{nouns} in {'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
    elif low is not None:
        words = f"{nouns} {'>' if low_open else '>='} {_number(low)}"
    elif high is not None:
        words = f"{nouns} {'<' if high_open else '<='} {_number(high)}"
    else:
        words = nouns
    return words if plural else f"{'an' if noun[0] in 'aeiou' else 'a'} {words}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = [
    "DEVICES",
    "Allowed",
    "Device",
    "Flag",
    "Integer",
    "NonNegativeInt",
    "NonNegativeNumber",
    "Number",
    "PositiveInt",
    "PositiveNumber",
    "SynthesizerConfig",
    "config_error",
    "describe",
    "is_device_name",
]
