"""A schema model version for the generation and quality tests, built the way H1 and H2 record them.

``trained_schema(datasets)`` (once per process): 150 real baseball players with their batting
and fielding rows, split by root with the platform's holdout rule (``set_aside_tables``), and
a small ``engine.train_tables`` fitted on the training part, saved as one zip (what the store
keeps). ``register_schema(...)`` then stores, for one tenant, the dataset version (one zip of
``<table>.parquet``; ``source["tables"]`` and ``source["keys"]``) and registers the model
version (``model_type "tables"``, ``config["keys"]``, ``metrics["holdout"]`` the record).
"""

from __future__ import annotations

import functools
import hashlib
import io
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from infra.db import Database, tenant_session
from infra.records import catalog
from infra.storage import ObjectStore

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


@dataclass(frozen=True)
class RegisteredSchema:
    dataset_version_id: str
    model_version_id: str


def tables_zip(tables: dict[str, pl.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(tables):
            part = io.BytesIO()
            tables[name].write_parquet(part)
            archive.writestr(f"{name}.parquet", part.getvalue())
    return buffer.getvalue()


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
    return TrainedSchema(tables=tables, record=record.to_dict(), model_zip=data)


def register_schema(trained: TrainedSchema, *, tenant: str, store: ObjectStore,
                    database: Database | None = None) -> RegisteredSchema:
    """The dataset version and model version of ``trained`` in ``tenant`` (``store``: the tenant's store)."""
    data = tables_zip(trained.tables)
    source = {"kind": "upload-tables", "keys": KEYS,
              "tables": {n: {"rows": f.height, "columns": f.width} for n, f in sorted(trained.tables.items())}}
    with tenant_session(tenant, database=database) as session:
        dataset = catalog.create_dataset(session, name=f"baseball-{uuid.uuid4().hex[:6]}", actor="test")
        key = f"datasets/{dataset.id}/v1/tables.zip"
        store.put_bytes(key, data)
        version = catalog.add_dataset_version(
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(), source=source,
            profile={"kind": "tables"}, actor="test", object_key=key,
            n_rows=sum(f.height for f in trained.tables.values()), n_columns=None, n_bytes=len(data),
        )
        line = catalog.create_model(session, name=f"baseball-schema-{uuid.uuid4().hex[:6]}", dataset_id=dataset.id,
                                    actor="test")
        model_key = f"models/{line.id}/v1.zip"
        info = store.put_bytes(model_key, trained.model_zip)
        model_version = catalog.register_model_version(
            session, model_id=line.id, dataset_version_id=version.id, model_type="tables",
            config={"keys": KEYS}, metrics={"holdout": trained.record}, actor="test", object_key=model_key,
            content_hash=info.sha256, n_bytes=info.size,
        )
        return RegisteredSchema(version.id, model_version.id)


__all__ = ["KEYS", "RegisteredSchema", "TrainedSchema", "register_schema", "tables_zip", "trained_schema"]
