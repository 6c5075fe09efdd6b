"""The metadata tables (SQLAlchemy 2 declarative).

The Alembic revisions in ``infra/migrations/versions`` create exactly these tables (a test
compares the two); this module is what the services query.

Conventions:
- Every tenant-owned table has a ``tenant_id`` column. ``TENANT_TABLES`` lists them; on
  PostgreSQL each one has row-level security FORCEd with a policy on
  ``current_setting('app.tenant_id', true)``. ``tenants`` itself is filtered on its ``id``.
  ``users`` is the one global table: a person may belong to several tenants (``memberships``).
- References between tenant-owned rows are composite foreign keys ``(tenant_id, x_id)``, so a
  row can only point at a row of its own tenant. (PostgreSQL checks foreign keys without RLS;
  a plain ``x_id`` key would let tenant A link to, and so probe for, tenant B's ids.)
- Ids are random UUID text; timestamps are aware UTC; JSON columns are JSONB on PostgreSQL.
- Immutable rows: ``dataset_versions`` (all columns) and ``model_versions`` (all but
  ``status``). Append-only: ``audit_log``, ``privacy_ledger``, ``usage_records``. The service
  layer refuses such changes on every backend and the database refuses them too (triggers on
  both; on PostgreSQL the app role also lacks the UPDATE/DELETE privilege).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from infra.db.types import JSONDocument, UTCDateTime, new_id, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

TIERS = ("enterprise", "business", "starter")
ROLES = ("owner", "admin", "member", "viewer")
JOB_KINDS = ("train", "generate", "assess")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
MODEL_VERSION_STATUSES = ("ready", "archived", "withdrawn")
USAGE_METRICS = ("cpu_seconds", "gpu_seconds", "rows_generated", "bytes_stored")
LEDGER_ENTRY_KINDS = ("reserve", "commit", "release", "charge")

ID = String(36)
TENANT_ID = String(63)
HASH = String(64)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantOwned:
    """The tables with a ``tenant_id``: the session filters every ORM query on them.

    Each table declares its own ``tenant_id`` (some as part of the key), overriding this one;
    this declaration is what ``with_loader_criteria(TenantOwned, ...)`` is built against.
    """

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), nullable=False, index=True)


def _tenant_fk() -> Any:
    return mapped_column(TENANT_ID, ForeignKey("tenants.id"), nullable=False, index=True)


def _same_tenant(column: str, table: str) -> ForeignKeyConstraint:
    """A reference from ``column`` to a row of ``table`` of the same tenant: ``(tenant_id, column)``."""
    return ForeignKeyConstraint(["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"])


def _created_at() -> Any:
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow)


# --- tenants and people -------------------------------------------------------------------


class Tenant(Base):
    """An organisation; its ``id`` is the tenant name used everywhere (keys, RLS, queues)."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint(_in("tier", TIERS), name="tier"),)

    id: Mapped[str] = mapped_column(TENANT_ID, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    tier: Mapped[str] = mapped_column(String(20), nullable=False, default="starter")
    created_at: Mapped[datetime] = _created_at()


class User(Base):
    """A person, known by the identity provider's subject; global (not tenant-owned)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created_at()


class Membership(TenantOwned, Base):
    """A user's role in one tenant."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = _created_at()


class TenantQuota(TenantOwned, Base):
    """Per-tenant overrides of the tier's quotas; a NULL column means "the tier's default"."""

    __tablename__ = "tenant_quotas"
    __table_args__ = (
        CheckConstraint("max_concurrent_jobs IS NULL OR max_concurrent_jobs >= 0", name="concurrent_jobs"),
        CheckConstraint("max_stored_bytes IS NULL OR max_stored_bytes >= 0", name="stored_bytes"),
        CheckConstraint(
            "max_rows_per_generation IS NULL OR max_rows_per_generation >= 0", name="rows_per_generation"
        ),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), primary_key=True)
    max_concurrent_jobs: Mapped[int | None] = mapped_column(Integer)
    max_stored_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_rows_per_generation: Mapped[int | None] = mapped_column(BigInteger)
    require_dp_on_sensitive: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    """Policy: models trained on a dataset marked ``sensitive`` must be differentially private."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


# --- data and models ----------------------------------------------------------------------


class Dataset(TenantOwned, Base):
    """A named table of a tenant; its content lives in immutable versions."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


class DatasetVersion(TenantOwned, Base):
    """One immutable upload or extract of a dataset: content hash, profile, source, object key."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("dataset_id", "version"),
        _same_tenant("dataset_id", "datasets"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    dataset_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(HASH, nullable=False)
    source: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    n_rows: Mapped[int | None] = mapped_column(BigInteger)
    n_columns: Mapped[int | None] = mapped_column(Integer)
    n_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


class Model(TenantOwned, Base):
    """A named line of model versions trained on one dataset."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
        _same_tenant("dataset_id", "datasets"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    dataset_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


class Job(TenantOwned, Base):
    """A unit of background work; the row, not the queue message, is the truth about it.

    State machine: queued -> running -> succeeded | failed | cancelled (queued -> cancelled
    too). A worker owns a running job through a lease (``lease_owner`` until
    ``lease_expires_at``) that it renews with each heartbeat; a second delivery of the same
    message finds the lease held and leaves the job alone.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="queued", index=True)
    queue: Mapped[str] = mapped_column(String(100), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ModelVersion(TenantOwned, Base):
    """An immutable registry entry: a trained model file, its config, metrics and privacy spent.

    Only ``status`` may change after insert (ready -> archived, say). ``job_id`` is unique, so
    a training job that is retried after a crash can never register two versions.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("model_id", "version"),
        UniqueConstraint("job_id"),
        _same_tenant("model_id", "models"),
        _same_tenant("dataset_version_id", "dataset_versions"),
        _same_tenant("job_id", "jobs"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(_in("status", MODEL_VERSION_STATUSES), name="status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    model_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    dataset_version_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    job_id: Mapped[str | None] = mapped_column(ID)
    model_type: Mapped[str] = mapped_column(String(50), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    privacy_spent: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="ready")
    object_key: Mapped[str | None] = mapped_column(String(1024))
    content_hash: Mapped[str | None] = mapped_column(HASH)
    n_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


class GeneratedDataset(TenantOwned, Base):
    """Synthetic rows sampled from one model version (a row appears only once fully written)."""

    __tablename__ = "generated_datasets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("job_id"),
        _same_tenant("model_version_id", "model_versions"),
        _same_tenant("job_id", "jobs"),
        CheckConstraint("n_rows >= 0", name="n_rows"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    model_version_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    job_id: Mapped[str | None] = mapped_column(ID)
    n_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    content_hash: Mapped[str | None] = mapped_column(HASH)
    n_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


class QualityReport(TenantOwned, Base):
    """The assessment of one generated dataset against the real dataset version."""

    __tablename__ = "quality_reports"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("job_id"),
        _same_tenant("generated_dataset_id", "generated_datasets"),
        _same_tenant("job_id", "jobs"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    generated_dataset_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    job_id: Mapped[str | None] = mapped_column(ID)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    gates: Mapped[list[Any]] = mapped_column(JSONDocument, nullable=False)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()


# --- privacy (the services are in infra/privacy) --------------------------------------------


class PrivacyBudget(TenantOwned, Base):
    """A dataset's (epsilon, delta) budget: caps, committed spend and open reservations."""

    __tablename__ = "privacy_budgets"
    __table_args__ = (
        _same_tenant("dataset_id", "datasets"),
        CheckConstraint("epsilon_cap >= 0 AND delta_cap >= 0 AND delta_cap < 1", name="caps"),
        CheckConstraint("epsilon_spent >= 0 AND delta_spent >= 0", name="spent_nonnegative"),
        CheckConstraint("epsilon_reserved >= 0 AND delta_reserved >= 0", name="reserved_nonnegative"),
        CheckConstraint("epsilon_spent + epsilon_reserved <= epsilon_cap", name="epsilon_within_cap"),
        CheckConstraint("delta_spent + delta_reserved <= delta_cap", name="delta_within_cap"),
    )

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ID, primary_key=True)
    epsilon_cap: Mapped[float] = mapped_column(Float, nullable=False)
    delta_cap: Mapped[float] = mapped_column(Float, nullable=False)
    epsilon_spent: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    delta_spent: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    epsilon_reserved: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    delta_reserved: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    ledger_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    """``seq`` of the ledger's last entry (0: empty); appends advance it under this row's lock."""
    ledger_head: Mapped[str | None] = mapped_column(HASH)
    """``hash`` of the ledger's last entry: the verifier checks the chain ends here (no truncation)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


class PrivacyLedgerEntry(TenantOwned, Base):
    """One append-only, hash-chained entry of a dataset's privacy ledger."""

    __tablename__ = "privacy_ledger"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dataset_id", "seq"),
        _same_tenant("dataset_id", "datasets"),
        _same_tenant("job_id", "jobs"),
        CheckConstraint(_in("entry_kind", LEDGER_ENTRY_KINDS), name="entry_kind"),
        CheckConstraint("epsilon >= 0 AND delta >= 0", name="nonnegative"),
        CheckConstraint("seq >= 1", name="seq"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    dataset_id: Mapped[str] = mapped_column(ID, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    job_id: Mapped[str | None] = mapped_column(ID, index=True)
    entry_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    epsilon: Mapped[float] = mapped_column(Float, nullable=False)
    delta: Mapped[float] = mapped_column(Float, nullable=False)
    mechanism: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(HASH)
    hash: Mapped[str] = mapped_column(HASH, nullable=False)
    created_at: Mapped[datetime] = _created_at()


# --- audit, metering, notifications --------------------------------------------------------


class AuditEntry(TenantOwned, Base):
    """Who did what to which object, when; append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    actor: Mapped[str] = mapped_column(String(320), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    object_type: Mapped[str] = mapped_column(String(50), nullable=False)
    object_id: Mapped[str | None] = mapped_column(String(63), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created_at()


class UsageRecord(TenantOwned, Base):
    """A metered quantity (CPU/GPU seconds, rows generated, bytes stored) for billing; append-only."""

    __tablename__ = "usage_records"
    __table_args__ = (
        _same_tenant("job_id", "jobs"),
        CheckConstraint(_in("metric", USAGE_METRICS), name="metric"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    job_id: Mapped[str | None] = mapped_column(ID, index=True)
    metric: Mapped[str] = mapped_column(String(30), nullable=False)
    quantity: Mapped[float] = mapped_column(Float, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)


class Notification(TenantOwned, Base):
    """An in-app message (job finished, budget low); ``user_id`` NULL means every member."""

    __tablename__ = "notifications"
    __table_args__ = (_same_tenant("job_id", "jobs"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    job_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = _created_at()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Webhook(TenantOwned, Base):
    """A tenant's endpoint for completion events, signed with HMAC-SHA256 using ``secret``."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "url"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created_at()


# --- login and sharing (auth/, infra/records/{invitations,members,directory}) ---------------

DIRECTORY_KINDS = ("member", "invitation", "share_link")


class Invitation(TenantOwned, Base):
    """A tenant admin's invitation of an e-mail address, with the role it grants at first login."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    invited_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))


class ShareLink(TenantOwned, Base):
    """A read-only link to one quality report. Only the SHA-256 of its token is stored."""

    __tablename__ = "share_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("token_hash"),
        _same_tenant("report_id", "quality_reports"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    report_id: Mapped[str] = mapped_column(ID, nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(HASH, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(320))


class DirectoryEntry(Base):
    """A route from a lookup key (a user id, an invited e-mail, a share token's hash) to a tenant.

    Logging in and opening a share link happen before any tenant is known, while every
    tenant-owned table is hidden by row-level security until one is. This table only says
    *which* tenant to open a session for; the authority (the membership and its role, the
    invitation, the link's expiry and revocation) is re-read inside that tenant's session.
    On PostgreSQL the app role sees and writes only its session tenant's routes (RLS, not
    FORCEd) and reads across tenants only through ``doppel_directory_lookup(kind, key)``, a
    SECURITY DEFINER function that answers one exact key. No ``tenant_id`` column on purpose:
    it is not a tenant-owned table.
    """

    __tablename__ = "tenant_directory"
    __table_args__ = (CheckConstraint(_in("kind", DIRECTORY_KINDS), name="kind"),)

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    lookup_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    tenant: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = _created_at()


# --- sources (infra/usecases/s3_sources) --------------------------------------------------


class S3Source(TenantOwned, Base):
    """A workspace's S3 credentials for imports, set by an admin; one per workspace.

    ``sealed_credentials`` is the Fernet token of the key id and secret (``infra.secret_box``);
    the secret is never stored in clear. ``key_id_hint`` is the key id's last 4 characters, all
    the pages ever show. ``allowed_buckets``: the buckets imports may read (empty: any).
    """

    __tablename__ = "s3_sources"

    tenant_id: Mapped[str] = mapped_column(TENANT_ID, ForeignKey("tenants.id"), primary_key=True)
    key_id_hint: Mapped[str] = mapped_column(String(8), nullable=False)
    sealed_credentials: Mapped[str] = mapped_column(Text, nullable=False)
    endpoint_url: Mapped[str | None] = mapped_column(String(2000))
    region: Mapped[str | None] = mapped_column(String(64))
    allowed_buckets: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)



# --- the REST API's keys (infra/records/api_keys, infra/usecases/api_keys) ----------------


class ApiKey(TenantOwned, Base):
    """A user's API key in one tenant: only the SHA-256 of its secret is stored, never the secret.

    ``scopes`` bound what the key may do (read < generate < train < admin); the user's role in
    the tenant is re-read on every call. A revoked key (``revoked_at``) is refused for good.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = _tenant_fk()
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    secret_hash: Mapped[str] = mapped_column(HASH, nullable=False)
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(320))

TENANT_TABLES: tuple[str, ...] = tuple(
    table.name for table in Base.metadata.sorted_tables if "tenant_id" in table.c
)
"""Every table with a ``tenant_id`` column: each gets FORCEd row-level security on PostgreSQL."""
