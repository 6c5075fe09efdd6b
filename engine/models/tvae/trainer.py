"""TVAE's trainer for the one fit loop: Adam on ``loss_factor`` x reconstruction + KL.

Shuffled batches of the training rows (the last partial batch dropped); each tanh column's
learned scale is kept in ``SIGMA_RANGE`` after every step; the validation loss uses a fixed
noise draw so that epochs compare. Under DP (``engine.privacy.private_training``) the same
loss per row (``_RowLoss``), clipped by its exact norm, and afterwards the decoder's one-hot
logits are calibrated to the private marginals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from engine.distributed import shard
from engine.trainer import Trainer, clone_weights
from engine.models.tvae.nets import adam, kl
from engine.seeds import derive_seed, torch_generator

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer

SIGMA_RANGE = (0.01, 1.0)


class TVAETrainer(Trainer):
    """Trains ``model``'s encoder, decoder and scales on ``data`` rows ``train`` (validation: ``val`` or None)."""

    def __init__(self, model: Synthesizer, *, data: torch.Tensor, train: torch.Tensor, val: torch.Tensor | None, batch: int) -> None:
        p = model.model_params
        self.model = model
        targets = model._layout.targets(data)
        self.x, self.t = data[train], targets[train]
        self.val = (data[val], targets[val]) if val is not None else None
        self.n_rows = self.x.shape[0]
        self.batch = batch
        self.steps_per_epoch = max(1, self.n_rows // batch)
        self.loss_factor = float(p["loss_factor"])
        self.row_loss = RowLoss(model)
        self.optim = adam(list(self.row_loss.parameters()), lr=p["learning_rate"], weight_decay=p["weight_decay"])

    def _train_mode(self, on: bool) -> None:
        self.model._encoder.train(on)
        self.model._decoder.train(on)

    @torch.no_grad()
    def _clamp_sigma(self) -> None:
        self.model._sigma.clamp_(*SIGMA_RANGE)

    # -- one epoch ---------------------------------------------------------------------------
    def batches(self, epoch: int, seed: int) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n_rows, generator=torch.Generator().manual_seed(seed)).to(self.x.device)
        self._train_mode(True)
        for step in range(self.steps_per_epoch):
            yield shard(order[step * self.batch : (step + 1) * self.batch])

    def step(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        model = self.model
        x, targets = self.x[rows], self.t[rows]
        mu, logvar = model._encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        n = x.shape[0]
        rec = model._reconstruction(model._decoder(z), x, targets).sum() * self.loss_factor / n
        kld = kl(mu, logvar).sum() / n
        self.optim.zero_grad(set_to_none=True)
        (rec + kld).backward()
        self.optim.step()
        self._clamp_sigma()
        rec, kld = rec.detach(), kld.detach()
        return {"reconstruction": rec, "kl": kld, "loss": rec + kld}

    def validation_loss(self) -> float | None:
        """Mean per-row loss on the validation rows, with a fixed noise draw (comparable across epochs)."""
        if self.val is None:
            return None
        model = self.model
        x, targets = self.val
        self._train_mode(False)
        with torch.no_grad():
            generator = torch.Generator(device=x.device).manual_seed(derive_seed(model.seed, "validation"))
            mu, logvar = model._encoder(x)
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            out = model._decoder(mu + eps * torch.exp(0.5 * logvar))
            rec = model._reconstruction(out, x, targets).sum() * self.loss_factor
            value = float((rec + kl(mu, logvar).sum()) / x.shape[0])
        return value if math.isfinite(value) else math.inf

    # -- kept weights and checkpoints ----------------------------------------------------------
    def kept_weights(self) -> dict[str, Any]:
        model = self.model
        return {
            "encoder": clone_weights(model._encoder),
            "decoder": clone_weights(model._decoder),
            "sigma": model._sigma.detach().clone(),
        }

    def load_kept_weights(self, weights: dict[str, Any]) -> None:
        model = self.model
        model._encoder.load_state_dict(weights["encoder"])
        model._decoder.load_state_dict(weights["decoder"])
        with torch.no_grad():
            model._sigma.copy_(weights["sigma"])

    def state(self) -> dict[str, Any]:
        return {**self.kept_weights(), "optim": self.optim.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.load_kept_weights(state)
        self.optim.load_state_dict(state["optim"])

    def finish(self) -> dict[str, Any]:
        self._train_mode(False)
        return {"batch_size": self.batch}

    def parallel_parts(self) -> list[tuple[list[nn.Module], torch.optim.Optimizer]]:
        return [([self.row_loss], self.optim)]

    # -- differential privacy --------------------------------------------------------------------
    def private_parts(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        return self.row_loss, self.optim

    def private_inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
        self._train_mode(True)
        return (self.x[batch.rows], self.t[batch.rows]), ()

    def after_private_step(self, *, steps_done: int, seed: int) -> None:
        self._clamp_sigma()

    def marginal_logits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's outputs for codes drawn from the prior, and its last bias."""
        from engine.privacy.marginals import CALIBRATION_ROWS

        model = self.model
        generator = torch_generator(derive_seed(model.seed, "calibration"), model.device_)
        with torch.no_grad():
            z = torch.randn((CALIBRATION_ROWS, model.model_params["embedding_dim"]), generator=generator, device=model.device_)
            logits = model._decoder(z)
        return logits, model._decoder[-1].bias


class RowLoss(nn.Module):
    """The TVAE's trainable parts as one module whose ``forward`` is the rows' summed loss (for DP-SGD)."""

    def __init__(self, model: Synthesizer) -> None:
        super().__init__()
        self.encoder = model._encoder
        self.decoder = model._decoder
        self.sigma = model._sigma
        self._model = [model]  # a list: not registered as a submodule

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._losses(x, targets, self.sigma).sum()

    def losses_and_gradient_norms(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's loss and gradient norm: DP-SGD clips without per-row gradients (``engine.privacy.dpsgd``).

        Every weight is an ``nn.Linear``'s (``LinearNorms``); sigma, shared by all rows, enters
        through one copy per row, whose gradient is that row's gradient of sigma.
        """
        from engine.privacy.linear_norms import LinearNorms

        sigma_rows = self.sigma.expand(x.shape[0], -1)
        with LinearNorms(self, measured_by_caller=(self.sigma,)) as linear:
            losses = self._losses(x, targets, sigma_rows)
        *at_outputs, at_sigma = torch.autograd.grad(losses.sum(), [*linear.outputs, sigma_rows], retain_graph=True, allow_unused=True)
        squared = linear.squared_norms(at_outputs)
        if at_sigma is not None:  # None: no tanh column, sigma unused
            squared = squared + at_sigma.pow(2).sum(1)
        return losses, squared.sqrt()

    def _losses(self, x: torch.Tensor, targets: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        model = self._model[0]
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = model._reconstruction(self.decoder(z), x, targets, sigma=sigma)
        return rec * model.model_params["loss_factor"] + kl(mu, logvar)


__all__ = ["SIGMA_RANGE", "RowLoss", "TVAETrainer"]
