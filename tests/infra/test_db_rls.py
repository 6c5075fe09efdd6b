"""PostgreSQL row-level security keeps tenants apart in the database itself.

These tests bypass the service layer on purpose: they send raw SQL through a session of the
app role (no BYPASSRLS, owns nothing), so the only thing standing between tenants is RLS.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from infra.db import Database, tenant_session
from infra.db.models import TENANT_TABLES, ApiKey, Invitation, PrivacyBudget, PrivacyLedgerEntry, S3Source, ShareLink
from infra.db.postgres import table_security
from infra.db.types import utcnow
from infra.records import audit, catalog, metering, notifications, quotas, tenancy
from infra.records.job_records import submit_job
from tests.infra.db_fixtures import PG_APP_ROLE, PostgresSetup

pytestmark = pytest.mark.services

READ_WRITE = ("memberships", "tenant_quotas", "datasets", "models", "jobs", "generated_datasets",
              "quality_reports", "privacy_budgets", "notifications", "webhooks", "s3_sources")


def _seed(database: Database, tier: str = "starter") -> dict[str, str]:
    """A tenant with one row or more in every tenant-owned table; returns some of their ids."""
    name = f"rls-{uuid.uuid4().hex[:10]}"
    with tenant_session(name, database=database) as s:
        tenancy.ensure_tenant(s, tier=tier, actor="root")
        user = tenancy.ensure_user(s, subject=f"oidc|{name}")
        tenancy.set_member(s, user_id=user.id, role="admin", actor="root")
        quotas.set_quota_overrides(s, actor="root", max_concurrent_jobs=5)
        dataset = catalog.create_dataset(s, name="customers", actor="root")
        version = catalog.add_dataset_version(s, dataset_id=dataset.id, content_hash="a" * 64, source={},
                                              profile={"n_rows": 3}, actor="root")
        model = catalog.create_model(s, name="m", dataset_id=dataset.id, actor="root")
        job = submit_job(s, kind="train", queue="gpu")
        mv = catalog.register_model_version(s, model_id=model.id, dataset_version_id=version.id, model_type="tvae",
                                            config={}, metrics={}, actor="root", job_id=job.id)
        gen = catalog.record_generated_dataset(s, model_version_id=mv.id, n_rows=10, actor="root")
        report = catalog.record_quality_report(s, generated_dataset_id=gen.id, passed=True, scores={}, gates=[],
                                               actor="root")
        s.add(Invitation(tenant_id=name, email=f"invitee@{name}.test", role="member", expires_at=utcnow()))
        s.add(ShareLink(tenant_id=name, report_id=report.id, token_hash=uuid.uuid4().hex * 2, expires_at=utcnow()))
        s.add(PrivacyBudget(tenant_id=name, dataset_id=dataset.id, epsilon_cap=3.0, delta_cap=1e-5))
        s.add(S3Source(tenant_id=name, key_id_hint="WXYZ", sealed_credentials="sealed", allowed_buckets=[]))
        s.add(ApiKey(tenant_id=name, user_id=user.id, name="ci", scopes=["read"], secret_hash="c" * 64))
        s.add(PrivacyLedgerEntry(tenant_id=name, dataset_id=dataset.id, seq=1, entry_kind="charge", epsilon=1.0,
                                 delta=1e-6, hash="b" * 64))
        metering.record_usage(s, metric="cpu_seconds", quantity=1.0, job_id=job.id)
        notifications.notify(s, kind="job.succeeded", title="done", job_id=job.id)
        notifications.add_webhook(s, url="https://example.org/hook", actor="root")
        audit.record_event(s, actor="root", action="seeded", object_type="tenant", object_id=name)
        lonely = catalog.create_dataset(s, name="no-children", actor="root")
    return {"tenant": name, "dataset": dataset.id, "lonely": lonely.id, "job": job.id, "model_version": mv.id}


@pytest.fixture(scope="module")
def two_tenants(postgres_setup: PostgresSetup) -> tuple[dict[str, str], dict[str, str]]:
    return _seed(postgres_setup.database), _seed(postgres_setup.database)


def test_the_app_role_owns_nothing_and_cannot_bypass_rls(postgres_setup):
    with postgres_setup.database.engine.connect() as c:
        who = c.execute(text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        owned = c.execute(text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")).scalar_one()
    assert tuple(who) == (PG_APP_ROLE, False, False) and owned == 0


def test_every_tenant_table_has_forced_rls_with_the_tenant_policy(postgres_setup):
    security = table_security(postgres_setup.owner_url)
    for table in (*TENANT_TABLES, "tenants"):
        column = "id" if table == "tenants" else "tenant_id"
        state = security[table]
        assert state.rls_enabled and state.rls_forced, table
        assert state.policies == (f"(({column})::text = current_setting('app.tenant_id'::text, true))",), table


def test_a_tenant_reads_only_its_own_rows_in_every_table(postgres_setup, two_tenants):
    a, b = two_tenants
    with tenant_session(a["tenant"], database=postgres_setup.database) as s:
        for table in TENANT_TABLES:
            mine = s.execute(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": a["tenant"]}).scalar_one()
            theirs = s.execute(text(f"SELECT count(*) FROM {table} WHERE tenant_id <> :t"), {"t": a["tenant"]}).scalar_one()
            assert mine >= 1 and theirs == 0, table
        assert s.execute(text("SELECT id FROM tenants")).scalars().all() == [a["tenant"]]
        assert s.execute(text("SELECT id FROM datasets WHERE id = :id"), {"id": b["dataset"]}).first() is None


def test_a_tenant_cannot_update_or_delete_another_tenants_rows(postgres_setup, two_tenants):
    a, b = two_tenants
    with tenant_session(a["tenant"], database=postgres_setup.database) as s:
        for table in READ_WRITE:
            assert s.execute(text(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = :b"),
                             {"b": b["tenant"]}).rowcount == 0, table
        assert s.execute(text("UPDATE datasets SET description = 'pwned' WHERE id = :id"), {"id": b["dataset"]}).rowcount == 0
        assert s.execute(text("DELETE FROM datasets WHERE id = :id"), {"id": b["lonely"]}).rowcount == 0
        assert s.execute(text("UPDATE tenants SET tier = 'enterprise' WHERE id = :b"), {"b": b["tenant"]}).rowcount == 0
    with tenant_session(b["tenant"], database=postgres_setup.database) as s:
        row = s.execute(text("SELECT description FROM datasets WHERE id = :id"), {"id": b["dataset"]}).one()
        assert row.description == "" and catalog.get_dataset(s, b["lonely"]).name == "no-children"


def test_a_tenant_cannot_insert_rows_for_another_tenant(postgres_setup, two_tenants):
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="row-level security"):
        with tenant_session(a["tenant"], database=postgres_setup.database) as s:
            s.execute(text("INSERT INTO datasets (id, tenant_id, name, description, sensitive, created_at) "
                           "VALUES (:id, :b, 'planted', '', false, now())"), {"id": str(uuid.uuid4()), "b": b["tenant"]})
    with pytest.raises(DBAPIError, match="row-level security"):
        with tenant_session(a["tenant"], database=postgres_setup.database) as s:
            s.execute(text("INSERT INTO tenants (id, display_name, tier, created_at) VALUES ('rls-new', 'x', 'starter', now())"))


def test_a_tenant_cannot_move_its_row_to_another_tenant(postgres_setup, two_tenants):
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="row-level security"):
        with tenant_session(a["tenant"], database=postgres_setup.database) as s:
            s.execute(text("UPDATE datasets SET tenant_id = :b WHERE id = :id"), {"b": b["tenant"], "id": a["lonely"]})


def test_a_tenant_cannot_point_its_rows_at_another_tenants_ids(postgres_setup, two_tenants):
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="foreign key"):
        with tenant_session(a["tenant"], database=postgres_setup.database) as s:
            s.execute(text("INSERT INTO models (id, tenant_id, name, dataset_id, created_at) "
                           "VALUES (:id, :a, 'probe', :theirs, now())"),
                      {"id": str(uuid.uuid4()), "a": a["tenant"], "theirs": b["dataset"]})


def test_a_connection_without_a_tenant_sees_nothing_and_writes_nothing(postgres_setup, two_tenants):
    engine = create_engine(postgres_setup.app_url)
    try:
        with engine.connect() as c:
            for table in (*TENANT_TABLES, "tenants"):
                assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
            with pytest.raises(DBAPIError, match="row-level security"):
                c.execute(text("INSERT INTO audit_log (tenant_id, actor, action, object_type, details, created_at) "
                               "VALUES (:t, 'x', 'x', 'x', '{}', now())"), {"t": two_tenants[0]["tenant"]})
    finally:
        engine.dispose()


def test_the_tenant_does_not_outlive_its_transaction_on_a_pooled_connection(postgres_setup, two_tenants):
    a, _ = two_tenants
    database = Database(postgres_setup.app_url, pool_size=1, max_overflow=0)
    try:
        with tenant_session(a["tenant"], database=database) as s:
            assert s.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 2
        with database.engine.connect() as c:  # the same pooled connection, next transaction
            assert c.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar_one() in ("", None)
            assert c.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0
    finally:
        database.dispose()


def test_the_tenant_is_set_again_after_a_commit_inside_the_session(postgres_setup, two_tenants):
    a, _ = two_tenants
    with tenant_session(a["tenant"], database=postgres_setup.database) as s:
        s.commit()
        assert s.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 2


def test_the_app_role_cannot_rewrite_the_append_only_tables(postgres_setup, two_tenants):
    a, _ = two_tenants
    for table in ("audit_log", "privacy_ledger", "usage_records"):
        for statement in (f"UPDATE {table} SET tenant_id = tenant_id", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="permission denied"):
                with tenant_session(a["tenant"], database=postgres_setup.database) as s:
                    s.execute(text(statement))


def test_even_the_owner_cannot_rewrite_the_audit_log_or_a_dataset_version(postgres_setup, two_tenants):
    a, _ = two_tenants
    owner = create_engine(postgres_setup.owner_url)
    try:
        for statement, message in (
            ("UPDATE audit_log SET action = 'edited'", "audit_log rows are append-only: UPDATE refused"),
            ("DELETE FROM audit_log", "audit_log rows are append-only: DELETE refused"),
            ("UPDATE dataset_versions SET n_rows = 1", "dataset_versions rows are immutable"),
            ("UPDATE model_versions SET metrics = '{\"loss\": 0}'", "immutable apart from status"),
        ):
            with pytest.raises(DBAPIError, match=message), owner.begin() as c:
                c.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": a["tenant"]})
                c.execute(text(statement))
    finally:
        owner.dispose()


def test_the_app_role_may_change_a_model_versions_status_and_nothing_else(postgres_setup, two_tenants):
    a, _ = two_tenants
    with tenant_session(a["tenant"], database=postgres_setup.database) as s:
        assert s.execute(text("UPDATE model_versions SET status = 'archived' WHERE id = :id"),
                         {"id": a["model_version"]}).rowcount == 1
    with pytest.raises(DBAPIError, match="permission denied"):
        with tenant_session(a["tenant"], database=postgres_setup.database) as s:
            s.execute(text("UPDATE model_versions SET config = '{}' WHERE id = :id"), {"id": a["model_version"]})
