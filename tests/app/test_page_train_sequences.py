"""Training a table of histories from the Train page, and the model it makes on the Models page.

A real nasdaq100_2019 slice (24 companies, 40 trading days) saved with its roles through the
real use cases in the seeded workspace; pages run through the real entry script with AppTest,
the job through the embedded worker.
"""

from __future__ import annotations

import uuid

import pytest

from app.components.pickers import SELECTED
from infra.usecases import job_board, model_registry
from tests.app.page_support import button, no_traceback, open_page, texts, wait_for_job
from tests.infra.sequence_training_support import nasdaq_slice


@pytest.fixture(scope="module")
def sequence_version(workspace, datasets) -> str:
    """The nasdaq slice stored in the seeded workspace and saved as histories; the version id."""
    from infra.usecases import dataset_store
    from infra.usecases.sequence_roles import save_sequence_roles
    from tests.app.page_support import ENVIRONMENT, clear_caches

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        plain = dataset_store.store_table(workspace.tenant, frame=nasdaq_slice(datasets, companies=24, days=40),
                                          dataset_name=f"nasdaq-{uuid.uuid4().hex[:6]}", source={"kind": "upload"},
                                          actor=workspace.actor)
        saved = save_sequence_roles(workspace.tenant, version_id=plain.version_id, entity="Symbol", order_by="Date",
                                    context=["Sector", "Industry"], actor=workspace.actor)
        clear_caches()
    return saved.version_id


def open_train(version_id: str):
    return open_page("train", session={SELECTED["dataset_version"]: version_id})


def test_a_table_of_histories_shows_its_roles_and_only_the_options_histories_take(app_env, sequence_version):
    at = open_train(sequence_version)
    no_traceback(at)
    shown = " ".join(texts(at.markdown))
    assert "24 histories of **Symbol**, ordered by **Date**" in shown and "Sector, Industry" in shown
    inputs = {w.key for w in at.number_input}
    assert {"train_sequences_seed", "train_sequences_seconds"} <= inputs
    assert not inputs & {"train_epochs", "train_batch", "train_tables_seed"}, "another form's options"
    assert at.text_input(key="train_sequences_model_name").placeholder.endswith("(sequences)")
    at.toggle(key="train_sequences_dp").set_value(True).run()
    assert any("unit of privacy is an **entity**: one history with all its steps" in t for t in texts(at.markdown))


def test_training_histories_from_the_page_registers_a_sequences_model_the_models_page_shows(app_env, sequence_version):
    at = open_train(sequence_version)
    at.number_input(key="train_sequences_seconds").set_value(2.0)
    at.selectbox(key="train_sequences_device").set_value("cpu")
    at.run()
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["train_last_job_id"]
    job = job_board.get_job(app_env.tenant, job_id=job_id, actor=app_env.actor)
    assert (job.payload["trains_on"], job.payload["sequence"]["entity"]) == ("sequences", "Symbol")
    done = wait_for_job(app_env.tenant, job_id, app_env.actor)
    assert done.state == "succeeded", done.error

    version = model_registry.get_version(app_env.tenant, model_version_id=done.result["model_version_id"],
                                         actor=app_env.actor)
    assert version.is_sequence and version.sequence["entity"] == "Symbol" and version.holdout is None
    models = open_page("models", session={SELECTED["model_version"]: version.id})
    no_traceback(models)
    assert {m.label: m.value for m in models.metric}["Histories"] == f"{version.sequence['entities']:,}"
    words = " ".join(texts(models.markdown))
    assert "entity: Symbol, time: Date" in words and "context: Sector, Industry" in words
    assert any(t.startswith("No holdout:") or t.startswith("Holdout:") for t in texts(models.caption))
