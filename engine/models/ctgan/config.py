"""CTGAN's parameters: the base ones and its own, with their defaults and allowed values.

What each one does is in ``engine.models.ctgan.model.CTGAN``'s docstring; the defaults are the
paper's.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from engine.models.config import Flag, NonNegativeNumber, PositiveInt, PositiveNumber, SynthesizerConfig, ThreadCount


def _one_width_as_layers(value: Any) -> Any:
    """A single width (``256``) is one layer of that width."""
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else value


LayerWidths = Annotated[tuple[PositiveInt, ...], Field(min_length=1), BeforeValidator(_one_width_as_layers)]


class CTGANConfig(SynthesizerConfig):
    """CTGAN's configuration (frozen; ``SynthesizerConfig.resolve`` builds it)."""

    display_name: ClassVar[str] = "CTGAN"
    # Under DP: 100 epochs of expected batch 500 (measured on adult; see the model's docstring).
    dp_defaults: ClassVar[dict[str, Any]] = {**SynthesizerConfig.dp_defaults, "epochs": 100, "batch_size": 500}
    legacy_names: ClassVar[dict[str, str]] = {"n_threads": "num_threads"}

    embedding_dim: PositiveInt = 128
    generator_dim: LayerWidths = (256, 256)
    discriminator_dim: LayerWidths = (256, 256)
    pac: PositiveInt = 10
    generator_lr: PositiveNumber = 2e-4
    discriminator_lr: PositiveNumber = 2e-4
    weight_decay: NonNegativeNumber = 1e-6
    discriminator_steps: PositiveInt = 1
    gradient_penalty: NonNegativeNumber = 10.0
    log_frequency: Flag = True
    num_threads: ThreadCount | None = None


__all__ = ["CTGANConfig"]
