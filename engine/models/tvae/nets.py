"""TVAE's networks: the encoder (to a Gaussian posterior), the decoder MLP, the KL term, the optimiser."""

from __future__ import annotations

import torch
from torch import nn


def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Each row's KL divergence of its Gaussian posterior ``N(mu, exp(logvar))`` to the standard normal, ``(B,)``."""
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def adam(params: list[torch.Tensor], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam, fused into one kernel per step where this torch supports it (CPU since 2.4)."""
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


def mlp(width_in: int, hidden: tuple[int, ...], width_out: int) -> torch.nn.Module:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(width_in, width), nn.ReLU()]
        width_in = width
    layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """MLP to the mean and log-variance of the latent code's Gaussian posterior (one output layer for both)."""

    def __init__(self, width_in: int, hidden: tuple[int, ...], embedding: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(width_in, width), nn.ReLU()]
            width_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width_in, 2 * embedding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar


__all__ = ["Encoder", "adam", "kl", "mlp"]
