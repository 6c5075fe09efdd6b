"""The contract every per-column encoder keeps, and the registry that rebuilds them from JSON.

An encoder is built by its ``from_statistics`` classmethod from its column's statistics
(``engine.transform.statistics``: exact ones measured by its ``measure`` after the transformer
has decided the column's kind, or private ones handed in) and is immutable afterwards. It owns a slice of each encoding:
``spans`` in the float matrix and ``tokens`` in the integer matrix, either of which may be
empty (identifiers, constants and empty columns own nothing and are regenerated on inverse).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.schema import SemanticType
from engine.transform.dtypes import dtype_from_json, dtype_to_json
from engine.transform.params import TransformerParams
from engine.transform.spans import Span, TokenColumn

_REGISTRY: dict[str, type[ColumnEncoder]] = {}


@dataclass(frozen=True)
class FitContext:
    """What a column encoder may use while fitting: the parameters and its own seeded RNG."""

    params: TransformerParams
    rng: np.random.Generator


class ColumnEncoder(ABC):
    """Encodes one column both ways (floats and tokens) and restores it with its dtype."""

    tag: ClassVar[str]  # registry key, stored in the JSON state

    def __init__(self, name: str, dtype: pl.DataType, kind: SemanticType) -> None:
        self.name = name
        self.dtype = dtype
        self.kind = kind

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "tag" in cls.__dict__:
            _REGISTRY[cls.tag] = cls

    # -- layout ---------------------------------------------------------------------------
    @property
    @abstractmethod
    def spans(self) -> list[Span]:
        """This column's spans in the float matrix, in order."""

    @property
    @abstractmethod
    def tokens(self) -> list[TokenColumn]:
        """This column's sub-columns in the token matrix, in order."""

    @property
    def width(self) -> int:
        return sum(span.size for span in self.spans)

    # -- float encoding -------------------------------------------------------------------
    @abstractmethod
    def encode(self, s: pl.Series, out: np.ndarray, rng: np.random.Generator | None) -> None:
        """Write the encoding of ``s`` into ``out`` (n_rows x width, float32, zero-filled)."""

    @abstractmethod
    def decode(self, block: np.ndarray) -> pl.Series:
        """Restore the column from its block of (possibly raw model) float output."""

    # -- token encoding -------------------------------------------------------------------
    @abstractmethod
    def encode_tokens(self, s: pl.Series) -> np.ndarray:
        """Token codes of ``s``: an int64 array of n_rows x len(tokens)."""

    @abstractmethod
    def decode_tokens(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        """Restore the column from its token codes (values within bins drawn from ``rng``)."""

    # -- metadata and state ---------------------------------------------------------------
    def protection(self) -> dict[str, Any] | None:
        """What the privacy protections did to this column (None when nothing applies)."""
        return None

    def max_error(self, encoding: str) -> float:
        """Largest absolute error of a restored value, in the column's numeric units.

        0 for exact encodings (categories, atoms); numeric encoders override.
        """
        return 0.0

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """JSON-safe learned state (without name, dtype, kind, tag)."""

    @classmethod
    @abstractmethod
    def from_state(cls, name: str, dtype: pl.DataType, kind: SemanticType, state: dict[str, Any]) -> ColumnEncoder:
        """Rebuild from ``state()``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "kind": self.kind.value,
            "dtype": dtype_to_json(self.dtype),
            "state": self.state(),
        }


def encoder_from_dict(d: dict[str, Any]) -> ColumnEncoder:
    """Rebuild any encoder from ``ColumnEncoder.to_dict`` output."""
    cls = _REGISTRY.get(d.get("tag", ""))
    if cls is None:
        raise InputError(f"transformer state names an unknown column encoder {d.get('tag')!r}")
    return cls.from_state(d["name"], dtype_from_json(d["dtype"]), SemanticType(d["kind"]), d["state"])


def null_block(missing: np.ndarray, out: np.ndarray) -> None:
    """Write a [present, missing] one-hot into ``out`` (n_rows x 2)."""
    out[:, 0] = ~missing
    out[:, 1] = missing


def check_no_new_nulls(name: str, missing: np.ndarray) -> None:
    """A column fitted without nulls cannot encode them: say so instead of inventing values."""
    if missing.any():
        raise InputError(
            f"column {name!r} has {int(missing.sum())} missing values, but had none when the "
            "transformer was fitted; refit on data that includes missing values"
        )
