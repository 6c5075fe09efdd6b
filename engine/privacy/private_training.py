"""``make_private``: turn a model's ``Trainer`` into one that trains with DP-SGD (Opacus's idea).

The wrapper is the only place where a trainer meets differential privacy. It keeps the
trainer's contract (the fit loop cannot tell the difference) and changes what DP requires:

- batches are Poisson samples of the rows (``DPSGD.batches``), an epoch is ``int(1/q)``
  logical steps, and the run stops when its planned steps are spent (``exhausted``);
- each step clips every row's gradient and adds noise (``DPSGD.step`` over the trainer's
  ``private_parts()``: its row-loss module and optimizer); what the trainer does after a
  completed step (``after_private_step``: CTGAN's generator update, a weight average) reads
  no row;
- no validation loss (it would be an unaccounted release), no loss in the history or the
  progress: the epsilon spent so far instead;
- after training, the one-hot outputs the trainer names (``marginal_logits``) are calibrated
  to the run's private marginals (``engine.privacy.marginals``: post-processing).

A trainer that ``measures_privately`` (MST: its only reads of the rows are measurements it
charges to the run itself) gets the same reporting without DP-SGD.

``groups`` (an ``engine.privacy.groups.RowGroups``) makes the unit of privacy a group of rows
(an entity): DP-SGD samples and clips groups (``DPSGD``). A trainer that measures privately
counts rows, not groups, so it is refused with groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.trainer import Trainer

if TYPE_CHECKING:  # pragma: no cover
    from engine.privacy.groups import RowGroups
    from engine.privacy.run import PrivateRun


class PrivateTrainer(Trainer):
    """``trainer`` trained under ``run``'s budget (see the module docstring): no validation loss
    (it would be an unaccounted release), no best weights kept, no loss in the history."""

    def __init__(self, trainer: Trainer, *, run: PrivateRun, transformer: Any, n_rows: int, batch_size: int, epochs: int, device: str, seed: int,
                 groups: RowGroups | None = None) -> None:
        self.inner = trainer
        self.run = run
        self.transformer = transformer
        self.dp = None
        self._private_optimizer: Any = None  # the optimizer DP-SGD steps (None without DP-SGD)
        if trainer.measures_privately and groups is not None:
            from engine.errors import ConfigError

            raise ConfigError(
                f"{type(trainer).__name__} measures its statistics per row; it cannot train with rows grouped into entities "
                "(entity-level DP): use a model trained with DP-SGD (argn, tvae, ctgan)"
            )
        if trainer.measures_privately:
            self.steps_per_epoch = trainer.steps_per_epoch
            return
        from engine.privacy.dpsgd import DPSGD, check_module

        module, optimizer = trainer.private_parts()
        check_module(module)
        self._private_optimizer = optimizer
        self.dp = DPSGD(run=run, loss_module=module, optimizer=optimizer, n_rows=n_rows, batch_size=batch_size, epochs=epochs, device=device, seed=seed,
                       groups=groups)
        self.steps_per_epoch = self.dp.steps_per_epoch

    @property
    def exhausted(self) -> bool:
        return self.dp is not None and self.dp.exhausted

    def batches(self, epoch: int, seed: int) -> Iterable[Any]:
        return self.inner.batches(epoch, seed) if self.dp is None else self.dp.batches()

    def step(self, batch: Any) -> Mapping[str, Any]:
        if self.dp is None:
            self.inner.step(batch)
            return {}
        rows, shared = self.inner.private_inputs(batch)
        if self.dp.step(*rows, shared=shared):
            self.inner.after_private_step(steps_done=self.dp.steps_done, seed=batch.seed)
        return {}  # a loss on real rows is not private: the history shows the epsilon spent

    def epoch_metrics(self) -> dict[str, float]:
        return {"epsilon": self.run.epsilon_spent()}

    def state(self) -> dict[str, Any]:
        return self.inner.state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state)

    def parallel_parts(self) -> list[tuple[list[Any], Any]]:  # type: ignore[override]
        """The inner trainer's, less the DP-SGD optimizer (it adds the processes' sums itself)."""
        return [(modules, opt) for modules, opt in self.inner.parallel_parts() if opt is not self._private_optimizer]

    def finish(self) -> dict[str, Any]:
        metrics = self.inner.finish()
        target = self.inner.marginal_logits()
        if target is not None:
            from engine.privacy.marginals import calibrate

            logits, bias = target
            calibrate(run=self.run, transformer=self.transformer, logits=logits, bias=bias)
        return {**metrics, "epsilon_so_far": self.run.epsilon_spent()}


def make_private(trainer: Trainer, *, run: PrivateRun, transformer: Any, n_rows: int, batch_size: int, epochs: int, device: str, seed: int,
                 groups: RowGroups | None = None) -> PrivateTrainer:
    """``trainer`` trained with DP-SGD under ``run``: Poisson batches of expected ``batch_size``
    out of ``n_rows``, noise for ``epochs`` planned epochs, ``seed`` for public randomness only;
    ``groups``: the rows' entities, sampled and clipped as units (None: each row is one)."""
    return PrivateTrainer(trainer, run=run, transformer=transformer, n_rows=n_rows, batch_size=batch_size, epochs=epochs, device=device, seed=seed,
                          groups=groups)


__all__ = ["PrivateTrainer", "make_private"]
