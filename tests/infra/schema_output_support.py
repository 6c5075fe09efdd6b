"""A schema model version for the generation and quality tests, stored and recorded as the platform does.

``trained_schema(datasets)`` (once per process): 150 real baseball players with their batting
and fielding rows, split by root with the platform's holdout rule (``set_aside_tables``), and
a small ``engine.train_tables`` fitted on the training part, saved as one zip (what the store
keeps). ``register_schema(...)`` then stores, for one tenant, the dataset version through the
real path (``infra.usecases.schema_store.store_tables``: the checked tables, one zip of
``<table>.parquet``, ``source["tables"]``/``source["keys"]`` and each table's profile) and
registers the model version as training does (``model_type "tables"``, ``config`` with the
keys, the generation order and each table's model, ``metrics["holdout"]`` the record).

Both go to the *configured* database and store (``infra.settings``); ``configured_as(settings)``
points them at another environment's (the embedded job fixture's) for the time of a block.
"""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from infra.db import tenant_session
from infra.records import catalog
from infra.records.authz import Actor
from infra.settings import Settings
from infra.storage import open_tenant_store

KEYS: dict[str, Any] = {
    "primary_keys": {"players": "id"},
    "foreign_keys": ["batting.players_id -> players.id", "fielding.players_id -> players.id"],
}
PLAYERS = 150


@dataclass(frozen=True)
class TrainedSchema:
    tables: dict[str, pl.DataFrame]  # the whole slice: the dataset version's tables
    record: dict[str, Any]  # the TablesHoldoutRecord's dict
    model_zip: bytes
    config: dict[str, Any]  # the model version's config, as the training worker records it


@dataclass(frozen=True)
class RegisteredSchema:
    dataset_version_id: str
    model_version_id: str


@functools.lru_cache(maxsize=1)
def trained_schema(datasets: Path) -> TrainedSchema:
    import engine
    from infra.records.holdouts import HoldoutRule
    from infra.records.schema_holdouts import set_aside_tables

    full = engine.read_tables(datasets / "multitable" / "baseball")
    players = full["players"].head(PLAYERS)
    ids = players["id"].implode()
    tables = {"players": players,
              "batting": full["batting"].filter(pl.col("players_id").is_in(ids)),
              "fielding": full["fielding"].filter(pl.col("players_id").is_in(ids))}
    training, _, record = set_aside_tables(tables, keys=KEYS, rule=HoldoutRule(share=0.2, min_rows=10,
                                                                               min_table_rows=50), seed=0)
    model = engine.train_tables(training, keys=KEYS, seed=0, max_training_time_s=3, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = model.save(Path(tmp) / "schema.zip").read_bytes()
    config = {"model": "auto", "seed": 0, "device": "cpu", "max_training_time_s": 3, "keys": model.keys,
              "order": list(model.order_),
              "tables": {t: {"model": model.models_[t].kind, "rows": int(model.rows_[t]),
                             "context": model.layouts_[t].context.parent if model.layouts_[t].context else None}
                         for t in model.schema_.tables}}
    return TrainedSchema(tables=tables, record=record.to_dict(), model_zip=data, config=config)


@contextmanager
def configured_as(settings: Settings) -> Iterator[None]:
    """For the block, the configured database, store and data folder are those of ``settings``."""
    from infra.settings import get_settings
    from infra.storage import get_store

    wanted = {"DOPPEL_DATA_DIR": str(settings.data_dir), "DOPPEL_DATABASE_URL": settings.database_url,
              "DOPPEL_STORAGE_URL": settings.storage_url}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    get_settings.cache_clear()
    get_store.cache_clear()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        get_store.cache_clear()


def register_schema(trained: TrainedSchema, *, tenant: str, actor: Actor) -> RegisteredSchema:
    """The dataset version (``store_tables``) and model version of ``trained`` in ``tenant`` (configured services).

    ``actor`` stores the tables (``data.upload``); the model version is recorded as the training
    worker records it, its zip in the tenant's store.
    """
    from infra.usecases.schema_store import store_tables

    stored = store_tables(tenant, name=f"baseball-{uuid.uuid4().hex[:6]}", tables=trained.tables, keys=KEYS,
                          source={"kind": "upload-tables"}, actor=actor)
    with tenant_session(tenant) as session:
        line = catalog.create_model(session, name=f"baseball-schema-{uuid.uuid4().hex[:6]}",
                                    dataset_id=stored.dataset_id, actor="test")
        model_key = f"models/{line.id}/v1.zip"
        info = open_tenant_store(tenant).put_bytes(model_key, trained.model_zip, content_type="application/zip")
        model_version = catalog.register_model_version(
            session, model_id=line.id, dataset_version_id=stored.version_id, model_type="tables",
            config=trained.config, metrics={"holdout": trained.record}, actor="test", object_key=model_key,
            content_hash=info.sha256, n_bytes=info.size,
        )
        return RegisteredSchema(stored.version_id, model_version.id)


__all__ = ["KEYS", "RegisteredSchema", "TrainedSchema", "configured_as", "register_schema", "trained_schema"]
