"""Small real schemas for the schema training tests: a slice of baseball, stored as a schema dataset version.

``baseball_slice`` keeps a seeded sample of players with every batting and fielding row of
theirs (so every foreign key resolves); ``store_schema_version`` writes the tables as one zip
of ``<table>.parquet`` files in the tenant's store and records the version with
``source["tables"]`` and ``source["keys"]``, as ``infra.usecases.schema_store`` does, against
an explicit database and store (the embedded job fixtures').
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import polars as pl

import engine
from infra.db import Database, tenant_session
from infra.records import catalog
from infra.storage import ObjectStore
from infra.usecases.dataset_store import tables_zip_bytes

BASEBALL_KEYS: dict[str, Any] = {
    "primary_keys": {"players": "id"},
    "foreign_keys": ["batting.players_id -> players.id", "fielding.players_id -> players.id"],
}


def baseball_slice(datasets: Path, *, players: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    """``players`` players of the real baseball tables with all their batting and fielding rows."""
    tables = engine.read_tables(datasets / "multitable" / "baseball")
    chosen = tables["players"].sample(players, seed=seed)
    ids = chosen.get_column("id").implode()
    return {
        "players": chosen,
        "batting": tables["batting"].filter(pl.col("players_id").is_in(ids)),
        "fielding": tables["fielding"].filter(pl.col("players_id").is_in(ids)),
    }


def store_schema_version(database: Database, store: ObjectStore, tenant: str, tables: dict[str, pl.DataFrame], *,
                         keys: dict[str, Any], name: str = "baseball", source: dict[str, Any] | None = None) -> str:
    """``tables`` as version 1 of a new schema dataset (one zip in the store); returns the version id.

    ``source``: more of the version's source (``keys_from``, ``keys_inferred``), as ``schema_store`` records it.
    """
    data = tables_zip_bytes(tables)
    with tenant_session(tenant, database=database) as session:
        dataset = catalog.create_dataset(session, name=f"{name}-{uuid.uuid4().hex[:6]}", actor="test")
        key = f"datasets/{dataset.id}/v1/tables.zip"
        store.for_tenant(tenant).put_bytes(key, data, content_type="application/zip")
        source = {"kind": "upload-tables", "keys": keys, "keys_from": "declared", **(source or {}),
                  "tables": {t: {"rows": f.height, "columns": f.width} for t, f in sorted(tables.items())}}
        version = catalog.add_dataset_version(
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(), source=source,
            profile={}, actor="test", object_key=key, n_rows=sum(f.height for f in tables.values()),
            n_columns=sum(f.width for f in tables.values()), n_bytes=len(data),
        )
        return version.id


__all__ = ["BASEBALL_KEYS", "baseball_slice", "store_schema_version"]
