"""The Profile page shows a stored version's profile and saves schema edits as the next version."""

from __future__ import annotations

from app.components.pickers import SELECTED
from infra.usecases import dataset_store
from tests.app.page_support import button, no_traceback, open_page, store_sample, texts


def stored_version(workspace, datasets) -> dataset_store.StoredVersion:
    return store_sample(workspace, datasets, prefix="profiled", rows=150)


def open_profile(version_id: str, edits: dict | None = None):
    session = {SELECTED["dataset_version"]: version_id}
    if edits is not None:
        session[f"schema_{version_id}"] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    return open_page("profile", session=session)


def test_the_profile_of_the_chosen_version_is_shown(app_env):
    at = open_profile(app_env.dataset_version_id)
    no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "400" and metrics["Columns"] == "6"
    editor = at.data_editor[0].value
    assert list(editor["column"]) == ["age", "workclass", "education", "sex", "hours-per-week", "income"]
    assert button(at, "Save the edits as a new version").disabled
    assert at.get("plotly_chart")


def test_a_corrected_type_and_a_dropped_column_make_the_next_version(app_env, datasets):
    stored = stored_version(app_env, datasets)
    at = open_profile(stored.version_id, edits={0: {"type": "categorical"}, 1: {"drop": True}})
    assert any("age → categorical" in t and "remove workclass" in t for t in texts(at.markdown))
    button(at, "Save the edits as a new version").click()
    at.run()
    no_traceback(at)
    assert any(f"v{stored.version + 1}" in t for t in texts(at.success))
    [dataset] = [d for d in dataset_store.list_datasets(app_env.tenant, actor=app_env.actor)
                 if d.id == stored.dataset_id]
    newest = dataset.latest
    assert newest.version == stored.version + 1 and newest.n_columns == 5
    assert newest.edits.types == {"age": "categorical"} and newest.edits.drop == ("workclass",)
    assert dataset_store.training_column_types(newest.source) == {"age": "categorical"}


def test_marking_a_key_makes_it_an_identifier_for_training(app_env, datasets):
    stored = stored_version(app_env, datasets)
    at = open_profile(stored.version_id, edits={4: {"key": True}})
    button(at, "Save the edits as a new version").click()
    at.run()
    no_traceback(at)
    newest = dataset_store.get_version(app_env.tenant, version_id=at.session_state[SELECTED["dataset_version"]],
                                       actor=app_env.actor, preview_rows=0)
    assert newest.summary.edits.keys == ("hours-per-week",)
    assert newest.profile.columns["hours-per-week"].semantic_type == "identifier"


def test_removing_every_column_is_refused_in_words(app_env, datasets):
    stored = stored_version(app_env, datasets)
    at = open_profile(stored.version_id, edits={i: {"drop": True} for i in range(6)})
    button(at, "Save the edits as a new version").click()
    at.run()
    no_traceback(at)
    assert any("every column would be removed" in e for e in texts(at.error))


def test_after_a_save_the_page_shows_the_new_version_without_pending_edits(app_env, datasets):
    stored = stored_version(app_env, datasets)
    at = open_profile(stored.version_id, edits={1: {"drop": True}})
    button(at, "Save the edits as a new version").click()
    at.run()
    no_traceback(at)
    [dataset] = [d for d in dataset_store.list_datasets(app_env.tenant, actor=app_env.actor)
                 if d.id == stored.dataset_id]
    newest = dataset.latest
    assert newest.version == stored.version + 1
    selector = at.selectbox(key="profile_version")
    assert selector.value == newest.id  # the selector moved to the new version, which it now lists
    assert any(f"{dataset.name} v{newest.version}" in option for option in selector.options)
    assert any(f"Saved as {dataset.name} v{newest.version}" in s for s in texts(at.success))
    assert list(at.data_editor[0].value["column"]) == ["age", "education", "sex", "hours-per-week", "income"]
    assert "No changes yet." in texts(at.caption)
    assert {m.label: m.value for m in at.metric}["Columns"] == "5"
    assert button(at, "Save the edits as a new version").disabled
