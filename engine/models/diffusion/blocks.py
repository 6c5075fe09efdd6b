"""Where the numbers and the category blocks sit in the transformer's float matrix, as index tensors.

The transformer encodes a row as scalar ("tanh") columns and one-hot ("softmax") blocks. The
diffusion model noises the scalars and masks whole blocks; the index tensors here let every
operation run on all blocks at once: ``padded`` lays the one-hot columns out as a
(blocks, widest block) grid (missing places point at a padding column), so a per-block
softmax, draw or cross-entropy is one tensor operation, never a loop over blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.transform.spans import split_spans


@dataclass(frozen=True)
class Blocks:
    """The scalar columns and the one-hot blocks of a transformer's layout, then the model's own
    two-level spike blocks (``atoms``), which have no place in the transformer's matrix:
    ``starts`` holds the transformer's blocks only, ``sizes`` every block."""

    dim: int
    numeric: list[int]
    starts: list[int]
    sizes: list[int]

    @classmethod
    def from_spans(cls, spans: list[Any], *, spikes: int = 0) -> Blocks:
        dim, numeric, starts, sizes = split_spans(spans)
        return cls(dim, numeric, starts, sizes + [2] * spikes)

    @property
    def n_numeric(self) -> int:
        return len(self.numeric)

    @property
    def n_blocks(self) -> int:
        return len(self.sizes)

    @property
    def width(self) -> int:
        """One-hot columns in all."""
        return int(sum(self.sizes))

    def tensors(self, device: str | torch.device) -> dict[str, torch.Tensor]:
        """``onehot``: the transformer's one-hot columns (block by block); ``block``: each one-hot
        column's block; ``padded``: (blocks, widest) positions into the one-hot slice, ``width``
        (one past the end) where a block is narrower; ``offsets``: each block's first position
        in the slice; ``membership``: (one-hot columns, blocks) float 0/1."""
        sizes = np.asarray(self.sizes, dtype=np.int64)
        onehot = np.concatenate([np.arange(a, a + n) for a, n in zip(self.starts, sizes)]) if self.starts else np.zeros(0, np.int64)
        block = np.repeat(np.arange(len(sizes)), sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else np.zeros(0, np.int64)
        widest = int(sizes.max()) if len(sizes) else 1
        place = np.arange(widest)[None, :]
        valid = place < sizes[:, None]
        padded = np.where(valid, offsets[:, None] + place, self.width)
        membership = np.zeros((len(block), len(sizes)), dtype=np.float32)
        membership[np.arange(len(block)), block] = 1.0
        return {
            "membership": torch.from_numpy(membership).to(device),
            "onehot": torch.from_numpy(onehot).to(device),
            "block": torch.from_numpy(block).to(device),
            "padded": torch.from_numpy(padded.astype(np.int64)).to(device),
            "offsets": torch.from_numpy(offsets.astype(np.int64)).to(device),
        }


def block_cross_entropy(logits: torch.Tensor, levels: torch.Tensor, index: dict[str, torch.Tensor]) -> torch.Tensor:
    """(rows, blocks) cross-entropy of each block's level under its softmax, from the flat one-hot
    logits (rows, width): segment sums through the membership matrix, no padded copy of the
    logits (the widest block would set the size of every block's)."""
    n, block = logits.shape[0], index["block"]
    with torch.no_grad():  # each block's maximum, for a stable exponent (a constant: no gradient)
        top = torch.full((n, index["offsets"].shape[0]), -torch.inf, device=logits.device, dtype=logits.dtype)
        top = top.scatter_reduce(1, block.expand(n, -1), logits, reduce="amax")
    sums = (logits - top.index_select(1, block)).exp() @ index["membership"].to(logits.dtype)
    picked = logits.gather(1, levels + index["offsets"])
    return sums.log() + top - picked


def levels_of(onehot: torch.Tensor, index: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each row's level in each block, (rows, blocks) int64, from its one-hot slice (largest value wins)."""
    pad = torch.full((onehot.shape[0], 1), -torch.inf, device=onehot.device, dtype=onehot.dtype)
    return torch.cat([onehot, pad], dim=1)[:, index["padded"]].argmax(dim=2)


def one_hot(levels: torch.Tensor, index: dict[str, torch.Tensor], width: int) -> torch.Tensor:
    """The (rows, one-hot width) slice with a 1 at each block's level."""
    out = torch.zeros((levels.shape[0], width), device=levels.device)
    if width:
        out.scatter_(1, levels + index["offsets"], 1.0)
    return out


__all__ = ["Blocks", "block_cross_entropy", "levels_of", "one_hot"]
