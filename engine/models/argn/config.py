"""ARGN's parameters: the base ones and its own, with their defaults and allowed values.

What each one does is in ``engine.models.argn.model.ARGN``'s docstring.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, Strict

from engine.models.config import Allowed, Flag, Number, PositiveInt, PositiveNumber, SynthesizerConfig, ThreadCount


def _distinct(names: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(names)) != len(names):
        raise ValueError("column names repeat")
    return names


ColumnOrder = Annotated[tuple[str, ...], AfterValidator(_distinct), Allowed("a list of distinct column names")]


class ARGNConfig(SynthesizerConfig):
    """ARGN's configuration (frozen; ``SynthesizerConfig.resolve`` builds it)."""

    display_name: ClassVar[str] = "ARGN"
    saved_defaults: ClassVar[dict[str, Any]] = {"fine_inputs": True}  # files from before the parameter fed fine bins in

    embedding_dim: PositiveInt = 16
    hidden_dim: PositiveInt = 64
    depth: PositiveInt = 1
    dropout: Number = Field(0.1, ge=0, lt=1)
    hidden_dropout: Number = Field(0.0, ge=0, lt=1)
    learning_rate: PositiveNumber | None = None  # None: 1e-3 * sqrt(batch_size / 32)
    weight_decay: Number = Field(0.01, ge=0)
    ema_decay: Annotated[float, Strict(), Field(gt=0, lt=1)] | None = 0.995  # None: the raw weights
    fine_inputs: Flag = False
    random_order_share: Number = Field(0.5, ge=0, le=1)
    generation_order: Literal["table"] | ColumnOrder = "table"
    temperature: PositiveNumber = 1.0
    top_p: Number = Field(1.0, gt=0, le=1)
    num_threads: ThreadCount | None = None


__all__ = ["ARGNConfig"]
