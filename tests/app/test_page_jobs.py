"""The Jobs page: running jobs live with cancel, finished ones with loss curves, logs and errors in words."""

from __future__ import annotations

import json

from app.components.pickers import SELECTED
from infra.db import tenant_session
from infra.records import job_records
from infra.usecases import job_board
from infra.usecases.training import submit_training
from tests.app.page_support import (
    FAST_TRANSFORMER,
    button,
    no_traceback,
    open_page,
    texts,
    wait_for_job,
)


def seeded_job(workspace, kind: str) -> job_board.JobView:
    return [j for j in job_board.list_jobs(workspace.tenant, actor=workspace.actor, kind=kind)
            if j.state == "succeeded"][-1]


def test_finished_jobs_are_listed_with_the_training_loss_curve_and_log(app_env):
    train = seeded_job(app_env, "train")
    at = open_page("jobs", session={SELECTED["job"]: train.id})
    no_traceback(at)
    cards = texts(at.markdown)
    assert any("Training ctgan on adult-sample v1" in t and "Finished" in t for t in cards)
    assert any("Generating 200 rows" in t for t in cards) and any("Assessing 200 generated rows" in t for t in cards)
    assert at.get("plotly_chart"), "the loss curve of the training job"
    log = next(df.value for df in at.dataframe if "event" in df.value.columns)
    assert {"job.submitted", "job.succeeded"} <= set(log["event"])


def test_the_kind_filter_shows_one_kind_of_job(app_env):
    at = open_page("jobs")
    at.segmented_control(key="jobs_kind").set_value("generation").run()
    no_traceback(at)
    cards = texts(at.markdown)
    assert any("Generating" in t for t in cards) and not any("Training ctgan on" in t for t in cards)


def test_a_running_job_shows_live_and_can_be_cancelled(app_env):
    job = submit_training(app_env.tenant, dataset_version_id=app_env.dataset_version_id, actor=app_env.actor,
                          model="ctgan", epochs=500, params={"batch_size": 50, "transformer_params": FAST_TRANSFORMER})
    try:
        at = open_page("jobs")
        no_traceback(at)
        assert any("Running and queued (1)" in s for s in texts(at.subheader))
        assert any("epochs" in t and ("Running" in t or "Waiting" in t) for t in texts(at.markdown))
        button(at, "Cancel").click()
        at.run()
        no_traceback(at)
    finally:
        if job_board.get_job(app_env.tenant, job_id=job.id, actor=app_env.actor).active:
            job_board.cancel_job(app_env.tenant, job_id=job.id, actor=app_env.actor)
    assert wait_for_job(app_env.tenant, job.id, app_env.actor, timeout=60).state == "cancelled"
    at.run()
    assert any("Cancelled" in t for t in texts(at.markdown))


def test_a_failed_job_shows_its_error_in_words(app_env):
    job = submit_training(app_env.tenant, dataset_version_id=app_env.dataset_version_id, actor=app_env.actor,
                          model="tvae", epochs=1,
                          params={"column_types": {"sex": "continuous"}, "transformer_params": FAST_TRANSFORMER})
    failed = wait_for_job(app_env.tenant, job.id, app_env.actor)
    assert failed.state == "failed"
    at = open_page("jobs", session={SELECTED["job"]: job.id})
    no_traceback(at)
    assert any("sex" in e and "continuous" in e for e in texts(at.error))
    assert not any("Traceback" in e for e in texts(at.error))


def test_a_running_training_shows_its_loss_curve_so_far(app_env):
    # A job held by a stand-in worker (no queue message, so no real worker takes it), with two epochs written.
    worker = "page-test-worker"
    with tenant_session(app_env.tenant) as session:
        job_id = job_records.submit_job(session, kind="train", queue="page-test.held",
                                        payload={"model": "ctgan", "epochs": 40}).id
    with tenant_session(app_env.tenant) as session:
        assert job_records.claim_job(session, job_id, worker=worker, lease_seconds=600) is not None
    with tenant_session(app_env.tenant) as session:
        job_records.heartbeat(session, job_id, worker=worker, lease_seconds=600, progress=0.05, message="epoch 2/40",
                              losses=[{"epoch": 1, "generator": 1.5, "critic": -0.2},
                                      {"epoch": 2, "generator": 1.1, "critic": -0.3}])
    try:
        at = open_page("jobs")
        no_traceback(at)
        assert any("Training ctgan" in t and "Running" in t for t in texts(at.markdown))
        live = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
                if "Losses so far" in chart.proto.spec]
        assert len(live) == 1, "the running training's loss curve"
        assert {trace["name"] for trace in live[0]["data"]} == {"generator", "critic"}
        assert [trace["x"] for trace in live[0]["data"]] == [[1, 2], [1, 2]]
    finally:
        with tenant_session(app_env.tenant) as session:
            job_records.acknowledge_cancel(session, job_id, worker=worker)
