"""The holdout of a training job: set aside before the model reads anything, recorded, used by the report.

Real jobs in the embedded mode (SQLite, local store, in-process worker, training in a child
process) on samples of adult; ARGN kept tiny (one epoch, small network, one thread).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from safetensors.numpy import load as load_tensors

import engine
from engine.errors import ConfigError
from engine.models.files import WEIGHTS_NAME
from engine.splitting import split_positions
from infra.db import tenant_session
from infra.records import catalog, lineage
from infra.records.authz import Actor
from infra.records.holdouts import HoldoutRule, read_positions, record_of
from infra.usecases.assessment import default_holdout, submit_assessment
from infra.usecases.generation import submit_generation
from infra.usecases.training import submit_training
from tests.workers.conftest import Embedded
from tests.workers.support import read_adult, store_dataset, tenant_with_dataset, wait_for_state

TINY_ARGN = {"batch_size": 500, "num_threads": 1, "embedding_dim": 8, "hidden_dim": 16}
SEED = 3


@dataclass(frozen=True)
class TrainedJob:
    tenant: str
    ana: Actor
    frame: pl.DataFrame
    dataset_version_id: str
    model_version_id: str


def _train(embedded: Embedded, frame: pl.DataFrame) -> TrainedJob:
    tenant, ana, version_id = tenant_with_dataset(embedded.database, embedded.store, frame)
    job = submit_training(tenant, dataset_version_id=version_id, model="argn", epochs=1, seed=SEED, device="cpu",
                          params=TINY_ARGN, actor=ana, database=embedded.database)
    done = wait_for_state(embedded.database, tenant, job.id, ("succeeded", "failed"), timeout=180)
    assert done.state == "succeeded", done.error_message
    return TrainedJob(tenant, ana, frame, version_id, done.result["model_version_id"])


@pytest.fixture(scope="module")
def large(embedded: Embedded, datasets: Path) -> TrainedJob:
    """A job on a 6,000-row version: 20 % (1,200 rows) is set aside."""
    return _train(embedded, read_adult(datasets / "adult.csv", rows=6_000, seed=11))


@pytest.fixture(scope="module")
def small(embedded: Embedded, datasets: Path) -> TrainedJob:
    """A job on a 1,000-row version: too small to spare a holdout."""
    return _train(embedded, read_adult(datasets / "adult.csv", rows=1_000, seed=12))


def _model_version(embedded: Embedded, trained: TrainedJob):
    with tenant_session(trained.tenant, database=embedded.database) as session:
        return catalog.get_model_version(session, trained.model_version_id)


def _weights(zip_bytes: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return load_tensors(archive.read(WEIGHTS_NAME))


def _assess(embedded: Embedded, trained: TrainedJob, **options: object) -> dict:
    generation = submit_generation(trained.tenant, model_version_id=trained.model_version_id, n_rows=2_000, seed=1,
                                   actor=trained.ana, database=embedded.database)
    generated = wait_for_state(embedded.database, trained.tenant, generation.id, ("succeeded", "failed"), timeout=90)
    assert generated.state == "succeeded", generated.error_message
    job = submit_assessment(trained.tenant, generated_dataset_id=generated.result["generated_dataset_id"],
                            config={"pillars": ["privacy"]}, actor=trained.ana, database=embedded.database, **options)
    done = wait_for_state(embedded.database, trained.tenant, job.id, ("succeeded", "failed"), timeout=180)
    assert done.state == "succeeded", done.error_message
    return json.loads(embedded.store.for_tenant(trained.tenant).get_bytes(done.result["object_key"]))


def test_the_holdout_rule_takes_a_share_with_a_minimum_and_none_below_the_table_threshold() -> None:
    rule = HoldoutRule(share=0.2, min_rows=1_000, min_table_rows=3_000)
    assert rule.share_for(10_000) == 0.2
    assert rule.share_for(4_000) == 0.25, "20 % of 4,000 is 800: the minimum of 1,000 rows wins"
    assert rule.share_for(2_999) is None
    with pytest.raises(ConfigError, match="must be smaller"):
        HoldoutRule(share=0.2, min_rows=5_000, min_table_rows=5_000)


def test_a_job_trains_exactly_as_engine_train_on_the_training_split_of_the_version(
    embedded: Embedded, large: TrainedJob, tmp_path: Path
) -> None:
    version = _model_version(embedded, large)
    stored = embedded.store.for_tenant(large.tenant).get_bytes(version.object_key)

    training, _ = engine.split(large.frame, holdout=0.2, seed=SEED)
    direct = engine.train(training, model="argn", epochs=1, seed=SEED, device="cpu", **TINY_ARGN)
    expected = _weights(direct.save(tmp_path / "direct.zip").read_bytes())

    got = _weights(stored)
    assert sorted(got) == sorted(expected)
    for name, tensor in expected.items():
        np.testing.assert_array_equal(got[name], tensor, err_msg=name)


def test_a_job_on_a_large_table_records_a_seeded_holdout_disjoint_from_its_training_rows(
    embedded: Embedded, large: TrainedJob
) -> None:
    record = record_of(_model_version(embedded, large).metrics)
    assert record is not None and record.has_holdout
    assert (record.rows, record.training_rows, record.table_rows) == (1_200, 4_800, 6_000)
    assert (record.share, record.seed) == (0.2, SEED)

    positions = read_positions(embedded.store.for_tenant(large.tenant).get_bytes(record.positions_key), record)
    training_positions, holdout_positions = split_positions(6_000, holdout=0.2, seed=SEED)
    np.testing.assert_array_equal(positions, holdout_positions)
    assert np.intersect1d(positions, training_positions).size == 0
    assert positions.size + training_positions.size == 6_000

    with tenant_session(large.tenant, database=embedded.database) as session:
        provenance = lineage.upstream(session, model_version_id=large.model_version_id)
    assert provenance.holdout == record and provenance.dataset_version.id == large.dataset_version_id


def test_a_job_on_a_table_under_five_thousand_rows_sets_no_holdout_aside_and_says_why(
    embedded: Embedded, small: TrainedJob
) -> None:
    record = record_of(_model_version(embedded, small).metrics)
    assert record is not None and not record.has_holdout
    assert (record.rows, record.training_rows, record.positions_key) == (0, 1_000, None)
    assert "1,000 rows, fewer than the 5,000" in record.reason
    assert default_holdout(small.tenant, _generated_of(embedded, small), actor=small.ana,
                           database=embedded.database) is None


def _generated_of(embedded: Embedded, trained: TrainedJob) -> str:
    generation = submit_generation(trained.tenant, model_version_id=trained.model_version_id, n_rows=50, seed=2,
                                   actor=trained.ana, database=embedded.database)
    done = wait_for_state(embedded.database, trained.tenant, generation.id, ("succeeded", "failed"), timeout=90)
    assert done.state == "succeeded", done.error_message
    return done.result["generated_dataset_id"]


def test_the_default_holdout_of_generated_data_is_its_models_own(embedded: Embedded, large: TrainedJob) -> None:
    choice = default_holdout(large.tenant, _generated_of(embedded, large), actor=large.ana, database=embedded.database)
    assert choice is not None
    assert (choice.model_version_id, choice.dataset_version_id) == (large.model_version_id, large.dataset_version_id)
    assert (choice.rows, choice.training_rows, choice.share, choice.seed) == (1_200, 4_800, 0.2, SEED)
    assert "1,200 rows" in choice.description and "never saw" in choice.description


def test_an_assessment_without_a_named_holdout_compares_with_the_models_holdout_and_training_rows(
    embedded: Embedded, large: TrainedJob
) -> None:
    report = _assess(embedded, large)
    assert report["inputs"]["rows"] == {"real": 4_800, "synthetic": 2_000, "holdout": 1_200}
    assert report["inputs"]["holdout"]["source"] == "model_version"
    assert report["notes"][0].startswith("Holdout: the 1,200 rows")
    metrics = report["privacy"]["metrics"]
    assert metrics["holdout_exact_copy_share"] is not None, "the exact-copy gate allows for the holdout's rate"
    gates = {g["name"]: g for g in report["gates"]}
    assert gates["exact_copies"]["status"] != "block", gates["exact_copies"]["message"]
    assert gates["membership_inference"]["value"] is not None, "the membership attacks ran against the holdout"


def test_an_assessment_of_a_model_without_a_holdout_says_its_privacy_gates_had_no_unseen_rows(
    embedded: Embedded, small: TrainedJob
) -> None:
    report = _assess(embedded, small)
    assert report["inputs"]["rows"]["real"] == 1_000 and report["inputs"]["rows"]["holdout"] is None
    assert report["inputs"]["holdout"]["source"] == "none"
    assert report["notes"][0].startswith("No holdout: the model's training set none aside (the table has 1,000 rows")


def test_an_assessment_with_a_named_holdout_version_still_compares_with_the_training_rows_only(
    embedded: Embedded, large: TrainedJob, datasets: Path
) -> None:
    other = store_dataset(embedded.database, embedded.store, large.tenant,
                          read_adult(datasets / "adult.csv", rows=500, seed=13))
    report = _assess(embedded, large, holdout_dataset_version_id=other)
    assert report["inputs"]["rows"] == {"real": 4_800, "synthetic": 2_000, "holdout": 500}
    assert report["inputs"]["holdout"]["source"] == "dataset_version"
