"""Doppel's one settings module.

Every setting is read from the environment (prefix ``DOPPEL_``) and has an embedded default,
so that ``make run`` works on a bare machine: SQLite and a local object folder under
``DOPPEL_DATA_DIR``, an in-process job queue and cache. Production points the same settings
at PostgreSQL, S3, Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; ``get_settings()`` returns the process-wide instance."""

    model_config = SettingsConfigDict(env_prefix="DOPPEL_", extra="ignore")

    data_dir: Path = Field(default=Path(".doppel"), description="Root of embedded state.")
    database_url: str = Field(default="", description="SQLAlchemy URL of the metadata DB.")
    storage_url: str = Field(default="", description="file:// folder or s3://bucket/prefix.")
    broker_url: str = Field(default="", description="redis://… or empty for in-process.")
    cache_url: str = Field(default="", description="redis://… or empty for in-process LRU.")
    s3_endpoint_url: str = Field(default="", description="Endpoint for S3-compatible stores.")
    database_owner_url: str = Field(
        default="",
        description="URL of the schema-owning role that runs migrations; empty = database_url.",
    )
    database_app_role: str = Field(
        default="doppel_app",
        description="PostgreSQL role the app connects as (no BYPASSRLS); migrations grant it access.",
    )

    # Ingestion limits, passed to the engine by the services.
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_rows: int = Field(default=5_000_000, gt=0)
    max_decompressed_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    profile_sample_rows: int = Field(default=200_000, gt=0)

    # Database connections to user sources.
    allowed_db_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or CIDR blocks user databases may live on; empty = any public host.",
    )
    allow_private_db_hosts: bool = Field(
        default=False, description="Allow private, loopback and link-local database hosts."
    )
    sql_statement_timeout_s: float = Field(default=60.0, gt=0)

    # S3 imports (infra.usecases.s3_sources): a tenant's own credentials, encrypted at rest.
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key that encrypts tenant secrets at rest (S3 credentials); empty = a random key generated "
        "on first use and kept in DOPPEL_DATA_DIR/secret_key (0600), embedded SQLite only. Production sets it.",
    )
    allow_private_s3_endpoints: bool = Field(
        default=False, description="Allow tenant S3 endpoints on private, loopback and link-local addresses."
    )

    # Object store (infra.storage) and caches (infra.cache).
    s3_region: str = Field(default="", description="S3 signing region; empty = boto3's default, else us-east-1.")
    storage_multipart_threshold_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="Objects this large or larger go up to S3 in parts."
    )
    storage_multipart_part_bytes: int = Field(
        default=16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Part size of multipart uploads (S3 minimum 5 MiB)."
    )
    storage_presign_expiry_s: int = Field(
        default=3600, gt=0, le=7 * 24 * 3600, description="Lifetime of presigned download links."
    )
    model_cache_max_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024, ge=0, description="Memory a worker's model cache may hold; 0 disables it."
    )
    model_cache_ttl_s: float = Field(default=3600.0, ge=0, description="Idle models leave the cache after this; 0 = never.")
    cache_default_ttl_s: float = Field(default=3600.0, ge=0, description="TTL of shared cache entries set without one; 0 = none.")

    # Login, sharing and request limits (auth/, infra/records/{rate_limits,invitations}.py).
    generation_rate_limit: int = Field(
        default=30, ge=0, description="Generation requests one tenant may make per window; 0 = no limit."
    )
    generation_rate_window_s: int = Field(default=60, gt=0, description="Window of the generation rate limit.")
    # REST API (app/api): limits beside the tier's, streams at once, long-polls.
    api_tier_limits: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='Per-tier overrides of the API limits of infra.records.quotas.TierPolicy, as JSON: '
        '{"starter": {"api_requests_per_s": 5, "api_rows_per_min": 1000, "api_max_sample_rows": 100}}.',
    )
    api_stream_slots: int = Field(
        default=16, ge=1, description="Streams one API process serves at once; more are answered 429."
    )
    api_max_wait_s: float = Field(default=30.0, gt=0, le=300, description="Longest long-poll of GET /jobs/{id}?wait=.")
    share_link_max_expiry_s: int = Field(
        default=30 * 24 * 3600, gt=0, description="Longest lifetime a report share link may be given."
    )
    invitation_expiry_s: int = Field(default=14 * 24 * 3600, gt=0, description="Lifetime of an invitation.")
    login_target_ttl_s: int = Field(
        default=600, gt=0, description="How long a deep link opened while logged out waits for the login."
    )

    # Jobs (infra.jobs and workers/): leases, broker, limits, retries, events.
    job_lease_s: float = Field(
        default=60.0, gt=0, description="A running job's lease; the worker's heartbeat renews it every quarter of it."
    )
    broker_heartbeat_timeout_s: float = Field(
        default=60.0, gt=0, description="Redis broker: silence after which a worker's unacknowledged messages are requeued."
    )
    broker_maintenance_chance: int = Field(
        default=100_000, ge=1, le=1_000_000,
        description="Redis broker: broker commands per million that also requeue the messages of dead workers.",
    )
    worker_threads: int = Field(default=1, ge=1, description="Worker threads of `python -m workers` (jobs at once).")
    embedded_worker_threads: int = Field(default=2, ge=1, description="Worker threads of the in-process (embedded) worker.")
    worker_job_threads: int = Field(
        default=0, ge=0, le=1024,
        description="CPU threads (torch, OpenMP) each job of a worker process uses; 0 = OMP_NUM_THREADS when set, "
        "else the CPUs the process may use (affinity, cgroup quota) divided by the jobs it runs at once.",
    )
    train_time_limit_s: float = Field(default=24 * 3600.0, gt=0, description="Longest a training job may run.")
    job_time_limit_s: float = Field(default=3600.0, gt=0, description="Longest a generation or assessment job may run.")
    job_retry_min_backoff_s: float = Field(default=15.0, gt=0, description="First retry delay of a transient failure.")
    job_retry_max_backoff_s: float = Field(default=900.0, gt=0, description="Longest retry delay of a transient failure.")
    checkpoint_every_epochs: int = Field(default=5, ge=1, description="Training checkpoints go to the object store this often.")
    holdout_share: float = Field(
        default=0.2, gt=0, lt=1,
        description="Share of a dataset version a training job sets aside, unseen, for the quality report's holdout.",
    )
    holdout_min_rows: int = Field(
        default=1_000, ge=1, description="A holdout has at least this many rows (when the table is large enough)."
    )
    holdout_min_table_rows: int = Field(
        default=5_000, ge=2,
        description="Tables with fewer rows train on every row: no holdout is set aside (the model version says so).",
    )
    torchrun_nproc_per_node: int = Field(
        default=0, ge=0, description="GPUs a distributed training job uses on its worker (0 = every GPU torch sees)."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one webhook POST.")
    allow_private_webhook_hosts: bool = Field(
        default=False, description="Allow webhooks to private, loopback and link-local addresses (tests, closed networks)."
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or CIDR blocks webhook receivers may live on; empty = any public host "
        "(a CIDR block also allows the non-public addresses it covers; see engine.outbound).",
    )

    # Differential privacy defaults (infra.usecases.training_plan, the Privacy and Train pages): a new
    # dataset's budget, and one training run's charge. Four default runs fit in a default budget.
    dp_budget_epsilon: float = Field(default=4.0, gt=0, description="Epsilon cap offered for a dataset's new budget.")
    dp_budget_delta: float = Field(default=1e-5, gt=0, lt=1, description="Delta cap offered for a dataset's new budget.")
    dp_run_epsilon: float = Field(default=1.0, gt=0, description="Epsilon one DP training run charges unless asked otherwise.")
    dp_run_delta: float = Field(
        default=1e-6, gt=0, lt=1,
        description="Delta one DP training run charges unless asked otherwise (lowered below 0.1 / rows on large tables).",
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'doppel.db').as_posix()}"
        if not self.database_owner_url:
            self.database_owner_url = self.database_url
        if not self.storage_url:
            self.storage_url = (self.data_dir / "objects").resolve().as_uri()
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
