"""The one epoch loop every model trains in (``Synthesizer.fit`` calls ``run_epochs``).

Per epoch, in this order: stop when early stopping says so or the trainer is exhausted (a DP
run's planned steps); seed torch from ``(seed, "epoch", epoch)``; the trainer's batches and
steps, their losses averaged; the validation loss (when early stopping is on) and the best
weights kept; the history row, the progress report, the checkpoint; stop when the time limit
is crossed. The metrics' names are the same for every model:

- ``history``: one row per epoch: ``epoch`` (from 1), the step losses by the trainer's names,
  the trainer's ``epoch_metrics()``, ``val_loss`` when there is one;
- ``best_epoch`` / ``best_val_loss``: the epoch whose weights were kept;
- ``stopped_early``: early stopping ended the run before its planned epochs;
- ``stopped_on_time``: the time limit ended it;
- ``train_seconds``: seconds spent in the loop (an interrupted run's included on resume).

Under ``torchrun`` (``engine.distributed``) the loop is the same on every process; only
rank 0 reports progress and writes checkpoints.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from engine.distributed import agree, average_gradients, broadcast_object, world
from engine.models.early_stopping import EarlyStopping
from engine.trainer import Trainer

# A progress report every this many steps inside an epoch (besides the one at its end).
REPORT_EVERY = 50


class LoopOwner(Protocol):
    """What the loop needs of the model it trains for (``Synthesizer`` keeps it): where the
    metrics go, the resume point, the epoch seeds, progress and checkpoints."""

    metrics_: dict[str, Any]
    on_progress: Any

    def _resume_point(self) -> tuple[int, Any] | None: ...

    def _epoch_seed(self, epoch: int) -> int: ...

    def _record_epoch(self, epoch: int, losses: dict[str, float], *, val_loss: float | None = None, best: bool = False) -> None: ...

    def _report(self, *, epoch: int, step: int, steps_per_epoch: int, losses: dict[str, float] | None = None) -> None: ...

    def _maybe_checkpoint(self, epoch: int, state: dict[str, Any]) -> Any: ...


def run_epochs(model: LoopOwner, trainer: Trainer, *, epochs: int, patience: int | None, time_limit_s: float | None) -> None:
    """Train ``trainer`` for up to ``epochs`` epochs on behalf of ``model`` (its metrics, progress, checkpoints).

    ``patience``: epochs without validation improvement before stopping (None: never early
    stop and keep the last weights). ``time_limit_s``: stop after the epoch that crosses this
    many seconds of training (None: no limit).
    """
    stopper = EarlyStopping(patience)
    best: dict[str, Any] | None = None
    first = 0
    resume = model._resume_point()
    if resume is not None:
        first, state = resume
        trainer.load_state(state["trainer"])
        stopper = EarlyStopping.from_state(state["early"])
        best = state["best"]
    average_gradients(trainer.parallel_parts())  # under torchrun: rank 0's weights, averaged gradients
    main = world().is_main
    metrics = model.metrics_
    started = time.perf_counter() - float(metrics.get("train_seconds", 0.0))
    metrics["stopped_on_time"] = False
    for epoch in range(first, epochs):
        if stopper.should_stop or trainer.exhausted:
            break
        seed = model._epoch_seed(epoch)
        losses = _train_epoch(model, trainer, epoch=epoch, seed=seed, main=main)
        losses.update(trainer.epoch_metrics())
        val_loss = broadcast_object(trainer.validation_loss()) if patience is not None else None  # rank 0's decides
        improved = False
        if val_loss is not None:
            trainer.after_validation(val_loss)
            improved = stopper.update(epoch, val_loss)
            if improved:
                best = trainer.kept_weights()
        metrics["train_seconds"] = time.perf_counter() - started
        model._record_epoch(epoch, losses, val_loss=val_loss, best=improved)
        shown = {**losses, **({"val_loss": val_loss} if val_loss is not None else {})}
        if main:
            model._report(epoch=epoch, step=trainer.steps_per_epoch, steps_per_epoch=trainer.steps_per_epoch, losses=shown)
            model._maybe_checkpoint(epoch, {"trainer": trainer.state(), "early": stopper.state(), "best": best})
        out_of_time = time_limit_s is not None and time.perf_counter() - started >= time_limit_s
        if agree(out_of_time) and epoch + 1 < epochs:
            metrics["stopped_on_time"] = True
            break
    metrics["stopped_early"] = bool(stopper.should_stop and len(metrics["history"]) < epochs)
    if best is not None:
        trainer.load_kept_weights(best)
    metrics.update(trainer.finish())


def _train_epoch(model: LoopOwner, trainer: Trainer, *, epoch: int, seed: int, main: bool) -> dict[str, float]:
    """One epoch of steps; the mean of each loss the steps returned."""
    totals: dict[str, Any] = {}
    steps = 0
    for batch in trainer.batches(epoch, seed):
        losses = trainer.step(batch)
        steps += 1
        for name, value in losses.items():
            totals[name] = totals[name] + value if name in totals else value
        if main and totals and model.on_progress is not None and steps % REPORT_EVERY == 0 and steps < trainer.steps_per_epoch:
            model._report(epoch=epoch, step=steps, steps_per_epoch=trainer.steps_per_epoch, losses=_means(totals, steps))
    return _means(totals, max(1, steps))


def _means(totals: dict[str, Any], steps: int) -> dict[str, float]:
    return {name: float(value) / steps for name, value in totals.items()}


__all__ = ["REPORT_EVERY", "run_epochs"]
