"""One way for a quality config to be read from a plain mapping (a stored JSON config).

Every quality config (``QualityConfig``, ``PrivacyConfig``, ``SubtreeConfig``,
``SchemaQualityConfig``, ``SequenceQualityConfig``) accepts None (its defaults), an instance
(kept as is) or a mapping whose keys must all be its fields; ``read_config`` makes those checks
with one wording, and hands the mapping to the config's own parser for the values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from engine.errors import ConfigError

C = TypeVar("C")


def read_config(cls: type[C], data: Any, *, what: str, parse: Callable[[Mapping[str, Any]], C],
                retired: Mapping[str, str] | None = None) -> C:
    """``cls``'s defaults for None, ``data`` itself for an instance, else ``parse(data)`` once its keys are checked.

    ``what`` names the config in messages ("privacy config"); ``retired`` maps a key that no
    longer exists to what to set instead, so a stored config written before says how to mend it.
    """
    if data is None:
        return cls()
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must be a mapping or a {cls.__name__}, got {type(data).__name__}")
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - allowed)
    gone = sorted(set(unknown) & set(retired or {}))
    if gone:
        raise ConfigError(f"{what} key(s) {gone} are gone: " + "; ".join(dict.fromkeys((retired or {})[k] for k in gone)))
    if unknown:
        raise ConfigError(f"unknown {what} key(s) {unknown}; allowed: {sorted(allowed)}")
    return parse(data)
