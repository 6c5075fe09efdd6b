"""MST's parameters: the base ones and its own, with their defaults and allowed values.

``epochs`` counts estimation rounds; ``batch_size`` is unused. See ``engine.models.mst.model``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.models.config import Flag, SynthesizerConfig


class MSTConfig(SynthesizerConfig):
    """MST's configuration (frozen; ``SynthesizerConfig.resolve`` builds it)."""

    display_name: ClassVar[str] = "MST"
    dp_defaults: ClassVar[dict[str, Any]] = {**SynthesizerConfig.dp_defaults, "epochs": 30}

    compress: Flag = True  # merge the codes a private one-way measurement cannot tell from noise


__all__ = ["MSTConfig"]
