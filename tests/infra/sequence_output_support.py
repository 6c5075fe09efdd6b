"""A small trained sequence model for the generation, assessment and page tests, trained once per session.

A real nasdaq100_2019 slice (24 companies, their first 40 trading days), whole histories of 20 %
of the companies set aside (``set_aside_sequences``, as the training job does), and
``engine.train_sequences`` for one second. ``register_sequences`` records it in a tenant as the
sequence training job records a model version (``workers/train_child.py``: ``model_type ==
"sequences"``, ``metrics["holdout"]`` and ``metrics["sequence"]``), against the configured
database and store or explicit ones. The real training job is tested in
``tests/infra/test_sequence_training.py``; here only what it registers matters.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from infra.db import Database, tenant_session
from infra.records import catalog
from infra.storage import ObjectStore
from infra.usecases.dataset_store import parquet_bytes
from tests.infra.sequence_training_support import NASDAQ_ROLES, nasdaq_slice

COMPANIES, DAYS, SEED = 24, 40, 5


@dataclass(frozen=True)
class TrainedSequences:
    frame: pl.DataFrame  # the whole slice (the dataset version)
    model_zip: bytes
    record: dict[str, Any]  # SequencesHoldoutRecord.to_dict()
    learned: dict[str, Any]  # metrics["sequence"]
    profile: dict[str, Any]  # the slice's Profile.to_dict()


@dataclass(frozen=True)
class RegisteredSequences:
    dataset_version_id: str
    model_version_id: str


@functools.lru_cache(maxsize=1)
def trained_sequences(datasets: Path) -> TrainedSequences:
    import io
    import tempfile

    import engine
    from infra.records.holdouts import HoldoutRule
    from infra.records.sequence_holdouts import set_aside_sequences

    frame = nasdaq_slice(datasets, companies=COMPANIES, days=DAYS, seed=SEED)
    rule = HoldoutRule(share=0.2, min_rows=10, min_table_rows=500)
    training, _, record = set_aside_sequences(frame, entity="Symbol", order_by="Date", rule=rule, seed=SEED)
    model = engine.train_sequences(training, entity="Symbol", order_by="Date", context=["Sector", "Industry"],
                                   seed=SEED, max_training_time_s=1.0)
    with tempfile.TemporaryDirectory() as folder:
        path = model.save(Path(folder) / "model.zip")
        data = io.BytesIO(path.read_bytes()).getvalue()
    learned = {"entity": model.entity_, "order_by": model.order_by_, "context": list(model.context_),
               "steps": list(model.steps_), "entities": int(model.lengths_["entities"]), "rows": int(training.height),
               "min_length": int(model.lengths_["min"]), "max_length": int(model.lengths_["max"])}
    return TrainedSequences(frame, data, record.to_dict(), learned, engine.profile(frame).to_dict())


def register_sequences(trained: TrainedSequences, *, tenant: str, database: Database | None = None,
                       store: ObjectStore | None = None, learned: dict[str, Any] | None = None) -> RegisteredSequences:
    """The dataset version (with its roles) and a "sequences" model version of ``trained`` in ``tenant``.

    ``learned`` replaces some of the recorded ``metrics["sequence"]`` (a test of the quota's estimate).
    """
    if database is None or store is None:
        from infra.db.session import get_database
        from infra.storage import get_store

        database, store = get_database(), get_store()
    data = parquet_bytes(trained.frame)
    with tenant_session(tenant, database=database) as session:
        dataset = catalog.create_dataset(session, name=f"nasdaq-{uuid.uuid4().hex[:6]}", actor="test")
        data_key = f"datasets/{dataset.id}/v1/table.parquet"
        store.for_tenant(tenant).put_bytes(data_key, data, content_type="application/vnd.apache.parquet")
        version_id = catalog.add_dataset_version(  # as sequence_roles saves it, with the profile the pages read
            session, dataset_id=dataset.id, content_hash=hashlib.sha256(data).hexdigest(),
            source={"kind": "sequence-roles", "filename": "nasdaq.csv", "sequence": NASDAQ_ROLES},
            profile=trained.profile, actor="test", object_key=data_key, n_rows=trained.frame.height,
            n_columns=trained.frame.width, n_bytes=len(data),
        ).id
        dataset_id = dataset.id
        line = catalog.create_model(session, name=f"nasdaq-histories-{uuid.uuid4().hex[:6]}", dataset_id=dataset_id,
                                    actor="test")
        key = f"models/{line.id}/v1.zip"
        info = store.for_tenant(tenant).put_bytes(key, trained.model_zip, content_type="application/zip")
        model_version = catalog.register_model_version(
            session, model_id=line.id, dataset_version_id=version_id, model_type="sequences",
            config={"model": "argn", "seed": SEED, "sequence": NASDAQ_ROLES},
            metrics={"holdout": trained.record, "sequence": {**trained.learned, **(learned or {})}}, actor="test", object_key=key,
            content_hash=info.sha256, n_bytes=info.size,
        )
        return RegisteredSequences(version_id, model_version.id)


__all__ = ["COMPANIES", "DAYS", "RegisteredSequences", "TrainedSequences", "register_sequences", "trained_sequences"]
