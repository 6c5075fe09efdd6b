"""The denoiser: an MLP that reads a noisy, partly masked row and the time, and predicts the clean one.

Input: the noisy normal scores of the numbers, the one-hot slice with hidden blocks zeroed,
one "hidden" flag per block, and a sinusoidal embedding of t (added to the first hidden
layer, as in TabDDPM's MLP). Output: the velocity ``v = alpha eps - sigma x_0`` of the
numbers (stable at both ends of the path, unlike predicting eps or x_0 alone) and logits
for every one-hot column. Plain Linear + SiLU layers only: DP-SGD clips their per-row
gradients without any layer fix.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of ``t`` in [0, 1], (rows, dim): frequencies from 1 to 1,000 cycles."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=t.dtype) * (-math.log(1000.0) / max(1, half - 1)))
    angles = t[:, None] * 1000.0 * freqs[None, :]
    features = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        features = torch.cat([features, t[:, None]], dim=1)
    return features


class Denoiser(nn.Module):
    """MLP from (numbers, one-hot slice, hidden flags, t) to (velocity of the numbers, one-hot logits)."""

    def __init__(self, n_numeric: int, onehot_width: int, n_blocks: int, hidden: tuple[int, ...], time_dim: int) -> None:
        super().__init__()
        self.n_numeric = n_numeric
        self.time_dim = time_dim
        width_in = n_numeric + onehot_width + n_blocks
        first = hidden[0]
        self.inp = nn.Linear(width_in, first)
        self.time = nn.Sequential(nn.Linear(time_dim, first), nn.SiLU(), nn.Linear(first, first))
        layers: list[nn.Module] = []
        width = first
        for size in hidden[1:]:
            layers += [nn.SiLU(), nn.Linear(width, size)]
            width = size
        layers.append(nn.SiLU())
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, n_numeric + onehot_width)

    def forward(self, numeric: torch.Tensor, onehot: torch.Tensor, hidden: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``t``: each row's time ``(rows,)``, or one time for all ``(1,)`` (the sampler: its
        embedding is computed once and broadcast)."""
        h = self.inp(torch.cat([numeric, onehot, hidden], dim=1)) + self.time(time_features(t, self.time_dim))
        return self.out(self.body(h))


__all__ = ["Denoiser", "time_features"]
