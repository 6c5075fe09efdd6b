"""What a model hands the one fit loop: a small ``Trainer`` (its networks, optimisers and one step).

``Synthesizer.fit`` (``engine.models.fit_loop``) owns everything around the steps: resume,
per-epoch seeds, the time limit, early stopping with the best weights restored, progress,
checkpoints and the metrics' names. A model supplies only what is its own, by subclassing
``Trainer``:

- ``steps_per_epoch`` and ``batches(epoch, seed)``: the batches of one epoch. The loop has
  already seeded torch's global generator with ``seed`` (dropout); a model shuffles with its
  own generator from the same seed, so a resumed run draws what an uninterrupted one drew.
- ``step(batch) -> {name: loss}``: one optimisation step; the losses (detached 0-d tensors or
  floats) are averaged over the epoch by the loop and recorded under these names.
- ``epoch_metrics()``: further values of the epoch's history row (ARGN's learning rate).
- ``validation_loss()``: the loss on the validation rows, or None when there are none;
  ``after_validation(loss)``: a learning-rate schedule on it.
- ``kept_weights()`` / ``load_kept_weights(w)``: a copy of the weights early stopping keeps
  (the best epoch's), and putting them back.
- ``state()`` / ``load_state(state)``: everything a checkpoint needs to continue exactly.
- ``finish()``: put the networks in evaluation mode; returns run metrics (batch size, ...).
- ``parallel_parts()``: ``[(modules, optimizer)]``: what data-parallel training under
  ``torchrun`` synchronises (``engine.distributed``); ``batches`` hands each process
  its ``shard`` of every global batch.

It sits at the engine's root because both sides use it: the models' trainers subclass it and
``engine.privacy.private_training``'s wrapper keeps its contract. Hooks for differential
privacy, used only by that wrapper (the model never branches on DP in its steps):

- ``private_parts()``: ``(loss_module, optimizer)``: the module whose ``forward(*rows,
  *shared)`` gives each row's loss (optionally ``losses_and_gradient_norms``) and the
  optimizer over its parameters, which DP-SGD wraps.
- ``private_inputs(batch)``: ``(rows, shared)`` for one physical Poisson batch (its row
  indices, the logical step's public seed, whether it starts the step).
- ``after_private_step(steps_done, seed)``: what follows a completed logical step
  (CTGAN's generator update, a weight average, a parameter clamp): post-processing.
- ``marginal_logits()``: ``(logits, bias)`` of the one-hot blocks under the prior, so the
  wrapper can calibrate them to the private marginals after training (post-processing);
  None when the model has nothing to calibrate.
- ``measures_privately``: True for a model whose only reads of the rows are accounted
  measurements it takes itself (MST): the wrapper then adds no DP-SGD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


class Trainer:
    """The base every model's trainer subclasses; defaults suit a model without validation."""

    steps_per_epoch: int = 1
    measures_privately: bool = False

    @property
    def exhausted(self) -> bool:
        """True when no further step may be taken (a DP run's planned steps are done)."""
        return False

    def batches(self, epoch: int, seed: int) -> Iterable[Any]:
        raise NotImplementedError

    def step(self, batch: Any) -> Mapping[str, Any]:
        raise NotImplementedError

    def epoch_metrics(self) -> dict[str, float]:
        return {}

    def validation_loss(self) -> float | None:
        return None

    def after_validation(self, loss: float) -> None:
        return None

    def kept_weights(self) -> dict[str, Any] | None:
        return None

    def load_kept_weights(self, weights: dict[str, Any]) -> None:
        return None

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self) -> dict[str, Any]:
        return {}

    def parallel_parts(self) -> list[tuple[list[torch.nn.Module], torch.optim.Optimizer]]:
        return []

    # -- hooks for the DP wrapper ------------------------------------------------------------
    def private_parts(self) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        raise NotImplementedError(f"{type(self).__name__} cannot train with DP-SGD")

    def private_inputs(self, batch: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        raise NotImplementedError(f"{type(self).__name__} cannot train with DP-SGD")

    def after_private_step(self, *, steps_done: int, seed: int) -> None:
        return None

    def marginal_logits(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None


def clone_weights(module: Any) -> dict[str, Any]:
    """A detached copy of ``module.state_dict()``: what early stopping keeps of the best epoch."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


__all__ = ["Trainer", "clone_weights"]
