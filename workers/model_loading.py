"""The model of a version, from the worker's model cache or the object store (shared by the generation jobs)."""

from __future__ import annotations

from typing import Any

from workers.context import JobContext


def load_model_version(ctx: JobContext, model_version_id: str, object_key: str) -> Any:
    """The model of a version (a table's or a schema's: ``engine.load_model`` reads both), cached per
    tenant and version by the worker's ``ModelCache``."""
    store = ctx.store

    def load() -> tuple[Any, int]:
        import engine

        data = store.get_bytes(object_key)
        return engine.load_model(data, device="auto"), len(data)

    return ctx.environment.model_cache.get_or_load(tenant=ctx.tenant, model_version=model_version_id, load=load)


__all__ = ["load_model_version"]
