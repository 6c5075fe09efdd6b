"""Versions are immutable and the logs append-only, in the service layer and in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from infra.db import ImmutableRecordError, tenant_session
from infra.records import audit, catalog, metering

HASH = "c" * 64


def _versions(db, tenant):
    with tenant_session(tenant, database=db) as s:
        dataset = catalog.create_dataset(s, name="d", actor="ana")
        dv = catalog.add_dataset_version(s, dataset_id=dataset.id, content_hash=HASH, source={"kind": "upload"},
                                         profile={"n_rows": 1}, actor="ana")
        model = catalog.create_model(s, name="m", dataset_id=dataset.id, actor="ana")
        mv = catalog.register_model_version(s, model_id=model.id, dataset_version_id=dv.id, model_type="ctgan",
                                            config={"epochs": 1}, metrics={"loss": 1.0}, actor="ana")
        return dv.id, mv.id


def test_a_dataset_version_cannot_be_changed_through_the_session(db, tenant):
    dv_id, _ = _versions(db, tenant)
    with pytest.raises(ImmutableRecordError, match="immutable \\(profile cannot change\\); add a new version"):
        with tenant_session(tenant, database=db) as s:
            catalog.get_dataset_version(s, dv_id).profile = {"n_rows": 2}
            s.flush()
    with tenant_session(tenant, database=db) as s:
        assert catalog.get_dataset_version(s, dv_id).profile == {"n_rows": 1}


def test_a_model_version_may_change_status_but_nothing_else(db, tenant):
    _, mv_id = _versions(db, tenant)
    with tenant_session(tenant, database=db) as s:
        catalog.set_model_version_status(s, mv_id, status="archived", actor="ana")
    with pytest.raises(ImmutableRecordError, match="apart from its status \\(metrics cannot change\\)"):
        with tenant_session(tenant, database=db) as s:
            catalog.get_model_version(s, mv_id).metrics = {"loss": 0.0}
            s.flush()
    with tenant_session(tenant, database=db) as s:
        version = catalog.get_model_version(s, mv_id)
        assert (version.status, version.metrics) == ("archived", {"loss": 1.0})


def test_audit_entries_cannot_be_changed_or_deleted_through_the_session(db, tenant):
    for change in ("edit", "delete"):
        with pytest.raises(ImmutableRecordError, match="audit_log is append-only"):
            with tenant_session(tenant, database=db) as s:
                entry = audit.list_events(s)[0]
                if change == "edit":
                    entry.action = "nothing happened"
                else:
                    s.delete(entry)
                s.flush()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE dataset_versions SET profile = '{}'",
        "UPDATE model_versions SET config = '{}'",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "UPDATE usage_records SET quantity = 0",
        "DELETE FROM usage_records",
    ],
)
def test_the_database_refuses_raw_sql_that_rewrites_history(db, tenant, statement):
    _versions(db, tenant)
    with tenant_session(tenant, database=db) as s:
        metering.record_usage(s, metric="cpu_seconds", quantity=3.0)
    # SQLite: triggers raise; PostgreSQL: the app role lacks the privilege (and triggers back it up).
    with pytest.raises(DBAPIError, match="immutable|append-only|permission denied"):
        with tenant_session(tenant, database=db) as s:
            s.execute(text(statement))


def test_raw_sql_may_change_a_model_versions_status(db, tenant):
    _, mv_id = _versions(db, tenant)
    with tenant_session(tenant, database=db) as s:
        s.execute(text("UPDATE model_versions SET status = 'withdrawn' WHERE id = :id"), {"id": mv_id})
    with tenant_session(tenant, database=db) as s:
        assert catalog.get_model_version(s, mv_id).status == "withdrawn"
