"""Small real tables of histories for the sequence workbench tests: a slice of nasdaq100_2019, stored as a version.

``nasdaq_slice`` keeps a seeded sample of companies with their first ``days`` trading days;
``store_sequence_version`` writes the table as Parquet in the tenant's store and records the
version with ``source["sequence"]`` (its roles), as ``infra.usecases.sequence_roles`` does,
against an explicit database and store (the embedded job fixtures'). ``train_sequence_model``
does both and trains it through the real job path (``submit_training``, the embedded worker, a
child process), for tests that need a registered "sequences" model version.

A slice of a few hundred rows is under the default holdout rule's minimum table (5,000 rows):
run under ``small_table_holdout()`` (a lowered rule) to have a holdout set aside.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

import engine
from infra.db import Database, tenant_session
from infra.records.authz import Actor
from infra.records import catalog
from infra.storage import ObjectStore
from infra.usecases.dataset_store import parquet_bytes

NASDAQ_ROLES: dict[str, Any] = {"entity": "Symbol", "order_by": "Date", "context": ["Sector", "Industry"]}
SMALL_TABLE_HOLDOUT = {"DOPPEL_HOLDOUT_MIN_TABLE_ROWS": "500", "DOPPEL_HOLDOUT_MIN_ROWS": "10"}
"""The holdout rule's settings under which a slice of a few hundred rows spares a holdout."""


@contextmanager
def small_table_holdout() -> Iterator[None]:
    """The settings read inside hold ``SMALL_TABLE_HOLDOUT`` (the settings cache is cleared on both ends)."""
    import pytest

    from infra.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        for name, value in SMALL_TABLE_HOLDOUT.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


def nasdaq_slice(datasets: Path, *, companies: int, days: int, seed: int = 0) -> pl.DataFrame:
    """``companies`` companies of the real nasdaq100_2019 table, each with its first ``days`` days."""
    prices = engine.read(datasets / "timeseries" / "nasdaq100_2019.csv.gz")
    chosen = prices.get_column("Symbol").unique().sort().sample(companies, seed=seed).implode()
    return (prices.filter(pl.col("Symbol").is_in(chosen)).sort("Symbol", "Date")
            .group_by("Symbol", maintain_order=True).head(days))


def store_sequence_version(database: Database, store: ObjectStore, tenant: str, frame: pl.DataFrame, *,
                           roles: dict[str, Any] | None = NASDAQ_ROLES, name: str = "nasdaq") -> str:
    """``frame`` as version 1 of a new dataset (Parquet in the store) with ``roles``; returns the version id."""
    data = parquet_bytes(frame)
    with tenant_session(tenant, database=database) as session:
        dataset = catalog.create_dataset(session, name=f"{name}-{uuid.uuid4().hex[:6]}", actor="test")
        key = f"datasets/{dataset.id}/v1/table.parquet"
        store.for_tenant(tenant).put_bytes(key, data, content_type="application/vnd.apache.parquet")
        source: dict[str, Any] = {"kind": "upload", "filename": "nasdaq.csv"}
        if roles is not None:
            source = {**source, "kind": "sequence-roles", "sequence": roles}
        version = catalog.add_dataset_version(
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(), source=source,
            profile={}, actor="test", object_key=key, n_rows=frame.height, n_columns=frame.width, n_bytes=len(data),
        )
        return version.id


def train_sequence_model(database: Database, store: ObjectStore, tenant: str, actor: Actor, datasets: Path, *,
                         dataset: str = "nasdaq100_2019", companies: int = 24, days: int = 40, seed: int = 0,
                         max_training_time_s: float = 1.0, privacy: dict[str, Any] | None = None,
                         timeout_s: float = 240.0) -> tuple[str, str]:
    """(dataset version id, model version id): a nasdaq slice stored with its roles and trained by a real job.

    ``database``/``store`` are the embedded worker's (``tests.workers.conftest.embedded`` or a module's
    own); the job runs in a child process as in production and must succeed (its error otherwise).
    Roughly 5-10 s on a quiet machine: train once per module.
    """
    from infra.usecases.training import submit_training
    from tests.workers.support import wait_for_state

    if dataset != "nasdaq100_2019":
        raise ValueError(f"only the nasdaq100_2019 slice is prepared here, got dataset={dataset!r}")
    frame = nasdaq_slice(datasets, companies=companies, days=days, seed=seed)
    version_id = store_sequence_version(database, store, tenant, frame)
    job = submit_training(tenant, dataset_version_id=version_id, actor=actor, seed=seed, device="cpu",
                          max_training_time_s=max_training_time_s, privacy=privacy, database=database)
    done = wait_for_state(database, tenant, job.id, ("succeeded", "failed"), timeout=timeout_s)
    if done.state != "succeeded":
        raise AssertionError(f"the sequence training job failed: {done.error_message}")
    return version_id, str(done.result["model_version_id"])


__all__ = ["NASDAQ_ROLES", "SMALL_TABLE_HOLDOUT", "nasdaq_slice", "small_table_holdout", "store_sequence_version",
           "train_sequence_model"]
