"""The privacy ledger: an append-only, hash-chained record of every charge to a dataset's budget.

Each entry's ``hash`` is the SHA-256 of a canonical JSON of the entry (its id, tenant, dataset,
seq, job, kind, epsilon, delta, mechanism, details, time) *including the previous entry's
hash*. Changing any stored field of any entry, removing an entry from the middle, or reordering
entries breaks the chain at that entry; removing entries from the end is caught by the head
anchor (``ledger_seq`` / ``ledger_head``) that the budget row keeps.

Entries are only ever inserted, by ``append_entry`` while the caller holds the budget row's
lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises all
writers), so one dataset's chain has one writer at a time. The session refuses updates and
deletes of entries, and so does the database (triggers; the PostgreSQL app role has only
SELECT and INSERT on the table).

Canonical JSON: sorted keys, no spaces, UTF-8, no NaN; datetimes as ISO-8601 UTC with
microseconds; numbers with an integral value written as integers (so ``1.0`` and ``1``, and
PostgreSQL's JSONB spelling of a large float, hash alike), other floats by their shortest
round-trip repr.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from infra.db.models import PrivacyBudget, PrivacyLedgerEntry
from infra.db.session import TenantSession
from infra.db.types import new_id, utcnow

_HASHED_FIELDS = (
    "id", "tenant_id", "dataset_id", "seq", "job_id", "entry_kind", "epsilon", "delta", "mechanism", "details",
    "prev_hash", "created_at",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored in the ledger (not a finite number)")
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in a ledger entry")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    raise ValueError(f"{type(value).__name__} value {value!r} cannot be stored in the ledger (not JSON)")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (see the module docstring)."""
    return json.dumps(_canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def entry_hash(entry: PrivacyLedgerEntry) -> str:
    """The SHA-256 (hex) that ``entry`` should carry: over its fields and ``prev_hash``."""
    payload = {name: getattr(entry, name) for name in _HASHED_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def json_document(value: dict[str, Any] | None) -> dict[str, Any]:
    """``value`` as it will read back from a JSON column (tuples as lists...), so hashes agree."""
    return json.loads(canonical_json(value or {}))


def append_entry(
    session: TenantSession,
    budget: PrivacyBudget,
    *,
    entry_kind: str,
    epsilon: float,
    delta: float,
    job_id: str | None,
    mechanism: str | None = None,
    details: dict[str, Any] | None = None,
) -> PrivacyLedgerEntry:
    """Append one entry to ``budget``'s dataset ledger and advance the budget's head anchor.

    The caller must hold ``budget``'s row lock for the rest of the transaction.
    """
    entry = PrivacyLedgerEntry(
        id=new_id(),
        tenant_id=session.tenant,
        dataset_id=budget.dataset_id,
        seq=budget.ledger_seq + 1,
        job_id=job_id,
        entry_kind=entry_kind,
        epsilon=float(epsilon),
        delta=float(delta),
        mechanism=mechanism,
        details=json_document(details),
        prev_hash=budget.ledger_head,
        created_at=utcnow(),
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    budget.ledger_seq, budget.ledger_head = entry.seq, entry.hash
    session.flush()
    return entry


def list_entries(
    session: TenantSession, *, dataset_id: str, job_id: str | None = None, kinds: tuple[str, ...] | None = None
) -> list[PrivacyLedgerEntry]:
    """The dataset's ledger in order (``seq``), optionally one job's entries or some kinds only."""
    statement = select(PrivacyLedgerEntry).where(
        PrivacyLedgerEntry.tenant_id == session.tenant, PrivacyLedgerEntry.dataset_id == dataset_id
    )
    if job_id is not None:
        statement = statement.where(PrivacyLedgerEntry.job_id == job_id)
    if kinds is not None:
        statement = statement.where(PrivacyLedgerEntry.entry_kind.in_(kinds))
    return list(session.scalars(statement.order_by(PrivacyLedgerEntry.seq)))


@dataclass(frozen=True)
class LedgerVerification:
    """What ``verify_ledger`` found.

    ``ok`` is True when every entry's hash recomputes, each links to the one before, ``seq``
    runs 1, 2, 3... without gaps, the chain ends where the budget row's anchor says, and the
    budget row's totals agree with the entries. Otherwise ``problem`` says what is wrong and
    ``first_broken_seq`` / ``first_broken_id`` name the first entry that fails (None when the
    chain itself is sound and only the anchor or the totals disagree).
    """

    dataset_id: str
    ok: bool
    entries_checked: int
    first_broken_seq: int | None = None
    first_broken_id: str | None = None
    problem: str | None = None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def verify_ledger(session: TenantSession, *, dataset_id: str) -> LedgerVerification:
    """Recompute the dataset's hash chain and check it against the budget row (see ``LedgerVerification``)."""
    entries = list_entries(session, dataset_id=dataset_id)
    previous_hash: str | None = None
    for position, entry in enumerate(entries, start=1):

        def broken(problem: str, entry: PrivacyLedgerEntry = entry, position: int = position) -> LedgerVerification:
            return LedgerVerification(dataset_id, False, position, entry.seq, entry.id, problem)

        if entry.seq != position:
            return broken(f"entry {entry.id} has seq {entry.seq} where {position} was expected: an entry is missing")
        if entry.prev_hash != previous_hash:
            return broken(f"entry seq {entry.seq} does not link to the entry before it (prev_hash mismatch)")
        try:
            recomputed = entry_hash(entry)
        except ValueError as err:
            return broken(f"entry seq {entry.seq} cannot be hashed: {err}")
        if recomputed != entry.hash:
            return broken(f"entry seq {entry.seq} was altered: its content no longer matches its hash")
        previous_hash = entry.hash

    checked = len(entries)
    budget = session.scalars(
        select(PrivacyBudget)
        .where(PrivacyBudget.tenant_id == session.tenant, PrivacyBudget.dataset_id == dataset_id)
        .execution_options(populate_existing=True)
    ).first()
    anchor_seq, anchor_head = (budget.ledger_seq, budget.ledger_head) if budget else (0, None)
    if (anchor_seq, anchor_head) != (checked, previous_hash):
        return LedgerVerification(
            dataset_id, False, checked, None, None,
            f"the ledger ends at seq {checked} but the budget's anchor says seq {anchor_seq}: "
            "entries were removed from the end, or the anchor was changed",
        )
    if budget is not None:
        problem = _totals_problem(budget, entries)
        if problem:
            return LedgerVerification(dataset_id, False, checked, None, None, problem)
    return LedgerVerification(dataset_id, True, checked)


def _totals_problem(budget: PrivacyBudget, entries: list[PrivacyLedgerEntry]) -> str | None:
    committed = [e for e in entries if e.entry_kind == "commit"]
    closed = {(e.details or {}).get("reservation_id") for e in entries if e.entry_kind in ("commit", "release")}
    open_ = [e for e in entries if e.entry_kind == "reserve" and e.id not in closed]
    expected = {
        "epsilon_spent": math.fsum(e.epsilon for e in committed),
        "delta_spent": math.fsum(e.delta for e in committed),
        "epsilon_reserved": math.fsum(e.epsilon for e in open_),
        "delta_reserved": math.fsum(e.delta for e in open_),
    }
    for column, value in expected.items():
        stored = getattr(budget, column)
        if not _close(stored, value):
            return f"the budget's {column} is {stored!r} but the ledger's entries add up to {value!r}"
    return None


__all__ = ["LedgerVerification", "append_entry", "canonical_json", "entry_hash", "list_entries", "verify_ledger"]
