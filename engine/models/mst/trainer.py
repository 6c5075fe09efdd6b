"""MST's trainer for the one fit loop: one epoch is one estimation round.

The first epoch of a fresh run takes the measurements (exact, or noisy and charged to the
privacy run: MST ``measures_privately``, so the DP wrapper adds no DP-SGD) and builds the
starting estimate; every epoch is then one round of proportional fitting, its loss the
remaining mismatch. The measurements are part of the checkpoint, so a resumed run never
measures again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.trainer import Trainer

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer


class MSTTrainer(Trainer):
    """Estimates ``model``'s tree from ``tokens`` (the token encoding of ``n`` rows)."""

    measures_privately = True

    def __init__(self, model: Synthesizer, *, tokens: np.ndarray) -> None:
        self.model = model
        self.tokens = tokens
        self.measured: dict[str, Any] | None = None

    def batches(self, epoch: int, seed: int) -> Iterator[None]:
        if self.measured is None:  # a fresh run: measure once
            self.measured = self.model._measure(self.tokens, len(self.tokens))
            self.model._init_estimate(self.measured, len(self.tokens))
        yield None

    def step(self, batch: None) -> dict[str, float]:
        return {"mismatch": self.model._round()}

    def state(self) -> dict[str, Any]:
        return {"arrays": self.model._arrays(), "meta": self.model._meta(), "measured": self.measured}

    def load_state(self, state: dict[str, Any]) -> None:
        arrays = {k: np.asarray(v.cpu().numpy() if hasattr(v, "cpu") else v) for k, v in state["arrays"].items()}
        self.model._set_state(arrays, state["meta"])
        self.measured = state["measured"]


__all__ = ["MSTTrainer"]
