"""The diffusion model's trainer for the one fit loop: Adam on the denoising loss, an EMA kept.

Each row's loss at a random time t: the squared error of the predicted velocity of its
numbers plus the mean cross-entropy of its hidden category blocks. A mean over the hidden
blocks, not over all blocks, weighs the prediction of one block given all the others (late in
sampling) as much as that of many at once (early): the sampler draws every block once, and
each draw needs its conditional right. The validation loss draws its
times, noise and masks from a fixed seed, so epochs compare. Under DP
(``engine.privacy.private_training``) the same per-row loss (``RowLoss``) is clipped and
noised, and the weight average follows each completed private step (post-processing).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from engine.distributed import shard
from engine.models.diffusion.blocks import block_cross_entropy
from engine.models.diffusion.schedule import T_MIN, alpha_sigma, mask_probability
from engine.models.weight_average import WeightAverage
from engine.seeds import derive_seed
from engine.trainer import Trainer, clone_weights

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer


def adam(params: list[torch.Tensor], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step where this torch supports it."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


class RowLoss(nn.Module):
    """The denoiser as one module whose ``forward`` is the rows' summed denoising loss (also for DP-SGD)."""

    def __init__(self, denoiser: nn.Module, index: dict[str, torch.Tensor], n_numeric: int) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.n_numeric = n_numeric
        self._index = [index]  # a list: tensors that are not buffers of the module

    def forward(self, numeric: torch.Tensor, onehot: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        return self.losses(numeric, onehot, levels).sum()

    def losses_and_gradient_norms(self, numeric: torch.Tensor, onehot: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's loss and gradient norm, without per-row gradients (DP-SGD's clipping,
        ``engine.privacy.dpsgd``): every weight is an ``nn.Linear``'s, each used once per forward."""
        from engine.privacy.linear_norms import LinearNorms

        with LinearNorms(self) as linear:
            losses = self.losses(numeric, onehot, levels)
        at_outputs = torch.autograd.grad(losses.sum(), linear.outputs, retain_graph=True, allow_unused=True)
        return losses, linear.squared_norms(at_outputs).sqrt()

    def losses(self, numeric: torch.Tensor, onehot: torch.Tensor, levels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each row's loss, ``(B,)``; ``generator`` fixes the times, noise and masks (validation)."""
        index = self._index[0]
        n, device = numeric.shape[0], numeric.device
        t = torch.rand((n,), generator=generator, device=device) * (1 - T_MIN) + T_MIN
        noise = torch.randn(numeric.shape, generator=generator, device=device)
        hidden = torch.rand(levels.shape, generator=generator, device=device) < mask_probability(t)[:, None]
        alpha, sigma = alpha_sigma(t[:, None])
        noisy = alpha * numeric + sigma * noise
        shown = onehot * (~hidden).to(onehot.dtype).index_select(1, index["block"])
        out = self.denoiser(noisy, shown, hidden.to(onehot.dtype), t)
        loss = numeric.new_zeros(n)
        if self.n_numeric:
            velocity = alpha * noise - sigma * numeric
            loss = loss + (out[:, : self.n_numeric] - velocity).pow(2).mean(1)
        if levels.shape[1]:
            cross_entropy = block_cross_entropy(out[:, self.n_numeric :], levels, index)
            mask = hidden.to(cross_entropy.dtype)
            loss = loss + (cross_entropy * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return loss


class DiffusionTrainer(Trainer):
    """Trains ``model._denoiser`` on the encoded rows ``train`` (validation: ``val`` or None)."""

    def __init__(self, model: Synthesizer, *, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], train: torch.Tensor,
                 val: torch.Tensor | None, batch: int) -> None:
        p = model.model_params
        self.model = model
        self.rows = tuple(x[train] for x in inputs)
        self.val = tuple(x[val] for x in inputs) if val is not None else None
        self.n_rows = self.rows[0].shape[0]
        self.batch = batch
        self.steps_per_epoch = max(1, self.n_rows // batch)
        self.row_loss = RowLoss(model._denoiser, model._index, model._blocks.n_numeric)
        self.optim = adam(list(self.row_loss.parameters()), lr=p["learning_rate"], weight_decay=p["weight_decay"])
        decay = float(p["ema_decay"])
        self.average = WeightAverage(model._denoiser, decay=decay) if decay > 0 else None
        model._sampler_net = self.average.average if self.average is not None else model._denoiser

    # -- one epoch ---------------------------------------------------------------------------
    def batches(self, epoch: int, seed: int) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n_rows, generator=torch.Generator().manual_seed(seed)).to(self.rows[0].device)
        self.model._denoiser.train(True)
        for step in range(self.steps_per_epoch):
            yield shard(order[step * self.batch : (step + 1) * self.batch])

    def step(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = self.row_loss.losses(*(x[rows] for x in self.rows)).mean()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if self.average is not None:
            self.average.update()
        return {"loss": loss.detach()}

    def validation_loss(self) -> float | None:
        """Mean per-row loss on the validation rows with fixed times, noise and masks (comparable across epochs)."""
        if self.val is None:
            return None
        model = self.model
        net = model._sampler_net
        net.eval()
        with torch.no_grad():
            generator = torch.Generator(device=self.val[0].device).manual_seed(derive_seed(model.seed, "validation"))
            loss_module = RowLoss(net, model._index, model._blocks.n_numeric)
            value = float(loss_module.losses(*self.val, generator=generator).mean())
        return value if math.isfinite(value) else math.inf

    # -- kept weights and checkpoints ----------------------------------------------------------
    def kept_weights(self) -> dict[str, Any]:
        kept: dict[str, Any] = {"denoiser": clone_weights(self.model._denoiser)}
        if self.average is not None:
            kept["average"] = clone_weights(self.average.average)
        return kept

    def load_kept_weights(self, weights: dict[str, Any]) -> None:
        self.model._denoiser.load_state_dict(weights["denoiser"])
        if self.average is not None:
            self.average.average.load_state_dict(weights["average"])

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"denoiser": clone_weights(self.model._denoiser), "optim": self.optim.state_dict()}
        if self.average is not None:
            state["average"] = self.average.state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.model._denoiser.load_state_dict(state["denoiser"])
        self.optim.load_state_dict(state["optim"])
        if self.average is not None:
            self.average.load_state(state["average"])

    def finish(self) -> dict[str, Any]:
        self.model._denoiser.eval()
        self.model._sampler_net.eval()
        return {"batch_size": self.batch}

    def parallel_parts(self) -> list[tuple[list[nn.Module], torch.optim.Optimizer]]:
        return [([self.row_loss], self.optim)]

    # -- differential privacy --------------------------------------------------------------------
    def private_parts(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        return self.row_loss, self.optim

    def private_inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
        self.model._denoiser.train(True)
        return tuple(x[batch.rows] for x in self.rows), ()

    def after_private_step(self, *, steps_done: int, seed: int) -> None:
        if self.average is not None:
            self.average.update()


__all__ = ["DiffusionTrainer", "RowLoss", "adam"]
