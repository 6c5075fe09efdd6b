"""The Models page: the registry, a version's metrics, privacy and lineage, status changes, comparing two."""

from __future__ import annotations

import pytest

from app.components.pickers import SELECTED
from infra.services import model_registry
from infra.services.training import submit_training
from tests.app.page_support import (
    FAST_TRANSFORMER,
    button,
    no_traceback,
    open_page,
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
    assert model_registry.get_version(app_env.tenant, model_version_id=second_version, actor=app_env.actor).status == "archived"
    generate = open_page("generate")
    offered = generate.selectbox(key="generate_version").options
    assert not any("v2" in o for o in offered) and any("seeded ctgan v1" in o for o in offered)
