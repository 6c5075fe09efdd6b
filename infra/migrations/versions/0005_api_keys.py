"""API keys of the REST API: one row per key, only the SHA-256 of its secret.

- ``api_keys`` holds a user's keys in one tenant: name, scopes (read < generate < train <
  admin), ``secret_hash`` (hex SHA-256 of the secret; never the secret), created, last used
  and revoked times. The token itself (``dpk_<tenant>_<key id>_<secret>``) is shown once.
- Tenant-owned like every other table: on PostgreSQL row-level security is ENABLEd and FORCEd
  with the same ``tenant_isolation`` policy as 0001. The app role may read and insert keys and
  update only ``last_used_at``, ``revoked_at`` and ``revoked_by`` (a key's name, scopes and
  hash never change; it is never deleted, so the audit log's references stay meaningful).

Additive only: no existing table or grant changes.

Revision ID: 0005_api_keys
Revises: 0004_s3_sources
Create Date: 2026-12-06
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from infra.settings import get_settings

revision = "0005_api_keys"
down_revision = "0004_s3_sources"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TABLE = "api_keys"
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
    op.create_table(TABLE,
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('scopes', JSON, nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('last_used_at', TIMESTAMP, nullable=True),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.Column('revoked_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_api_keys_tenant_id'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_api_keys_user_id'),
    sa.PrimaryKeyConstraint('id', name='pk_api_keys')
    )
    op.create_index('ix_api_keys_tenant_id', TABLE, ['tenant_id'])
    op.create_index('ix_api_keys_user_id', TABLE, ['user_id'])
    if op.get_bind().dialect.name == "postgresql":
        current_tenant = "current_setting('app.tenant_id', true)"
        role = _app_role()
        op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {TABLE} "
            f"USING (tenant_id = {current_tenant}) WITH CHECK (tenant_id = {current_tenant})"
        )
        op.execute(f'GRANT SELECT, INSERT ON {TABLE} TO "{role}"')
        op.execute(f'GRANT UPDATE (last_used_at, revoked_at, revoked_by) ON {TABLE} TO "{role}"')


def downgrade() -> None:
    op.drop_index('ix_api_keys_user_id', table_name=TABLE)
    op.drop_index('ix_api_keys_tenant_id', table_name=TABLE)
    op.drop_table(TABLE)
