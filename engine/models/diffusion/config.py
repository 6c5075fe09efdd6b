"""The diffusion model's parameters: the base ones and its own, with defaults and allowed values.

What each one does, and why the DP defaults differ, is in ``engine.models.diffusion.model.Diffusion``'s
docstring.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict

from engine.models.config import NonNegativeNumber, PositiveInt, PositiveNumber, SynthesizerConfig, ThreadCount

SampleSteps = Annotated[int, Strict(), Field(ge=1, le=1_000)]
Eta = Annotated[float, Strict(), Field(ge=0, le=1)]
EmaDecay = Annotated[float, Strict(), Field(ge=0, lt=1)]
NormalKnots = Annotated[int, Strict(), Field(ge=2, le=100_000)]


class DiffusionConfig(SynthesizerConfig):
    """The diffusion model's configuration (frozen; ``SynthesizerConfig.resolve`` builds it)."""

    display_name: ClassVar[str] = "Diffusion"
    dp_defaults: ClassVar[dict[str, Any]] = {
        **SynthesizerConfig.dp_defaults,
        "epochs": 100,
        "batch_size": 1000,
        "hidden_dims": (128, 128),
        "learning_rate": 3e-3,
        "ema_decay": 0.99,
    }

    hidden_dims: tuple[PositiveInt, ...] = (256, 256)
    time_dim: PositiveInt = 32
    learning_rate: PositiveNumber = 2e-3
    weight_decay: NonNegativeNumber = 0.0
    ema_decay: EmaDecay = 0.995
    sample_steps: SampleSteps | None = None
    eta: Eta = 0.0
    sample_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    normal_knots: NormalKnots = 1_000
    num_threads: ThreadCount | None = None


__all__ = ["DiffusionConfig"]
