"""Serving a model's rows synchronously (the REST API's samples and streams).

The API keeps loaded models warm in its own process; this module is what it asks the platform:
which version of a model serves (the one asked for, or the model's newest ready version), whether
the caller may generate from it, the tenant's API limits, and the model itself read from the
store. Every check happens here, before a model is loaded or a row is generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError
from infra.db import tenant_session
from infra.db.errors import NotFoundError, QuotaExceededError
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.records.quotas import TierPolicy, effective_policy
from infra.storage import open_tenant_store


@dataclass(frozen=True)
class ServingVersion:
    """The model version that answers a samples or stream request."""

    id: str
    model_id: str
    object_key: str
    model_type: str


def api_policy(tenant: str) -> TierPolicy:
    """The tenant's tier policy (its API limits included), overrides applied."""
    with tenant_session(tenant) as session:
        return effective_policy(session)


def serving_version(tenant: str, *, model_id: str, actor: Actor, version_id: str | None = None,
                    n_rows: int | None = None) -> ServingVersion:
    """The ready version of ``model_id`` that serves (``version_id``, or the newest ready one).

    Refuses a viewer (``generation.request``), a version of another model or one that is not
    ready (withdrawn, archived, still training), and ``n_rows`` over the tier's synchronous limit.
    """
    with tenant_session(tenant) as session:
        require_permission(session, actor, "generation.request")
        model = catalog.get_model(session, model_id)
        if version_id is not None:
            version = catalog.get_model_version(session, version_id)
            if version.model_id != model.id:
                raise NotFoundError(f"model {model_id!r} has no version {version_id!r}")
            if version.status != "ready" or not version.object_key:
                raise ConfigError(f"model version {version_id!r} is {version.status}: only a ready version generates rows")
        else:
            ready = [v for v in catalog.list_model_versions(session, model.id) if v.status == "ready" and v.object_key]
            if not ready:
                raise ConfigError(f"model {model_id!r} has no ready version yet: wait for its training job to finish")
            version = max(ready, key=lambda v: v.version)
        if n_rows is not None:
            limit = effective_policy(session).api_max_sample_rows
            if n_rows > limit:
                raise QuotaExceededError(
                    f"a samples request for {n_rows:,} rows exceeds this workspace's limit of {limit:,} rows per "
                    "request; ask for fewer rows, use a stream, or start a generation job"
                )
        return ServingVersion(id=version.id, model_id=model.id, object_key=str(version.object_key),
                              model_type=version.model_type)


def load_serving_model(tenant: str, *, object_key: str) -> tuple[Any, int]:
    """The fitted model stored under ``object_key`` and its size in bytes (for the warm-model cache)."""
    import engine

    data = open_tenant_store(tenant).get_bytes(object_key)
    return engine.load_model(data, device="cpu"), len(data)


__all__ = ["ServingVersion", "api_policy", "load_serving_model", "serving_version"]
