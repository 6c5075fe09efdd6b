"""Privacy ledger support: the ledger's head anchor, a tenant DP policy flag, a job index.

Additive only (no existing column changes, no table is rebuilt, so the append-only triggers
of 0001 stay in place):

- ``privacy_budgets.ledger_seq`` / ``ledger_head``: the sequence number and hash of the last
  entry of the dataset's hash-chained ledger. Appends read and advance them under the budget
  row's lock (so the chain has one writer at a time), and the verifier compares the chain's
  end with them, which catches a truncated ledger, not only an altered entry.
- ``tenant_quotas.require_dp_on_sensitive``: the tenant's policy that models trained on a
  dataset marked ``sensitive`` must be differentially private (default: off).
- ``ix_privacy_ledger_job_id``: the generation check looks up a model's training charge by job.

The app role's table grants of 0001 cover the new columns (``privacy_budgets`` and
``tenant_quotas`` are read-write for it; ``privacy_ledger`` stays SELECT/INSERT only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("privacy_budgets", sa.Column("ledger_seq", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("privacy_budgets", sa.Column("ledger_head", sa.String(length=64), nullable=True))
    op.add_column(
        "tenant_quotas",
        sa.Column("require_dp_on_sensitive", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_privacy_ledger_job_id", "privacy_ledger", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_privacy_ledger_job_id", table_name="privacy_ledger")
    op.drop_column("tenant_quotas", "require_dp_on_sensitive")
    op.drop_column("privacy_budgets", "ledger_head")
    op.drop_column("privacy_budgets", "ledger_seq")
