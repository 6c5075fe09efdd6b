"""Privacy budgets and ledgers per dataset, as the workbench shows them, and the admin's changes.

Thin use cases over ``infra.privacy``, one transaction each, with the tenant and acting user
as arguments: an overview of every dataset's budget, one dataset's ledger (verified) and its
composition report, setting a budget, marking a dataset sensitive, the tenant's
"sensitive datasets need DP" policy. ``infra.privacy`` checks the admin role for changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra import privacy
from infra.db import tenant_session
from infra.db.session import TenantSession
from infra.privacy import BudgetStatus, PrivacyBudgetMissingError
from infra.records import catalog
from infra.records.authz import Actor, require_permission


@dataclass(frozen=True)
class DatasetPrivacy:
    """A dataset and its budget (None when no budget was set: DP training is refused then)."""

    dataset_id: str
    name: str
    sensitive: bool
    budget: BudgetStatus | None


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    kind: str
    epsilon: float
    delta: float
    mechanism: str | None
    job_id: str | None
    created_at: datetime
    details: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class DatasetLedger:
    """One dataset's ledger, whether its hash chain verifies, and its composition report."""

    dataset: DatasetPrivacy
    entries: list[LedgerRow]
    verified: bool
    problem: str | None
    composition: dict[str, Any] | None


def _budget_or_none(session: TenantSession, dataset_id: str) -> BudgetStatus | None:
    try:
        return privacy.get_budget(session, dataset_id=dataset_id)
    except PrivacyBudgetMissingError:
        return None


def remaining_budget(tenant: str, *, dataset_id: str, actor: Actor) -> BudgetStatus | None:
    """The dataset's budget now, or None when none was set."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        return _budget_or_none(session, dataset_id)


def overview(tenant: str, *, actor: Actor) -> list[DatasetPrivacy]:
    """Every dataset of the workspace with its budget."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        out = []
        for dataset in catalog.list_datasets(session):
            budget = _budget_or_none(session, dataset.id)
            out.append(DatasetPrivacy(dataset.id, dataset.name, dataset.sensitive, budget))
        return out


def ledger(tenant: str, *, dataset_id: str, actor: Actor) -> DatasetLedger:
    """The dataset's ledger in order, its verification and (with a budget) its composition report."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        dataset = catalog.get_dataset(session, dataset_id)
        budget = _budget_or_none(session, dataset.id)
        entries = [
            LedgerRow(seq=e.seq, kind=e.entry_kind, epsilon=e.epsilon, delta=e.delta, mechanism=e.mechanism,
                      job_id=e.job_id, created_at=e.created_at, details=dict(e.details or {}), hash=e.hash)
            for e in privacy.list_entries(session, dataset_id=dataset.id)
        ]
        verification = privacy.verify_ledger(session, dataset_id=dataset.id) if budget is not None else None
        composition = privacy.composition_report(session, dataset_id=dataset.id).to_dict() if budget is not None else None
        return DatasetLedger(
            dataset=DatasetPrivacy(dataset.id, dataset.name, dataset.sensitive, budget), entries=entries,
            verified=verification.ok if verification is not None else True,
            problem=verification.problem if verification is not None else None, composition=composition,
        )


def set_budget(tenant: str, *, dataset_id: str, epsilon_cap: float, delta_cap: float, actor: Actor) -> BudgetStatus:
    """Set or change the dataset's (epsilon, delta) caps (owner or admin)."""
    with tenant_session(tenant) as session:
        return privacy.set_budget(session, dataset_id=dataset_id, epsilon_cap=epsilon_cap, delta_cap=delta_cap,
                                  actor=actor)


def set_sensitive(tenant: str, *, dataset_id: str, sensitive: bool, actor: Actor) -> bool:
    """Mark the dataset sensitive or not (owner or admin); returns the new value."""
    with tenant_session(tenant) as session:
        return privacy.set_dataset_sensitive(session, dataset_id=dataset_id, sensitive=sensitive, actor=actor).sensitive


def policy(tenant: str, *, actor: Actor) -> bool:
    """Whether the tenant requires differential privacy on datasets marked sensitive."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        return privacy.get_privacy_policy(session).require_dp_on_sensitive


def set_policy(tenant: str, *, require_dp_on_sensitive: bool, actor: Actor) -> bool:
    """Turn the "sensitive datasets need DP" policy on or off (owner or admin); returns it."""
    with tenant_session(tenant) as session:
        return privacy.set_privacy_policy(session, require_dp_on_sensitive=require_dp_on_sensitive,
                                          actor=actor).require_dp_on_sensitive


__all__ = ["DatasetLedger", "DatasetPrivacy", "LedgerRow", "ledger", "overview", "policy", "remaining_budget",
           "set_budget", "set_policy", "set_sensitive"]
