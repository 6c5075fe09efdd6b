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


# Rows per chunk of the sampler's dense pass: a chunk's activations fit in a core's L2 cache.
CHUNK_ROWS = 2_048


class SamplingNet:
    """A trained ``Denoiser`` rearranged for the sampler: the same function, far fewer operations.

    - The input layer's one-hot and "hidden" columns become one table of rows, (one-hot
      width + blocks, first hidden): a shown level adds its column, a hidden block its flag's
      column. The sampler keeps each row's sum of them and changes it only where a block is
      revealed, instead of multiplying the whole one-hot slice at every step.
    - The output layer is split into the numbers' rows and each block's rows, so a step computes
      logits only for the blocks it reveals.
    - The hidden layers may run in bfloat16 (``dtype``), where the hardware multiplies it
      natively (``fast_dtype``); the inputs' sums, the numbers and the draws stay float32.
    """

    def __init__(self, denoiser: Denoiser, *, sizes: list[int], dtype: torch.dtype) -> None:
        d, width = denoiser.n_numeric, int(sum(sizes))
        weight, bias = denoiser.inp.weight.detach().float(), denoiser.inp.bias.detach().float()
        self.n_numeric, self.width, self.dtype = d, width, dtype
        self.numbers_in = weight[:, :d].t().contiguous()
        self.table = torch.cat([weight[:, d : d + width].t(), weight[:, d + width :].t()]).contiguous()
        self.bias_in = bias
        block = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))
        self.reveal = (self.table[:width] - self.table[width + block]).contiguous()
        self.time = denoiser.time
        self.time_dim = denoiser.time_dim
        self._shifts: dict[float, torch.Tensor] = {}
        linears = [m for m in denoiser.body if isinstance(m, nn.Linear)]
        self.layers = [(m.weight.detach().to(dtype), m.bias.detach().to(dtype)) for m in linears]
        out_w, out_b = denoiser.out.weight.detach(), denoiser.out.bias.detach()
        self.numbers_out = (out_w[:d].to(dtype), out_b[:d].float())
        edges = [d, *(d + int(e) for e in torch.tensor(sizes).cumsum(0).tolist())]
        # float32: a block's rows differ in number at every step, and a bfloat16 product of a new
        # shape costs more to set up than it saves
        self.block_out = [(out_w[a:b].float().t().contiguous(), out_b[a:b].float()) for a, b in zip(edges[:-1], edges[1:])]

    def inputs(self, shown: torch.Tensor, hidden_flags: torch.Tensor) -> torch.Tensor:
        """Each row's input-layer sum of its table rows, from the one-hot slice and the hidden flags."""
        return shown @ self.table[: self.width] + hidden_flags @ self.table[self.width :]

    def hidden(self, acc: torch.Tensor, numbers: torch.Tensor, t: float) -> torch.Tensor:
        """The last hidden layer's activations (rows, width) at time ``t`` for the rows' table sums ``acc``.

        Computed ``CHUNK_ROWS`` rows at a time, in place: the activations of a chunk stay in
        the CPU's cache between layers, where whole-batch elementwise passes would be bound
        by memory bandwidth."""
        shift = self._shift(t, acc.device)
        n = acc.shape[0]
        width = self.layers[-1][0].shape[0] if self.layers else acc.shape[1]
        out = torch.empty((n, width), dtype=self.dtype, device=acc.device)
        for start in range(0, n, CHUNK_ROWS):
            end = min(n, start + CHUNK_ROWS)
            h = torch.addmm(acc[start:end], numbers[start:end], self.numbers_in).add_(shift)
            h = nn.functional.silu(h, inplace=True).to(self.dtype)
            for weight, bias in self.layers:
                h = nn.functional.silu(nn.functional.linear(h, weight, bias), inplace=True)
            out[start:end] = h
        return out

    def _shift(self, t: float, device: torch.device) -> torch.Tensor:
        """The input layer's bias plus the time embedding at ``t`` (kept: the sampler's grid repeats)."""
        if t not in self._shifts:
            self._shifts[t] = self.bias_in + self.time(time_features(torch.full((1,), t, device=device), self.time_dim))
        return self._shifts[t]

    def velocity(self, h: torch.Tensor) -> torch.Tensor:
        weight, bias = self.numbers_out
        return (h @ weight.t()).float() + bias

    def logits(self, h: torch.Tensor, block: int) -> torch.Tensor:
        weight, bias = self.block_out[block]
        return torch.addmm(bias, h.float(), weight)


def fast_dtype(device: str | torch.device) -> torch.dtype:
    """bfloat16 where this device multiplies it natively (a CUDA GPU that supports it, a CPU with
    AMX tiles), else float32: on other CPUs bfloat16 is emulated and slower."""
    if str(device).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return torch.bfloat16 if str(device) == "cpu" and amx is not None and amx() else torch.float32
    except RuntimeError:
        return torch.float32


__all__ = ["Denoiser", "SamplingNet", "fast_dtype", "time_features"]
