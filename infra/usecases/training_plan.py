"""What a training run will be, told before it is queued: the Train page's hints and defaults.

Each answer comes from the rule that acts on it, never from a copy of it:

- ``auto_choice`` — what ``model="auto"`` trains, from ``engine.training.resolve_auto`` (the
  function ``engine.train`` resolves "auto" with), given the version's stored profile (its
  edits applied) and the privacy setting.
- ``batch_for`` — the batch a model trains with for a requested one (CTGAN: a multiple of its
  ``pac``, ``engine.models.ctgan.model.pac_batch``).
- ``privacy_defaults`` — the per-run (epsilon, delta) offered for a DP run and the budget caps
  offered for a new dataset (``infra.settings``); four default runs fit in a default budget.
- ``runs_left`` — how many runs of a chosen size the dataset's budget still allows
  (``BudgetStatus.runs_left``, checked the way ``reserve`` checks a charge).
- ``schema_plan`` — for a schema dataset version, its tables (rows, columns, primary key,
  parent), the foreign keys training will use (the version's ``source["keys"]``, the keys
  the job's spec carries) and its root tables, which the chosen model learns; every other
  table is learned by ARGN given its parent row (``engine.train_tables``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.training import AutoChoice, resolve_auto
from infra.privacy import BudgetStatus
from infra.settings import get_settings


@dataclass(frozen=True)
class PrivacyDefaults:
    """The (epsilon, delta) one DP run charges by default, and a new budget's caps."""

    run_epsilon: float
    run_delta: float
    budget_epsilon: float
    budget_delta: float


@dataclass(frozen=True)
class SchemaTable:
    """One table of a schema version as the Train page lists it."""

    name: str
    rows: int | None
    columns: int | None
    primary_key: str | None
    parents: tuple[str, ...]  # the tables its foreign keys point at; empty for a root table

    @property
    def is_root(self) -> bool:
        return not self.parents


@dataclass(frozen=True)
class SchemaPlan:
    """What a schema job trains: the tables, the foreign keys (``"child.fk -> parent.pk"``) and the root tables."""

    tables: tuple[SchemaTable, ...]
    foreign_keys: tuple[str, ...]

    @property
    def roots(self) -> list[str]:
        """The tables the chosen model learns (no parent); the others are learned by ARGN given their parent row."""
        return [t.name for t in self.tables if t.is_root]


def _ends(foreign_key: str) -> tuple[str, str]:
    """(child table, parent table) of ``"child.column -> parent.column"``."""
    child, _, parent = str(foreign_key).partition("->")
    return child.strip().rsplit(".", 1)[0], parent.strip().rsplit(".", 1)[0]


def schema_plan(source: Mapping[str, Any]) -> SchemaPlan | None:
    """The tables and keys a job on the version with ``source`` trains with; None for a single table."""
    tables = source.get("tables")
    if not isinstance(tables, Mapping):
        return None
    keys = source.get("keys") if isinstance(source.get("keys"), Mapping) else {}
    primary = dict(keys.get("primary_keys") or {})
    foreign = tuple(str(fk) for fk in keys.get("foreign_keys") or [])
    parents: dict[str, list[str]] = {}
    for fk in foreign:
        child, parent = _ends(fk)
        parents.setdefault(child, []).append(parent)
    return SchemaPlan(
        tables=tuple(
            SchemaTable(name=str(name), rows=(facts or {}).get("rows"), columns=(facts or {}).get("columns"),
                        primary_key=primary.get(name), parents=tuple(dict.fromkeys(parents.get(name, []))))
            for name, facts in tables.items()),
        foreign_keys=foreign,
    )


def auto_choice(profile: Any, *, epsilon: float | None, delta: float | None = None) -> AutoChoice:
    """What "auto" will train on a version with ``profile`` (an ``engine.profiling.Profile``).

    ``epsilon`` None: no differential privacy. The profile's columns are the version's (its
    edits applied), which are the columns the job trains on.
    """
    privacy = None if epsilon is None else {"epsilon": float(epsilon), "delta": float(delta or 0.0)}
    return resolve_auto(columns=list(profile.columns), privacy=privacy, profile=profile)


def batch_for(model: str, batch_size: int) -> int:
    """The batch ``model`` trains with when asked for ``batch_size`` (CTGAN rounds to a multiple of pac)."""
    if model != "ctgan":
        return int(batch_size)
    from engine.models.ctgan.model import CTGAN, pac_batch

    return pac_batch(int(batch_size), int(CTGAN.default_params["pac"]))


def privacy_defaults(*, n_rows: int | None = None) -> PrivacyDefaults:
    """The default DP run and budget; with ``n_rows``, the run's delta stays below 0.1 / rows.

    The engine refuses a delta of 1 / rows or more (it would allow publishing whole rows);
    a tenth of that, rounded down to a power of ten, keeps the default clear of it on any
    table the holdout may shrink.
    """
    settings = get_settings()
    delta = settings.dp_run_delta
    if n_rows and delta >= 0.1 / n_rows:
        delta = 10.0 ** math.floor(math.log10(0.1 / n_rows))
    return PrivacyDefaults(run_epsilon=settings.dp_run_epsilon, run_delta=delta,
                           budget_epsilon=settings.dp_budget_epsilon, budget_delta=settings.dp_budget_delta)


def runs_left(budget: BudgetStatus, *, epsilon: float, delta: float) -> str:
    """"this dataset's budget allows 3 more runs of epsilon 1, delta 1e-6" for the dataset's ``budget``."""
    return budget.describe_runs(epsilon, delta)


__all__ = ["AutoChoice", "PrivacyDefaults", "SchemaPlan", "SchemaTable", "auto_choice", "batch_for", "privacy_defaults",
           "runs_left", "schema_plan"]
