"""Model kinds -> Synthesizer classes, ``validate_params`` for a form, and ``load_model`` for any saved model.

Model modules are imported only when a kind is used (they import torch). A kind is listed
only when its module is present in this installation, so the registry never names a model
that cannot be built.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer
    from engine.models.config import SynthesizerConfig

# kind -> module (or package) that defines the Synthesizer subclass with that ``kind``. A
# saved model's manifest names only its kind, never a module, so moving a model's code
# (``ctgan.py`` -> the ``ctgan`` package) leaves every saved file loadable.
MODEL_MODULES: dict[str, str] = {
    "argn": "engine.models.argn",
    "ctgan": "engine.models.ctgan",
    "diffusion": "engine.models.diffusion",
    "mst": "engine.models.mst",
    "tvae": "engine.models.tvae",
}


def available_kinds() -> list[str]:
    """The model kinds whose module is installed, sorted."""
    return sorted(kind for kind, module in MODEL_MODULES.items() if importlib.util.find_spec(module) is not None)


def model_class(kind: str) -> type[Synthesizer]:
    """The Synthesizer subclass for ``kind``; ``ConfigError`` for an unknown kind."""
    from engine.models.base import Synthesizer

    kinds = available_kinds()
    if kind not in kinds:
        raise ConfigError(f"unknown model {kind!r}; available models: {', '.join(kinds)}")
    module = importlib.import_module(MODEL_MODULES[kind])
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Synthesizer) and value.kind == kind and _defined_in(value, module.__name__):
            return value
    raise ConfigError(f"module {module.__name__} defines no Synthesizer with kind {kind!r}")


def validate_params(kind: str, params: dict[str, Any], *, private: bool) -> SynthesizerConfig:
    """The validated, frozen configuration ``params`` give model ``kind`` (what its constructor would build).

    For a settings form: ``ConfigError`` names the model, each bad parameter, its value and
    what is allowed, and lists the known parameters for an unknown one. ``private``: the run
    trains with differential privacy (the form may hold the privacy settings apart from
    ``params``), so the model's DP defaults fill the parameters not given.
    """
    if not isinstance(params, dict):
        raise ConfigError(f"params must be a dict of the model's parameters; got {type(params).__name__}")
    return model_class(kind).config_class.resolve(params, private=private)


def _defined_in(cls: type, module_name: str) -> bool:
    """Whether ``cls`` is defined in ``module_name`` or, for a package, in one of its modules."""
    return cls.__module__ == module_name or cls.__module__.startswith(module_name + ".")


def load_model(path: str | os.PathLike[str] | bytes, *, device: str | None = None) -> Synthesizer:
    """Load any saved model (directory, zip, or zip bytes); its manifest says which kind.

    Raises ``ModelFileError`` (an ``InputError``) for anything that is not a Doppel model of
    an installed kind, and runs no code from the file: weights are safetensors, the rest JSON.
    """
    from engine.models.files import read_model_file

    source = path if isinstance(path, bytes) else Path(path)
    model_file = read_model_file(source, known_kinds=set(available_kinds()))
    cls = model_class(model_file.manifest["kind"])
    return cls._from_model_file(model_file, source=source, device=device)


__all__ = ["MODEL_MODULES", "available_kinds", "load_model", "model_class", "validate_params"]
