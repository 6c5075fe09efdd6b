"""The privacy budget of record: caps, reservations that cannot overspend, a tamper-evident ledger,
composition, and the training/generation policy — on SQLite and on the real PostgreSQL.

PostgreSQL runs in its own database (``doppel_privacy_test``) provisioned like production: an
owner role that runs the migrations, and the app role (no BYPASSRLS, SELECT/INSERT only on the
ledger) that the services connect as.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, select, text

from infra.db import ConflictError, Database, ImmutableRecordError, NotFoundError, migrate, tenant_session
from infra.db.errors import ConfigError
from infra.db.models import PrivacyBudget, PrivacyLedgerEntry
from infra.db.postgres import drop_database, provision
from infra.db.session import SET_TENANT_SQL
from infra.privacy import (
    PermissionDeniedError,
    PrivacyBudgetExceededError,
    PrivacyBudgetMissingError,
    PrivacyPolicyError,
    RdpCurve,
    check_can_generate,
    check_can_train,
    commit,
    composition_report,
    get_budget,
    list_entries,
    release,
    reserve,
    set_budget,
    set_dataset_sensitive,
    set_privacy_policy,
    verify_ledger,
)
from infra.records import audit, authz, catalog, quotas, tenancy
from infra.records.job_records import submit_job
from tests.conftest import POSTGRES_URL
from tests.infra.db_fixtures import (  # noqa: F401  (fixtures used by name)
    PG_APP_ROLE,
    PG_OWNER_ROLE,
    PostgresSetup,
    db,
    make_tenant,
    postgresql_database,
    sqlite_database,
    tenant,
)

PG_DATABASE = "doppel_privacy_test"
HASH = "d" * 64


@pytest.fixture(scope="session")
def postgres_setup() -> Iterator[PostgresSetup]:
    """This module's own PostgreSQL database (so it never collides with the other DB tests')."""
    provisioned = provision(POSTGRES_URL, database=PG_DATABASE, owner_role=PG_OWNER_ROLE, app_role=PG_APP_ROLE,
                            recreate=True)
    migrate(provisioned.owner_url, app_role=PG_APP_ROLE)
    database = Database(provisioned.app_url)
    yield PostgresSetup(provisioned.owner_url, provisioned.app_url, database)
    database.dispose()
    drop_database(POSTGRES_URL, database=PG_DATABASE)


@dataclass(frozen=True)
class World:
    """A tenant with an admin, a plain member, and one dataset."""

    tenant: str
    admin: str  # user ids
    member: str
    dataset_id: str


def _world(db: Database, tenant: str, *, sensitive: bool = False) -> World:  # noqa: F811
    with tenant_session(tenant, database=db) as s:
        admin = tenancy.ensure_user(s, subject=f"oidc|admin-{tenant}", email=f"admin@{tenant}.org")
        member = tenancy.ensure_user(s, subject=f"oidc|member-{tenant}", email=f"member@{tenant}.org")
        tenancy.set_member(s, user_id=admin.id, role="admin", actor="root")
        tenancy.set_member(s, user_id=member.id, role="member", actor="root")
        quotas.set_quota_overrides(s, actor="root", max_concurrent_jobs=100)
        dataset = catalog.create_dataset(s, name="adult", actor="ana", sensitive=sensitive)
        return World(tenant, admin.id, member.id, dataset.id)


def _budgeted(db: Database, tenant: str, *, epsilon_cap: float = 2.5, delta_cap: float = 1e-3) -> World:  # noqa: F811
    world = _world(db, tenant)
    with tenant_session(tenant, database=db) as s:
        set_budget(s, dataset_id=world.dataset_id, epsilon_cap=epsilon_cap, delta_cap=delta_cap, actor=world.admin)
    return world


def _job(db: Database, tenant: str) -> str:  # noqa: F811
    with tenant_session(tenant, database=db) as s:
        return submit_job(s, kind="train", queue="gpu").id


def _jobs(db: Database, tenant: str, n: int = 4) -> Iterator[str]:  # noqa: F811
    """``n`` training jobs, created up front (a SQLite session cannot be opened inside another one)."""
    with tenant_session(tenant, database=db) as s:
        return iter([submit_job(s, kind="train", queue="gpu").id for _ in range(n)])


def _status(db: Database, world: World):  # noqa: F811
    with tenant_session(world.tenant, database=db) as s:
        return get_budget(s, dataset_id=world.dataset_id)


# --- setting the budget ---------------------------------------------------------------------


def test_an_admin_sets_the_caps_and_the_change_is_audited(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    with tenant_session(tenant, database=db) as s:
        status = set_budget(s, dataset_id=world.dataset_id, epsilon_cap=3, delta_cap=1e-5, actor=world.admin)
        set_budget(s, dataset_id=world.dataset_id, epsilon_cap=4.0, delta_cap=1e-5, actor=world.admin)
    assert (status.epsilon_cap, status.delta_cap, status.epsilon_remaining) == (3.0, 1e-5, 3.0)
    with tenant_session(tenant, database=db) as s:
        assert get_budget(s, dataset_id=world.dataset_id).epsilon_cap == 4.0
        first, second = reversed(audit.list_events(s, action="privacy_budget.set"))
    assert first.actor == f"admin@{tenant}.org" and first.details["from"] is None
    assert second.details["from"] == {"epsilon_cap": 3.0, "delta_cap": 1e-5}
    assert second.details["to"] == {"epsilon_cap": 4.0, "delta_cap": 1e-5}


def test_the_actor_may_be_the_login_layers_actor_object(db, tenant):  # noqa: F811
    world = _world(db, tenant)

    @dataclass(frozen=True)
    class Actor:
        user_id: str
        label: str

    with tenant_session(tenant, database=db) as s:
        set_budget(s, dataset_id=world.dataset_id, epsilon_cap=1.0, delta_cap=1e-5, actor=Actor(world.admin, "Ana"))
        (event,) = audit.list_events(s, action="privacy_budget.set")
    assert (event.actor, event.details["user_id"]) == ("Ana", world.admin)


def test_only_an_owner_or_admin_may_set_a_budget(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    for actor, says in [(world.member, "is a member"), ("no-such-user", "is not a member")]:
        with pytest.raises(PermissionDeniedError, match=f"owner or admin .* {says} of tenant"):
            with tenant_session(tenant, database=db) as s:
                set_budget(s, dataset_id=world.dataset_id, epsilon_cap=1.0, delta_cap=1e-5, actor=actor)
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyBudgetMissingError, match="no privacy budget"):
        get_budget(s, dataset_id=world.dataset_id)


def test_a_refused_privacy_change_is_the_role_checks_own_refusal(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    with pytest.raises(authz.PermissionDeniedError, match="only a tenant owner or admin may change privacy settings"):
        with tenant_session(tenant, database=db) as s:
            set_privacy_policy(s, require_dp_on_sensitive=True, actor=world.member)


@pytest.mark.parametrize(
    ("epsilon_cap", "delta_cap", "message"),
    [(0, 1e-5, "epsilon_cap must be positive"), (-1.0, 1e-5, "epsilon_cap must be positive"),
     (1.0, 1.0, r"delta_cap must lie in \(0, 1\)"), (1.0, 0.0, r"delta_cap must lie in \(0, 1\)"),
     (float("nan"), 1e-5, "epsilon_cap must be a finite number"), (True, 1e-5, "epsilon_cap must be a finite number")],
)
def test_caps_must_be_positive_numbers_with_delta_below_one(sqlite_database, epsilon_cap, delta_cap, message):
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    with tenant_session(tenant, database=sqlite_database) as s:
        tenancy.ensure_tenant(s)
    world = _world(sqlite_database, tenant)
    with tenant_session(tenant, database=sqlite_database) as s, pytest.raises(ConfigError, match=message):
        set_budget(s, dataset_id=world.dataset_id, epsilon_cap=epsilon_cap, delta_cap=delta_cap, actor=world.admin)


def test_a_cap_cannot_go_below_what_is_spent_and_reserved(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0,
                                      delta=1e-5))
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.5, delta=1e-5)
    with pytest.raises(ConflictError, match="already used epsilon 1.5 .* cannot go below"):
        with tenant_session(tenant, database=db) as s:
            set_budget(s, dataset_id=world.dataset_id, epsilon_cap=1.25, delta_cap=1e-3, actor=world.admin)
    with tenant_session(tenant, database=db) as s:
        assert set_budget(s, dataset_id=world.dataset_id, epsilon_cap=1.5, delta_cap=1e-3,
                          actor=world.admin).epsilon_remaining == 0.0


# --- reserve, commit, release ---------------------------------------------------------------


def test_a_reservation_holds_budget_and_is_written_to_the_ledger(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    job = _job(db, tenant)
    with tenant_session(tenant, database=db) as s:
        reservation = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=0.75, delta=1e-5,
                              mechanism="dp-sgd (tvae)")
    assert (reservation.state, reservation.epsilon, reservation.delta, reservation.job_id) == ("reserved", 0.75, 1e-5, job)
    status = _status(db, world)
    assert (status.epsilon_reserved, status.epsilon_spent, status.epsilon_remaining) == (0.75, 0.0, 1.75)
    with tenant_session(tenant, database=db) as s:
        (entry,) = list_entries(s, dataset_id=world.dataset_id)
    assert (entry.seq, entry.entry_kind, entry.id, entry.mechanism, entry.prev_hash) == (
        1, "reserve", reservation.id, "dp-sgd (tvae)", None)


def test_a_reservation_beyond_the_cap_is_refused_with_the_remaining_budget(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=2.0,
                                      delta=1e-5))
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.25, delta=1e-5)
    job = _job(db, tenant)
    with pytest.raises(PrivacyBudgetExceededError,
                       match=r"asks for epsilon 0.5, .* only epsilon 0.25 of 2.5 left \(2 spent, 0.25 reserved\)") as err:
        with tenant_session(tenant, database=db) as s:
            reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=0.5, delta=1e-5)
    assert (err.value.remaining_epsilon, err.value.remaining_delta) == (0.25, pytest.approx(1e-3 - 2e-5))
    with tenant_session(tenant, database=db) as s:
        assert len(list_entries(s, dataset_id=world.dataset_id)) == 3  # nothing written for the refusal
        exact = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=0.25, delta=1e-5)  # what is left fits
    assert exact.state == "reserved" and _status(db, world).epsilon_remaining == 0.0


def test_the_delta_cap_binds_too(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant, delta_cap=1e-5)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyBudgetExceededError, match="asks for .* delta 2e-05"):
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.1, delta=2e-5)


def test_a_dataset_without_a_budget_cannot_be_charged(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyBudgetMissingError, match="must set one"):
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0, delta=1e-5)


def test_another_tenants_dataset_cannot_be_charged(db, make_tenant):  # noqa: F811
    acme, globex = make_tenant(), make_tenant()
    world = _budgeted(db, acme)
    _world(db, globex)
    job = _job(db, globex)
    with tenant_session(globex, database=db) as s, pytest.raises(NotFoundError, match="dataset .* not found"):
        reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=1.0, delta=1e-5)
    assert _status(db, world).epsilon_reserved == 0.0


def test_commit_makes_the_charge_final_and_is_idempotent(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        reservation = reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0, delta=1e-5)
    for _ in range(2):
        with tenant_session(tenant, database=db) as s:
            assert commit(s, reservation=reservation).state == "committed"
    status = _status(db, world)
    assert (status.epsilon_spent, status.epsilon_reserved, status.delta_spent) == (1.0, 0.0, 1e-5)
    with pytest.raises(ConflictError, match="committed: DP steps ran .* cannot be released"):
        with tenant_session(tenant, database=db) as s:
            release(s, reservation=reservation.id)
    with tenant_session(tenant, database=db) as s:
        assert [e.entry_kind for e in list_entries(s, dataset_id=world.dataset_id)] == ["reserve", "commit"]
    assert _status(db, world).epsilon_spent == 1.0


def test_release_returns_the_budget_of_a_job_that_never_started_and_is_idempotent(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        reservation = reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0, delta=1e-5)
    for _ in range(2):
        with tenant_session(tenant, database=db) as s:
            assert release(s, reservation=reservation, reason="cancelled before start").state == "released"
    status = _status(db, world)
    assert (status.epsilon_spent, status.epsilon_reserved, status.epsilon_remaining) == (0.0, 0.0, 2.5)
    with pytest.raises(ConflictError, match="was released; reserve again"):
        with tenant_session(tenant, database=db) as s:
            commit(s, reservation=reservation)
    with tenant_session(tenant, database=db) as s:
        entries = list_entries(s, dataset_id=world.dataset_id)
    assert [e.entry_kind for e in entries] == ["reserve", "release"]
    assert entries[1].details == {"reason": "cancelled before start", "reservation_id": reservation.id}


def test_a_retried_job_gets_its_reservation_back_instead_of_a_second_one(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    job = _job(db, tenant)
    with tenant_session(tenant, database=db) as s:
        first = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=1.0, delta=1e-5)
    with tenant_session(tenant, database=db) as s:
        again = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=1.0, delta=1e-5)
        commit(s, reservation=again)
    with tenant_session(tenant, database=db) as s:
        after_commit = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=1.0, delta=1e-5)
    assert first.id == again.id == after_commit.id and after_commit.state == "committed"
    with pytest.raises(ConflictError, match="already holds a committed reservation of epsilon 1"):
        with tenant_session(tenant, database=db) as s:
            reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=2.0, delta=1e-5)
    assert _status(db, world).epsilon_spent == 1.0


def test_fifty_concurrent_reservations_against_a_cap_for_ten_never_overspend(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant, epsilon_cap=2.5, delta_cap=1e-3)  # 0.25 each: exactly 10 fit
    with tenant_session(tenant, database=db) as s:
        jobs = [submit_job(s, kind="train", queue="gpu").id for _ in range(50)]

    # Each thread has its own connection (a pool of 50) and session. On PostgreSQL all 50
    # connections are open before the barrier releases them together; SQLite's BEGIN IMMEDIATE
    # would block at the first statement, so there the threads meet before opening a session.
    pooled = Database(db.url, pool_size=50, max_overflow=0)
    postgres = pooled.dialect == "postgresql"
    barrier = threading.Barrier(50)
    overspent = threading.Event()

    def attempt(job_id: str) -> bool:
        if not postgres:
            barrier.wait()
        try:
            with tenant_session(tenant, database=pooled) as s:
                if postgres:
                    s.connection()
                    barrier.wait()
                reserve(s, dataset_id=world.dataset_id, job_id=job_id, epsilon=0.25, delta=1e-5)
                budget = s.scalars(select(PrivacyBudget).where(PrivacyBudget.dataset_id == world.dataset_id)).one()
                if budget.epsilon_spent + budget.epsilon_reserved > budget.epsilon_cap:
                    overspent.set()
            return True
        except PrivacyBudgetExceededError as err:
            assert "only epsilon 0 of 2.5 left (0 spent, 2.5 reserved)" in str(err)
            return False

    try:
        with ThreadPoolExecutor(50) as pool:
            outcomes = list(pool.map(attempt, jobs))
    finally:
        pooled.dispose()
    assert sum(outcomes) == 10 and not overspent.is_set()
    status = _status(db, world)
    assert (status.epsilon_reserved, status.epsilon_remaining, status.delta_reserved) == (2.5, 0.0, 10 * 1e-5)
    with tenant_session(tenant, database=db) as s:
        entries = list_entries(s, dataset_id=world.dataset_id)
        assert [e.seq for e in entries] == list(range(1, 11))
        assert sum(e.epsilon for e in entries) == 2.5
        assert verify_ledger(s, dataset_id=world.dataset_id).ok


# --- the ledger: append-only, tamper-evident -------------------------------------------------


def _three_entries(db: Database, tenant: str) -> tuple[World, list[PrivacyLedgerEntry]]:  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        first = reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.5, delta=1e-5,
                        rdp_curve=RdpCurve.of([2, 4, 8], [0.1, 0.2, 0.4]))
        commit(s, reservation=first, details={"noise_multiplier": 1.1, "steps": 300})
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.25, delta=1e-6)
    with tenant_session(tenant, database=db) as s:
        return world, list_entries(s, dataset_id=world.dataset_id)


@contextmanager
def _bypassing_the_append_only_guard(db: Database, request: pytest.FixtureRequest, tenant: str) -> Iterator:  # noqa: F811
    """A connection that can change ledger rows: what an attacker with the owner's credentials has.

    PostgreSQL: the owner role (the app role has no UPDATE or DELETE on the ledger), with the
    refusing trigger disabled inside the transaction. SQLite: the triggers dropped and
    recreated inside the transaction. Either way nobody else ever sees the guard down.
    """
    if db.dialect == "postgresql":
        engine = create_engine(request.getfixturevalue("postgres_setup").owner_url)
        try:
            with engine.begin() as connection:
                connection.execute(SET_TENANT_SQL, {"tenant": tenant})
                connection.exec_driver_sql("ALTER TABLE privacy_ledger DISABLE TRIGGER privacy_ledger_append_only")
                yield connection
                connection.exec_driver_sql("ALTER TABLE privacy_ledger ENABLE TRIGGER privacy_ledger_append_only")
        finally:
            engine.dispose()
    else:
        with db.engine.begin() as connection:
            triggers = connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'privacy_ledger'")).all()
            for name, _ in triggers:
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
            yield connection
            for _, sql in triggers:
                connection.exec_driver_sql(sql)


def test_an_untouched_ledger_verifies(db, tenant):  # noqa: F811
    world, entries = _three_entries(db, tenant)
    assert [e.prev_hash for e in entries] == [None, entries[0].hash, entries[1].hash]
    with tenant_session(tenant, database=db) as s:
        result = verify_ledger(s, dataset_id=world.dataset_id)
    assert (result.ok, result.entries_checked, result.first_broken_seq, result.problem) == (True, 3, None, None)


def test_an_altered_entry_is_named_as_the_first_broken_one(db, tenant, request):  # noqa: F811
    world, entries = _three_entries(db, tenant)
    with _bypassing_the_append_only_guard(db, request, tenant) as connection:
        changed = connection.execute(text("UPDATE privacy_ledger SET epsilon = 0.05 WHERE id = :id"),
                                     {"id": entries[1].id}).rowcount
    assert changed == 1
    with tenant_session(tenant, database=db) as s:
        result = verify_ledger(s, dataset_id=world.dataset_id)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (False, 2, entries[1].id)
    assert "entry seq 2 was altered" in result.problem


def test_a_removed_entry_breaks_the_chain_and_a_truncated_end_the_anchor(db, tenant, request):  # noqa: F811
    world, entries = _three_entries(db, tenant)
    with _bypassing_the_append_only_guard(db, request, tenant) as connection:
        connection.execute(text("DELETE FROM privacy_ledger WHERE id = :id"), {"id": entries[2].id})
    with tenant_session(tenant, database=db) as s:
        truncated = verify_ledger(s, dataset_id=world.dataset_id)
    assert not truncated.ok and truncated.first_broken_seq is None
    assert "ends at seq 2 but the budget's anchor says seq 3" in truncated.problem

    with _bypassing_the_append_only_guard(db, request, tenant) as connection:
        connection.execute(text("DELETE FROM privacy_ledger WHERE id = :id"), {"id": entries[0].id})
    with tenant_session(tenant, database=db) as s:
        gapped = verify_ledger(s, dataset_id=world.dataset_id)
    assert (gapped.ok, gapped.first_broken_seq) == (False, 2)
    assert "has seq 2 where 1 was expected" in gapped.problem


def test_a_budget_row_that_disagrees_with_the_ledger_is_reported(db, tenant):  # noqa: F811
    world, _ = _three_entries(db, tenant)
    with tenant_session(tenant, database=db) as s:  # the app role may update budget rows: check them
        budget = s.scalars(select(PrivacyBudget).where(PrivacyBudget.dataset_id == world.dataset_id)).one()
        budget.epsilon_spent = 0.0
    with tenant_session(tenant, database=db) as s:
        result = verify_ledger(s, dataset_id=world.dataset_id)
    assert not result.ok and "epsilon_spent is 0.0 but the ledger's entries add up to 0.5" in result.problem


def test_ledger_entries_cannot_be_changed_or_deleted_by_the_app(db, tenant):  # noqa: F811
    world, entries = _three_entries(db, tenant)
    with pytest.raises(ImmutableRecordError, match="privacy_ledger is append-only"):
        with tenant_session(tenant, database=db) as s:
            s.get(PrivacyLedgerEntry, entries[0].id).epsilon = 0.0
            s.flush()
    with pytest.raises(Exception, match="append-only|permission denied"):
        with tenant_session(tenant, database=db) as s:  # raw SQL past the session's guard: the database refuses
            s.execute(text("DELETE FROM privacy_ledger WHERE id = :id"), {"id": entries[0].id})
    with tenant_session(tenant, database=db) as s:
        assert verify_ledger(s, dataset_id=world.dataset_id).ok


# --- composition ----------------------------------------------------------------------------

HISTORY = [[1.1, 0.01, 1000]]  # noise multiplier, sample rate, steps: one DP-SGD run


def test_the_report_keeps_the_sum_as_record_and_shows_the_tighter_rdp_composition(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant, epsilon_cap=10.0, delta_cap=1e-5)
    curve = RdpCurve.from_history(HISTORY)
    single = curve.epsilon(1e-5)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        for _ in range(3):
            reservation = reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=single * 1.01,
                                  delta=1e-6, mechanism="dp-sgd (tvae)")
            commit(s, reservation=reservation, rdp_curve=curve)
        report = composition_report(s, dataset_id=world.dataset_id)
    assert report.sequential.runs == 3 and report.sequential.epsilon == pytest.approx(3 * single * 1.01)
    assert "budget of record" in report.sequential.label and report.sequential.delta == pytest.approx(3e-6)
    assert report.budget.epsilon_spent == pytest.approx(report.sequential.epsilon)
    assert "RDP composition" in report.rdp.label and "informational" in report.rdp.label
    assert (report.rdp.runs_with_curve, report.rdp.runs_without_curve, report.rdp.delta) == (3, 0, 1e-5)
    thrice = RdpCurve.from_history(HISTORY * 3).epsilon(1e-5)
    assert report.rdp.epsilon == pytest.approx(thrice) and single < report.rdp.epsilon < 0.8 * report.sequential.epsilon
    as_dict = report.to_dict()
    assert as_dict["rdp"]["epsilon"] == report.rdp.epsilon and len(as_dict["charges"]) == 3


def test_runs_without_a_curve_are_added_sequentially_in_the_rdp_figure(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant, epsilon_cap=10.0, delta_cap=1e-5)
    curve = RdpCurve.from_history(HISTORY)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        with_curve = reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=2.0, delta=1e-6,
                             rdp_curve=curve)  # the curve may come with the reservation
        commit(s, reservation=with_curve)
        commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=0.5,
                                      delta=2e-6))
        reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0, delta=1e-6)  # open: not spent
        report = composition_report(s, dataset_id=world.dataset_id)
    assert (report.sequential.runs, report.sequential.epsilon) == (2, 2.5)
    assert (report.rdp.runs_with_curve, report.rdp.runs_without_curve) == (1, 1)
    assert report.rdp.epsilon == pytest.approx(curve.epsilon(1e-5 - 2e-6) + 0.5)
    assert "added sequentially" in report.rdp.note


def test_without_any_stored_curve_the_rdp_figure_is_absent_and_says_why(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    jobs = _jobs(db, tenant)
    with tenant_session(tenant, database=db) as s:
        commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=1.0,
                                      delta=1e-5))
        report = composition_report(s, dataset_id=world.dataset_id)
    assert report.rdp.epsilon is None and report.rdp.note == "no committed run has a stored RDP curve"
    assert report.sequential.epsilon == 1.0


# --- training and generation policy ---------------------------------------------------------


def test_dp_training_is_checked_against_the_remaining_budget(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    with tenant_session(tenant, database=db) as s:
        check = check_can_train(s, dataset_id=world.dataset_id, privacy={"epsilon": 2.5, "delta": 1e-5})
        assert (check.dp, check.epsilon, check.budget.epsilon_remaining) == (True, 2.5, 2.5)
        with pytest.raises(PrivacyBudgetExceededError, match="training asks for epsilon 3, .* only epsilon 2.5 of 2.5"):
            check_can_train(s, dataset_id=world.dataset_id, privacy={"epsilon": 3, "delta": 1e-5})
        with pytest.raises(PrivacyPolicyError, match="needs 'epsilon' and 'delta'"):
            check_can_train(s, dataset_id=world.dataset_id, privacy={"epsilon": 1.0})
    assert list_entries_count(db, world) == 0  # a check reserves nothing


def list_entries_count(db: Database, world: World) -> int:  # noqa: F811
    with tenant_session(world.tenant, database=db) as s:
        return len(list_entries(s, dataset_id=world.dataset_id))


def test_dp_training_on_a_dataset_without_budget_is_refused(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyBudgetMissingError):
        check_can_train(s, dataset_id=world.dataset_id, privacy={"epsilon": 1.0, "delta": 1e-5})


def test_the_tenant_policy_forbids_non_dp_training_on_sensitive_datasets_only(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    with tenant_session(tenant, database=db) as s:
        public = catalog.create_dataset(s, name="public", actor="ana")
        assert not check_can_train(s, dataset_id=world.dataset_id, privacy=None).dp
        set_dataset_sensitive(s, dataset_id=world.dataset_id, sensitive=True, actor=world.admin)
        assert not check_can_train(s, dataset_id=world.dataset_id, privacy=None).dp  # policy still off
        set_privacy_policy(s, require_dp_on_sensitive=True, actor=world.admin)
    with tenant_session(tenant, database=db) as s:
        with pytest.raises(PrivacyPolicyError, match="'adult' is marked sensitive .* requires differential privacy"):
            check_can_train(s, dataset_id=world.dataset_id, privacy=None)
        assert not check_can_train(s, dataset_id=public.id, privacy=None).dp
        events = [e.action for e in audit.list_events(s) if e.action.startswith(("privacy_", "dataset.sens"))]
    assert events == ["privacy_policy.set", "dataset.sensitivity_set"]


def test_only_an_admin_changes_the_policy_or_a_datasets_sensitivity(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    with tenant_session(tenant, database=db) as s:
        with pytest.raises(PermissionDeniedError):
            set_privacy_policy(s, require_dp_on_sensitive=True, actor=world.member)
        with pytest.raises(PermissionDeniedError):
            set_dataset_sensitive(s, dataset_id=world.dataset_id, sensitive=True, actor=world.member)


def _model_version(db: Database, world: World, *, job_id: str | None, privacy_spent: dict | None) -> str:  # noqa: F811
    with tenant_session(world.tenant, database=db) as s:
        version = catalog.add_dataset_version(s, dataset_id=world.dataset_id, content_hash=HASH,
                                              source={"kind": "upload"}, profile={"n_rows": 32561}, actor="ana")
        model = catalog.create_model(s, name=f"m-{uuid.uuid4().hex[:6]}", dataset_id=world.dataset_id, actor="ana")
        return catalog.register_model_version(
            s, model_id=model.id, dataset_version_id=version.id, model_type="tvae", config={}, metrics={},
            actor="ana", privacy_spent=privacy_spent, job_id=job_id).id


def test_generation_from_a_dp_model_needs_its_committed_charge_and_costs_nothing(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    job = _job(db, tenant)
    with tenant_session(tenant, database=db) as s:
        reservation = reserve(s, dataset_id=world.dataset_id, job_id=job, epsilon=1.0, delta=1e-5)
    version = _model_version(db, world, job_id=job, privacy_spent={"epsilon": 0.97, "delta": 1e-5})
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyPolicyError, match="only reserved"):
        check_can_generate(s, model_version_id=version)
    with tenant_session(tenant, database=db) as s:
        commit(s, reservation=reservation)
    before = (_status(db, world), list_entries_count(db, world))
    with tenant_session(tenant, database=db) as s:
        for _ in range(3):
            check = check_can_generate(s, model_version_id=version)
    assert (check.dp, check.epsilon_cost, check.charge.id) == (True, 0.0, reservation.id)
    assert (_status(db, world), list_entries_count(db, world)) == before


def test_generation_is_refused_from_a_dp_model_whose_charge_is_missing_released_or_too_small(db, tenant):  # noqa: F811
    world = _budgeted(db, tenant)
    released_job, small_job = _job(db, tenant), _job(db, tenant)
    with tenant_session(tenant, database=db) as s:
        release(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=released_job, epsilon=1.0, delta=1e-5))
        commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=small_job, epsilon=0.5, delta=1e-5))
    cases = {
        "names no training job": _model_version(db, world, job_id=None, privacy_spent={"epsilon": 1.0}),
        "has no charge": _model_version(db, world, job_id=released_job, privacy_spent={"epsilon": 1.0, "delta": 1e-5}),
        "claims epsilon 1, .* charged its job only epsilon 0.5": _model_version(
            db, world, job_id=small_job, privacy_spent={"epsilon": 1.0, "delta": 1e-5}),
    }
    for message, version in cases.items():
        with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyPolicyError, match=message):
            check_can_generate(s, model_version_id=version)


def test_generation_from_a_non_dp_model_follows_the_sensitive_dataset_policy(db, tenant):  # noqa: F811
    world = _world(db, tenant)
    version = _model_version(db, world, job_id=None, privacy_spent=None)
    with tenant_session(tenant, database=db) as s:
        assert not check_can_generate(s, model_version_id=version).dp
        set_dataset_sensitive(s, dataset_id=world.dataset_id, sensitive=True, actor=world.admin)
        set_privacy_policy(s, require_dp_on_sensitive=True, actor=world.admin)
    with tenant_session(tenant, database=db) as s, pytest.raises(PrivacyPolicyError, match="trained without it"):
        check_can_generate(s, model_version_id=version)


# --- the defaults: a new dataset's budget holds several default runs --------------------------


def test_a_new_datasets_default_budget_takes_four_default_dp_runs_and_refuses_a_fifth(db, tenant):  # noqa: F811
    """Once the default run charged delta 1e-5 against a default budget of 1e-5: one run, then refusals."""
    from infra.usecases import training_plan

    defaults = training_plan.privacy_defaults()
    world = _budgeted(db, tenant, epsilon_cap=defaults.budget_epsilon, delta_cap=defaults.budget_delta)
    jobs = _jobs(db, tenant, n=5)
    for left in (4, 3, 2, 1):
        status = _status(db, world)
        assert status.runs_left(defaults.run_epsilon, defaults.run_delta) == left
        assert training_plan.runs_left(status, epsilon=defaults.run_epsilon, delta=defaults.run_delta) == (
            f"this dataset's budget allows {left} more run{'s' if left > 1 else ''} of epsilon 1, delta 1e-6")
        with tenant_session(tenant, database=db) as s:
            check_can_train(s, dataset_id=world.dataset_id,
                            privacy={"epsilon": defaults.run_epsilon, "delta": defaults.run_delta})
            commit(s, reservation=reserve(s, dataset_id=world.dataset_id, job_id=next(jobs),
                                          epsilon=defaults.run_epsilon, delta=defaults.run_delta))
    assert _status(db, world).runs_left(defaults.run_epsilon, defaults.run_delta) == 0
    left = r"only epsilon 0 of 4 left \(4 spent, 0 reserved\), delta 6e-06 of 1e-05 left \(4e-06 spent, 0 reserved\)"
    with tenant_session(tenant, database=db) as s:
        with pytest.raises(PrivacyBudgetExceededError, match=r"training asks for epsilon 1, delta 1e-06, but " + left):
            check_can_train(s, dataset_id=world.dataset_id,
                            privacy={"epsilon": defaults.run_epsilon, "delta": defaults.run_delta})
        with pytest.raises(PrivacyBudgetExceededError, match=r"asks for epsilon 1, delta 1e-06, but " + left):
            reserve(s, dataset_id=world.dataset_id, job_id=next(jobs), epsilon=defaults.run_epsilon,
                    delta=defaults.run_delta)


def test_the_default_run_delta_stays_below_a_tenth_of_one_over_the_rows():
    """The engine refuses delta >= 1 / rows; the default per-run delta shrinks on large tables."""
    from infra.usecases import training_plan

    assert training_plan.privacy_defaults(n_rows=48_842).run_delta == 1e-6
    assert training_plan.privacy_defaults(n_rows=2_000_000).run_delta == 1e-8
