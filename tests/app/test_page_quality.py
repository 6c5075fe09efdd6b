"""The Quality page: assess, the report (verdict, gates, figures), downloads, share links, compare two."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from app.components.pickers import SELECTED
from auth.report_sharing import share_report
from auth.share_links import resolve_share_link
from infra.usecases import job_requests, outputs
from tests.app.page_support import (
    MAIN_SCRIPT,
    TIMEOUT_S,
    button,
    no_traceback,
    open_page,
    plain,
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
    token = share_report(app_env.tenant, report_id=app_env.report_id, expires_in=timedelta(hours=1),
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
    from infra.usecases import dataset_store
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


def browser_shows(before: str, selector: object) -> str:
    """The option a browser's selectbox shows after this run, as Streamlit's frontend decides it.

    The browser keeps the option it showed unless the server sends a value (``set_value``);
    a server-side choice that is not sent never reaches the screen, and the browser sends its
    own option back with the next click.
    """
    return selector.proto.raw_value if selector.proto.set_value else before


def label_of(workspace, report_id: str) -> str:
    """The words that name report ``report_id`` in the workspace's list of reports."""
    return next(r.label for r in outputs.list_reports(workspace.tenant, actor=workspace.actor) if r.id == report_id)


@pytest.fixture
def served_files(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """``{file name: bytes}`` of every file the app hands to Streamlit's media store (download buttons)."""
    served: dict[str, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):  # noqa: ANN001, ANN202
        if filename and isinstance(path_or_data, (bytes, str)):
            served[filename] = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
        return load(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return served


def test_a_new_assessment_is_the_one_report_shown_shared_downloaded_and_compared(app_env, served_files):
    generate = job_requests.request_generation(app_env.tenant, model_version_id=app_env.model_version_id, n_rows=300,
                                               actor=app_env.actor, seed=5, output_format="csv")
    generated = wait_for_job(app_env.tenant, generate.id, app_env.actor)
    assert generated.state == "succeeded", generated.error
    at = open_quality(app_env)
    no_traceback(at)
    selector = at.selectbox(key="quality_report")
    shown = browser_shows(selector.options[selector.proto.default], selector)
    assert label_of(app_env, app_env.report_id) in shown, "the page opens on the remembered (older) report"

    at.selectbox(key="quality_generated").set_value(generated.result["generated_dataset_id"]).run()
    at.selectbox(key="quality_target").set_value("income").run()
    button(at, "Assess quality").click()
    at.run()
    done = wait_for_job(app_env.tenant, at.session_state["quality_last_job_id"], app_env.actor)
    assert done.state == "succeeded", done.error
    newest = done.result["quality_report_id"]
    at.run()
    no_traceback(at)

    selector = at.selectbox(key="quality_report")
    shown = browser_shows(shown, selector)
    assert label_of(app_env, newest) in shown, f"the selector must show the new report, shows {shown!r}"
    assert any(f"Report {newest[:8]}" in c for c in texts(at.caption)), "the header names the new report"
    assert any("synthetic 300" in c for c in texts(at.caption)), "the header counts the new report's rows"
    document = outputs.report_document(app_env.tenant, report_id=newest, actor=app_env.actor)
    overall = next(m for m in at.metric if m.label == "Overall score")
    assert overall.value == f"{document['scores']['overall']:.2f}"
    compare = next(c for c in texts(at.caption) if c.startswith("First: "))
    assert compare.startswith(f"First: {plain(shown)}"), "Compare's first report is the selected one"

    served = json.loads(served_files[f"quality-report-{newest[:8]}.json"])
    assert served["report_id"] == newest and served["inputs"]["rows"]["synthetic"] == 300

    # The browser sends back the option it shows with the next click: the link is made for it.
    at.selectbox(key="quality_report").select_index(selector.options.index(shown))
    button(at, "Create share link").click()
    at.run()
    no_traceback(at)
    token = at.code[-1].value.split("share=", 1)[1]
    assert resolve_share_link(token).report_id == newest
    shared = open_shared(token)
    no_traceback(shared)
    assert any("synthetic 300" in c for c in texts(shared.caption))
    assert next(m for m in shared.metric if m.label == "Overall score").value == overall.value


def test_the_models_own_holdout_is_the_default_and_the_report_uses_it(app_env, monkeypatch):
    from infra.usecases.job_requests import TrainingRequest
    from tests.app.page_support import FAST_TRANSFORMER, clear_caches

    # The seeded table has 400 rows: let a table that small spare a holdout (at least 120 rows, enough
    # for the membership attacks' 50 records a side).
    monkeypatch.setenv("DOPPEL_HOLDOUT_MIN_TABLE_ROWS", "300")
    monkeypatch.setenv("DOPPEL_HOLDOUT_MIN_ROWS", "120")
    clear_caches()
    train = job_requests.request_training(app_env.tenant, request=TrainingRequest(
        dataset_version_id=app_env.dataset_version_id, model="ctgan", epochs=1, batch_size=200,
        transformer=FAST_TRANSFORMER, model_name="holdout ctgan"), actor=app_env.actor)
    trained = wait_for_job(app_env.tenant, train.id, app_env.actor)
    assert trained.state == "succeeded", trained.error
    generate = job_requests.request_generation(app_env.tenant, model_version_id=trained.result["model_version_id"],
                                               n_rows=150, actor=app_env.actor, seed=3, output_format="csv")
    generated = wait_for_job(app_env.tenant, generate.id, app_env.actor)
    assert generated.state == "succeeded", generated.error

    at = open_quality(app_env, **{SELECTED["generated"]: generated.result["generated_dataset_id"]})
    no_traceback(at)
    holdout = at.selectbox(key="quality_holdout")
    assert holdout.value == "model"
    assert holdout.options[0] == "The 120 rows set aside when holdout ctgan v1 was trained"
    assert holdout.options[-1].startswith("No holdout")
    assert any(c.startswith("Holdout: 120 rows of adult-sample v1 that holdout ctgan v1 never saw") for c in texts(at.caption))

    at.selectbox(key="quality_target").set_value("income").run()
    button(at, "Assess quality").click()
    at.run()
    no_traceback(at)
    done = wait_for_job(app_env.tenant, at.session_state["quality_last_job_id"], app_env.actor)
    assert done.state == "succeeded", done.error
    document = outputs.report_document(app_env.tenant, report_id=done.result["quality_report_id"], actor=app_env.actor)
    assert document["inputs"]["rows"]["holdout"] == 120 and document["inputs"]["rows"]["real"] == 280
    assert next(g for g in document["gates"] if g["name"] == "membership_inference")["status"] != "skipped"


def test_a_choice_made_in_a_fresh_session_stays_chosen(app_env):
    generate = job_requests.request_generation(app_env.tenant, model_version_id=app_env.model_version_id, n_rows=120,
                                               actor=app_env.actor, seed=8, output_format="csv")
    assert wait_for_job(app_env.tenant, generate.id, app_env.actor).state == "succeeded"
    at = open_page("quality")  # nothing remembered: the selectors start on the newest items
    no_traceback(at)
    generated = at.selectbox(key="quality_generated")
    assert generated.value != app_env.generated_id
    generated.set_value(app_env.generated_id).run()
    at.selectbox(key="quality_target").set_value("income").run()  # any later rerun
    assert at.selectbox(key="quality_generated").value == app_env.generated_id
    reports = outputs.list_reports(app_env.tenant, actor=app_env.actor)
    if len(reports) > 1:
        at.selectbox(key="quality_report").set_value(reports[-1].id).run()
        at.selectbox(key="quality_target").set_value("age").run()
        assert at.selectbox(key="quality_report").value == reports[-1].id
