"""The noise schedule over diffusion time t in [0, 1], shared by the numbers and the categories.

Numbers follow the variance-preserving cosine path ``x_t = alpha(t) x_0 + sigma(t) eps`` with
``alpha = cos(pi t / 2)``, ``sigma = sin(pi t / 2)``: pure signal at t = 0, pure noise at
t = 1. Categories are masked: each category block is hidden independently with probability
``t`` (all visible at 0, all hidden at 1). One shared t keeps the two kinds of column at the
same stage of denoising, so the denoiser learns their relations at every noise level.
"""

from __future__ import annotations

import math

import torch

# Times are drawn from [T_MIN, 1]: at t = 0 there is nothing to learn and alpha = 1 exactly.
T_MIN = 1e-3


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales at times ``t`` (any shape; alpha^2 + sigma^2 = 1)."""
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def mask_probability(t: torch.Tensor) -> torch.Tensor:
    """The chance that a category block is hidden at time ``t``."""
    return t


def time_grid(steps: int, device: str | torch.device) -> torch.Tensor:
    """``steps + 1`` times from 1 down to 0, evenly spaced: the sampler's path."""
    return torch.linspace(1.0, 0.0, steps + 1, device=device)


__all__ = ["T_MIN", "alpha_sigma", "mask_probability", "time_grid"]
