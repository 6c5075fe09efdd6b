"""Login and sharing: invitations, share links, and the tenant directory.

- ``invitations`` and ``share_links`` are tenant-owned like every other table: on PostgreSQL
  row-level security is ENABLEd and FORCEd with the same ``tenant_isolation`` policy as 0001.
  Share links store only the SHA-256 of their token.
- ``tenant_directory`` routes a lookup key (a user id, an invited e-mail, a share token's
  hash) to a tenant, for the two moments when no tenant is known yet: logging in, and opening
  a share link. The app role sees and writes only its session tenant's routes (the same
  policy, on a ``tenant`` column; ENABLEd but not FORCEd), and reads across tenants only
  through ``doppel_directory_lookup(kind, key)``: a SECURITY DEFINER function, owned by the
  schema owner (to whom a non-FORCEd policy does not apply), that returns the tenants routed
  for one exact key and nothing else — no listing, no prefix search. Everything a route
  leads to is re-read inside that tenant's session, under RLS.

Additive only: no existing table or grant changes.

Revision ID: 0003_login
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op

from infra.settings import get_settings

revision = "0003_login"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
TENANT_TABLES = ("invitations", "share_links")
LOOKUP_FUNCTION = "doppel_directory_lookup"
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {LOOKUP_FUNCTION}(text, text)")
    op.drop_table("tenant_directory")
    op.drop_table("share_links")
    op.drop_table("invitations")


def _secure_postgresql(role: str) -> None:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    current_tenant = "current_setting('app.tenant_id', true)"
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {current_tenant}) WITH CHECK (tenant_id = {current_tenant})"
        )
    # Not FORCEd: the policy binds the app role; the owner (and so the lookup function) is exempt.
    op.execute("ALTER TABLE tenant_directory ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON tenant_directory "
        f"USING (tenant = {current_tenant}) WITH CHECK (tenant = {current_tenant})"
    )
    op.execute(
        f"""
        CREATE FUNCTION {LOOKUP_FUNCTION}(p_kind text, p_key text) RETURNS SETOF text
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT d.tenant::text FROM "{schema}".tenant_directory AS d
            WHERE d.kind = p_kind AND d.lookup_key = p_key
            ORDER BY d.tenant
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {LOOKUP_FUNCTION}(text, text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {LOOKUP_FUNCTION}(text, text) TO "{role}"')

    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, DELETE ON share_links TO "{role}"')
    op.execute(f'GRANT UPDATE (revoked_at, revoked_by) ON share_links TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, DELETE ON tenant_directory TO "{role}"')


def _create_tables() -> None:
    op.create_table('invitations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('invited_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('accepted_at', TIMESTAMP, nullable=True),
    sa.Column('accepted_by', sa.String(length=36), nullable=True),
    sa.CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name='ck_invitations_role'),
    sa.ForeignKeyConstraint(['accepted_by'], ['users.id'], name='fk_invitations_accepted_by'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_invitations_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_invitations'),
    sa.UniqueConstraint('tenant_id', 'email', name='uq_invitations_tenant_id_email')
    )
    op.create_index('ix_invitations_tenant_id', 'invitations', ['tenant_id'])

    op.create_table('share_links',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=63), nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.Column('revoked_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'report_id'], ['quality_reports.tenant_id', 'quality_reports.id'], name='fk_share_links_tenant_id_report_id'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name='fk_share_links_tenant_id'),
    sa.PrimaryKeyConstraint('id', name='pk_share_links'),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_share_links_tenant_id_id'),
    sa.UniqueConstraint('token_hash', name='uq_share_links_token_hash')
    )
    op.create_index('ix_share_links_report_id', 'share_links', ['report_id'])
    op.create_index('ix_share_links_tenant_id', 'share_links', ['tenant_id'])

    op.create_table('tenant_directory',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('lookup_key', sa.String(length=320), nullable=False),
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("kind IN ('member', 'invitation', 'share_link')", name='ck_tenant_directory_kind'),
    sa.ForeignKeyConstraint(['tenant'], ['tenants.id'], name='fk_tenant_directory_tenant'),
    sa.PrimaryKeyConstraint('kind', 'lookup_key', 'tenant', name='pk_tenant_directory')
    )
    op.create_index('ix_tenant_directory_tenant', 'tenant_directory', ['tenant'])
