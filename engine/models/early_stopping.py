"""Early stopping on a validation loss: stop after ``patience`` epochs without improvement."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class EarlyStopping:
    """Tracks the best validation loss; ``should_stop`` once ``patience`` epochs brought nothing.

    ``patience=None`` never stops. An epoch counts as an improvement when the loss falls below
    ``best - min_delta * max(1, |best|)`` (a relative tolerance, so the rule does not depend on
    the loss's scale). ``state()``/``from_state`` make it part of a checkpoint.
    """

    patience: int | None
    min_delta: float = 1e-4
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, epoch: int, loss: float) -> bool:
        """Record ``loss`` for ``epoch`` (0-based); True when it is the new best."""
        threshold = self.best - self.min_delta * max(1.0, abs(self.best)) if math.isfinite(self.best) else math.inf
        if math.isfinite(loss) and loss < threshold:
            self.best, self.best_epoch, self.bad_epochs = float(loss), int(epoch), 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EarlyStopping:
        return cls(**state)


__all__ = ["EarlyStopping"]
