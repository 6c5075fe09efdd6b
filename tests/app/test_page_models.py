"""The Models page: the registry, a version's metrics, privacy and lineage, status changes, comparing two."""

from __future__ import annotations

import pytest

from app.components.pickers import SELECTED
from app.components.run_facts import file_size_text
from infra.usecases import model_registry
from infra.usecases.training import submit_training
from tests.app.page_support import (
    FAST_TRANSFORMER,
    button,
    no_traceback,
    open_page,
    store_sample,
    texts,
    wait_for_job,
)


@pytest.fixture(scope="module")
def second_version(workspace) -> str:
    """Version 2 of the seeded model, trained with another seed."""
    from tests.app.page_support import ENVIRONMENT, clear_caches

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        seeded = model_registry.get_version(workspace.tenant, model_version_id=workspace.model_version_id,
                                            actor=workspace.actor)
        job = submit_training(workspace.tenant, dataset_version_id=workspace.dataset_version_id, actor=workspace.actor,
                              model="ctgan", epochs=1, seed=1, model_id=seeded.model_id,
                              params={"batch_size": 200, "transformer_params": FAST_TRANSFORMER})
        done = wait_for_job(workspace.tenant, job.id, workspace.actor)
        assert done.state == "succeeded", done.error
        clear_caches()
    return done.result["model_version_id"]


def test_the_registry_lists_versions_with_metrics_and_lineage(app_env):
    at = open_page("models", session={SELECTED["model_version"]: app_env.model_version_id})
    no_traceback(at)
    registry = next(df.value for df in at.dataframe if "trained on" in df.value.columns)
    assert "seeded ctgan" in set(registry["model"]) and "adult-sample v1" in set(registry["trained on"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs run"] == "1" and metrics["Epsilon spent"] == "no DP"
    assert at.get("plotly_chart"), "the loss curve"
    lineage = " ".join(texts(at.markdown))
    assert "Trained on **adult-sample v1**" in lineage and "generated 200 rows where sex == 'Female'" in lineage
    assert "quality: passed" in lineage or "quality: blocked" in lineage


def test_two_versions_are_compared_setting_by_setting(app_env, second_version):
    at = open_page("models", session={SELECTED["model_version"]: second_version})
    at.selectbox(key="models_cmp_a").set_value(second_version)
    at.selectbox(key="models_cmp_b").set_value(app_env.model_version_id)
    at.run()
    no_traceback(at)
    table = next(df.value for df in at.dataframe if "same" in df.value.columns)
    assert "setting seed" in set(table["what"]) and set(table["same"]) == {"no"}
    assert len(at.get("plotly_chart")) >= 3


def test_archiving_a_version_takes_it_off_the_generate_page(app_env, second_version):
    at = open_page("models", session={SELECTED["model_version"]: second_version})
    at.selectbox(key=f"models_status_{second_version}").set_value("archived").run()
    button(at, "Change status").click()
    at.run()
    no_traceback(at)
    archived = model_registry.get_version(app_env.tenant, model_version_id=second_version, actor=app_env.actor)
    assert archived.status == "archived"
    generate = open_page("generate")
    offered = generate.selectbox(key="generate_version").options
    assert not any(archived.label in o for o in offered) and any("seeded ctgan v1" in o for o in offered)


@pytest.fixture(scope="module")
def dp_mst_job(workspace, datasets):  # noqa: ANN201 - a JobView
    """The job of an MST trained by the worker with differential privacy (epsilon 1) on a dataset of its own."""
    from infra.db import tenant_session
    from infra.privacy import set_budget
    from tests.app.page_support import ENVIRONMENT, clear_caches

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        clear_caches()
        stored = store_sample(workspace, datasets, prefix="mst")
        with tenant_session(workspace.tenant) as session:
            set_budget(session, dataset_id=stored.dataset_id, epsilon_cap=4.0, delta_cap=1e-4, actor=workspace.actor)
        job = submit_training(workspace.tenant, dataset_version_id=stored.version_id, actor=workspace.actor,
                              model="mst", epochs=5, privacy={"epsilon": 1.0, "delta": 1e-5})
        done = wait_for_job(workspace.tenant, job.id, workspace.actor)
        assert done.state == "succeeded", done.error
        clear_caches()
    return done


@pytest.fixture(scope="module")
def dp_mst_version(dp_mst_job) -> str:
    return dp_mst_job.result["model_version_id"]


@pytest.fixture(scope="module")
def stopped_early_version(workspace, datasets) -> str:
    """An ARGN version whose run early stopping ended at epoch 4 of 5, with a note, as the worker records one."""
    from infra.db import tenant_session
    from infra.records import catalog
    from tests.app.page_support import ENVIRONMENT, clear_caches

    history = [{"epoch": e, "loss": 2.0 / e, "val_loss": 2.2 / e, "learning_rate": 1e-3 * 0.9 ** e} for e in range(1, 5)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOPPEL_DATA_DIR", str(workspace.data_dir))
        clear_caches()
        stored = store_sample(workspace, datasets, prefix="early")
        with tenant_session(workspace.tenant) as session:
            line = catalog.create_model(session, name=f"{stored.dataset_name} (argn)", dataset_id=stored.dataset_id,
                                        actor="test")
            version = catalog.register_model_version(
                session, model_id=line.id, dataset_version_id=stored.version_id, model_type="argn",
                config={"epochs": 5, "batch_size": 510, "seed": 0},
                metrics={"history": history, "epochs_run": 4, "epochs_planned": 5, "stopped_early": True,
                         "best_epoch": 4, "best_val_loss": 0.55, "fit_seconds": 3.0,
                         "notes": ["batch size 512 was rounded to 510, a multiple of pac (10)"]},
                actor="test", n_bytes=2_400_000)
            version_id = version.id
        clear_caches()
    return version_id


def test_privacy_spent_and_settings_are_tables_of_names_and_values(app_env, dp_mst_version):
    at = open_page("models", session={SELECTED["model_version"]: dp_mst_version})
    no_traceback(at)
    assert not at.json, "no JSON trees on the Models page"
    tables = [df.value for df in at.dataframe if list(df.value.columns) == ["name", "value"]]
    privacy = next(t for t in tables if "epsilon target" in set(t["name"]))
    assert dict(zip(privacy["name"], privacy["value"]))["epsilon target"] == "1"
    assert any("epochs" in set(t["name"]) for t in tables), "the settings"
    mechanisms = next(df.value for df in at.dataframe if "epsilon alone" in df.value.columns)
    assert "MST tree selection" in set(mechanisms["name"])


def test_mst_shows_no_epochs_and_the_size_of_its_stored_file(app_env, dp_mst_version):
    at = open_page("models", session={SELECTED["model_version"]: dp_mst_version})
    no_traceback(at)
    stored = model_registry.get_version(app_env.tenant, model_version_id=dp_mst_version, actor=app_env.actor)
    metrics = {m.label: m.value for m in at.metric}
    assert "Epochs run" not in metrics and metrics["Estimation rounds"] == "5"
    assert metrics["Model file"] == file_size_text(stored.n_bytes) and metrics["Model file"] != "0.0 MB"
    assert stored.n_bytes < 1_000_000, "an MST file is a few kilobytes: the old 'MB with one decimal' showed 0.0"
    registry = next(df.value for df in at.dataframe if "trained on" in df.value.columns)
    mst_rows = registry[registry["type"] == "mst"]
    assert len(mst_rows) and mst_rows["epochs"].isna().all()


def test_a_run_stopped_early_says_at_which_epoch_of_how_many_and_shows_its_notes(app_env, stopped_early_version):
    at = open_page("models", session={SELECTED["model_version"]: stopped_early_version})
    no_traceback(at)
    captions = " ".join(texts(at.caption))
    assert "stopped early at epoch 4 of 5" in captions
    assert "batch size 512 was rounded to 510, a multiple of pac (10)" in " ".join(texts(at.markdown))
    assert {m.label: m.value for m in at.metric}["Model file"] == "2.4 MB"


def test_the_finished_mst_job_counts_estimation_rounds_not_epochs(dp_mst_job):
    from app.components.job_status import progress_text

    assert dp_mst_job.result["epochs_planned"] == 5 and dp_mst_job.result["stopped_early"] is False
    assert progress_text(dp_mst_job) == "100% · estimation round 5 of 5"
