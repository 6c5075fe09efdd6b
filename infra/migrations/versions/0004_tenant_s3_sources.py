"""S3 sources: a workspace's own S3 credentials for imports, encrypted at rest.

- ``s3_sources`` holds one row per tenant: the Fernet token of the access key id and secret
  (``sealed_credentials``; never the secret in clear), the key id's last 4 characters for the
  pages, the endpoint, the region and the buckets imports may read. An import from S3 reads
  with these credentials, never with the server's (``infra.usecases.s3_sources``).
- Tenant-owned like every other table: on PostgreSQL row-level security is ENABLEd and FORCEd
  with the same ``tenant_isolation`` policy as 0001, and the app role may read and write it.

Additive only: no existing table or grant changes.

Revision ID: 0004_s3_sources
Revises: 0003_login
Create Date: 2026-12-05
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from infra.settings import get_settings

revision = "0004_s3_sources"
down_revision = "0003_login"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TABLE = "s3_sources"
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
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('key_id_hint', sa.String(length=8), nullable=False),
    sa.Column('sealed_credentials', sa.Text(), nullable=False),
    sa.Column('endpoint_url', sa.String(length=2000), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('allowed_buckets', JSON, nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=True),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_s3_sources_tenant_id'),
    sa.PrimaryKeyConstraint('tenant_id', name='pk_s3_sources')
    )
    if op.get_bind().dialect.name == "postgresql":
        current_tenant = "current_setting('app.tenant_id', true)"
        op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {TABLE} "
            f"USING (tenant_id = {current_tenant}) WITH CHECK (tenant_id = {current_tenant})"
        )
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO "{_app_role()}"')


def downgrade() -> None:
    op.drop_table(TABLE)
