"""The few-step sampler: DDIM on the numbers, the category blocks revealed one after another.

From t = 1 (pure noise, every block hidden) to t = 0 in ``steps`` even steps. At each step
the denoiser's velocity gives an estimate of the clean numbers and of the noise; the numbers
move to the next time along the DDIM update (``eta`` = 0: deterministic; 1: as much fresh
noise as the forward process would hold).

Each row reveals its free blocks in its own random order, evenly over the steps, so that the
share still hidden at time t is t, as in training. With at least as many steps as blocks,
every block is drawn alone, given all the blocks revealed before it and the numbers so far:
the categories' joint distribution is then the denoiser's chain of conditionals, not a
product of independent draws. With fewer steps, blocks that share a step are drawn
independently given the rest, and pair trends between them suffer first. Blocks the caller
fixes (an equality condition) are shown from the start and never redrawn: inpainting, so
the other columns follow them.

The clean-number estimate is clipped at ``normal_scores.BOUND`` standard deviations only,
the edge of the learned scores, never to a narrow box: clipping estimates to [-1, 1] is what
collapses other implementations' numbers onto their range ends.
"""

from __future__ import annotations

import torch

from engine.models.diffusion.blocks import Blocks, one_hot
from engine.models.diffusion.denoiser import SamplingNet
from engine.models.diffusion.normal_scores import BOUND
from engine.models.diffusion.schedule import alpha_sigma, time_grid


@torch.no_grad()
def sample_latent(
    net: SamplingNet,
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
    d, nb, width = blocks.n_numeric, blocks.n_blocks, blocks.width
    fixed = fixed or {}
    x = torch.randn((n, d), generator=generator, device=device)
    levels = torch.zeros((1, nb), dtype=torch.long, device=device)
    hidden = torch.ones((1, nb), dtype=torch.bool, device=device)
    for block, level in fixed.items():
        levels[:, block], hidden[:, block] = level, False
    shown = one_hot(levels, index, width) * (~hidden).float().index_select(1, index["block"])
    acc = net.inputs(shown, hidden.float()).expand(n, -1).clone()  # every row starts alike
    levels = levels.expand(n, -1).clone()
    free = [b for b in range(nb) if b not in fixed]
    reveal_at = _reveal_steps(n, len(free), steps, generator, device)
    offsets = index["offsets"].tolist()
    grid = time_grid(steps, device).tolist()
    for step, (t, s) in enumerate(zip(grid[:-1], grid[1:])):
        h = net.hidden(acc, x, t)
        if d:
            x = _numbers_step(x, net.velocity(h), t, s, eta, generator)
        for column, block in enumerate(free):
            rows = (reveal_at[column] == step).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            drawn = _draw_block(net.logits(h.index_select(0, rows), block), generator)
            levels[rows, block] = drawn
            acc.index_add_(0, rows, net.reveal.index_select(0, drawn + offsets[block]))
    return x, levels


def _reveal_steps(n: int, n_free: int, steps: int, generator: torch.Generator, device: str) -> torch.Tensor:
    """(free blocks, n): the step at which each row reveals each free block, a random order per
    row spread evenly over the steps (rank r of F at step floor(r * steps / F))."""
    if n_free == 0:
        return torch.zeros((0, n), dtype=torch.long, device=device)
    rank = torch.rand((n, n_free), generator=generator, device=device).argsort(dim=1).argsort(dim=1)
    return (rank * steps // n_free).t().contiguous()


def _numbers_step(x: torch.Tensor, velocity: torch.Tensor, t: float, s: float, eta: float, generator: torch.Generator) -> torch.Tensor:
    """The DDIM move of the numbers from time ``t`` to ``s`` < ``t`` given the predicted velocity."""
    a_t, s_t = (float(v) for v in alpha_sigma(torch.tensor(t)))
    a_s, s_s = (float(v) for v in alpha_sigma(torch.tensor(s)))
    clean = (a_t * x - s_t * velocity).clamp_(-BOUND, BOUND)
    if s <= 0:
        return clean
    noise = s_t * x + a_t * velocity
    fresh = eta * (s_s / s_t) * max(0.0, 1.0 - (a_t / a_s) ** 2) ** 0.5 if eta > 0 else 0.0
    x = a_s * clean + max(0.0, s_s**2 - fresh**2) ** 0.5 * noise
    if fresh > 0:
        x = x + fresh * torch.randn(x.shape, generator=generator, device=x.device)
    return x


def _draw_block(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One level per row from one block's logits (rows, levels), by inverse CDF."""
    cdf = torch.softmax(logits, dim=1).cumsum_(dim=1)
    u = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device) * cdf[:, -1:]
    return (cdf < u).sum(dim=1).clamp_(max=logits.shape[1] - 1)


__all__ = ["sample_latent"]
