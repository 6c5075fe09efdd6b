"""A dataset's privacy budget: caps set by an admin, reservations, commits and releases.

The life of a DP training job's charge:

1. ``reserve`` — before the job reads any data. In one transaction: lock the dataset's budget
   row, then a conditional ``UPDATE privacy_budgets SET epsilon_reserved = epsilon_reserved + :e
   ... WHERE epsilon_spent + (epsilon_reserved + :e) <= epsilon_cap AND (the same for delta)``,
   then a ``reserve`` entry on the ledger. The table's CHECK constraints
   (``spent + reserved <= cap``) refuse any write that would overspend, whatever the code does;
   a request that does not fit raises ``PrivacyBudgetExceededError`` with what is left.
2. ``commit`` — when training starts (the first DP step may run): the reserved amount moves
   to ``spent`` for good. There is no refund after this, whatever happens to the job (a job
   that stops early has still run DP steps on the data).
3. ``release`` — only for a job that never started: the reservation is returned.

``commit`` and ``release`` are idempotent (a second call returns the reservation as it is);
``release`` after ``commit`` and ``commit`` after ``release`` are refused. ``reserve`` is
idempotent per job: a retried job gets back its open or committed reservation (and then sees
from ``state == "committed"`` that DP steps already ran: it must resume from its checkpoint,
whose accountant state continues the same budget, or give up) rather than a second one.

Concurrency: on PostgreSQL the budget row lock (``SELECT ... FOR UPDATE``) serialises the
transactions of one dataset, and the conditional UPDATE would still refuse an overspend without
it (PostgreSQL re-checks its WHERE on the newest row version); on SQLite every transaction is
``BEGIN IMMEDIATE``. Budget amounts are IEEE doubles compared exactly as the CHECK constraint
compares them, so a request that fits only by rounding is refused (never the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from infra.db.errors import ConfigError, ConflictError, NotFoundError
from infra.db.lookup import get_owned
from infra.db.models import Dataset, Job, PrivacyBudget, PrivacyLedgerEntry, User
from infra.db.session import TenantSession
from infra.privacy.errors import PermissionDeniedError, PrivacyBudgetExceededError, PrivacyBudgetMissingError
from infra.privacy.ledger import append_entry, list_entries
from infra.privacy.rdp import RdpCurve
from infra.records.audit import record_event
from infra.records.authz import role_allows
from infra.records.tenancy import role_of

ReservationState = Literal["reserved", "committed", "released"]


# --- values returned ------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """A dataset's budget: caps, what is spent (committed), reserved (open) and left."""

    dataset_id: str
    epsilon_cap: float
    delta_cap: float
    epsilon_spent: float
    delta_spent: float
    epsilon_reserved: float
    delta_reserved: float

    @property
    def epsilon_remaining(self) -> float:
        return max(0.0, self.epsilon_cap - self.epsilon_spent - self.epsilon_reserved)

    @property
    def delta_remaining(self) -> float:
        return max(0.0, self.delta_cap - self.delta_spent - self.delta_reserved)

    def describe(self) -> str:
        """"epsilon 0.5 of 2 left (1.25 spent, 0.25 reserved), delta ... left (...)"."""
        return (
            f"epsilon {self.epsilon_remaining:.6g} of {self.epsilon_cap:.6g} left "
            f"({self.epsilon_spent:.6g} spent, {self.epsilon_reserved:.6g} reserved), "
            f"delta {self.delta_remaining:.6g} of {self.delta_cap:.6g} left "
            f"({self.delta_spent:.6g} spent, {self.delta_reserved:.6g} reserved)"
        )

    def runs_left(self, epsilon: float, delta: float, *, most: int = 10_000) -> int:
        """How many more training runs charging (epsilon, delta) each fit, up to ``most``.

        Each charge is checked the way ``reserve`` checks it (the same IEEE sums, no rounding
        in the user's favour), so the count is what the ledger will accept, one run after another.
        """
        epsilon, delta = amounts(epsilon, delta)
        reserved_epsilon, reserved_delta, n = self.epsilon_reserved, self.delta_reserved, 0
        while (n < most and self.epsilon_spent + (reserved_epsilon + epsilon) <= self.epsilon_cap
               and self.delta_spent + (reserved_delta + delta) <= self.delta_cap):
            reserved_epsilon, reserved_delta, n = reserved_epsilon + epsilon, reserved_delta + delta, n + 1
        return n

    def describe_runs(self, epsilon: float, delta: float) -> str:
        """"this dataset's budget allows 3 more runs of epsilon 1, delta 1e-6" (or "no more runs ...: ...")."""
        n = self.runs_left(epsilon, delta)
        size = f"epsilon {short_number(epsilon)}, delta {short_number(delta)}"
        if n == 0:
            return f"this dataset's budget allows no more runs of {size}: {self.describe()}"
        return f"this dataset's budget allows {n} more run{'s' if n != 1 else ''} of {size}"

    @classmethod
    def of(cls, budget: PrivacyBudget) -> BudgetStatus:
        return cls(budget.dataset_id, budget.epsilon_cap, budget.delta_cap, budget.epsilon_spent, budget.delta_spent,
                   budget.epsilon_reserved, budget.delta_reserved)


@dataclass(frozen=True)
class Reservation:
    """One job's charge to a dataset's budget; ``id`` is its ``reserve`` ledger entry's id."""

    id: str
    dataset_id: str
    job_id: str | None
    epsilon: float
    delta: float
    state: ReservationState
    mechanism: str | None = None
    rdp_curve: RdpCurve | None = None


# --- validation and helpers ---------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _caps(epsilon_cap: Any, delta_cap: Any) -> tuple[float, float]:
    epsilon_cap, delta_cap = _number("epsilon_cap", epsilon_cap), _number("delta_cap", delta_cap)
    if epsilon_cap <= 0:
        raise ConfigError(f"epsilon_cap must be positive; got {epsilon_cap!r}")
    if not 0 < delta_cap < 1:
        raise ConfigError(f"delta_cap must lie in (0, 1); got {delta_cap!r}")
    return epsilon_cap, delta_cap


def short_number(value: float) -> str:
    """A privacy amount as people write it: 1, 0.5, 1e-6 (not 1e-06)."""
    return f"{value:.6g}".replace("e-0", "e-").replace("e+0", "e+")


def amounts(epsilon: Any, delta: Any) -> tuple[float, float]:
    """A charge's (epsilon, delta), validated: epsilon > 0, 0 <= delta < 1."""
    epsilon, delta = _number("epsilon", epsilon), _number("delta", delta)
    if epsilon <= 0:
        raise ConfigError(f"epsilon must be positive; got {epsilon!r}")
    if not 0 <= delta < 1:
        raise ConfigError(f"delta must lie in [0, 1); got {delta!r}")
    return epsilon, delta


def require_admin(session: TenantSession, actor: Any) -> str:
    """The audit label of ``actor``, who must be an owner or admin of the session's tenant.

    ``actor`` is the acting user's id (``users.id``), or an object with ``user_id`` (and
    optionally ``label``) such as the login layer's actor. The role is read from the session
    tenant's memberships, so an admin of another tenant has no role here.
    """
    user_id = getattr(actor, "user_id", actor)
    role = role_of(session, user_id=user_id) if isinstance(user_id, str) and user_id else None
    if not role_allows(role, at_least="admin"):
        raise PermissionDeniedError(
            f"only a tenant owner or admin may change privacy settings; user {user_id!r} is "
            f"{'not a member' if role is None else 'a ' + role} of tenant {session.tenant!r}"
        )
    label = getattr(actor, "label", None)
    if label:
        return str(label)
    user = session.get(User, user_id)
    return (user.email or user.subject) if user else user_id


def actor_user_id(actor: Any) -> str:
    """The user id of ``actor`` (a user id, or an object with ``user_id``)."""
    return str(getattr(actor, "user_id", actor))


def _budget_query(session: TenantSession, dataset_id: str) -> Any:
    return select(PrivacyBudget).where(PrivacyBudget.tenant_id == session.tenant, PrivacyBudget.dataset_id == dataset_id)


def lock_budget(session: TenantSession, dataset_id: str) -> PrivacyBudget:
    """The dataset's budget row, locked for the rest of the transaction and freshly read.

    ``PrivacyBudgetMissingError`` when the dataset has none (``NotFoundError`` when the dataset
    itself is unknown to this tenant).
    """
    budget = session.scalars(
        _budget_query(session, dataset_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if budget is None:
        get_owned(session, Dataset, dataset_id, what="dataset")
        raise PrivacyBudgetMissingError(
            f"dataset {dataset_id!r} has no privacy budget: a tenant owner or admin must set one "
            "(epsilon and delta caps) before differentially private training"
        )
    return budget


def _fit(spent: float, reserved: float, cap: float) -> tuple[float, float]:
    """(spent, reserved) nudged down by rounding ulps, if needed, so that spent + reserved <= cap.

    Only ever needed after a commit, where (s + e) plus the fresh sum of open reservations may
    round one ulp above the cap that s + r fitted under; the CHECK constraint must still hold.
    """
    if spent + reserved <= cap:
        return spent, reserved
    spent = min(spent, cap)
    reserved = min(reserved, cap - spent)
    for _ in range(4):
        if spent + reserved <= cap:
            return spent, max(reserved, 0.0)
        reserved = math.nextafter(reserved, 0.0)
    return spent, 0.0


# --- budget ---------------------------------------------------------------------------------


def get_budget(session: TenantSession, *, dataset_id: str) -> BudgetStatus:
    """The dataset's budget now; ``PrivacyBudgetMissingError`` when none was set."""
    budget = session.scalars(_budget_query(session, dataset_id).execution_options(populate_existing=True)).first()
    if budget is None:
        return BudgetStatus.of(lock_budget(session, dataset_id))  # raises the right error
    return BudgetStatus.of(budget)


def set_budget(
    session: TenantSession, *, dataset_id: str, epsilon_cap: float, delta_cap: float, actor: Any
) -> BudgetStatus:
    """Set (or change) the dataset's (epsilon, delta) caps; ``actor`` is the user id of an owner or admin.

    A cap may not go below what is already spent plus reserved (``ConflictError`` says how
    much that is). Audited as ``privacy_budget.set``.
    """
    epsilon_cap, delta_cap = _caps(epsilon_cap, delta_cap)
    who = require_admin(session, actor)
    dataset = get_owned(session, Dataset, dataset_id, what="dataset")
    budget = session.scalars(
        _budget_query(session, dataset.id).with_for_update().execution_options(populate_existing=True)
    ).first()
    previous = None
    if budget is None:
        budget = PrivacyBudget(tenant_id=session.tenant, dataset_id=dataset.id, epsilon_cap=epsilon_cap,
                               delta_cap=delta_cap, epsilon_spent=0.0, delta_spent=0.0, epsilon_reserved=0.0,
                               delta_reserved=0.0, ledger_seq=0)
        try:
            with session.begin_nested():
                session.add(budget)
        except IntegrityError:  # set concurrently by another admin: change that one instead
            return set_budget(session, dataset_id=dataset_id, epsilon_cap=epsilon_cap, delta_cap=delta_cap,
                              actor=actor)
    else:
        previous = {"epsilon_cap": budget.epsilon_cap, "delta_cap": budget.delta_cap}
        used_epsilon = budget.epsilon_spent + budget.epsilon_reserved
        used_delta = budget.delta_spent + budget.delta_reserved
        if used_epsilon > epsilon_cap or used_delta > delta_cap:
            raise ConflictError(
                f"dataset {dataset.name!r} has already used epsilon {used_epsilon:.6g} and delta {used_delta:.6g} "
                f"(spent + reserved): the caps cannot go below that (asked for epsilon {epsilon_cap:.6g}, "
                f"delta {delta_cap:.6g})"
            )
        budget.epsilon_cap, budget.delta_cap = epsilon_cap, delta_cap
        session.flush()
    record_event(session, actor=who, action="privacy_budget.set", object_type="dataset", object_id=dataset.id,
                 details={"from": previous, "to": {"epsilon_cap": epsilon_cap, "delta_cap": delta_cap},
                          "user_id": actor_user_id(actor)})
    return BudgetStatus.of(budget)


# --- reservations ---------------------------------------------------------------------------


def _closing_entries(session: TenantSession, reserve_entry: PrivacyLedgerEntry) -> list[PrivacyLedgerEntry]:
    entries = list_entries(session, dataset_id=reserve_entry.dataset_id, job_id=reserve_entry.job_id,
                           kinds=("commit", "release"))
    return [e for e in entries if (e.details or {}).get("reservation_id") == reserve_entry.id]


def reservation_from_entries(
    reserve_entry: PrivacyLedgerEntry, closing_entry: PrivacyLedgerEntry | None = None
) -> Reservation:
    """The reservation a ``reserve`` ledger entry opened, as its ``commit`` or ``release`` entry (if any) left it.

    Its RDP curve is the one stored at commit, else the one stored with the reservation.
    """
    state: ReservationState = "reserved"
    curve_data = (reserve_entry.details or {}).get("rdp")
    if closing_entry is not None:
        state = "committed" if closing_entry.entry_kind == "commit" else "released"
        curve_data = (closing_entry.details or {}).get("rdp") or curve_data
    return Reservation(
        id=reserve_entry.id, dataset_id=reserve_entry.dataset_id, job_id=reserve_entry.job_id,
        epsilon=reserve_entry.epsilon, delta=reserve_entry.delta, state=state, mechanism=reserve_entry.mechanism,
        rdp_curve=RdpCurve.from_dict(curve_data) if curve_data else None,
    )


def _reservation(session: TenantSession, reserve_entry: PrivacyLedgerEntry) -> Reservation:
    closing = _closing_entries(session, reserve_entry)
    return reservation_from_entries(reserve_entry, closing[0] if closing else None)


def _reserve_entry(session: TenantSession, reservation: Reservation | str) -> PrivacyLedgerEntry:
    reservation_id = reservation.id if isinstance(reservation, Reservation) else str(reservation)
    entry = session.scalars(
        select(PrivacyLedgerEntry).where(
            PrivacyLedgerEntry.tenant_id == session.tenant, PrivacyLedgerEntry.id == reservation_id,
            PrivacyLedgerEntry.entry_kind == "reserve",
        )
    ).first()
    if entry is None:
        raise NotFoundError(f"privacy reservation {reservation_id!r} not found")
    return entry


def get_reservation(session: TenantSession, *, reservation_id: str) -> Reservation:
    """The reservation with this id, in its current state."""
    return _reservation(session, _reserve_entry(session, reservation_id))


def reservation_for_job(session: TenantSession, *, dataset_id: str, job_id: str) -> Reservation | None:
    """The job's newest reservation on the dataset that was not released, or None."""
    for entry in reversed(list_entries(session, dataset_id=dataset_id, job_id=job_id, kinds=("reserve",))):
        reservation = _reservation(session, entry)
        if reservation.state != "released":
            return reservation
    return None


def _curve_details(rdp_curve: RdpCurve | dict[str, Any] | None) -> dict[str, Any]:
    if rdp_curve is None:
        return {}
    curve = rdp_curve if isinstance(rdp_curve, RdpCurve) else RdpCurve.from_dict(rdp_curve)
    return {"rdp": curve.to_dict()}


def reserve(
    session: TenantSession,
    *,
    dataset_id: str,
    job_id: str,
    epsilon: float,
    delta: float,
    mechanism: str | None = None,
    rdp_curve: RdpCurve | dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> Reservation:
    """Reserve (epsilon, delta) of the dataset's budget for ``job_id``, before the job reads data.

    Refused with ``PrivacyBudgetExceededError`` (what is left in the message and on the error)
    when it does not fit; ``PrivacyBudgetMissingError`` when the dataset has no budget. A job
    that already holds an open or committed reservation on the dataset gets it back
    (``ConflictError`` if it asks for different amounts). ``rdp_curve`` (the run's planned RDP
    curve) may be given here or at ``commit``.
    """
    epsilon, delta = amounts(epsilon, delta)
    extra = _curve_details(rdp_curve)
    budget = lock_budget(session, dataset_id)
    job = get_owned(session, Job, job_id, what="job")
    existing = reservation_for_job(session, dataset_id=budget.dataset_id, job_id=job.id)
    if existing is not None:
        if (existing.epsilon, existing.delta) != (epsilon, delta):
            raise ConflictError(
                f"job {job.id} already holds a {existing.state} reservation of epsilon {existing.epsilon:.6g}, "
                f"delta {existing.delta:.6g} on dataset {dataset_id!r}; it cannot reserve a different amount"
            )
        return existing
    result = session.execute(
        update(PrivacyBudget)
        .where(
            PrivacyBudget.tenant_id == session.tenant,
            PrivacyBudget.dataset_id == budget.dataset_id,
            PrivacyBudget.epsilon_spent + (PrivacyBudget.epsilon_reserved + epsilon) <= PrivacyBudget.epsilon_cap,
            PrivacyBudget.delta_spent + (PrivacyBudget.delta_reserved + delta) <= PrivacyBudget.delta_cap,
        )
        .values(
            epsilon_reserved=PrivacyBudget.epsilon_reserved + epsilon,
            delta_reserved=PrivacyBudget.delta_reserved + delta,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(budget)
    if result.rowcount != 1:
        status = BudgetStatus.of(budget)
        raise PrivacyBudgetExceededError(
            f"privacy budget of dataset {dataset_id!r} exceeded: job {job.id} asks for epsilon {epsilon:.6g}, "
            f"delta {delta:.6g}, but only {status.describe()}",
            remaining_epsilon=status.epsilon_remaining,
            remaining_delta=status.delta_remaining,
        )
    entry = append_entry(session, budget, entry_kind="reserve", epsilon=epsilon, delta=delta, job_id=job.id,
                         mechanism=mechanism, details={**(details or {}), **extra})
    return _reservation(session, entry)


def _open_reserved(session: TenantSession, dataset_id: str) -> tuple[float, float]:
    entries = list_entries(session, dataset_id=dataset_id)
    closed = {(e.details or {}).get("reservation_id") for e in entries if e.entry_kind in ("commit", "release")}
    open_ = [e for e in entries if e.entry_kind == "reserve" and e.id not in closed]
    return math.fsum(e.epsilon for e in open_), math.fsum(e.delta for e in open_)


def _close(
    session: TenantSession,
    reservation: Reservation | str,
    *,
    kind: Literal["commit", "release"],
    details: dict[str, Any],
) -> Reservation:
    entry = _reserve_entry(session, reservation)
    budget = lock_budget(session, entry.dataset_id)
    current = _reservation(session, entry)  # read after the lock: a concurrent close is visible
    target: ReservationState = "committed" if kind == "commit" else "released"
    if current.state == target:
        return current
    if current.state != "reserved":
        if kind == "release":
            raise ConflictError(
                f"reservation {entry.id} of job {entry.job_id} is committed: DP steps ran on the data, "
                "so its epsilon and delta are spent and cannot be released"
            )
        raise ConflictError(f"reservation {entry.id} of job {entry.job_id} was released; reserve again to train")
    append_entry(session, budget, entry_kind=kind, epsilon=entry.epsilon, delta=entry.delta, job_id=entry.job_id,
                 mechanism=entry.mechanism, details={**details, "reservation_id": entry.id})
    epsilon_reserved, delta_reserved = _open_reserved(session, entry.dataset_id)
    epsilon_spent, delta_spent = budget.epsilon_spent, budget.delta_spent
    if kind == "commit":
        epsilon_spent, delta_spent = epsilon_spent + entry.epsilon, delta_spent + entry.delta
    budget.epsilon_spent, budget.epsilon_reserved = _fit(epsilon_spent, epsilon_reserved, budget.epsilon_cap)
    budget.delta_spent, budget.delta_reserved = _fit(delta_spent, delta_reserved, budget.delta_cap)
    session.flush()
    return _reservation(session, entry)


def commit(
    session: TenantSession,
    *,
    reservation: Reservation | str,
    rdp_curve: RdpCurve | dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> Reservation:
    """Make the reservation's charge final, when training starts; idempotent.

    After this nothing is ever refunded. ``rdp_curve``: the run's RDP curve (its accountant
    history as planned), kept with the charge for the composition report.
    """
    return _close(session, reservation, kind="commit", details={**(details or {}), **_curve_details(rdp_curve)})


def release(session: TenantSession, *, reservation: Reservation | str, reason: str | None = None) -> Reservation:
    """Return the reservation of a job that never started (no data read, no DP step); idempotent.

    ``ConflictError`` when it was already committed.
    """
    return _close(session, reservation, kind="release", details={"reason": reason} if reason else {})


__all__ = [
    "BudgetStatus",
    "actor_user_id",
    "Reservation",
    "amounts",
    "commit",
    "get_budget",
    "get_reservation",
    "lock_budget",
    "release",
    "require_admin",
    "reservation_from_entries",
    "reservation_for_job",
    "reserve",
    "set_budget",
]
