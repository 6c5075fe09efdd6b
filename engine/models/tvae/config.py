"""TVAE's parameters: the base ones and its own, with their defaults and allowed values.

What each one does, and why the DP defaults differ, is in ``engine.models.tvae.model.TVAE``'s
docstring.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from engine.models.config import NonNegativeNumber, PositiveInt, PositiveNumber, SynthesizerConfig, ThreadCount


class TVAEConfig(SynthesizerConfig):
    """TVAE's configuration (frozen; ``SynthesizerConfig.resolve`` builds it)."""

    display_name: ClassVar[str] = "TVAE"
    dp_defaults: ClassVar[dict[str, Any]] = {
        **SynthesizerConfig.dp_defaults,
        "epochs": 100,
        "batch_size": 500,
        "embedding_dim": 8,
        "loss_factor": 4.0,
        "learning_rate": 5e-3,
    }

    embedding_dim: PositiveInt = 128
    compress_dims: tuple[PositiveInt, ...] = (128, 128)
    decompress_dims: tuple[PositiveInt, ...] = (128, 128)
    learning_rate: PositiveNumber = 1e-3
    weight_decay: NonNegativeNumber = 1e-5
    loss_factor: PositiveNumber = 2.0
    categorical_sampling: Literal["sample", "argmax"] = "sample"
    num_threads: ThreadCount | None = None


__all__ = ["TVAEConfig"]
