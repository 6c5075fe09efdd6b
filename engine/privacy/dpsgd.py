"""DP-SGD for the networks that read real rows: Opacus's clipping, noise, sampling and accounting.

``DPSGD`` drives one network (given as a *loss module*: ``forward(*rows, *shared)`` returns
one loss per row) through differentially private training:

- **Poisson sampling**: every logical batch includes each row independently with probability
  ``q = batch_size / rows`` (Opacus's ``DPDataLoader``), drawn from a generator seeded from
  ``os.urandom``; an "epoch" is ``int(1/q)`` logical batches.
- **Per-row gradients**: ``torch.func.vmap(torch.func.grad(...))`` of the loss of one row, so
  any loss works, a gradient penalty (a gradient inside the loss) included; dropout draws
  differ per row (``randomness="different"``).
- **Clipped sums without per-row gradients** (ghost clipping): a loss module that also
  defines ``losses_and_gradient_norms(*rows, *shared) -> (losses (B,), norms (B,))`` (each
  row's loss and the L2 norm of its gradient) skips the per-row gradients: the gradient of
  ``sum_i min(1, C / norm_i) * loss_i`` *is* the sum of the clipped per-row gradients, with
  Opacus's clipping factor. One backward instead of a gradient per row (ARGN: ~30x faster
  on CPU; CTGAN's critic, gradient penalty included: ~15x). The module is responsible for
  the norms being exact; ARGN's, TVAE's and the critic's are tested against
  ``per_sample_gradients``.
- **Clipping and noise**: Opacus's ``DPOptimizer`` (built by ``make_dp_optimizer``, the one
  function the audit also uses) clips each row's gradient to ``max_grad_norm`` (or, with
  clipped sums, its ``DPOptimizerFastGradientClipping`` takes the sum as given), adds
  N(0, (noise_multiplier * max_grad_norm)^2) from a generator seeded from ``os.urandom``
  in ``secure_mode`` (robust to floating-point attacks), and averages over the expected batch.
- **Processes**: under ``torchrun`` each process Poisson-samples its own disjoint share of the
  rows at rate ``q`` (together: a Poisson sample of all rows), the clipped sums are added
  over the processes and the noise is added once, by rank 0; the accountant sees the same
  (noise, rate, steps) as in one process (``engine.distributed``).
- **Memory**: Opacus's ``BatchMemoryManager`` splits a logical batch into physical batches of
  at most ``Privacy.physical_batch_size`` rows; the optimizer steps once per logical batch.
- **Accounting**: the noise multiplier is chosen by ``PrivateRun.sgd_noise`` for the planned
  number of steps, the Opacus accountant's step hook appends each step to the run's history,
  and ``exhausted`` turns True when the planned steps are done: ``batches()`` then yields
  nothing more, so training stops before a step would exceed the target.
- **Layers**: ``check_module`` refuses a network Opacus's ``ModuleValidator`` reports on
  (BatchNorm, ...): the wrapper calls it before DP-SGD wraps the optimizer.
- **Groups** (``groups=RowGroups``, entity-level DP, ``engine.privacy.groups``): the Poisson
  sample draws groups, each with all its rows, at the rate ``batch_size / rows`` (an epoch
  still reads every row once in expectation); each row's gradient is clipped to ``C / n_g``
  (``n_g``: the rows of its group), so one group adds at most ``C`` to the clipped sum; the
  sum goes through the clipped-sums optimizer (with per-row gradients when the module has no
  ``losses_and_gradient_norms``), averaged over the expected number of groups. The noise
  and the accountant's (sigma, q, steps) are those of row-level DP-SGD with a group as the row.
- **Public randomness** (dropout, the VAE's sampling noise, column orders, generated rows) may
  follow the user's seed, but it must not carry information the accountant does not see.
  Two rules keep it so. (1) Each logical step starts from its own seed,
  ``derive_seed(seed, "dp-step", step)`` (torch's global generator is reseeded, and
  ``batches()`` hands the seed out for the model's own generators): the number of draws a
  step consumed depends on its secret batch size, and must not shift the draws of later
  steps. (2) Whatever enters one row's loss besides the row is drawn for that row alone,
  independently (``vmap(..., randomness="different")``), or shared by the whole logical step
  (ARGN's column order), never by a physical batch or a group of neighbouring rows: then
  adding a row changes the clipped sum by that row's term only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import nn

from engine.distributed import world
from engine.seeds import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from engine.privacy.groups import RowGroups
    from engine.privacy.run import PrivateRun


def secure_generator(device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded from the OS's cryptographic source."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1))
    return generator


def make_dp_optimizer(
    optimizer: torch.optim.Optimizer,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: int,
    generator: torch.Generator | None,
    clipped_sums: bool = False,
    distributed: bool = False,
) -> Any:
    """Opacus's ``DPOptimizer`` around ``optimizer``: per-row clipping, secure Gaussian noise, mean over the expected batch.

    ``clipped_sums``: the caller puts the sum of already clipped per-row gradients in ``p.grad``
    (Opacus's ``DPOptimizerFastGradientClipping``: same noise, accumulation and scaling).
    ``distributed``: Opacus's distributed variant: the processes' clipped sums are added and
    the noise is added once, by rank 0 (``engine.distributed``).
    """
    from opacus.optimizers import (
        DistributedDPOptimizer,
        DistributedDPOptimizerFastGradientClipping,
        DPOptimizer,
        DPOptimizerFastGradientClipping,
    )

    if distributed:  # clipped sums added over the processes, the noise by rank 0 alone
        kind = DistributedDPOptimizerFastGradientClipping if clipped_sums else DistributedDPOptimizer
    else:
        kind = DPOptimizerFastGradientClipping if clipped_sums else DPOptimizer
    return kind(
        optimizer,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        loss_reduction="mean",
        generator=generator,
        secure_mode=True,
    )


def check_module(module: nn.Module) -> None:
    """``ConfigError`` naming the layers Opacus cannot train privately (BatchNorm, ...): a model
    builds the networks it trains with DP-SGD from layers that need no fix."""
    from opacus.validators import ModuleValidator

    from engine.errors import ConfigError

    problems = ModuleValidator.validate(module, strict=False)
    if problems:
        raise ConfigError(f"{type(module).__name__} cannot be trained with DP-SGD: " + "; ".join(str(p) for p in problems))


def per_sample_gradients(module: nn.Module, params: dict[str, torch.Tensor], rows: tuple[torch.Tensor, ...], shared: tuple[Any, ...] = ()) -> dict[str, torch.Tensor]:
    """``{name: (B, *shape)}``: the gradient of each row's loss, for every parameter in ``params``.

    ``module(*rows_of_one, *shared)`` must return the loss of each row (shape ``(1,)`` here).
    """
    from torch.func import functional_call, grad, vmap

    buffers = {name: b for name, b in module.named_buffers()}

    def loss_of_one(p: dict[str, torch.Tensor], *one: torch.Tensor) -> torch.Tensor:
        batch = tuple(t.unsqueeze(0) for t in one)
        return functional_call(module, {**p, **buffers}, (*batch, *shared)).sum()

    in_dims = (None, *([0] * len(rows)))
    return vmap(grad(loss_of_one), in_dims=in_dims, randomness="different")(params, *rows)


def clipped_gradient_sum(
    module: nn.Module,
    params: list[torch.Tensor],
    rows: tuple[torch.Tensor, ...],
    shared: tuple[Any, ...] = (),
    *,
    max_grad_norm: float | torch.Tensor,
) -> None:
    """``p.grad`` = the sum over ``rows`` of each row's gradient clipped to ``max_grad_norm``
    (a number, or one bound per row: a group's rows are clipped to ``C / n_g``).

    ``module.losses_and_gradient_norms(*rows, *shared)`` gives each row's loss and gradient
    norm; the gradient of the loss reweighted by Opacus's clipping factor is the clipped sum.
    A parameter no row reached (or an empty batch) gets a zero sum.
    """
    for p in params:
        p.grad = None
    if rows[0].shape[0]:
        losses, norms = module.losses_and_gradient_norms(*rows, *shared)
        factor = (max_grad_norm / (norms.detach() + 1e-6)).clamp(max=1.0)
        (losses * factor).sum().backward()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def clipped_per_sample_sum(
    module: nn.Module, params: dict[str, torch.Tensor], rows: tuple[torch.Tensor, ...], shared: tuple[Any, ...] = (), *, limits: torch.Tensor
) -> None:
    """``p.grad`` = the sum over ``rows`` of each row's gradient (from ``per_sample_gradients``)
    clipped to its own bound ``limits[i]``: the path of a module without gradient norms."""
    if rows[0].shape[0]:
        grads = per_sample_gradients(module, {name: p.detach() for name, p in params.items()}, rows, shared)
        norms = torch.sqrt(sum(g.reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads.values()))
        factor = (limits / (norms + 1e-6)).clamp(max=1.0)
        for name, p in params.items():
            p.grad = torch.einsum("i,i...->...", factor.to(grads[name].dtype), grads[name])
    else:
        for p in params.values():
            p.grad = torch.zeros_like(p)


class Batch(NamedTuple):
    """One physical batch: its row indices, the seed of its logical step, whether it starts that step."""

    rows: torch.Tensor
    seed: int
    first: bool


class DPSGD:
    """DP-SGD training of ``loss_module``'s parameters with ``optimizer`` (see the module docstring).

    ``epochs`` passes of ``int(1/q)`` logical batches are planned; ``batches()`` yields each
    physical ``Batch`` (row indices on ``device``, the logical step's public seed, whether it
    is the step's first), ``step(*rows, shared=...)`` takes one physical batch's per-row
    losses and returns True when it completed a logical step (the optimizer updated the
    weights). ``seed`` is the user's seed (public randomness only, see the module docstring).
    ``groups``: entity-level DP (the groups are sampled and clipped as units, see the module
    docstring); None: every row is its own unit.
    """

    def __init__(
        self,
        *,
        run: PrivateRun,
        loss_module: nn.Module,
        optimizer: torch.optim.Optimizer,
        n_rows: int,
        batch_size: int,
        epochs: int,
        device: str | torch.device,
        seed: int = 0,
        groups: RowGroups | None = None,
    ) -> None:
        from opacus.data_loader import DPDataLoader

        self.run = run
        self.seed = int(seed)
        self._fresh = True
        self.module = loss_module
        self.device = torch.device(device)
        self.n_rows = int(n_rows)
        self.groups = groups
        if groups is not None:
            groups.check_rows(self.n_rows)
        units = self.n_rows if groups is None else groups.n_groups
        self.sample_rate = min(1.0, batch_size / self.n_rows)
        # under torchrun each process samples its own share of the units (rows or groups) at the same rate
        processes = world()
        own_units = torch.arange(units)[processes.rank :: processes.size]
        self.expected_batch = max(1, round(self.sample_rate * len(own_units)))
        self.steps_per_epoch = max(1, int(1.0 / self.sample_rate))
        self.planned_steps = max(1, int(epochs)) * self.steps_per_epoch
        self.noise_multiplier = run.sgd_noise(sample_rate=self.sample_rate, steps=self.planned_steps)
        self.ghost = callable(getattr(loss_module, "losses_and_gradient_norms", None))
        self.clipped_sums = self.ghost or groups is not None
        self._limits: torch.Tensor | None = None  # the current physical batch's per-row clipping bounds (groups)
        physical = run.privacy.physical_batch_size
        if groups is not None:  # the rows of each group, and a physical batch of at most ~physical rows
            order = np.argsort(groups.ids, kind="stable")
            self._group_rows = torch.as_tensor(order, dtype=torch.long)
            self._group_start = torch.as_tensor(np.concatenate([[0], np.cumsum(groups.group_sizes())]), dtype=torch.long)
            self._row_limits = torch.as_tensor(run.privacy.max_grad_norm / groups.row_sizes(), dtype=torch.float32)
            physical = max(1, physical // max(1, int(groups.group_sizes().max(initial=1))))
        self.physical_units = physical
        self.optimizer = make_dp_optimizer(
            optimizer,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=run.privacy.max_grad_norm,
            expected_batch_size=self.expected_batch,
            generator=secure_generator(self.device),
            clipped_sums=self.clipped_sums,
            distributed=processes.size > 1,
        )
        self.optimizer.attach_step_hook(run.sgd_accountant().get_optimizer_hook_fn(sample_rate=self.sample_rate))
        dataset = torch.utils.data.TensorDataset(own_units)
        self.loader = DPDataLoader(dataset, sample_rate=self.sample_rate, generator=secure_generator("cpu"))
        self.params = {name: p for name, p in loss_module.named_parameters() if p.requires_grad}

    @property
    def steps_done(self) -> int:
        """DP-SGD steps taken in this run so far (a resumed run counts the earlier ones)."""
        return self.run.sgd_steps(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    @property
    def exhausted(self) -> bool:
        """True once the planned steps are done: one more would exceed the budget."""
        return self.steps_done >= self.planned_steps

    def batches(self) -> Iterator[Batch]:
        """The physical batches of one epoch (Poisson sampling, memory-bounded); torch's global
        generator is reseeded at the start of every logical step. Ends as soon as the planned
        steps are done, even in mid-epoch (a run resumed after a partial epoch), so no caller
        can take a step the plan did not account for."""
        from opacus.utils.batch_memory_manager import BatchMemoryManager

        if self.exhausted:
            return
        with BatchMemoryManager(
            data_loader=self.loader, max_physical_batch_size=self.physical_units, optimizer=self.optimizer
        ) as loader:
            for (indices,) in loader:
                first, self._fresh = self._fresh, False
                if first:
                    self.step_seed = derive_seed(self.seed, "dp-step", self.steps_done)
                    torch.manual_seed(self.step_seed)
                rows = indices if self.groups is None else self.rows_of_groups(indices)
                if self.groups is not None:
                    self._limits = self._row_limits[rows].to(self.device)
                yield Batch(rows.to(self.device), self.step_seed, first)
                if self.exhausted:
                    return

    def rows_of_groups(self, groups: torch.Tensor) -> torch.Tensor:
        """The row indices of the sampled ``groups`` (group codes), each group's rows together."""
        if not groups.numel():
            return torch.zeros(0, dtype=torch.long)
        groups = groups.cpu().long()
        parts = [self._group_rows[self._group_start[g] : self._group_start[g + 1]] for g in groups.tolist()]
        return torch.cat(parts)

    def step(self, *rows: torch.Tensor, shared: tuple[Any, ...] = ()) -> bool:
        """Per-row gradients of this physical batch into the optimizer; True when a logical step completed.

        With groups, ``rows`` must be the rows of the last batch ``batches()`` yielded (their
        clipping bounds ``C / n_g`` were set with it)."""
        if self.groups is not None:
            limits = self._limits if rows[0].shape[0] else torch.zeros(0, device=self.device)
            if limits is None or limits.shape[0] != rows[0].shape[0]:
                raise RuntimeError("with groups, step() takes the rows of the batch batches() yielded last")
            if self.ghost:
                clipped_gradient_sum(self.module, list(self.params.values()), rows, shared, max_grad_norm=limits)
            else:
                clipped_per_sample_sum(self.module, self.params, rows, shared, limits=limits)
        elif self.clipped_sums:
            clipped_gradient_sum(self.module, list(self.params.values()), rows, shared, max_grad_norm=self.run.privacy.max_grad_norm)
        elif rows[0].shape[0]:
            params = {name: p.detach() for name, p in self.params.items()}
            grads = per_sample_gradients(self.module, params, rows, shared)
            for name, p in self.params.items():
                p.grad_sample = grads[name]
        else:  # an empty Poisson batch still takes its (pure-noise) step
            for p in self.params.values():
                p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
        self.optimizer.step()
        completed = not self.optimizer._is_last_step_skipped
        self.optimizer.zero_grad(set_to_none=True)
        self._fresh = completed
        return completed


__all__ = ["DPSGD", "Batch", "check_module", "clipped_gradient_sum", "clipped_per_sample_sum", "make_dp_optimizer", "per_sample_gradients", "secure_generator"]
