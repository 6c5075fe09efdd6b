"""An exponential moving average of a network's weights, the model kept after training.

The last optimiser steps of a run move the weights by noise as much as by signal; sampling
from an average over the recent steps instead of the last one gives steadier marginals and
pair frequencies. The average warms up (``decay`` starts near 0 and grows to its target
over the first steps) so that it does not remember the random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """Keeps ``average``, a copy of ``network`` whose parameters trail it by an EMA.

    Call ``update()`` after every optimiser step. Buffers are copied, not averaged.
    ``state()`` / ``load_state()`` carry it through checkpoints, so a resumed run ends with
    the same average as an uninterrupted one.
    """

    def __init__(self, network: nn.Module, *, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1); got {decay!r}")
        self.decay = float(decay)
        self.average = copy.deepcopy(network)
        self.average.requires_grad_(False)
        self._source = network
        self.steps = 0

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        mine = list(self.average.parameters())
        theirs = [p.detach() for p in self._source.parameters()]
        torch._foreach_lerp_(mine, theirs, 1.0 - decay)
        for b_avg, b in zip(self.average.buffers(), self._source.buffers()):
            b_avg.copy_(b)

    def state(self) -> dict:
        return {"average": self.average.state_dict(), "steps": self.steps}

    def load_state(self, state: dict) -> None:
        self.average.load_state_dict(state["average"])
        self.steps = int(state["steps"])
