"""The Train page: model choice with the reason for "auto", settings, privacy with the budget, protections, submit."""

from __future__ import annotations

import uuid

from app.components.pickers import SELECTED
from infra.usecases import dataset_store, job_board, privacy_views, training_plan
from infra.usecases.stored_profiles import ColumnEdits
from tests.app.page_support import (
    button,
    no_traceback,
    open_page,
    store_sample,
    texts,
    wait_for_job,
)


def open_train(version_id: str):
    return open_page("train", session={SELECTED["dataset_version"]: version_id})


def test_auto_says_which_model_the_profile_recommends_and_why(app_env):
    at = open_train(app_env.dataset_version_id)
    no_traceback(at)
    assert at.selectbox(key="train_model").value == "auto"
    assert any("Auto picks argn." in t and "conditional sampling" in t for t in texts(at.info))


def test_the_default_model_name_names_the_kind_auto_will_train(app_env):
    at = open_train(app_env.dataset_version_id)
    assert at.text_input(key="train_model_name").placeholder == "adult-sample (argn)"  # the line a job joins
    at.selectbox(key="train_model").set_value("tvae").run()
    assert at.text_input(key="train_model_name").placeholder == "adult-sample (tvae)"


def test_training_a_model_queues_a_job_and_shows_it_finish(app_env):
    at = open_train(app_env.dataset_version_id)
    at.selectbox(key="train_model").set_value("ctgan")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(200)
    at.number_input(key="train_modes").set_value(3)
    at.number_input(key="train_rare_k").set_value(10)
    at.toggle(key="train_cap").set_value(False)
    at.text_input(key="train_model_name").input(f"page ctgan {uuid.uuid4().hex[:4]}")
    at.run()
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["train_last_job_id"]
    job = job_board.get_job(app_env.tenant, job_id=job_id, actor=app_env.actor)
    assert job.kind == "train" and job.payload["model"] == "ctgan" and job.payload["epochs"] == 1
    assert job.payload["params"]["transformer_params"] == {"n_modes": 3, "rare_category_k": 10, "extremes": None}
    assert wait_for_job(app_env.tenant, job_id, app_env.actor).state == "succeeded"
    at.run()
    no_traceback(at)
    assert any("Finished" in t for t in texts(at.markdown))
    assert at.session_state[SELECTED["model_version"]] == job_board.get_job(
        app_env.tenant, job_id=job_id, actor=app_env.actor).result["model_version_id"]


def test_privacy_without_a_budget_is_explained_and_refused(app_env):
    at = open_train(app_env.dataset_version_id)
    at.toggle(key="train_dp").set_value(True).run()
    assert any("no privacy budget" in w for w in texts(at.warning))
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    assert at.error and "train_last_job_id" not in at.session_state


def test_privacy_shows_the_datasets_remaining_budget(app_env, datasets):
    stored = store_sample(app_env, datasets, prefix="private", rows=100)
    privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=3.0, delta_cap=1e-5,
                             actor=app_env.actor)
    at = open_train(stored.version_id)
    at.toggle(key="train_dp").set_value(True).run()
    no_traceback(at)
    assert any("epsilon 3 of 3 left" in c for c in texts(at.caption))
    at.number_input(key="train_epsilon").set_value(5.0).run()
    assert any("more than the 3 left" in w for w in texts(at.warning))


def test_a_version_with_personal_data_warns_before_training(app_env):
    frame_rows = "email,amount\n" + "".join(f"person{i}@example.com,{i}\n" for i in range(60))
    name = f"pii-{uuid.uuid4().hex[:6]}"
    stored = dataset_store.store_upload(app_env.tenant, data=frame_rows.encode(), filename=f"{name}.csv",
                                        dataset_name=name, actor=app_env.actor)
    at = open_train(stored.version_id)
    no_traceback(at)
    assert any("look like personal data: email" in w for w in texts(at.warning))


def test_a_private_training_charges_the_datasets_budget(app_env, datasets):
    stored = store_sample(app_env, datasets, prefix="dp", rows=400)
    privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=4.0, delta_cap=1e-4,
                             actor=app_env.actor)
    at = open_train(stored.version_id)
    at.selectbox(key="train_model").set_value("tvae")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(100)
    at.number_input(key="train_modes").set_value(3)
    at.toggle(key="train_dp").set_value(True)
    at.run()
    at.number_input(key="train_epsilon").set_value(2.0).run()
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    job = wait_for_job(app_env.tenant, at.session_state["train_last_job_id"], app_env.actor)
    assert job.state == "succeeded", job.error
    ledger = privacy_views.ledger(app_env.tenant, dataset_id=stored.dataset_id, actor=app_env.actor)
    assert [(e.kind, e.epsilon) for e in ledger.entries] == [("reserve", 2.0), ("commit", 2.0)] and ledger.verified
    assert ledger.dataset.budget.epsilon_remaining == 2.0


def test_someone_outside_the_workspace_learns_nothing_from_a_version_id(app_env):
    """request_training reads the version before the jobs layer checks the role: it checks first."""
    from infra.db import tenant_session
    from infra.records import tenancy
    from infra.records.authz import Actor, PermissionDeniedError
    from infra.usecases import job_requests
    from infra.usecases.job_requests import TrainingRequest

    with tenant_session(app_env.tenant) as session:
        user = tenancy.ensure_user(session, subject=f"test|outsider-{uuid.uuid4().hex[:6]}",
                                   email="outsider@elsewhere.test", display_name="outsider")
        outsider = Actor(user_id=user.id, label="outsider@elsewhere.test")
    refusals = set()
    for version_id in (app_env.dataset_version_id, str(uuid.uuid4())):
        try:
            job_requests.request_training(app_env.tenant, request=TrainingRequest(
                dataset_version_id=version_id, model="ctgan", epochs=1), actor=outsider)
        except PermissionDeniedError as err:
            refusals.add(str(err))
    assert len(refusals) == 1, refusals  # the same refusal for a real id and a made-up one


def test_choosing_ctgan_shows_a_batch_that_is_a_multiple_of_pac_and_its_training_runs(app_env):
    """The profile's batch (128 on this sample, 512 on adult) once failed CTGAN at once: "must be a multiple of pac"."""
    at = open_train(app_env.dataset_version_id)
    assert at.number_input(key="train_batch").value == 128
    at.selectbox(key="train_model").set_value("ctgan").run()
    no_traceback(at)
    assert at.number_input(key="train_batch").value == 120
    at.number_input(key="train_batch").set_value(205).run()
    assert any("CTGAN trains in batches of 200 rows" in c for c in texts(at.caption))
    at.number_input(key="train_batch").set_value(120)
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_modes").set_value(3)
    at.text_input(key="train_model_name").input(f"page ctgan pac {uuid.uuid4().hex[:4]}")
    at.run()
    button(at, "Start training").click()
    at.run()
    no_traceback(at)
    assert not at.error, texts(at.error)
    job = wait_for_job(app_env.tenant, at.session_state["train_last_job_id"], app_env.actor)
    assert job.state == "succeeded", job.error
    assert job.payload["params"]["batch_size"] == 120


def test_privacy_shows_how_many_runs_of_the_chosen_size_the_budget_allows(app_env, datasets):
    """With the default budget and the default run (delta 1e-5 once), a dataset allowed exactly one DP run."""
    defaults = training_plan.privacy_defaults()
    stored = store_sample(app_env, datasets, prefix="runs-left", rows=100)
    privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=defaults.budget_epsilon,
                             delta_cap=defaults.budget_delta, actor=app_env.actor)
    at = open_train(stored.version_id)
    at.toggle(key="train_dp").set_value(True).run()
    no_traceback(at)
    assert (at.number_input(key="train_epsilon").value, at.number_input(key="train_delta").value) == (1.0, 1e-6)
    assert "This dataset's budget allows 4 more runs of epsilon 1, delta 1e-6." in texts(at.caption)
    at.number_input(key="train_epsilon").set_value(1.5).run()
    assert "This dataset's budget allows 2 more runs of epsilon 1.5, delta 1e-6." in texts(at.caption)


def test_auto_under_differential_privacy_at_epsilon_1_names_mst(app_env, datasets):
    stored = store_sample(app_env, datasets, prefix="auto-dp", rows=100)
    privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=4.0, delta_cap=1e-5,
                             actor=app_env.actor)
    at = open_train(stored.version_id)
    assert any("Auto picks argn." in t for t in texts(at.info))
    at.toggle(key="train_dp").set_value(True).run()
    no_traceback(at)
    (hint,) = [t for t in texts(at.info) if "Auto picks" in t]
    assert "Auto picks mst." in hint and "epsilon 1 " in hint and "on 6 columns" in hint
    at.number_input(key="train_epsilon").set_value(4.0).run()
    assert any("Auto picks argn." in t and "DP-SGD" in t for t in texts(at.info))


def test_auto_counts_the_columns_of_a_version_with_a_dropped_column(app_env, datasets):
    """A version saved without a column kept its parent's recommendation: "15" learned columns for 14."""
    stored = store_sample(app_env, datasets, prefix="dropped", rows=100)
    edited = dataset_store.save_edits(app_env.tenant, version_id=stored.version_id, edits=ColumnEdits(drop=("sex",)),
                                      actor=app_env.actor)
    at = open_train(edited.version_id)
    no_traceback(at)
    (hint,) = [t for t in texts(at.info) if "Auto picks" in t]
    assert "x 5 learned columns" in hint, hint
