"""ARGN's trainer for the one fit loop: teacher forcing under a column order per batch.

Half of the batches (``random_order_share``) use a random column order, the rest the
generation order; AdamW at a rate that grows with the batch; the weights kept are a moving
average (``WeightAverage``) validated on a fixed set of orders and halved in rate when the
validation loss stalls (``ReduceLROnPlateau``). Under DP (``engine.privacy.private_training``)
the same loss under one column order per logical step, drawn from the step's public seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.models.argn.network import ARGNNetwork, visibility
from engine.distributed import shard
from engine.trainer import Trainer, clone_weights
from engine.models.weight_average import WeightAverage
from engine.seeds import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer

# Random column orders the validation loss averages over (besides the generation order).
N_VALIDATION_ORDERS = 3


class ARGNTrainer(Trainer):
    """Trains ``model``'s network on ``x_train`` (token codes), validating on ``x_val`` (or None)."""

    def __init__(self, model: Synthesizer, *, x_train: torch.Tensor, x_val: torch.Tensor | None, order: list[int], batch: int, priors: bool) -> None:
        p = model.model_params
        self.model = model
        self.x_train, self.x_val = x_train, x_val
        self.order = order
        self.batch = batch
        self.device = x_train.device
        self.n_rows = x_train.shape[0]
        self.steps_per_epoch = max(1, math.ceil(self.n_rows / batch))
        self.share = float(p["random_order_share"])
        self.lr = model._learning_rate(batch)
        # the output biases start at the data's log-frequencies (a read of the rows: off under DP)
        self.net = model._new_network(_log_priors(x_train, model._vocab_sizes) if priors else None)
        self.optim = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=float(p["weight_decay"]))
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optim, factor=0.5, patience=2, min_lr=0.1 * self.lr)
        self.average = WeightAverage(self.net, decay=float(p["ema_decay"])) if p["ema_decay"] is not None else None
        self.kept = self.average.average if self.average is not None else self.net  # validated and kept
        self.val_orders = _random_orders(len(order), N_VALIDATION_ORDERS, derive_seed(model.seed, "validation-orders"))
        # the generation order's mask, used by most batches: built once, not per step
        self.primary_visibility = visibility(order, model._column_of, model._shared).to(self.device)

    def _visibility(self, order: Sequence[int]) -> torch.Tensor:
        if order is self.order:
            return self.primary_visibility
        return visibility(order, self.model._column_of, self.model._shared).to(self.device)

    # -- one epoch ---------------------------------------------------------------------------
    def batches(self, epoch: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        shuffle = torch.Generator().manual_seed(seed)
        rows = torch.randperm(self.n_rows, generator=shuffle).to(self.device)
        orders = _batch_orders(self.order, self.steps_per_epoch, self.share, shuffle)
        self.net.train()
        for step in range(self.steps_per_epoch):
            yield self.x_train[shard(rows[step * self.batch : (step + 1) * self.batch])], self._visibility(orders[step])

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        tokens, vis = batch
        loss = self.net.loss(tokens, vis).mean()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if self.average is not None:
            self.average.update()
        return {"loss": loss.detach()}

    def epoch_metrics(self) -> dict[str, float]:
        return {"learning_rate": self.optim.param_groups[0]["lr"]}

    @torch.no_grad()
    def validation_loss(self) -> float | None:
        """Mean per-row NLL on the validation rows, weighted like the training objective: the
        generation order ``1 - random_order_share``, the fixed random orders (fixed, so epochs
        compare) ``random_order_share`` between them."""
        if self.x_val is None:
            return None
        net = self.kept
        net.eval()
        value = (1.0 - self.share) * self._nll(net, self.order) if self.share < 1 else 0.0
        if self.share > 0:
            value += self.share * float(np.mean([self._nll(net, order) for order in self.val_orders]))
        net.train()
        return value if math.isfinite(value) else math.inf

    def _nll(self, net: ARGNNetwork, order: Sequence[int]) -> float:
        vis = self._visibility(order)
        total = 0.0
        for start in range(0, self.x_val.shape[0], 8_192):
            total += float(net.loss(self.x_val[start : start + 8_192], vis).sum())
        return total / max(1, self.x_val.shape[0])

    def after_validation(self, loss: float) -> None:
        self.sched.step(loss)

    # -- kept weights and checkpoints ----------------------------------------------------------
    def kept_weights(self) -> dict[str, Any]:
        return clone_weights(self.kept)

    def load_kept_weights(self, weights: dict[str, Any]) -> None:
        self.kept.load_state_dict(weights)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"network": self.net.state_dict(), "optim": self.optim.state_dict(), "scheduler": self.sched.state_dict()}
        if self.average is not None:
            state["average"] = self.average.state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["network"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["scheduler"])
        if self.average is not None:
            self.average.load_state(state["average"])

    def finish(self) -> dict[str, Any]:
        self.kept.eval()
        self.model.network_ = self.kept
        return {"batch_size": self.batch, "learning_rate": self.lr}

    def parallel_parts(self) -> list[tuple[list[torch.nn.Module], torch.optim.Optimizer]]:
        return [([self.net], self.optim)]

    # -- differential privacy --------------------------------------------------------------------
    def private_parts(self) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        return _RowLoss(self.net), self.optim

    def private_inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
        if batch.first:  # one column order per logical step, from the step's public seed
            order = _batch_orders(self.order, 1, self.share, torch.Generator().manual_seed(batch.seed))[0]
            self._step_visibility = self._visibility(order)
        self.net.train()
        return (self.x_train[batch.rows],), (self._step_visibility,)

    def after_private_step(self, *, steps_done: int, seed: int) -> None:
        if self.average is not None:
            self.average.update()  # post-processing of the released noisy weights: free


def _log_priors(tokens: torch.Tensor, vocab_sizes: Sequence[int]) -> list[torch.Tensor]:
    """Empirical log-frequency of every code (smoothed), per sub-column."""
    priors = []
    for k, v in enumerate(vocab_sizes):
        counts = torch.bincount(tokens[:, k].cpu(), minlength=v).to(torch.float32) + 0.5
        priors.append(torch.log(counts / counts.sum()))
    return priors


def _random_orders(n_columns: int, count: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randperm(n_columns, generator=generator).tolist() for _ in range(count)]


def _batch_orders(primary: list[int], steps: int, random_share: float, generator: torch.Generator) -> list[list[int]]:
    """One column order per training batch: random with probability ``random_share``, else ``primary``."""
    use_random = torch.rand(steps, generator=generator) < random_share
    return [torch.randperm(len(primary), generator=generator).tolist() if r else primary for r in use_random.tolist()]


class _RowLoss(torch.nn.Module):
    """The network as a module whose ``forward`` is the rows' summed NLL under a visibility mask (for DP-SGD)."""

    def __init__(self, net: ARGNNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, tokens: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return self.net.loss(tokens, vis).sum()

    def losses_and_gradient_norms(self, tokens: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's loss and gradient norm: DP-SGD clips without per-row gradients (``engine.privacy.dpsgd``)."""
        return self.net.loss_and_gradient_norms(tokens, vis)


__all__ = ["ARGNTrainer"]
