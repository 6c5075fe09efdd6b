"""Training on a schema dataset version: submitted, run by the real worker, registered as a "tables" model version.

Real jobs in the embedded mode (SQLite, local store, the in-process Dramatiq worker, training
in a child process) on a slice of the real baseball tables: 120 players with all their
batting and fielding rows, a few seconds of training. The holdout rule is lowered
(``DOPPEL_HOLDOUT_MIN_TABLE_ROWS``) so that these 120 root rows spare one.
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
from infra.privacy import PrivacyBudgetMissingError, PrivacyPolicyError, get_budget, set_budget
from infra.privacy.policy import set_dataset_sensitive, set_privacy_policy
from infra.records import catalog
from infra.records.authz import Actor
from infra.records.job_records import list_jobs
from infra.records.schema_holdouts import rebuild_tables, tables_record_of
from infra.usecases.training import submit_training
from tests.infra.schema_training_support import BASEBALL_KEYS, baseball_slice, store_schema_version
from tests.workers.conftest import Embedded
from tests.workers.support import member, new_tenant, own_platform, wait_for_state

SEED = 3
PLAYERS = 120
DP = {"epsilon": 1.0, "delta": 1e-4}
HOLDOUT_RULE = {"DOPPEL_HOLDOUT_MIN_TABLE_ROWS": "100", "DOPPEL_HOLDOUT_MIN_ROWS": "10"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """The embedded platform for this module, with a holdout rule that 120 root rows satisfy."""
    with own_platform(tmp_path_factory.mktemp("schema-jobs"), environment=HOLDOUT_RULE) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def baseball(datasets: Path) -> dict[str, pl.DataFrame]:
    return baseball_slice(datasets, players=PLAYERS, seed=SEED)


@dataclass(frozen=True)
class SchemaJob:
    tenant: str
    ana: Actor
    dataset_version_id: str
    job_id: str
    result: dict
    model_version_id: str


@pytest.fixture(scope="module")
def trained(platform: Embedded, baseball: dict[str, pl.DataFrame]) -> SchemaJob:
    tenant = new_tenant(platform.database)
    ana = member(platform.database, tenant)
    version_id = store_schema_version(platform.database, platform.store, tenant, baseball, keys=BASEBALL_KEYS)
    job = submit_training(tenant, dataset_version_id=version_id, actor=ana, model="auto", seed=SEED, device="cpu",
                          max_training_time_s=3.0, database=platform.database)
    done = wait_for_state(platform.database, tenant, job.id, ("succeeded", "failed"), timeout=240)
    assert done.state == "succeeded", done.error_message
    return SchemaJob(tenant, ana, version_id, job.id, dict(done.result), done.result["model_version_id"])


def _model_version(platform: Embedded, trained: SchemaJob):
    with tenant_session(trained.tenant, database=platform.database) as session:
        return catalog.get_model_version(session, trained.model_version_id)


def test_a_schema_job_is_queued_with_a_spec_that_carries_the_versions_keys(
    platform: Embedded, trained: SchemaJob
) -> None:
    model_id = _model_version(platform, trained).model_id
    with tenant_session(trained.tenant, database=platform.database) as session:
        payload = list_jobs(session, kind="train")[0].payload
        line = catalog.get_model(session, model_id)
    assert (payload["trains_on"], payload["keys"], payload["model"], payload["model_kind"]) == (
        "tables", BASEBALL_KEYS, "auto", "tables")
    assert (payload["epochs"], payload["params"], payload["privacy"], payload["max_training_time_s"]) == (
        None, {}, None, 3.0)
    assert line.name.endswith("(tables)")


def test_the_job_registers_a_tables_model_version_with_its_keys_tables_and_rows(
    platform: Embedded, trained: SchemaJob
) -> None:
    version = _model_version(platform, trained)
    assert version.model_type == "tables" and version.status == "ready"
    assert version.config["keys"] == BASEBALL_KEYS
    assert set(version.config["tables"]) == {"players", "batting", "fielding"}
    assert version.config["tables"]["players"]["context"] is None
    assert version.config["tables"]["batting"]["model"] == "argn"  # a child is always drawn given its parent row
    assert set(version.metrics["tables"]) == {"players", "batting", "fielding"}
    assert all(run["fit_seconds"] > 0 for run in version.metrics["tables"].values())
    assert isinstance(version.metrics["notes"], list)
    assert trained.result["model_type"] == "tables" and trained.result["object_key"] == version.object_key


def test_the_holdout_is_whole_players_with_their_rows_and_rebuilds_from_the_record(
    platform: Embedded, trained: SchemaJob, baseball: dict[str, pl.DataFrame]
) -> None:
    version = _model_version(platform, trained)
    record = tables_record_of(version.metrics)
    assert record is not None and record.kind == "tables" and record.has_holdout
    assert (record.seed, record.root_rows, record.share) == (SEED, PLAYERS, 0.2)
    assert record.table_rows == {name: frame.height for name, frame in baseball.items()}
    assert {t: facts["rows"] for t, facts in version.config["tables"].items()} == record.training_rows
    assert trained.result["holdout_rows"] == sum(record.rows.values())

    training, holdout = rebuild_tables(baseball, keys=BASEBALL_KEYS, record=record)
    assert holdout is not None and holdout["players"].height == record.rows["players"] == 24
    held_players = set(holdout["players"].get_column("id"))
    assert held_players.isdisjoint(training["players"].get_column("id"))
    for child in ("batting", "fielding"):  # a held-out player's seasons are all held out with them
        assert set(holdout[child].get_column("players_id")) <= held_players
        assert held_players.isdisjoint(training[child].get_column("players_id"))


def test_the_saved_model_loads_through_the_model_cache_and_samples_with_every_foreign_key_resolving(
    platform: Embedded, trained: SchemaJob, baseball: dict[str, pl.DataFrame]
) -> None:
    version = _model_version(platform, trained)
    data = platform.store.for_tenant(trained.tenant).get_bytes(version.object_key)
    cache = platform.environment.model_cache
    model = cache.get_or_load(tenant=trained.tenant, model_version=version.id,
                              load=lambda: (engine.load_model(data, device="cpu"), len(data)))
    assert isinstance(model, engine.RelationalModel) and model.keys == BASEBALL_KEYS
    assert cache.get_or_load(tenant=trained.tenant, model_version=version.id, load=lambda: (None, 0)) is model

    synthetic = model.sample(scale=1.0, seed=1)
    assert set(synthetic) == set(baseball)
    for name, frame in synthetic.items():
        assert frame.columns == baseball[name].columns
    players = set(synthetic["players"].get_column("id"))
    assert synthetic["players"].height == version.config["tables"]["players"]["rows"]
    assert synthetic["players"].get_column("id").n_unique() == synthetic["players"].height
    for child in ("batting", "fielding"):
        assert synthetic[child].height > 0
        assert set(synthetic[child].get_column("players_id")) <= players


@pytest.fixture
def schema_version(platform: Embedded, baseball: dict[str, pl.DataFrame]) -> tuple[str, Actor, str]:
    """A new tenant, a member (ana) and the baseball slice as its schema version; nothing trained."""
    tenant = new_tenant(platform.database)
    ana = member(platform.database, tenant)
    return tenant, ana, store_schema_version(platform.database, platform.store, tenant, baseball, keys=BASEBALL_KEYS)


def _nothing_left(platform: Embedded, tenant: str) -> None:
    with tenant_session(tenant, database=platform.database) as session:
        assert list_jobs(session) == [] and catalog.list_models(session) == []


def test_differential_privacy_needs_a_budget_declared_keys_and_a_small_delta_and_refuses_without_a_job(
    platform: Embedded, schema_version: tuple[str, Actor, str], baseball: dict[str, pl.DataFrame], datasets: Path
) -> None:
    tenant, ana, version_id = schema_version
    with pytest.raises(PrivacyBudgetMissingError):
        submit_training(tenant, dataset_version_id=version_id, actor=ana, privacy=DP, database=platform.database)
    _nothing_left(platform, tenant)

    larger = store_schema_version(platform.database, platform.store, tenant,
                                  baseball_slice(datasets, players=150, seed=SEED), keys=BASEBALL_KEYS)
    with pytest.raises(ConfigError, match=r"delta=0.009 is not below 1 / root entities = 0.00833 for the 120 root rows"):
        submit_training(tenant, dataset_version_id=larger, actor=ana, privacy={"epsilon": 1.0, "delta": 0.009},
                        database=platform.database)
    _nothing_left(platform, tenant)

    inferred = store_schema_version(platform.database, platform.store, tenant, baseball, keys=BASEBALL_KEYS,
                                    source={"keys_from": "inferred", "keys_inferred": {
                                        "primary_keys": ["players"], "foreign_keys": BASEBALL_KEYS["foreign_keys"]}})
    with pytest.raises(ConfigError, match="under differential privacy the keys must be declared: primary key of "
                                          "players, batting.players_id -> players.id"):
        submit_training(tenant, dataset_version_id=inferred, actor=ana, privacy=DP, database=platform.database)
    _nothing_left(platform, tenant)


def test_a_private_schema_job_charges_the_datasets_budget_and_records_what_each_table_spent(
    platform: Embedded, schema_version: tuple[str, Actor, str]
) -> None:
    tenant, ana, version_id = schema_version
    owner = member(platform.database, tenant, role="owner", name="olga")
    with tenant_session(tenant, database=platform.database) as session:
        dataset_id = catalog.get_dataset_version(session, version_id).dataset_id
        set_budget(session, dataset_id=dataset_id, epsilon_cap=2.0, delta_cap=1e-3, actor=owner)
    job = submit_training(tenant, dataset_version_id=version_id, actor=ana, privacy=DP, seed=SEED, device="cpu",
                          max_training_time_s=2.0, database=platform.database)
    done = wait_for_state(platform.database, tenant, job.id, ("succeeded", "failed"), timeout=240)
    assert done.state == "succeeded", done.error_message
    with tenant_session(tenant, database=platform.database) as session:
        version = catalog.get_model_version(session, done.result["model_version_id"])
        status = get_budget(session, dataset_id=dataset_id)
    assert version.model_type == "tables" and version.privacy_spent["unit"].startswith("root entity")
    assert set(version.privacy_spent["tables"]) == {"players", "batting", "fielding"}
    assert 0 < version.privacy_spent["epsilon"] <= DP["epsilon"]
    assert (status.epsilon_spent, status.delta_spent) == (DP["epsilon"], DP["delta"])  # the whole reservation


@pytest.mark.parametrize(("settings", "message"), [
    ({"epochs": 5}, "epochs=5 applies to one table's model"),
    ({"params": {"batch_size": 100}}, r"model parameters \['batch_size'\] apply to one table's model"),
    ({"distributed": True}, "distributed training is not available for a schema"),
    ({"holdout_stratify": "bats"}, "holdout is drawn by root row"),
])
def test_single_table_settings_and_distributed_training_are_refused_for_a_schema(
    platform: Embedded, schema_version: tuple[str, Actor, str], settings: dict, message: str
) -> None:
    tenant, ana, version_id = schema_version
    with pytest.raises(ConfigError, match=message):
        submit_training(tenant, dataset_version_id=version_id, actor=ana, database=platform.database, **settings)
    _nothing_left(platform, tenant)


def test_a_sensitive_schema_under_a_policy_that_requires_dp_is_refused_with_the_policys_message(
    platform: Embedded, schema_version: tuple[str, Actor, str]
) -> None:
    tenant, ana, version_id = schema_version
    owner = member(platform.database, tenant, role="owner", name="olga")
    with tenant_session(tenant, database=platform.database) as session:
        dataset_id = catalog.get_dataset_version(session, version_id).dataset_id
        set_privacy_policy(session, require_dp_on_sensitive=True, actor=owner)
        set_dataset_sensitive(session, dataset_id=dataset_id, sensitive=True, actor=owner)
    with pytest.raises(PrivacyPolicyError, match="requires differential privacy on sensitive datasets"):
        submit_training(tenant, dataset_version_id=version_id, actor=ana, database=platform.database)
    _nothing_left(platform, tenant)
