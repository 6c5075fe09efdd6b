"""The Privacy page: every dataset's budget, one dataset's ledger (verified), the admin's settings."""

from __future__ import annotations

from infra.usecases import dataset_store, job_board, privacy_views
from infra.usecases.training import submit_training
from tests.app.page_support import (
    FAST_TRANSFORMER,
    act_as,
    button,
    no_traceback,
    open_page,
    store_sample,
    texts,
    wait_for_job,
)


def fresh_dataset(workspace, datasets) -> dataset_store.StoredVersion:
    return store_sample(workspace, datasets, prefix="budgeted", rows=300)


def test_budgets_of_every_dataset_are_listed(app_env):
    at = open_page("privacy")
    no_traceback(at)
    table = next(df.value for df in at.dataframe if "epsilon cap" in df.value.columns)
    assert "adult-sample" in set(table["dataset"])
    assert any("cannot be trained with differential privacy" in c for c in texts(at.caption))


def test_an_admin_sets_a_budget_on_the_page(app_env, datasets):
    stored = fresh_dataset(app_env, datasets)
    at = open_page("privacy")
    at.selectbox(key="privacy_dataset").set_value(stored.dataset_id).run()
    at.number_input(key=f"privacy_eps_{stored.dataset_id}").set_value(2.5)
    at.number_input(key=f"privacy_delta_{stored.dataset_id}").set_value(1e-6)
    at.run()
    button(at, "Save the budget").click()
    at.run()
    no_traceback(at)
    budget = privacy_views.remaining_budget(app_env.tenant, dataset_id=stored.dataset_id, actor=app_env.actor)
    assert budget.epsilon_cap == 2.5 and budget.delta_cap == 1e-6


def test_a_dp_training_appears_on_the_verified_ledger(app_env, datasets):
    stored = fresh_dataset(app_env, datasets)
    privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=5.0, delta_cap=1e-4,
                             actor=app_env.actor)
    job = submit_training(app_env.tenant, dataset_version_id=stored.version_id, actor=app_env.actor, model="tvae",
                          epochs=500, privacy={"epsilon": 2.0, "delta": 1e-5},
                          params={"transformer_params": FAST_TRANSFORMER})
    job_board.cancel_job(app_env.tenant, job_id=job.id, actor=app_env.actor)
    wait_for_job(app_env.tenant, job.id, app_env.actor, timeout=60)
    at = open_page("privacy")
    at.selectbox(key="privacy_dataset").set_value(stored.dataset_id).run()
    no_traceback(at)
    ledger = next(df.value for df in at.dataframe if "entry" in df.value.columns)
    assert list(ledger["entry"])[0] == "reserve" and 2.0 in set(ledger["epsilon"])
    assert any("the hash chain verifies" in c for c in texts(at.caption))


def test_a_member_reads_budgets_but_cannot_change_them(app_env, datasets, monkeypatch):
    stored = fresh_dataset(app_env, datasets)
    member = act_as(monkeypatch, app_env, "member")
    at = open_page("privacy")
    at.selectbox(key="privacy_dataset").set_value(stored.dataset_id).run()
    no_traceback(at)
    assert not [b for b in at.button if b.label == "Save the budget"]
    assert any("need not be" in c or "must be" in c for c in texts(at.caption))
    try:
        privacy_views.set_budget(app_env.tenant, dataset_id=stored.dataset_id, epsilon_cap=1.0, delta_cap=1e-5,
                                 actor=member)
    except Exception as err:  # noqa: BLE001 - the refusal is the point
        assert "owner or admin" in str(err)
    else:
        raise AssertionError("a member changed a privacy budget")


def test_a_saved_budget_shows_at_once_in_the_table_and_the_metrics(app_env, datasets):
    stored = fresh_dataset(app_env, datasets)
    at = open_page("privacy")
    at.selectbox(key="privacy_dataset").set_value(stored.dataset_id).run()
    assert any("has no privacy budget yet" in i for i in texts(at.info))
    at.number_input(key=f"privacy_eps_{stored.dataset_id}").set_value(3.0)
    at.run()
    button(at, "Save the budget").click()
    at.run()
    no_traceback(at)
    assert any("set" in s and "3" in s for s in texts(at.success))
    assert not any("has no privacy budget yet" in i for i in texts(at.info))  # re-read after the save
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epsilon left"] == "3"
    table = next(df.value for df in at.dataframe if "epsilon cap" in df.value.columns)
    row = table[table["dataset"] == stored.dataset_name]
    assert list(row["epsilon cap"]) == [3.0] and list(row["epsilon left"]) == [3.0]


def test_a_new_budget_form_offers_the_platform_defaults(app_env, datasets, monkeypatch):
    from tests.app.page_support import clear_caches

    monkeypatch.setenv("DOPPEL_DP_BUDGET_EPSILON", "6.5")
    monkeypatch.setenv("DOPPEL_DP_BUDGET_DELTA", "2e-5")
    clear_caches()
    stored = fresh_dataset(app_env, datasets)
    at = open_page("privacy")
    at.selectbox(key="privacy_dataset").set_value(stored.dataset_id).run()
    no_traceback(at)
    assert at.number_input(key=f"privacy_eps_{stored.dataset_id}").value == 6.5
    assert at.number_input(key=f"privacy_delta_{stored.dataset_id}").value == 2e-5
