"""Training on a table of histories: submitted, run by the real worker, registered as a "sequences" model version.

Real jobs in the embedded mode (SQLite, local store, the in-process Dramatiq worker, training
in a child process) on a slice of the real nasdaq100_2019 prices: 24 companies with their
first 40 trading days, two seconds of training. With 24 companies (at least 20) the holdout is
whole histories; the holdout rule is lowered (``small_table_holdout``) so that 960 rows spare one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

import engine
from engine.errors import ConfigError
from infra.db import tenant_session
from infra.records import catalog
from infra.records.authz import Actor
from infra.records.holdouts import record_of
from infra.records.job_records import list_jobs
from infra.records.sequence_holdouts import rebuild_sequences, sequences_record_of
from infra.usecases.training import submit_training
from tests.infra.sequence_training_support import (
    NASDAQ_ROLES,
    SMALL_TABLE_HOLDOUT,
    nasdaq_slice,
    store_sequence_version,
    train_sequence_model,
)
from tests.workers.conftest import Embedded
from tests.workers.support import member, new_tenant, own_platform

SEED = 5
COMPANIES, DAYS = 24, 40


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    with own_platform(tmp_path_factory.mktemp("sequence-jobs"), environment=SMALL_TABLE_HOLDOUT) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def prices(datasets: Path) -> pl.DataFrame:
    return nasdaq_slice(datasets, companies=COMPANIES, days=DAYS, seed=SEED)


@dataclass(frozen=True)
class SequenceJob:
    tenant: str
    ana: Actor
    dataset_version_id: str
    job_id: str
    result: dict
    model_version_id: str


@pytest.fixture(scope="module")
def trained(platform: Embedded, datasets: Path) -> SequenceJob:
    tenant = new_tenant(platform.database)
    ana = member(platform.database, tenant)
    version_id, model_version_id = train_sequence_model(
        platform.database, platform.store, tenant, ana, datasets, companies=COMPANIES, days=DAYS, seed=SEED,
        max_training_time_s=2.0)
    with tenant_session(tenant, database=platform.database) as session:
        job = list_jobs(session, kind="train")[0]
    return SequenceJob(tenant, ana, version_id, job.id, dict(job.result), model_version_id)


def _model_version(platform: Embedded, trained: SequenceJob):
    with tenant_session(trained.tenant, database=platform.database) as session:
        return catalog.get_model_version(session, trained.model_version_id)


def test_a_sequence_job_is_queued_with_a_spec_that_carries_the_versions_roles(
    platform: Embedded, trained: SequenceJob
) -> None:
    with tenant_session(trained.tenant, database=platform.database) as session:
        payload = list_jobs(session, kind="train")[0].payload
    assert (payload["trains_on"], payload["sequence"], payload["model_kind"], payload["keys"]) == (
        "sequences", NASDAQ_ROLES, "sequences", None)
    assert (payload["epochs"], payload["params"], payload["max_training_time_s"]) == (None, {}, 2.0)


def test_the_job_registers_a_sequences_model_version_with_what_it_learned(
    platform: Embedded, trained: SequenceJob
) -> None:
    version = _model_version(platform, trained)
    assert version.model_type == "sequences" and version.status == "ready"
    learned = version.metrics["sequence"]
    assert (learned["entity"], learned["order_by"], learned["context"]) == ("Symbol", "Date", ["Sector", "Industry"])
    assert {"Open", "Close", "Volume"} <= set(learned["steps"])
    assert learned["max_length"] == DAYS and learned["entities"] + version.metrics["holdout"]["holdout_entities"] == COMPANIES
    assert set(version.metrics["models"]) == {"entities", "steps"}


def test_the_holdout_is_whole_histories_and_rebuilds_from_the_record(
    platform: Embedded, trained: SequenceJob, prices: pl.DataFrame
) -> None:
    version = _model_version(platform, trained)
    record = sequences_record_of(version.metrics)
    assert record is not None and record.by == "entity" and record.has_holdout
    assert record_of(version.metrics) is None  # never read as a single table's record
    training, holdout = rebuild_sequences(prices, record)
    assert holdout is not None and holdout.height == record.rows == trained.result["holdout_rows"]
    held = set(holdout.get_column("Symbol"))
    assert len(held) == record.holdout_entities and held.isdisjoint(training.get_column("Symbol"))


def test_the_saved_model_loads_and_draws_histories_in_order(platform: Embedded, trained: SequenceJob) -> None:
    version = _model_version(platform, trained)
    model = engine.load_model(platform.store.for_tenant(trained.tenant).get_bytes(version.object_key), device="cpu")
    assert isinstance(model, engine.SequenceModel)
    drawn = model.sample(n_entities=5, seed=1)
    assert drawn.get_column("Symbol").n_unique() == 5
    assert drawn.group_by("Symbol").agg(pl.col("Date").is_sorted().alias("sorted")).get_column("sorted").all()


def test_settings_of_one_table_are_refused_for_histories_without_a_job(
    platform: Embedded, prices: pl.DataFrame
) -> None:
    tenant = new_tenant(platform.database)
    ana = member(platform.database, tenant)
    version_id = store_sequence_version(platform.database, platform.store, tenant, prices)
    with pytest.raises(ConfigError, match="epochs=3 applies to one table's model; a table of histories"):
        submit_training(tenant, dataset_version_id=version_id, actor=ana, epochs=3, database=platform.database)
    with pytest.raises(ConfigError, match="a table of histories trains with one of"):
        submit_training(tenant, dataset_version_id=version_id, actor=ana, model="ctgan", database=platform.database)
    with tenant_session(tenant, database=platform.database) as session:
        assert list_jobs(session) == [] and catalog.list_models(session) == []
