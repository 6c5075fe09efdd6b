"""What a training run did, in words a page shows: its epochs (or none), an early stop, its file size, its notes.

One place for these words, so the Models page, the job cards and the Jobs page say the same:

- ``EPOCHLESS``: model kinds whose ``epochs`` are not passes over the data (MST's are rounds
  of estimation from marginals): they show no epochs, and their progress counts rounds.
- ``run_length`` — ``"4 of 5 · stopped early"``-style facts from the metrics the engine records
  (``epochs_run``, ``epochs_planned``, ``stopped_early``, ``best_epoch``).
- ``stopped_early_text`` — ``"stopped early at epoch 4 of 5"``.
- ``file_size_text`` — the stored model object's size (``n_bytes``) in B, KB, MB or GB.
- ``run_notes`` — the run's notes (``metrics["notes"]``: a batch rounded to a multiple of pac, ...).
"""

from __future__ import annotations

from typing import Any

EPOCHLESS: dict[str, str] = {"mst": "estimation round"}
"""Model kind -> what its ``epochs`` count, for kinds that have no epochs (passes over the data)."""


def has_epochs(model_type: str | None) -> bool:
    """False for a model kind whose "epochs" are not passes over the data (MST)."""
    return model_type not in EPOCHLESS


def stopped_early_text(epochs_run: int, epochs_planned: int | None) -> str:
    """``"stopped early at epoch 4 of 5"`` (``"stopped early at epoch 4"`` when the plan is unknown)."""
    return f"stopped early at epoch {epochs_run}" + (f" of {epochs_planned}" if epochs_planned else "")


def planned_epochs(metrics: dict[str, Any], config: dict[str, Any] | None = None) -> int | None:
    """The epochs the run was set to train: the engine's record, else the configured number (None: unknown)."""
    for value in (metrics.get("epochs_planned"), (config or {}).get("epochs")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def early_stop(metrics: dict[str, Any], config: dict[str, Any] | None = None) -> str | None:
    """``"stopped early at epoch 4 of 5"`` for a run that early stopping ended, else None."""
    run = metrics.get("epochs_run")
    if not metrics.get("stopped_early") or not isinstance(run, int):
        return None
    text = stopped_early_text(run, planned_epochs(metrics, config))
    best = metrics.get("best_epoch")
    return f"{text} (best epoch {best} kept)" if isinstance(best, int) and best != run else text


def file_size_text(n_bytes: int | None) -> str:
    """``"812 B"``, ``"48.2 KB"``, ``"3.1 MB"``, ``"1.20 GB"``: the size of the stored model object."""
    if not n_bytes:
        return "—"
    size = float(n_bytes)
    if size < 1_000:
        return f"{int(size)} B"
    if size < 1_000_000:
        return f"{size / 1e3:.1f} KB"
    if size < 1_000_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.2f} GB"


def run_notes(metrics: dict[str, Any]) -> list[str]:
    """The run's notes (``metrics["notes"]``), as plain strings."""
    notes = metrics.get("notes") or []
    return [str(note) for note in notes if str(note).strip()] if isinstance(notes, list) else []


__all__ = ["EPOCHLESS", "early_stop", "file_size_text", "has_epochs", "planned_epochs", "run_notes",
           "stopped_early_text"]
