"""The model of a version, from the worker's model cache or the object store (shared by the generation jobs)."""

from __future__ import annotations

from collections.abc import Callable
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


def load_job_model(ctx: JobContext, *, is_kind: Callable[[Any], bool], model_class: type, not_kind: str,
                   wrong_file: str) -> tuple[str, Any]:
    """(model version id, model) of a generation job's ``model_version_id``: ready, of the kind, loaded warm.

    ``is_kind`` tells the version's kind from its record, ``model_class`` the loaded model's;
    ``not_kind`` and ``wrong_file`` end the refusals of a version or a file of another kind.
    """
    from engine.errors import ConfigError, InputError
    from infra.records import catalog

    model_version_id = ctx.payload.get("model_version_id")
    if not model_version_id:
        raise ConfigError("the generation job names no model version")
    with ctx.session() as session:
        version = catalog.get_model_version(session, model_version_id)
        object_key, status, of_kind = version.object_key, version.status, is_kind(version)
    if status != "ready" or not object_key:
        raise InputError(f"model version {model_version_id} is {status} and cannot generate data")
    if not of_kind:
        raise InputError(f"model version {model_version_id} {not_kind}")
    ctx.progress(0.0, "loading the model")
    model = load_model_version(ctx, model_version_id, object_key)
    if not isinstance(model, model_class):
        raise InputError(f"the file of model version {model_version_id} {wrong_file}")
    ctx.check()
    return model_version_id, model
