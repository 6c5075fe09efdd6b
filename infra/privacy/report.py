"""The privacy report of a dataset: the budget of record, and the tighter RDP composition beside it.

- **Budget of record — sequential composition.** The committed charges add up: spending
  (e1, d1) then (e2, d2) on the same data is (e1 + e2, d1 + d2)-DP. This is what the budget
  caps limit and what ``reserve`` checks; it never depends on the curves below.
- **RDP composition (informational).** Runs whose Rényi-DP curve is stored with their charge
  compose order by order, which is usually much tighter. Converted at the dataset's delta cap
  (or the ``delta`` asked for): ``delta`` is split into the runs' deltas outside RDP, the
  deltas of runs without a stored curve, and the conversion's own delta; runs without a curve
  are added sequentially (their epsilons on top). The report labels it as such, so nobody
  mistakes it for the number the budget is checked against.

  A charge's curve is the one stored on the ledger with it (at ``reserve`` or ``commit``) or,
  when there is none, the one of the model version its job registered: a worker commits the
  charge as training starts, before the run's RDP curve is known, and the model version's
  ``privacy_spent`` (the manifest's privacy section, immutable like the version) holds the
  accountant history the curve is computed from (``RdpCurve.from_privacy_report``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select

from infra.db.errors import ConfigError
from infra.db.models import ModelVersion
from infra.db.session import TenantSession
from infra.privacy.budget import BudgetStatus, Reservation, get_budget, reservation_from_entries
from infra.privacy.ledger import list_entries
from infra.privacy.rdp import RdpCurve, compose

SEQUENTIAL_LABEL = "sequential composition (sum of committed charges): the budget of record"
RDP_LABEL = ("RDP composition of the stored per-run Rényi-DP curves (informational; "
             "the budget is checked against the sequential sum)")


@dataclass(frozen=True)
class SequentialComposition:
    """The sum of the committed charges: what the budget caps limit."""

    epsilon: float
    delta: float
    runs: int
    label: str = SEQUENTIAL_LABEL


@dataclass(frozen=True)
class RdpComposition:
    """The committed runs composed in RDP (see the module docstring); ``epsilon`` at total ``delta``.

    ``epsilon`` is None (and ``note`` says why) when it cannot be computed: no run has a
    curve, the curves share no order, or the deltas outside RDP use up ``delta``.
    """

    epsilon: float | None
    delta: float
    runs_with_curve: int
    runs_without_curve: int
    order: float | None = None
    note: str | None = None
    label: str = RDP_LABEL


@dataclass(frozen=True)
class CompositionReport:
    """A dataset's privacy spend: the budget, the sequential sum of record, the RDP composition."""

    dataset_id: str
    budget: BudgetStatus
    sequential: SequentialComposition
    rdp: RdpComposition
    charges: tuple[Reservation, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for pages and exports."""
        return {
            "dataset_id": self.dataset_id,
            "budget": {**asdict(self.budget), "epsilon_remaining": self.budget.epsilon_remaining,
                       "delta_remaining": self.budget.delta_remaining},
            "sequential": asdict(self.sequential),
            "rdp": asdict(self.rdp),
            "charges": [
                {"reservation_id": c.id, "job_id": c.job_id, "epsilon": c.epsilon, "delta": c.delta,
                 "mechanism": c.mechanism, "has_rdp_curve": c.rdp_curve is not None}
                for c in self.charges
            ],
        }


def _rdp(charges: list[Reservation], delta: float) -> RdpComposition:
    with_curve = [c for c in charges if c.rdp_curve is not None]
    without = [c for c in charges if c.rdp_curve is None]
    base = {"delta": delta, "runs_with_curve": len(with_curve), "runs_without_curve": len(without)}
    if not with_curve:
        return RdpComposition(epsilon=None, note="no committed run has a stored RDP curve", **base)
    sequential_delta = math.fsum(c.delta for c in without)
    try:
        composed = compose([c.rdp_curve for c in with_curve], delta=delta - sequential_delta)  # type: ignore[misc]
    except ConfigError as err:
        return RdpComposition(epsilon=None, note=str(err), **base)
    epsilon = composed.epsilon + math.fsum(c.epsilon for c in without)
    note = None
    if without:
        note = (f"{len(without)} run(s) without a stored curve are added sequentially "
                f"(epsilon {math.fsum(c.epsilon for c in without):.6g}, delta {sequential_delta:.3g})")
    return RdpComposition(epsilon=epsilon, order=composed.order, note=note, **base)


def committed_charges(session: TenantSession, *, dataset_id: str) -> list[Reservation]:
    """The dataset's committed charges in the order they were committed (one read of the ledger)."""
    entries = list_entries(session, dataset_id=dataset_id, kinds=("reserve", "commit"))
    reserved = {e.id: e for e in entries if e.entry_kind == "reserve"}
    charges = [reservation_from_entries(reserved[entry.details["reservation_id"]], entry)
               for entry in entries if entry.entry_kind == "commit"]
    return _with_model_curves(session, charges)


def _with_model_curves(session: TenantSession, charges: list[Reservation]) -> list[Reservation]:
    """Charges without a stored curve take the one of the model version their job registered, if any."""
    jobs = {c.job_id for c in charges if c.rdp_curve is None and c.job_id is not None}
    if not jobs:
        return charges
    reports = dict(session.execute(
        select(ModelVersion.job_id, ModelVersion.privacy_spent)
        .where(ModelVersion.tenant_id == session.tenant, ModelVersion.job_id.in_(jobs))
    ).all())
    out = []
    for charge in charges:
        report = reports.get(charge.job_id) if charge.rdp_curve is None else None
        if isinstance(report, dict) and report.get("history"):
            try:
                charge = replace(charge, rdp_curve=RdpCurve.from_privacy_report(report))
            except ConfigError:
                pass  # a report without a usable history: the run is added sequentially
        out.append(charge)
    return out


def composition_report(session: TenantSession, *, dataset_id: str, delta: float | None = None) -> CompositionReport:
    """The dataset's privacy report; the RDP figure is converted at ``delta`` (default: the delta cap)."""
    budget = get_budget(session, dataset_id=dataset_id)
    charges = committed_charges(session, dataset_id=dataset_id)
    sequential = SequentialComposition(
        epsilon=math.fsum(c.epsilon for c in charges), delta=math.fsum(c.delta for c in charges), runs=len(charges)
    )
    rdp = _rdp(charges, budget.delta_cap if delta is None else float(delta))
    return CompositionReport(dataset_id=dataset_id, budget=budget, sequential=sequential, rdp=rdp,
                             charges=tuple(charges))


__all__ = ["CompositionReport", "committed_charges", "RdpComposition", "SequentialComposition", "composition_report"]
