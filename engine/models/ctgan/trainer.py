"""CTGAN's trainer for the one fit loop: the critic and generator steps of one batch.

One step (``step``): ``discriminator_steps - 1`` extra critic updates on fresh batches, then
one critic update and one generator update on the same generated rows (the generator's
conditional cross-entropy added). Batches come by training-by-sampling (a (column, category)
per row, then a real row holding it). The validation loss is the marginal distance between
validation rows and as many generated ones.

Under DP (``engine.privacy.private_training``) only the critic reads rows: one example is
(real row with its own condition, generated row drawn for it alone, interpolation weight),
clipped as a whole with its gradient penalty (``engine.models.ctgan.private``); the generator
steps after every ``discriminator_steps`` completed DP steps (``after_private_step``), and its
one-hot scores are calibrated to the private marginals afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.models.ctgan.nets import build_critic, gradient_penalty, pack
from engine.distributed import world
from engine.trainer import Trainer, clone_weights
from engine.seeds import derive_seed, torch_generator

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.base import Synthesizer

class CTGANTrainer(Trainer):
    """The networks, optimisers and steps of one CTGAN fit.

    ``encoded``: the training rows as the transformer encodes them; ``rows``: the
    training-by-sampling ``RowSampler`` (None under DP, where rows come by Poisson sampling);
    ``val_encoded``: the validation rows (None: no validation); ``row_codes``: each row's
    category in every condition column (DP only: a real row's own condition).
    """

    def __init__(
        self,
        model: Synthesizer,
        *,
        encoded: np.ndarray,
        rows: Any,
        val_encoded: np.ndarray | None = None,
        row_codes: torch.Tensor | None = None,
    ) -> None:
        p = model.model_params
        self.model = model
        self.layout = model._layout
        self.conditions = model._conditions
        self.rows = rows
        self.val_encoded = val_encoded
        self.row_codes = row_codes
        device = self.layout.device
        self.data = torch.as_tensor(encoded, device=device)
        self.n_rows = len(encoded)
        self.batch = model._effective_batch(self.n_rows)
        self.steps_per_epoch = max(1, self.n_rows // self.batch)
        self.pac = model._pac()
        self.world = world()
        if self.world.size > 1:  # each process draws its share of every global batch
            self.batch = max(self.pac, (self.batch // self.world.size) // self.pac * self.pac)
        self.noise_dim = p["embedding_dim"]
        self.penalty = float(p["gradient_penalty"])
        self.critic_steps = p["discriminator_steps"]
        self.log_frequency = p["log_frequency"]
        self.generator = model.generator_
        torch.manual_seed(derive_seed(model.seed, "init", "critic"))
        self.critic = build_critic(
            self.layout.width + self.layout.condition_width, tuple(int(v) for v in p["discriminator_dim"]), pac=self.pac
        ).to(device)
        # Fused Adam: one kernel over all parameters instead of a dozen ops per tensor
        # (a quarter of a CPU step otherwise); same update rule.
        self.adam = {"betas": (0.5, 0.9), "weight_decay": p["weight_decay"]}
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=p["generator_lr"], fused=True, **self.adam)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=p["discriminator_lr"], fused=True, **self.adam)
        self._epoch = 0

    # -- one epoch ---------------------------------------------------------------------------
    def batches(self, epoch: int, seed: int) -> Iterator[torch.Generator]:
        """The epoch's generator (seeded from the epoch), once per step: each step draws its batch from it."""
        self._epoch = epoch
        if self.world.size > 1:  # each process its own draws of rows and noise
            seed = derive_seed(seed, "rank", self.world.rank)
        generator = torch_generator(seed, self.layout.device)
        self.generator.train()
        self.critic.train()
        for _ in range(self.steps_per_epoch):
            yield generator

    def step(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One generator update after ``discriminator_steps`` critic updates.

        Returns the losses: ``critic`` (Wasserstein term + gradient penalty) and its parts,
        ``generator`` (adversarial term + conditional cross-entropy) and its parts.
        """
        for _ in range(self.critic_steps - 1):  # extra critic steps on fresh batches
            real, _, _, index = self.draw(generator)
            with torch.no_grad():
                z = torch.randn((self.batch, self.noise_dim), generator=generator, device=real.device)
                fake = self.layout.activate(self.generator(z, index), generator=generator)
            wasserstein, penalty = self.critic_loss(self.with_condition(real, index), self.with_condition(fake, index), generator)
            self.opt_d.zero_grad(set_to_none=True)
            (wasserstein + penalty).backward()
            self.opt_d.step()
        real, column, category, index = self.draw(generator)
        z = torch.randn((self.batch, self.noise_dim), generator=generator, device=real.device)
        raw = self.generator(z, index)
        fake = self.with_condition(self.layout.activate(raw, generator=generator), index)
        wasserstein, penalty = self.critic_loss(self.with_condition(real, index), fake.detach(), generator)
        self.opt_d.zero_grad(set_to_none=True)
        (wasserstein + penalty).backward()
        self.opt_d.step()
        # Generator update on the same generated rows, through the updated critic.
        adversarial, cond_loss = self._generator_update(raw, fake, column, category)
        wasserstein, penalty = wasserstein.detach(), penalty.detach()
        return {
            "critic": wasserstein + penalty,
            "wasserstein": wasserstein,
            "penalty": penalty,
            "generator": adversarial + cond_loss,
            "condition": cond_loss,
        }

    def validation_loss(self) -> float | None:
        """The marginal distance between the validation rows and as many generated rows."""
        from engine.models.ctgan.layout import marginal_distance

        if self.val_encoded is None:
            return None
        model = self.model
        fake = model._generate_encoded(len(self.val_encoded), generator=model._generator("validation", self._epoch))
        return marginal_distance(self.val_encoded, fake, model.transformer_.output_info_, model.transformer_.span_starts_)

    # -- batches ---------------------------------------------------------------------------------
    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Real rows, condition columns, categories and condition indices for one batch."""
        if self.layout.n_conditions == 0:
            rows = self.rows.uniform(self.batch, generator=generator)
            return self.data.index_select(0, rows), None, None, None
        column, category = self.conditions.sample(self.batch, generator=generator, log_frequency=self.log_frequency)
        rows = self.rows.sample(column, category, generator=generator)
        index = self.layout.condition_position(column, category)
        return self.data.index_select(0, rows), column, category, index

    def with_condition(self, rows: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """``[rows, one-hot conditional vector]``: what the critic reads."""
        if index is None:
            return rows
        onehot = torch.zeros((rows.shape[0], self.layout.condition_width), device=rows.device, dtype=rows.dtype)
        onehot.scatter_(1, index.unsqueeze(1), 1.0)
        return torch.cat([rows, onehot], dim=1)

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(Wasserstein critic loss ``E[D(fake)] - E[D(real)]``, gradient penalty)."""
        # Real and generated packs in one pass: one larger matmul per layer instead of two.
        scores = self.critic(pack(torch.cat([real, fake], dim=0), self.pac))
        packs = real.shape[0] // self.pac
        score_real, score_fake = scores[:packs].mean(), scores[packs:].mean()
        penalty = gradient_penalty(self.critic, real, fake, pac=self.pac, weight=self.penalty, generator=generator)
        return score_fake - score_real, penalty

    # -- kept weights and checkpoints ----------------------------------------------------------
    def kept_weights(self) -> dict[str, Any]:
        return clone_weights(self.generator)

    def load_kept_weights(self, weights: dict[str, Any]) -> None:
        self.generator.load_state_dict(weights)

    def state(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_generator": self.opt_g.state_dict(),
            "opt_critic": self.opt_d.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_generator"])
        self.opt_d.load_state_dict(state["opt_critic"])

    def finish(self) -> dict[str, Any]:
        self.generator.eval()
        return {"batch_size": self.batch}

    def parallel_parts(self) -> list[tuple[list[torch.nn.Module], torch.optim.Optimizer]]:
        return [([self.generator], self.opt_g), ([self.critic], self.opt_d)]

    # -- differential privacy --------------------------------------------------------------------
    def private_parts(self) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The critic's per-example loss (penalty included) and a plain Adam over it (Opacus wraps it)."""
        from engine.models.ctgan.private import private_critic

        p = self.model.model_params
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=p["discriminator_lr"], **self.adam)
        return private_critic(self.critic, self.penalty), self.opt_d

    def private_inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
        """(real row, generated row, interpolation weight) per Poisson-sampled row."""
        if batch.first:
            self._step_generator = torch_generator(batch.seed, self.layout.device)
            self.critic.train()
        generator = self._step_generator
        real, real_index, fake, fake_index = self.private_pair(batch.rows, generator)
        alpha = torch.rand((batch.rows.shape[0], 1), generator=generator, device=real.device)
        return (self.with_condition(real, real_index), self.with_condition(fake, fake_index), alpha), ()

    def private_pair(self, rows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """Real rows (with their own conditions) and as many generated rows (private conditions).

        Each generated row is drawn for its real row alone: the generator runs in eval mode
        (BatchNorm on its running statistics), so no generated row depends on the others, nor
        on how many rows the secret Poisson batch holds.
        """
        b = rows.shape[0]
        real = self.data.index_select(0, rows)
        real_index = fake_index = None
        if self.row_codes is not None:
            column = torch.randint(self.layout.n_conditions, (b,), generator=generator, device=real.device)
            category = self.row_codes[rows, column]
            real_index = self.layout.condition_position(column, category)
            f_column, f_category = self.conditions.sample(b, generator=generator, log_frequency=False)
            fake_index = self.layout.condition_position(f_column, f_category)
        self.generator.eval()
        with torch.no_grad():
            z = torch.randn((b, self.noise_dim), generator=generator, device=real.device)
            fake = self.layout.activate(self.generator(z, fake_index), generator=generator)
        self.generator.train()
        return real, real_index, fake, fake_index

    def after_private_step(self, *, steps_done: int, seed: int) -> None:
        """A generator update after every ``discriminator_steps`` completed DP steps (post-processing)."""
        if steps_done % self.critic_steps == 0:
            self.generator_step(torch_generator(derive_seed(seed, "generator"), self.layout.device))

    def generator_step(self, generator: torch.Generator) -> None:
        """One generator update through the critic, conditions by frequency (post-processing of the private critic)."""
        if self.layout.n_conditions:
            column, category = self.conditions.sample(self.batch, generator=generator, log_frequency=False)
            index = self.layout.condition_position(column, category)
        else:
            column = category = index = None
        z = torch.randn((self.batch, self.noise_dim), generator=generator, device=self.data.device)
        raw = self.generator(z, index)
        fake = self.with_condition(self.layout.activate(raw, generator=generator), index)
        self._generator_update(raw, fake, column, category)

    def _generator_update(
        self, raw: torch.Tensor, fake: torch.Tensor, column: torch.Tensor | None, category: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator step on generated rows ``fake`` (``raw``: its outputs before activation)
        through the critic, plus the conditional cross-entropy; the two losses, detached."""
        self.critic.requires_grad_(False)
        adversarial = -self.critic(pack(fake, self.pac)).mean()
        cond_loss = torch.zeros((), device=raw.device) if column is None else self.layout.condition_loss(raw, column, category)
        self.opt_g.zero_grad(set_to_none=True)
        (adversarial + cond_loss).backward()
        self.opt_g.step()
        self.critic.requires_grad_(True)
        return adversarial.detach(), cond_loss.detach()

    def marginal_logits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's one-hot scores with noise and conditions drawn as ``sample`` draws them, and its output bias."""
        from engine.privacy.marginals import CALIBRATION_ROWS

        model = self.model
        device = self.layout.device
        generator = torch_generator(derive_seed(model.seed, "calibration"), device)
        with torch.no_grad():
            z = torch.randn((CALIBRATION_ROWS, self.noise_dim), generator=generator, device=device)
            logits = self.generator(z, model._condition_index(CALIBRATION_ROWS, generator=generator, target=None))
        return logits, self.generator.out.fc.bias


__all__ = ["CTGANTrainer"]
