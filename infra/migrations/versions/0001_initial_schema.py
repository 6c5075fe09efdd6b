"""Initial schema: tenants, people, data, models, jobs, privacy, audit, metering, notifications.

On PostgreSQL this revision also
- creates the app role (DOPPEL_DATABASE_APP_ROLE, NOLOGIN) when it does not exist yet; an
  administrator gives it LOGIN and a password. The app role never owns tables and has no
  BYPASSRLS;
- ENABLEs and FORCEs row-level security on every table with a ``tenant_id`` (and on
  ``tenants``), with a policy on ``current_setting('app.tenant_id', true)``;
- grants the app role only what it needs: no UPDATE on dataset versions, UPDATE of ``status``
  only on model versions, SELECT and INSERT only on the append-only tables;
- adds triggers that refuse those changes even to the owner.
On SQLite (no roles, no RLS) it adds the same refusing triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from infra.settings import get_settings

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Frozen copies of the lists in infra.db.models as of this revision (a revision must not
# change when the models change later).
TENANT_TABLES = (
    "memberships", "tenant_quotas", "datasets", "dataset_versions", "models", "jobs",
    "model_versions", "generated_datasets", "quality_reports", "privacy_budgets",
    "privacy_ledger", "audit_log", "usage_records", "notifications", "webhooks",
)
READ_WRITE_TABLES = (
    "memberships", "tenant_quotas", "datasets", "models", "jobs", "generated_datasets",
    "quality_reports", "privacy_budgets", "notifications", "webhooks",
)
APPEND_ONLY_TABLES = ("audit_log", "privacy_ledger", "usage_records")
MODEL_VERSION_FROZEN_COLUMNS = (
    "id", "tenant_id", "model_id", "version", "dataset_version_id", "job_id", "model_type",
    "config", "metrics", "privacy_spent", "object_key", "content_hash", "n_bytes",
    "created_by", "created_at",
)
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _app_role() -> str:
    role = (
        context.config.attributes.get("app_role")
        or context.get_x_argument(as_dictionary=True).get("app_role")
        or get_settings().database_app_role
    )
    if not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"invalid app role name {role!r}: expected lowercase letters, digits and _")
    return role


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql(_app_role())
    elif op.get_bind().dialect.name == "sqlite":
        _guard_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unsecure_postgresql(_app_role())
    _drop_tables()


def _secure_postgresql(role: str) -> None:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;  -- created concurrently
        END $$;
        """
    )
    op.execute(
        """
        CREATE FUNCTION doppel_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% rows are %: % refused', TG_TABLE_NAME, TG_ARGV[0], TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END $$;
        """
    )
    op.execute(
        """
        CREATE FUNCTION doppel_refuse_model_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (to_jsonb(NEW) - 'status') IS DISTINCT FROM (to_jsonb(OLD) - 'status') THEN
                RAISE EXCEPTION 'model_versions rows are immutable apart from status: UPDATE refused'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER dataset_versions_immutable BEFORE UPDATE ON dataset_versions "
        "FOR EACH ROW EXECUTE FUNCTION doppel_refuse_change('immutable')"
    )
    op.execute(
        "CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions "
        "FOR EACH ROW EXECUTE FUNCTION doppel_refuse_model_version_change()"
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION doppel_refuse_change('append-only')"
        )

    current_tenant = "current_setting('app.tenant_id', true)"
    for table, column in [("tenants", "id"), *((t, "tenant_id") for t in TENANT_TABLES)]:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = {current_tenant}) WITH CHECK ({column} = {current_tenant})"
        )

    op.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON tenants, users TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(READ_WRITE_TABLES)} TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, DELETE ON dataset_versions, model_versions TO "{role}"')
    op.execute(f'GRANT UPDATE (status) ON model_versions TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT ON {", ".join(APPEND_ONLY_TABLES)} TO "{role}"')
    op.execute(f'GRANT USAGE ON SEQUENCE audit_log_id_seq TO "{role}"')


def _unsecure_postgresql(role: str) -> None:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                REVOKE USAGE ON SCHEMA "{schema}" FROM "{role}";
            END IF;
        END $$;
        """
    )
    # Policies and triggers go with their tables; the functions are dropped after them.


def _drop_functions() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS doppel_refuse_model_version_change()")
        op.execute("DROP FUNCTION IF EXISTS doppel_refuse_change()")


def _guard_sqlite() -> None:
    op.execute(
        "CREATE TRIGGER dataset_versions_immutable BEFORE UPDATE ON dataset_versions BEGIN "
        "SELECT RAISE(ABORT, 'dataset_versions rows are immutable: UPDATE refused'); END"
    )
    op.execute(
        f"CREATE TRIGGER model_versions_immutable BEFORE UPDATE OF {', '.join(MODEL_VERSION_FROZEN_COLUMNS)} "
        "ON model_versions BEGIN "
        "SELECT RAISE(ABORT, 'model_versions rows are immutable apart from status: UPDATE refused'); END"
    )
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only_{operation.lower()} BEFORE {operation} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} rows are append-only: {operation} refused'); END"
            )


def _create_tables() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("tier IN ('enterprise', 'business', 'starter')", name='ck_tenants_tier'),
    sa.PrimaryKeyConstraint('id', name='pk_tenants')
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=320), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name='pk_users'),
    sa.UniqueConstraint('subject', name='uq_users_subject')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=50), nullable=False),
    sa.Column('object_id', sa.String(length=63), nullable=True),
    sa.Column('details', JSON, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_audit_log_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_audit_log')
    )
    op.create_index('ix_audit_log_object_id', 'audit_log', ['object_id'])
    op.create_index('ix_audit_log_tenant_id', 'audit_log', ['tenant_id'])

    op.create_table('datasets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_datasets_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_datasets'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_datasets_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_datasets_tenant_id_name')
    )
    op.create_index('ix_datasets_tenant_id', 'datasets', ['tenant_id'])

    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('queue', sa.String(length=100), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('result', JSON, nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('progress_message', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_expires_at', TIMESTAMP, nullable=True),
    sa.Column('heartbeat_at', TIMESTAMP, nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('started_at', TIMESTAMP, nullable=True),
    sa.Column('finished_at', TIMESTAMP, nullable=True),
    sa.CheckConstraint("kind IN ('train', 'generate', 'assess')", name='ck_jobs_kind'),
    sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name='ck_jobs_state'),
    sa.CheckConstraint('attempts >= 0', name='ck_jobs_attempts'),
    sa.CheckConstraint('progress >= 0 AND progress <= 1', name='ck_jobs_progress'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_jobs_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_jobs'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_jobs_tenant_id_id')
    )
    op.create_index('ix_jobs_state', 'jobs', ['state'])
    op.create_index('ix_jobs_tenant_id', 'jobs', ['tenant_id'])

    op.create_table('memberships',
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name='ck_memberships_role'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_memberships_tenant_id'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_memberships_user_id'),
    sa.PrimaryKeyConstraint('tenant_id', 'user_id', name='pk_memberships')
    )
    op.create_index('ix_memberships_user_id', 'memberships', ['user_id'])

    op.create_table('tenant_quotas',
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('max_concurrent_jobs', sa.Integer(), nullable=True),
    sa.Column('max_stored_bytes', sa.BigInteger(), nullable=True),
    sa.Column('max_rows_per_generation', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('max_concurrent_jobs IS NULL OR max_concurrent_jobs >= 0', name='ck_tenant_quotas_concurrent_jobs'),
    sa.CheckConstraint('max_rows_per_generation IS NULL OR max_rows_per_generation >= 0', name='ck_tenant_quotas_rows_per_generation'),
    sa.CheckConstraint('max_stored_bytes IS NULL OR max_stored_bytes >= 0', name='ck_tenant_quotas_stored_bytes'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_tenant_quotas_tenant_id'),
    sa.PrimaryKeyConstraint('tenant_id', name='pk_tenant_quotas')
    )
    op.create_table('webhooks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('events', JSON, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_webhooks_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_webhooks'),
    sa.UniqueConstraint('tenant_id', 'url', name='uq_webhooks_tenant_id_url')
    )
    op.create_index('ix_webhooks_tenant_id', 'webhooks', ['tenant_id'])

    op.create_table('dataset_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source', JSON, nullable=False),
    sa.Column('profile', JSON, nullable=False),
    sa.Column('object_key', sa.String(length=1024), nullable=True),
    sa.Column('n_rows', sa.BigInteger(), nullable=True),
    sa.Column('n_columns', sa.Integer(), nullable=True),
    sa.Column('n_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('version >= 1', name='ck_dataset_versions_version'),
    sa.ForeignKeyConstraint(['tenant_id', 'dataset_id'], ['datasets.tenant_id', 'datasets.id'], name='fk_dataset_versions_tenant_id_dataset_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_dataset_versions_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_dataset_versions'),
    sa.UniqueConstraint('dataset_id', 'version', name='uq_dataset_versions_dataset_id_version'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_dataset_versions_tenant_id_id')
    )
    op.create_index('ix_dataset_versions_dataset_id', 'dataset_versions', ['dataset_id'])
    op.create_index('ix_dataset_versions_tenant_id', 'dataset_versions', ['tenant_id'])

    op.create_table('models',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'dataset_id'], ['datasets.tenant_id', 'datasets.id'], name='fk_models_tenant_id_dataset_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_models_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_models'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_models_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_models_tenant_id_name')
    )
    op.create_index('ix_models_dataset_id', 'models', ['dataset_id'])
    op.create_index('ix_models_tenant_id', 'models', ['tenant_id'])

    op.create_table('notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('read_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_notifications_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_notifications_tenant_id'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_notifications_user_id'),
    sa.PrimaryKeyConstraint('id', name='pk_notifications')
    )
    op.create_index('ix_notifications_tenant_id', 'notifications', ['tenant_id'])

    op.create_table('privacy_budgets',
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('epsilon_cap', sa.Float(), nullable=False),
    sa.Column('delta_cap', sa.Float(), nullable=False),
    sa.Column('epsilon_spent', sa.Float(), nullable=False),
    sa.Column('delta_spent', sa.Float(), nullable=False),
    sa.Column('epsilon_reserved', sa.Float(), nullable=False),
    sa.Column('delta_reserved', sa.Float(), nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('delta_spent + delta_reserved <= delta_cap', name='ck_privacy_budgets_delta_within_cap'),
    sa.CheckConstraint('epsilon_cap >= 0 AND delta_cap >= 0 AND delta_cap < 1', name='ck_privacy_budgets_caps'),
    sa.CheckConstraint('epsilon_reserved >= 0 AND delta_reserved >= 0', name='ck_privacy_budgets_reserved_nonnegative'),
    sa.CheckConstraint('epsilon_spent + epsilon_reserved <= epsilon_cap', name='ck_privacy_budgets_epsilon_within_cap'),
    sa.CheckConstraint('epsilon_spent >= 0 AND delta_spent >= 0', name='ck_privacy_budgets_spent_nonnegative'),
    sa.ForeignKeyConstraint(['tenant_id', 'dataset_id'], ['datasets.tenant_id', 'datasets.id'], name='fk_privacy_budgets_tenant_id_dataset_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_privacy_budgets_tenant_id'),
    sa.PrimaryKeyConstraint('tenant_id', 'dataset_id', name='pk_privacy_budgets')
    )
    op.create_table('privacy_ledger',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('entry_kind', sa.String(length=20), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=False),
    sa.Column('delta', sa.Float(), nullable=False),
    sa.Column('mechanism', sa.String(length=200), nullable=True),
    sa.Column('details', JSON, nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("entry_kind IN ('reserve', 'commit', 'release', 'charge')", name='ck_privacy_ledger_entry_kind'),
    sa.CheckConstraint('epsilon >= 0 AND delta >= 0', name='ck_privacy_ledger_nonnegative'),
    sa.CheckConstraint('seq >= 1', name='ck_privacy_ledger_seq'),
    sa.ForeignKeyConstraint(['tenant_id', 'dataset_id'], ['datasets.tenant_id', 'datasets.id'], name='fk_privacy_ledger_tenant_id_dataset_id'),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_privacy_ledger_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_privacy_ledger_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_privacy_ledger'),
    sa.UniqueConstraint('tenant_id', 'dataset_id', 'seq', name='uq_privacy_ledger_tenant_id_dataset_id_seq')
    )
    op.create_index('ix_privacy_ledger_tenant_id', 'privacy_ledger', ['tenant_id'])

    op.create_table('usage_records',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('recorded_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("metric IN ('cpu_seconds', 'gpu_seconds', 'rows_generated', 'bytes_stored')", name='ck_usage_records_metric'),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_usage_records_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_usage_records_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_usage_records')
    )
    op.create_index('ix_usage_records_job_id', 'usage_records', ['job_id'])
    op.create_index('ix_usage_records_recorded_at', 'usage_records', ['recorded_at'])
    op.create_index('ix_usage_records_tenant_id', 'usage_records', ['tenant_id'])

    op.create_table('model_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('model_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('dataset_version_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('model_type', sa.String(length=50), nullable=False),
    sa.Column('config', JSON, nullable=False),
    sa.Column('metrics', JSON, nullable=False),
    sa.Column('privacy_spent', JSON, nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('object_key', sa.String(length=1024), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('n_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("status IN ('ready', 'archived', 'withdrawn')", name='ck_model_versions_status'),
    sa.CheckConstraint('version >= 1', name='ck_model_versions_version'),
    sa.ForeignKeyConstraint(['tenant_id', 'dataset_version_id'], ['dataset_versions.tenant_id', 'dataset_versions.id'], name='fk_model_versions_tenant_id_dataset_version_id'),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_model_versions_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id', 'model_id'], ['models.tenant_id', 'models.id'], name='fk_model_versions_tenant_id_model_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_model_versions_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_model_versions'),
    sa.UniqueConstraint('job_id', name='uq_model_versions_job_id'),
    sa.UniqueConstraint('model_id', 'version', name='uq_model_versions_model_id_version'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_model_versions_tenant_id_id')
    )
    op.create_index('ix_model_versions_dataset_version_id', 'model_versions', ['dataset_version_id'])
    op.create_index('ix_model_versions_model_id', 'model_versions', ['model_id'])
    op.create_index('ix_model_versions_tenant_id', 'model_versions', ['tenant_id'])

    op.create_table('generated_datasets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('model_version_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('n_rows', sa.BigInteger(), nullable=False),
    sa.Column('params', JSON, nullable=False),
    sa.Column('object_key', sa.String(length=1024), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('n_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('n_rows >= 0', name='ck_generated_datasets_n_rows'),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_generated_datasets_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id', 'model_version_id'], ['model_versions.tenant_id', 'model_versions.id'], name='fk_generated_datasets_tenant_id_model_version_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_generated_datasets_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_generated_datasets'),
    sa.UniqueConstraint('job_id', name='uq_generated_datasets_job_id'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_generated_datasets_tenant_id_id')
    )
    op.create_index('ix_generated_datasets_model_version_id', 'generated_datasets', ['model_version_id'])
    op.create_index('ix_generated_datasets_tenant_id', 'generated_datasets', ['tenant_id'])

    op.create_table('quality_reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('generated_dataset_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('scores', JSON, nullable=False),
    sa.Column('gates', JSON, nullable=False),
    sa.Column('object_key', sa.String(length=1024), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'generated_dataset_id'], ['generated_datasets.tenant_id', 'generated_datasets.id'], name='fk_quality_reports_tenant_id_generated_dataset_id'),
    sa.ForeignKeyConstraint(['tenant_id', 'job_id'], ['jobs.tenant_id', 'jobs.id'], name='fk_quality_reports_tenant_id_job_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_quality_reports_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_quality_reports'),
    sa.UniqueConstraint('job_id', name='uq_quality_reports_job_id'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_quality_reports_tenant_id_id')
    )
    op.create_index('ix_quality_reports_generated_dataset_id', 'quality_reports', ['generated_dataset_id'])
    op.create_index('ix_quality_reports_tenant_id', 'quality_reports', ['tenant_id'])


def _drop_tables() -> None:
    op.drop_table('quality_reports')
    op.drop_table('generated_datasets')
    op.drop_table('model_versions')
    op.drop_table('usage_records')
    op.drop_table('privacy_ledger')
    op.drop_table('privacy_budgets')
    op.drop_table('notifications')
    op.drop_table('models')
    op.drop_table('dataset_versions')
    op.drop_table('webhooks')
    op.drop_table('tenant_quotas')
    op.drop_table('memberships')
    op.drop_table('jobs')
    op.drop_table('datasets')
    op.drop_table('audit_log')
    op.drop_table('users')
    op.drop_table('tenants')
    _drop_functions()
