"""The Train and Models pages on a schema dataset version (related tables): its tables and keys, the schema
options, a job started from the page, and the model version it registers.

The schema is a slice of the real baseball tables (120 players with all their batting and
fielding rows) stored through ``schema_store.store_tables`` in the seeded workspace.
"""

from __future__ import annotations

import uuid

import pytest

from app.components.pickers import SELECTED
from engine.errors import DoppelError
from infra.usecases import job_board, model_registry
from infra.usecases.training import submit_training
from tests.app.page_support import button, no_traceback, open_page, texts, wait_for_job
from tests.infra.schema_training_support import BASEBALL_KEYS, baseball_slice

PLAYERS = 120


@pytest.fixture(scope="module")
def schema_version(workspace, datasets) -> str:
    """The baseball slice stored as a schema version of the seeded workspace; its version id."""
    from infra.usecases import schema_store
    from tests.app.page_support import ENVIRONMENT, clear_caches

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        stored = schema_store.store_tables(workspace.tenant, name=f"baseball-{uuid.uuid4().hex[:6]}",
                                           tables=baseball_slice(datasets, players=PLAYERS, seed=5),
                                           keys=BASEBALL_KEYS, source={"kind": "upload-tables"}, actor=workspace.actor)
        clear_caches()
    return stored.version_id


def open_train(version_id: str):
    return open_page("train", session={SELECTED["dataset_version"]: version_id})


def test_a_schema_version_shows_its_tables_and_keys_and_only_the_schema_options(app_env, schema_version):
    at = open_train(schema_version)
    no_traceback(at)
    tables = next(df.value for df in at.dataframe if "learned as" in df.value.columns)
    assert list(tables["table"]) == ["batting", "fielding", "players"]
    learned = dict(zip(tables["table"], tables["learned as"]))
    assert learned["players"].startswith("root") and learned["batting"] == "child of players: ARGN"
    assert int(dict(zip(tables["table"], tables["rows"]))["players"]) == PLAYERS
    shown = " ".join(texts(at.markdown))
    assert "batting.players_id -> players.id" in shown and "fielding.players_id -> players.id" in shown

    inputs = {w.key for w in at.number_input}
    assert {"train_tables_seed", "train_tables_seconds"} <= inputs
    assert not inputs & {"train_epochs", "train_batch", "train_rare_k", "train_modes"}, "single-table options"
    assert at.selectbox(key="train_tables_model").label == "Model of the root tables (players)"
    assert at.text_input(key="train_tables_model_name").placeholder.endswith("(tables)")
    assert not any("Auto picks" in t for t in texts(at.info))


def test_training_a_schema_from_the_page_registers_a_tables_model_the_models_page_shows(app_env, schema_version):
    at = open_train(schema_version)
    at.number_input(key="train_tables_seconds").set_value(3.0)
    at.selectbox(key="train_tables_device").set_value("cpu")
    at.number_input(key="train_tables_seed").set_value(2)
    at.text_input(key="train_tables_model_name").input(f"page schema {uuid.uuid4().hex[:4]}")
    at.run()
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["train_last_job_id"]
    job = job_board.get_job(app_env.tenant, job_id=job_id, actor=app_env.actor)
    assert (job.payload["trains_on"], job.payload["keys"], job.payload["seed"]) == ("tables", BASEBALL_KEYS, 2)
    assert job.payload["max_training_time_s"] == 3.0 and job.payload["epochs"] is None
    done = wait_for_job(app_env.tenant, job_id, app_env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    assert any("Finished" in t for t in texts(at.markdown))

    version = model_registry.get_version(app_env.tenant, model_version_id=done.result["model_version_id"],
                                         actor=app_env.actor)
    assert version.is_schema and version.keys == BASEBALL_KEYS and version.holdout is None
    assert [t.name for t in version.tables] == ["batting", "fielding", "players"]
    assert version.tables_holdout is not None and version.holdout_rows == 0  # 120 root rows spare no holdout
    assert {t.name: t.parent for t in version.tables} == {"batting": "players", "fielding": "players", "players": None}

    models = open_page("models", session={SELECTED["model_version"]: version.id})
    no_traceback(models)
    assert {m.label: m.value for m in models.metric}["Tables"] == "3"
    shown = next(df.value for df in models.dataframe if "rows trained on" in df.value.columns)
    assert dict(zip(shown["table"], shown["rows trained on"])) == {t.name: t.rows for t in version.tables}
    assert dict(zip(shown["table"], shown["drawn under"]))["batting"] == "players"
    words = " ".join(texts(models.markdown))
    assert "primary keys: players.id" in words and "batting.players_id -> players.id" in words
    assert any(t.startswith("No holdout:") and "fewer than the 5,000" in t for t in texts(models.caption))
    registry = next(df.value for df in models.dataframe if "trained on" in df.value.columns)
    assert "tables" in set(registry["type"])


def test_a_refused_schema_job_shows_the_use_cases_message_and_starts_nothing(app_env, schema_version):
    with pytest.raises(DoppelError) as refusal:  # a DP run on a dataset with no privacy budget
        submit_training(app_env.tenant, dataset_version_id=schema_version, actor=app_env.actor,
                        privacy={"epsilon": 1.0, "delta": 1e-5})
    at = open_train(schema_version)
    at.toggle(key="train_tables_dp").set_value(True).run()
    assert any("no privacy budget" in w for w in texts(at.warning))
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    assert any(str(refusal.value) in t for t in texts(at.error))
    assert "train_last_job_id" not in at.session_state
