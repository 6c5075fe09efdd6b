"""Concurrent requests cannot break the workspace's invariants (issue 14: security item 5, the model-line race).

Each case sends its requests at the same moment from threads, each on its own connection, to
the real PostgreSQL (app role under row-level security) and to the embedded SQLite file. To
make the worst interleaving happen every time rather than now and then, every request of a
race waits, just before its first write, until all the others have done their reads too
(``_writes_wait_for_each_other``; a request that cannot get there because another one holds
a lock lets the others go as soon as it is seen waiting for that lock, or after ``HOLD_S``).
The code under test runs unchanged.

- Owners: two owners of a workspace demote, remove or step down at once. Whatever the order,
  the workspace keeps exactly one owner, one request succeeds and the other is refused with
  the reason that holds once the first has happened.
- Model lines: several training submissions on one dataset at once create its model line once
  and all become versions of it; a name only another dataset's line holds is refused.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, event, func, select, text

from infra.db import ConflictError, Database, TenantSession, tenant_session
from infra.db.models import Job, Membership
from infra.jobs.broker import use_broker
from infra.records import catalog, members
from infra.records.authz import Actor, PermissionDeniedError
from infra.records.job_records import list_jobs
from infra.records.tenancy import ensure_tenant, ensure_user, set_member
from infra.storage import LocalStore
from infra.usecases.training import submit_training
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.infra.db_fixtures import migrated_postgres, migrated_sqlite
from tests.workers.support import read_adult, store_dataset

HOLD_S = 0.3
"""How long a request that has done its reads waits for the others before it writes anyway."""
LOCK_POLL_S = 0.01
"""How often a waiting request looks whether another request of the race waits for a lock."""

TRIALS = {"postgresql": 20, "sqlite": 3}
"""Owner races per case: 20 on PostgreSQL, where the race is real; SQLite serialises writers."""


# --- two backends, each a database of its own (other suites' databases are left alone) --------


@pytest.fixture(scope="module")
def sqlite_metadata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated_sqlite(tmp_path_factory.mktemp("concurrency")) as database:
        yield database


@pytest.fixture(scope="module")
def postgresql_metadata() -> Iterator[Database]:
    with migrated_postgres(database="doppel_concurrency_test", owner_role="doppel_concurrency_owner",
                           app_role="doppel_concurrency_app") as setup:
        yield setup.database


@contextmanager
def _lock_waits(database: Database) -> Iterator[Callable[[], int]]:
    """For one race: how many sessions of ``database`` are waiting for a lock right now.

    PostgreSQL says so in ``pg_stat_activity`` (asked as the superuser; only this module's races
    use its database). SQLite starts every transaction with ``BEGIN IMMEDIATE``, which waits while
    another transaction holds the write lock: a ``BEGIN IMMEDIATE`` sent and not yet answered.
    """
    if database.dialect == "postgresql":
        server, name = create_engine(POSTGRES_URL, pool_size=1), database.engine.url.database
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND wait_event_type = 'Lock'")

        def waiting_on_server() -> int:
            with server.connect() as connection:
                return int(connection.scalar(query, {"name": name}))

        try:
            yield waiting_on_server
        finally:
            server.dispose()
        return

    beginning: set[int] = set()  # the cursors whose BEGIN IMMEDIATE has not returned yet

    def sent(_connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            beginning.add(id(cursor))

    def answered(_connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            beginning.discard(id(cursor))

    event.listen(database.engine, "before_cursor_execute", sent)
    event.listen(database.engine, "after_cursor_execute", answered)
    try:
        yield lambda: len(beginning)
    finally:
        event.remove(database.engine, "before_cursor_execute", sent)
        event.remove(database.engine, "after_cursor_execute", answered)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{request.param}_metadata")


class _WriteGate:
    """A barrier for the first writes of ``parties`` requests that also opens when the others cannot come.

    It opens, for every request there and every one that comes later, once all ``parties`` have
    arrived, or once every request not there is waiting for a lock (``blocked()`` of them: one
    of those here holds it, so they would never arrive), or ``HOLD_S`` after the first arrival,
    whichever comes first: as a ``threading.Barrier`` with a timeout that breaks, without
    sleeping out the timeout when the database shows the lock waits.
    """

    def __init__(self, parties: int, blocked: Callable[[], int]) -> None:
        self._parties, self._blocked = parties, blocked
        self._arrived, self._open = 0, False
        self._changed = threading.Condition()

    def arrive(self) -> None:
        with self._changed:
            self._arrived += 1
            if self._arrived >= self._parties:
                self._open = True
                self._changed.notify_all()
            deadline = time.monotonic() + HOLD_S
            while not self._open:
                left = deadline - time.monotonic()
                if left <= 0 or self._arrived + self._blocked() >= self._parties:  # the rest wait for locks held here
                    self._open = True
                    self._changed.notify_all()
                    break
                self._changed.wait(min(left, LOCK_POLL_S))


@contextmanager
def _writes_wait_for_each_other(tenant: str, parties: int, blocked: Callable[[], int]) -> Iterator[None]:
    """Hold every session of ``tenant`` at its first write until ``parties`` sessions are there (the
    ``blocked()`` ones waiting for a lock counted as there), or ``HOLD_S`` has passed."""
    gate = _WriteGate(parties, blocked)
    held: set[int] = set()

    def hold(session: TenantSession, *_: Any) -> None:
        if getattr(session, "tenant", None) != tenant or id(session) in held:
            return
        held.add(id(session))
        gate.arrive()

    event.listen(TenantSession, "before_flush", hold)
    try:
        yield
    finally:
        event.remove(TenantSession, "before_flush", hold)


def _at_once(database: Database, tenant: str, requests: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run ``requests`` in threads at the same moment; each one's error, or None when it succeeded."""
    start = threading.Barrier(len(requests))

    def run(request: Callable[[], Any]) -> BaseException | None:
        start.wait()
        try:
            request()
        except Exception as err:  # noqa: BLE001 - the outcome under test
            return err
        return None

    with (_lock_waits(database) as blocked, _writes_wait_for_each_other(tenant, len(requests), blocked),
          ThreadPoolExecutor(len(requests)) as pool):
        return list(pool.map(run, requests))


def _new_tenant(database: Database, *, tier: str = "starter") -> str:
    name = f"c-{uuid.uuid4().hex[:12]}"
    with tenant_session(name, database=database) as session:
        ensure_tenant(session, display_name=name, tier=tier, actor="test-admin")
    return name


# --- last owner ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerRace:
    """Owners X and Y each make one change at the same moment; the one that comes second is refused."""

    name: str
    x_does: tuple[str, str]  # (action, target): ("demote", "Y") makes Y an admin; ("remove", "X") is X leaving
    y_does: tuple[str, str]
    refusal: type[Exception]
    message: str


OWNER_RACES = [
    OwnerRace("two owners demote each other", ("demote", "Y"), ("demote", "X"),
              PermissionDeniedError, r"your role here is admin; to make or remove owners you need the owner role"),
    OwnerRace("two owners remove each other", ("remove", "Y"), ("remove", "X"),
              PermissionDeniedError, r"you are not a member of this workspace, so you cannot manage members"),
    OwnerRace("two owners step down to admin at once", ("demote", "X"), ("demote", "Y"),
              ConflictError, r"this is the workspace's last owner: make someone else owner first"),
    OwnerRace("two owners leave at once", ("remove", "X"), ("remove", "Y"),
              ConflictError, r"this is the workspace's last owner: make someone else owner first"),
]


def _two_owners(database: Database) -> tuple[str, dict[str, Actor]]:
    tenant = _new_tenant(database)
    owners = {}
    with tenant_session(tenant, database=database) as session:
        for name in ("X", "Y"):
            user = ensure_user(session, subject=f"test|{name}-{tenant}", email=f"{name.lower()}-{tenant}@example.org")
            set_member(session, user_id=user.id, role="owner", actor="test-admin")
            owners[name] = Actor(user_id=user.id, label=user.email or user.subject)
    return tenant, owners


def _owner_change(database: Database, tenant: str, actor: Actor, action: str, target: Actor) -> Callable[[], None]:
    def request() -> None:
        with tenant_session(tenant, database=database) as session:
            if action == "demote":
                members.change_role(session, user_id=target.user_id, role="admin", actor=actor)
            else:
                members.remove_member(session, user_id=target.user_id, actor=actor)

    return request


def _owners(database: Database, tenant: str) -> int:
    with tenant_session(tenant, database=database) as session:
        return session.scalar(select(func.count()).select_from(Membership).where(
            Membership.tenant_id == tenant, Membership.role == "owner"))


@pytest.mark.parametrize("case", OWNER_RACES, ids=lambda case: case.name)
def test_concurrent_owner_changes_always_leave_exactly_one_owner(case: OwnerRace, database: Database) -> None:
    for trial in range(TRIALS[database.dialect]):
        tenant, owners = _two_owners(database)
        outcomes = _at_once(database, tenant, [
            _owner_change(database, tenant, owners["X"], case.x_does[0], owners[case.x_does[1]]),
            _owner_change(database, tenant, owners["Y"], case.y_does[0], owners[case.y_does[1]]),
        ])
        refused = [outcome for outcome in outcomes if outcome is not None]
        assert (_owners(database, tenant), len(refused)) == (1, 1), f"trial {trial}: {outcomes}"
        assert isinstance(refused[0], case.refusal), f"trial {trial}: {refused[0]!r}"
        assert re.search(case.message, str(refused[0])), f"trial {trial}: {refused[0]}"


# --- the model line of concurrent training submissions -----------------------------------------


@dataclass(frozen=True)
class LineRace:
    """Training submissions sent at once: the dataset of each ("A" or "B") and the model line's name."""

    name: str
    datasets: tuple[str, ...]
    model_name: str | None  # None: the default name, "<dataset> (tvae)"
    taken_by: str | None  # a dataset whose line already has ``model_name`` before the race
    accepted: str | None  # the dataset whose submissions all join one line; "either": A or B; None: no one
    refusal: str | None  # what the others are told


LINE_RACES = [
    LineRace("six submissions on a new dataset share one new line", ("A",) * 6, None, None, "A", None),
    LineRace("six submissions naming one new line share it", ("A",) * 6, "churn", None, "A", None),
    LineRace("a name another dataset's line holds is refused", ("A",) * 4, "churn", "B", None,
             r"a model named 'churn' already exists, for another dataset; choose another model name"),
    LineRace("submissions naming their dataset's line with stray spaces join it", ("A",) * 3, " churn ", "A", "A",
             None),
    LineRace("two datasets race for one new name: one gets it", ("A", "B") * 3, "churn", None, "either",
             r"a model named 'churn' already exists, for another dataset; choose another model name"),
]


@pytest.fixture(scope="module")
def small_adult(datasets: Path) -> pl.DataFrame:
    return read_adult(datasets / "adult.csv", rows=60, seed=3)


@pytest.fixture
def unconsumed_queue() -> Iterator[RedisBroker]:
    """The production broker (Redis) under a namespace of its own that no worker reads: jobs stay queued."""
    broker = RedisBroker(url=REDIS_URL, namespace=f"doppel-concurrency-{uuid.uuid4().hex[:8]}")
    try:
        with use_broker(broker):
            yield broker
    finally:
        broker.flush_all()
        broker.close()


@pytest.mark.parametrize("case", LINE_RACES, ids=lambda case: case.name)
def test_concurrent_training_submissions_create_a_model_line_once(
    case: LineRace, database: Database, small_adult: pl.DataFrame, unconsumed_queue: RedisBroker, tmp_path: Path
) -> None:
    tenant = _new_tenant(database, tier="enterprise")  # 20 concurrent jobs: the quota is not what is tested
    store = LocalStore(tmp_path / "objects")
    versions = {d: store_dataset(database, store, tenant, small_adult, name=d.lower()) for d in ("A", "B")}
    with tenant_session(tenant, database=database) as session:
        dataset_of = {d: catalog.get_dataset_version(session, v).dataset_id for d, v in versions.items()}
        if case.taken_by is not None:
            catalog.create_model(session, name=str(case.model_name), dataset_id=dataset_of[case.taken_by], actor="test")
    user = _member(database, tenant)

    def submission(dataset: str) -> Callable[[], Job]:
        return lambda: submit_training(tenant, dataset_version_id=versions[dataset], model="tvae", epochs=1,
                                       model_name=case.model_name, actor=user, database=database)

    outcomes = _at_once(database, tenant, [submission(d) for d in case.datasets])

    with tenant_session(tenant, database=database) as session:
        jobs = list_jobs(session)
        lines = {line.id: line for line in catalog.list_models(session)}
    accepted = [d for d, outcome in zip(case.datasets, outcomes, strict=True) if outcome is None]
    winner = case.accepted if case.accepted != "either" else (accepted[0] if accepted else None)
    expected = [d for d in case.datasets if d == winner]
    assert accepted == expected, outcomes
    refused = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(e, ConflictError) and re.search(case.refusal or "^$", str(e)) for e in refused), refused
    assert len(jobs) == len(accepted)  # a refused submission leaves no job
    line_ids = {job.payload["model_id"] for job in jobs}
    assert len(line_ids) <= 1 and all(lines[i].dataset_id == dataset_of[winner] for i in line_ids)
    assert len(lines) == len({case.taken_by, winner} - {None})  # no stray line either


def _member(database: Database, tenant: str) -> Actor:
    with tenant_session(tenant, database=database) as session:
        user = ensure_user(session, subject=f"test|ana-{tenant}", email=f"ana-{tenant}@example.org")
        set_member(session, user_id=user.id, role="member", actor="test-admin")
        return Actor(user_id=user.id, label=user.email or user.subject)



@pytest.mark.services
def test_an_owner_demoted_meanwhile_cannot_make_owners_on_the_role_loaded_before(postgresql_metadata: Database) -> None:
    """X's transaction holds the members it loaded; Y demotes X and commits; X's promotion reads X's role again."""
    database = postgresql_metadata
    tenant, owners = _two_owners(database)
    with tenant_session(tenant, database=database) as session:
        zoe = ensure_user(session, subject=f"test|zoe-{tenant}", email=f"zoe-{tenant}@example.org")
        set_member(session, user_id=zoe.id, role="member", actor="test-admin")
    with tenant_session(tenant, database=database) as session:
        loaded = session.scalars(select(Membership).where(Membership.tenant_id == tenant)).all()
        assert {m.role for m in loaded} == {"owner", "member"}  # X is an owner in what this session holds
        _owner_change(database, tenant, owners["Y"], "demote", owners["X"])()  # committed meanwhile
        with pytest.raises(PermissionDeniedError, match="your role here is admin; to make or remove owners"):
            members.change_role(session, user_id=zoe.id, role="owner", actor=owners["X"])
    assert _owners(database, tenant) == 1
