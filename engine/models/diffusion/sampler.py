"""The few-step sampler: DDIM on the numbers, progressive unmasking of the categories.

From t = 1 (pure noise, every block hidden) to t = 0 in ``steps`` even steps. At each step
the denoiser's velocity gives an estimate of the clean numbers and of the noise; the numbers
move to the next time along the DDIM update (``eta`` = 0: deterministic; 1: as much fresh
noise as the forward process would hold). Each still-hidden block is revealed with the
probability that it is visible at the next time given hidden now, ``(t - s) / t``, drawing
its level from the denoiser's softmax; at the last step every block is revealed. Blocks the
caller fixes (an equality condition) are shown from the start and never redrawn: inpainting,
so the other columns follow them.

The clean-number estimate is clipped at ``normal_scores.BOUND`` standard deviations only,
the edge of the learned scores, never to a narrow box: clipping estimates to [-1, 1] is what
collapses other implementations' numbers onto their range ends.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models.diffusion.blocks import Blocks, one_hot
from engine.models.diffusion.normal_scores import BOUND
from engine.models.diffusion.schedule import alpha_sigma, time_grid


@torch.no_grad()
def sample_latent(
    net: nn.Module,
    n: int,
    *,
    blocks: Blocks,
    index: dict[str, torch.Tensor],
    steps: int,
    eta: float,
    generator: torch.Generator,
    device: str,
    fixed: dict[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` rows: normal scores of the numbers ``(n, numeric)`` and the level of every block ``(n, blocks)``.

    ``fixed``: ``{block: level}`` shown in every row from the start.
    """
    d, nb = blocks.n_numeric, blocks.n_blocks
    x = torch.randn((n, d), generator=generator, device=device)
    levels = torch.zeros((n, nb), dtype=torch.long, device=device)
    hidden = torch.ones((n, nb), dtype=torch.bool, device=device)
    for block, level in (fixed or {}).items():
        levels[:, block] = level
        hidden[:, block] = False
    grid = time_grid(steps, device).tolist()
    for t, s in zip(grid[:-1], grid[1:]):
        shown = one_hot(levels, index, blocks.width) * (~hidden).float().index_select(1, index["block"])
        out = net(x, shown, hidden.float(), torch.full((1,), t, device=device))
        if d:
            x = _numbers_step(x, out[:, :d], t, s, eta, generator)
        if nb:
            draw = _draw(out[:, d:], index, generator)
            reveal = hidden & (torch.rand((n, nb), generator=generator, device=device) < (t - s) / t)
            levels = torch.where(reveal, draw, levels)
            hidden = hidden & ~reveal
    return x, levels


def _numbers_step(x: torch.Tensor, velocity: torch.Tensor, t: float, s: float, eta: float, generator: torch.Generator) -> torch.Tensor:
    """The DDIM move of the numbers from time ``t`` to ``s`` < ``t`` given the predicted velocity."""
    a_t, s_t = alpha_sigma(torch.tensor(t))
    a_s, s_s = alpha_sigma(torch.tensor(s))
    a_t, s_t, a_s, s_s = float(a_t), float(s_t), float(a_s), float(s_s)
    clean = (a_t * x - s_t * velocity).clamp_(-BOUND, BOUND)
    if s <= 0:
        return clean
    noise = s_t * x + a_t * velocity
    fresh = eta * (s_s / s_t) * max(0.0, 1.0 - (a_t / a_s) ** 2) ** 0.5 if eta > 0 else 0.0
    x = a_s * clean + max(0.0, s_s**2 - fresh**2) ** 0.5 * noise
    if fresh > 0:
        x = x + fresh * torch.randn(x.shape, generator=generator, device=x.device)
    return x


def _draw(logits: torch.Tensor, index: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """One level per row and block, (rows, blocks), from the one-hot logits (rows, width), by inverse CDF.

    All blocks at once on the flat slice, no padding: each block's softmax is shifted by its
    own maximum (a segment maximum); one cumulative sum runs along the row, each block's
    threshold is its start plus a uniform share of its mass, and the level is the number of
    the block's columns whose cumulative sum falls below it (a product with the membership
    matrix counts them).
    """
    n, block = logits.shape[0], index["block"]
    top = torch.full((n, index["offsets"].shape[0]), -torch.inf, device=logits.device, dtype=logits.dtype)
    top = top.scatter_reduce(1, block.expand(n, -1), logits, reduce="amax")
    weights = (logits - top.index_select(1, block)).exp_()
    cdf = weights.cumsum(dim=1)
    before = torch.nn.functional.pad(cdf, (1, 0))
    first, last = index["offsets"], index["offsets"] + index["sizes"]
    base, mass = before.index_select(1, first), before.index_select(1, last) - before.index_select(1, first)
    u = torch.rand(base.shape, generator=generator, device=logits.device)
    threshold = base + u * mass
    below = (cdf < threshold.index_select(1, block)).to(logits.dtype)
    return (below @ index["membership"]).round_().long().minimum(index["sizes"] - 1)


__all__ = ["sample_latent"]
