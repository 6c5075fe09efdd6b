"""TVAE's output layout: the transformer's spans as index tensors, and the losses and draws over them.

The tanh columns are one gathered slice and the softmax blocks another, so the reconstruction
loss and the Gumbel-max draw handle every span at once, with no Python loop over spans.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from engine.seeds import numpy_seed
from engine.transform.spans import split_spans


class Layout:
    """Index tensors for the spans: the tanh columns and the softmax blocks as segments.

    All one-hot columns are gathered once into a (rows, width) slice; ``block`` maps each of
    its columns to its block and ``membership`` is the (width, blocks) 0/1 matrix, so every
    block's log-sum-exp is one exp, one matrix product and one log for all blocks together.
    """

    def __init__(self, dim: int, tanh_index: list[int], block_starts: list[int], block_sizes: list[int]) -> None:
        self.dim = dim
        self.tanh_index = tanh_index
        self.block_starts = block_starts
        self.block_sizes = block_sizes

    @classmethod
    def from_spans(cls, spans: list[Any]) -> Layout:
        return cls(*split_spans(spans))

    def tensors(self, device: str) -> dict[str, torch.Tensor]:
        """``tanh``: tanh column indices; ``softmax``: one-hot column indices; ``block``: the
        block of each one-hot column; ``membership``: (one-hot columns, blocks) float 0/1."""
        sizes = np.asarray(self.block_sizes, dtype=np.int64)
        softmax = np.concatenate([np.arange(a, a + n) for a, n in zip(self.block_starts, sizes)]) if len(sizes) else np.zeros(0, np.int64)
        block = np.repeat(np.arange(len(sizes)), sizes)
        membership = np.zeros((len(softmax), len(sizes)), dtype=np.float32)
        membership[np.arange(len(softmax)), block] = 1.0
        return {
            "tanh": torch.tensor(self.tanh_index, dtype=torch.long, device=device),
            "softmax": torch.from_numpy(softmax).to(device),
            "block": torch.from_numpy(block).to(device),
            "membership": torch.from_numpy(membership).to(device),
        }

    def targets(self, data: torch.Tensor) -> torch.Tensor:
        """For every row and softmax block, the output column of its encoded level: (rows, blocks) int64."""
        n = data.shape[0]
        if not self.block_starts:
            return torch.zeros((n, 0), dtype=torch.long, device=data.device)
        index = self.tensors(str(data.device))
        hot = data.index_select(1, index["softmax"])
        # position of the 1 within each block: the largest value per block, first one wins
        best = torch.full((n, len(self.block_starts)), -math.inf, device=data.device)
        best = best.scatter_reduce(1, index["block"].expand(n, -1), hot, reduce="amax")
        is_best = hot == best.index_select(1, index["block"])
        columns = index["softmax"].expand(n, -1)
        sentinel = torch.full_like(columns, self.dim)
        first = torch.full((n, len(self.block_starts)), self.dim, dtype=torch.long, device=data.device)
        return first.scatter_reduce(1, index["block"].expand(n, -1), torch.where(is_best, columns, sentinel), reduce="amin")


def gumbel(shape: tuple[int, int], generator: torch.Generator, device: str) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log(U))`` for uniform U, for the Gumbel-max draw.

    On CPU the uniforms come from numpy (seeded from ``generator``), about three times faster
    than torch's CPU generator; on a GPU from torch.
    """
    if str(device) == "cpu":
        uniform = torch.from_numpy(np.random.default_rng(numpy_seed(generator)).random(shape, dtype=np.float32))
    else:
        uniform = torch.rand(shape, generator=generator, device=device)
    return uniform.clamp_(min=1e-12).log_().neg_().log_().neg_()


def softmax_nll(out: torch.Tensor, index: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Each row's cross-entropy summed over the softmax blocks of ``out`` against ``targets`` (output columns), ``(B,)``."""
    logits = out.index_select(1, index["softmax"])
    block = index["block"].expand(out.shape[0], -1)
    with torch.no_grad():  # per-block maximum: a constant shift that keeps exp() in range
        top = torch.full(targets.shape, -math.inf, device=out.device, dtype=out.dtype)
        top = top.scatter_reduce(1, block, logits, reduce="amax")
    sums = (logits - top.index_select(1, index["block"])).exp() @ index["membership"]
    log_norm = top + sums.log()
    return (log_norm - out.gather(1, targets)).sum(1)


__all__ = ["Layout", "gumbel", "softmax_nll"]
