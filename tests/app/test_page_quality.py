"""The Quality page: assess, the report (verdict, gates, figures), downloads, share links, compare two."""

from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from app.components.pickers import SELECTED
from app.components.share_panel import create_link
from auth.share_links import resolve_share_link
from infra.services import job_requests, outputs
from tests.app.page_support import (
    MAIN_SCRIPT,
    TIMEOUT_S,
    button,
    no_traceback,
    open_page,
    texts,
    wait_for_job,
)


def open_quality(workspace, **extra):
    return open_page("quality", session={SELECTED["report"]: workspace.report_id,
                                         SELECTED["generated"]: workspace.generated_id, **extra})


def open_shared(token: str) -> AppTest:
    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S)
    at.query_params["share"] = token
    return at.run()


def test_the_report_shows_verdict_scores_gates_and_figures(app_env):
    at = open_quality(app_env)
    no_traceback(at)
    verdicts = texts(at.success) + texts(at.warning) + texts(at.error)
    assert any("quality gate" in v for v in verdicts)
    assert {"Overall score", "Fidelity score", "Utility score", "Privacy score"} <= {m.label for m in at.metric}
    gates = next(df.value for df in at.dataframe if "threshold" in df.value.columns)
    assert {"column_distance", "correlation_difference", "exact_copies"} <= set(gates["gate"])
    assert len(at.get("plotly_chart")) >= 6, "distribution, association, utility and privacy figures"
    assert [s for s in texts(at.subheader) if s == "Recommendations"]


def test_the_report_can_be_downloaded_as_html_and_json(app_env):
    at = open_quality(app_env)
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["Download HTML", "Download JSON"]
    document = outputs.report_document(app_env.tenant, report_id=app_env.report_id, actor=app_env.actor)
    assert outputs.report_html(document).startswith("<!DOCTYPE html>")


def test_assessing_generated_data_makes_a_report_and_opens_it(app_env):
    at = open_quality(app_env)
    at.selectbox(key="quality_target").set_value("income").run()
    button(at, "Assess quality").click()
    at.run()
    no_traceback(at)
    job_id = at.session_state["quality_last_job_id"]
    done = wait_for_job(app_env.tenant, job_id, app_env.actor)
    assert done.state == "succeeded", done.error
    at.run()
    no_traceback(at)
    assert at.session_state[SELECTED["report"]] == done.result["quality_report_id"]
    assert "utility" in outputs.report_document(app_env.tenant, report_id=done.result["quality_report_id"],
                                                actor=app_env.actor)


def test_two_reports_are_compared_score_by_score(app_env):
    if len(outputs.list_reports(app_env.tenant, actor=app_env.actor)) < 2:  # alone: make the second one here
        job = job_requests.request_assessment(app_env.tenant, generated_dataset_id=app_env.generated_id,
                                              actor=app_env.actor, target="income")
        assert wait_for_job(app_env.tenant, job.id, app_env.actor).state == "succeeded"
    at = open_quality(app_env)
    table = next(df.value for df in at.dataframe if "difference" in df.value.columns)
    assert "overall score" in set(table["measure"]) and any(m.startswith("gate column_distance") for m in table["measure"])


def test_a_share_link_is_created_once_and_opens_the_report_without_login(app_env):
    at = open_quality(app_env)
    at.selectbox(key="share_lifetime").set_value("1 day").run()
    button(at, "Create share link").click()
    at.run()
    no_traceback(at)
    link = at.code[-1].value
    assert "?share=" in link
    token = link.split("share=", 1)[1]
    assert len(token) >= 43  # 256 bits
    assert resolve_share_link(token).report_id == app_env.report_id
    shared = open_shared(token)
    no_traceback(shared)
    assert [t.value for t in shared.title] == ["Shared quality report"]
    assert shared.get("plotly_chart") and not shared.button and not shared.file_uploader


def test_a_revoked_link_stops_working(app_env):
    token = create_link(app_env.tenant, report_id=app_env.report_id, expires_in=timedelta(hours=1),
                        actor=app_env.actor)
    at = open_quality(app_env)
    revoke = [b for b in at.button if b.label == "Revoke"]
    assert revoke
    for _ in revoke:
        [b for b in at.button if b.label == "Revoke"][0].click()
        at.run()
    no_traceback(at)
    assert any("revoked" in e for e in texts(open_shared(token).error))


def test_an_expired_link_says_when_it_expired(app_env):
    from auth.share_links import create_share_link
    from infra.db import tenant_session
    from infra.db.types import utcnow

    with tenant_session(app_env.tenant) as session:
        token = create_share_link(session, report_id=app_env.report_id, expires_in=timedelta(seconds=1),
                                  actor=app_env.actor, now=utcnow() - timedelta(hours=2))
    shared = open_shared(token)
    no_traceback(shared)
    assert any("expired on" in e for e in texts(shared.error)) and not shared.get("plotly_chart")


def test_a_viewer_reads_the_report_but_cannot_assess_or_share(app_env, monkeypatch):
    from tests.app.page_support import act_as

    act_as(monkeypatch, app_env, "viewer")
    at = open_quality(app_env)
    no_traceback(at)
    labels = {b.label for b in at.button}
    assert "Assess quality" not in labels and "Create share link" not in labels
    assert any("quality gate" in v for v in texts(at.success) + texts(at.warning) + texts(at.error))


def test_a_holdout_version_powers_the_membership_attack(app_env, datasets):
    from infra.services import dataset_store
    from tests.app.page_support import adult_sample, csv_bytes

    holdout = dataset_store.store_upload(app_env.tenant, data=csv_bytes(adult_sample(datasets, rows=300, seed=99)),
                                         filename="adult-sample.csv", dataset_name="adult-sample", actor=app_env.actor)
    at = open_quality(app_env)
    at.selectbox(key="quality_holdout").set_value(holdout.version_id).run()
    button(at, "Assess quality").click()
    at.run()
    no_traceback(at)
    done = wait_for_job(app_env.tenant, at.session_state["quality_last_job_id"], app_env.actor)
    assert done.state == "succeeded", done.error
    document = outputs.report_document(app_env.tenant, report_id=done.result["quality_report_id"], actor=app_env.actor)
    assert document["inputs"]["rows"]["holdout"] == 300
    assert next(g for g in document["gates"] if g["name"] == "membership_inference")["status"] != "skipped"
