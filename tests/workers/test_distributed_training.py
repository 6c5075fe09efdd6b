"""A distributed training job for real: two gloo processes under torchrun train one ARGN model on CPU."""

from __future__ import annotations

import math

import polars as pl
from sqlalchemy import select

from infra.db import tenant_session
from infra.db.models import ModelVersion
from infra.usecases.training import submit_training
from tests.workers.conftest import Embedded
from tests.workers.support import tenant_with_dataset, wait_for_state


def test_a_distributed_job_trains_one_model_on_two_processes_and_saves_it_once(
    embedded: Embedded, adult: pl.DataFrame
) -> None:
    tenant, ana, version_id = tenant_with_dataset(embedded.database, embedded.store, adult.head(400))
    job = submit_training(tenant, dataset_version_id=version_id, model="argn", epochs=2, device="cpu",
                          params={"batch_size": 100, "num_threads": 1}, distributed=True, processes=2, actor=ana,
                          database=embedded.database)
    assert job.payload["distributed"] is True and job.payload["processes"] == 2

    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed", "cancelled"), timeout=90)
    assert done.state == "succeeded", done.error_message
    assert (done.result["processes"], done.result["epochs_run"], done.result["device"]) == (2, 2, "cpu")
    with tenant_session(tenant, database=embedded.database) as session:
        versions = session.scalars(select(ModelVersion).where(ModelVersion.tenant_id == tenant)).all()
    assert [(v.job_id, v.model_type) for v in versions] == [(job.id, "argn")], "one model version, from rank 0"
    version = versions[0]
    store = embedded.store.for_tenant(tenant)
    saved = [key for key in store.list(f"models/{version.model_id}/") if key.endswith(".zip")]
    assert saved == [version.object_key] and store.stat(version.object_key).sha256 == version.content_hash
    history = version.metrics["history"]
    assert len(history) == 2 and all(math.isfinite(v) for epoch in history for v in epoch.values()
                                     if isinstance(v, float))
    holdout = version.metrics["holdout"]
    assert holdout["table_rows"] == 400 and holdout["rows"] + holdout["training_rows"] == 400
