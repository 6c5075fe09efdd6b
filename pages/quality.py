"""Quality: assess generated data, read its report, compare two reports, download or share one.

The report shows what the HTML report shows (the same stored document and figures): the
verdict and gates at a glance, the recommendations, then fidelity, utility and privacy.
A share link opens one report read-only, without login, until it expires.

One report is selected at a time: the "Quality report" selector's widget state
(``REPORT_KEY``) is the only record of it, and the header, every tab, the downloads, the
share link and the first side of Compare all read that one report. When an assessment
started here finishes, the selection moves to its report (``remember``), and the selector
shows it.

A generated schema (related tables) is assessed against its model's own holdout (whole root
subtrees) or none, with no target column; its report shows the cross-table section and a tab
per table (``app.components.schema_report_view``), and compares only with another schema's.

Generated histories (a sequence model's) are assessed the same way, against the model's own
holdout (whole histories, or the end of each) or none, with no target column; their report shows
sample histories, autocorrelation curves and length histograms
(``app.components.sequence_report_view``), and compares only with another report of histories.
"""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from app.components.acting import Acting, acting, attempt, start_here
from app.components.job_status import follow_job
from app.components.literal_text import markdown_literal
from app.components.pickers import pick, remember
from app.components.schema_report_view import render_any_report
from app.components.sequence_generation_view import is_histories
from app.components.share_panel import share_panel
from infra.usecases import assessment, dataset_store, job_requests, model_registry, outputs
from infra.usecases.assessment import HoldoutChoice
from infra.usecases.model_registry import ModelVersionView

LAST_JOB_KEY = "quality_last_job_id"
REPORT_KEY = "quality_report"
OPENED_KEY = "quality_opened_report"  # the last assessment's report, once the page has moved to it
COMPARE_KEY = "quality_compare"
HOLDOUT_KEY = "quality_holdout"
HOLDOUT_FOR_KEY = "quality_holdout_for"  # the generated data the holdout choice was made for
MODEL_HOLDOUT = "model"  # the holdout the model's training set aside
AUTO_TARGET = "(let Doppel choose)"
NO_HOLDOUT = "No holdout (compare with the training rows only)"


def holdout_options(who: Acting, own: HoldoutChoice | None, model_version: ModelVersionView | None) -> dict[str, str]:
    """``{choice: words}`` of the holdout selector, the default first.

    The default is the holdout the model's training set aside (``own``), then come the other
    versions of the dataset it was trained on, and no holdout. A model without a holdout of
    its own (its table was too small to spare one) starts on no holdout.
    """
    versions: dict[str, str] = {}
    if model_version is not None:
        for dataset in attempt("listing the datasets", dataset_store.list_datasets, who.tenant, actor=who.actor) or []:
            if dataset.id == model_version.dataset_id:
                versions.update({v.id: f"Another dataset version: {v.label} · {v.origin}" for v in dataset.versions
                                 if v.id != model_version.dataset_version_id})
    if own is None:
        return {NO_HOLDOUT: NO_HOLDOUT, **versions}
    return {MODEL_HOLDOUT: f"The {own.rows:,} rows set aside when {own.model_label} was trained", **versions,
            NO_HOLDOUT: NO_HOLDOUT}


def report_label(report: outputs.ReportItem) -> str:
    """How a report is named in the selectors: what it assessed, its verdict, when, and its short id."""
    return f"{report.label} · {report.id[:8]}"


st.title("Quality")
who = acting()

generated = attempt("listing the generated data", outputs.list_generated, who.tenant, actor=who.actor) \
    if who.allows("member") else []
reports = attempt("listing the reports", outputs.list_reports, who.tenant, actor=who.actor)
if reports is None:
    st.stop()
if not generated and not reports:
    start_here("generate synthetic data on the Generate page; then assess it here to get its quality report.",
               go_to="generate", label="Go to Generate")
    st.stop()

if generated and who.allows("member"):
    with st.container(border=True):
        st.subheader("Assess generated data", anchor=False)
        item = pick("Generated data", generated, kind="generated", key="quality_generated", ident=lambda g: g.id,
                    describe=lambda g: g.label + (" · assessed" if g.report_ids else ""))
        if item.conditions:
            st.caption(f"These rows were generated under conditions ({markdown_literal(item.conditions)}); the "
                       "report compares them with all the real rows, so the conditioned columns will differ.")
        histories = is_histories(item)
        if histories:
            st.caption("Histories: judged per step and per entity, over time (lengths, gaps, autocorrelation, "
                       "cross-correlation, coherence), by a discriminator and a next-step predictor, and for privacy "
                       "by entity (whole histories) against the model's holdout.")
        if item.is_schema:
            st.caption("A schema: each table is judged on its own, then the relations across tables (referential "
                       "integrity, children per parent, inter-table trends, child aggregates) and each parent's "
                       "subtree (utility and privacy).")
        targets = [AUTO_TARGET]
        model_version = attempt("reading the model", model_registry.get_version, who.tenant,
                                model_version_id=item.model_version_id, actor=who.actor)
        if item.is_schema or histories:
            target = AUTO_TARGET
        elif model_version is not None:
            source = attempt("reading the columns", dataset_store.get_version, who.tenant,
                             version_id=model_version.dataset_version_id, actor=who.actor, preview_rows=0)
            if source is not None:
                targets += list(source.profile.columns)
        if not (item.is_schema or histories):
            target = st.selectbox("Target column for the utility test", targets, key="quality_target",
                                  help="A model learns this column from the others, once on real and once on "
                                  "synthetic rows; both are tested on real rows.")
        own = attempt("reading the model's holdout", assessment.default_holdout, who.tenant, item.id,
                      actor=who.actor)
        holdouts = holdout_options(who, own, None if item.is_schema or histories else model_version)
        if st.session_state.get(HOLDOUT_FOR_KEY) != item.id or st.session_state.get(HOLDOUT_KEY) not in holdouts:
            st.session_state[HOLDOUT_KEY] = next(iter(holdouts))  # new generated data: its model's own holdout
            st.session_state[HOLDOUT_FOR_KEY] = item.id
        holdout = st.selectbox("Holdout", list(holdouts), format_func=lambda h: holdouts.get(h, str(h)),
                               key=HOLDOUT_KEY,
                               help="Real rows the model never saw: they set the utility ceiling, the exact copies "
                               "the synthetic rows may share, and power the membership-inference attacks.")
        if holdout == MODEL_HOLDOUT and own is not None:
            st.caption(f"Holdout: {markdown_literal(own.description)}.")
        elif holdout == NO_HOLDOUT:
            st.caption("Without a holdout the privacy gates have no unseen rows to compare with: the exact-copy gate "
                       "counts every copy of a rare training row (none is allowed), and the membership attack is skipped.")
        if st.button("Assess quality", type="primary", icon=":material/fact_check:", key="quality_assess"):
            job = attempt("starting the assessment", job_requests.request_assessment, who.tenant,
                          generated_dataset_id=item.id, actor=who.actor,
                          target=None if target == AUTO_TARGET else target,
                          holdout_dataset_version_id=None if holdout in (MODEL_HOLDOUT, NO_HOLDOUT) else holdout,
                          use_model_holdout=holdout == MODEL_HOLDOUT)
            if job is not None:
                st.session_state[LAST_JOB_KEY] = job.id
                remember("job", job.id)
        last_job = st.session_state.get(LAST_JOB_KEY)
        if last_job:
            job = follow_job(last_job, key="quality_job")
            report_id = job.result.get("quality_report_id") if job is not None and job.state == "succeeded" else None
            if report_id and st.session_state.get(OPENED_KEY) != report_id:
                st.session_state[OPENED_KEY] = report_id
                remember("report", report_id)  # the selector below moves to it
                if report_id not in {r.id for r in reports}:
                    st.rerun()  # listed before the job ended: list again

if not reports:
    st.info("No report yet: assess generated data above to get one.", icon=":material/fact_check:")
    st.stop()

st.subheader("Report", anchor=False)
report = pick("Quality report", reports, kind="report", key=REPORT_KEY, ident=lambda r: r.id,
              describe=report_label)
document = attempt("reading the report", outputs.report_document, who.tenant, report_id=report.id, actor=who.actor)
if document is None:
    st.stop()
st.caption(f"Report {report.id[:8]} · {markdown_literal(report.subject)} · assessed "
           f"{report.created_at:%Y-%m-%d %H:%M} UTC")  # the tabs, downloads, share link and Compare: this one

tabs = st.tabs(["Report", "Download", "Share", "Compare"])
with tabs[0]:
    render_any_report(document, key="quality")
with tabs[1]:
    st.caption("The HTML report opens offline in any browser and shows the same figures; the JSON holds every "
               "number, for scripts, with the report's id.")
    def _html(document: dict = document) -> bytes:  # noqa: B006 - bound now, built on click
        return outputs.report_html(document).encode("utf-8")

    cells = st.columns(2)
    cells[0].download_button("Download HTML", data=_html, file_name=f"quality-report-{report.id[:8]}.html",
                             mime="text/html", icon=":material/download:", key="quality_html", on_click="ignore")
    cells[1].download_button("Download JSON", data=json.dumps({"report_id": report.id, **document}, indent=2),
                             file_name=f"quality-report-{report.id[:8]}.json", mime="application/json",
                             icon=":material/data_object:", key="quality_json", on_click="ignore")
with tabs[2]:
    share_panel(report.id)
with tabs[3]:
    others = [r for r in reports if r.id != report.id and r.kind == report.kind]
    if report.kind == "sequences":
        st.caption("A report of histories compares with another report of histories: their scores and gates.")
    elif report.kind != "table":
        st.caption("A schema's report compares with another schema's report: the figures across tables, the schema "
                   "gates and each table both hold.")
    if not others:
        st.caption("Assess a second generated dataset of the same kind to compare two reports.")
    else:
        labels = {r.id: report_label(r) for r in reports}
        if st.session_state.get(COMPARE_KEY) not in {r.id for r in others}:
            st.session_state[COMPARE_KEY] = others[0].id
        other_id = st.selectbox("Compare with", [r.id for r in others], format_func=lambda i: labels.get(i, str(i)),
                                key=COMPARE_KEY)
        other = next((r for r in others if r.id == other_id), others[0])
        other_document = attempt("reading the other report", outputs.report_document, who.tenant,
                                 report_id=other.id, actor=who.actor)
        if other_document is not None:
            st.caption(f"First: {markdown_literal(labels[report.id])} · second: {markdown_literal(labels[other.id])}")
            rows = outputs.compare_reports(document, other_document)
            st.dataframe(pl.DataFrame(rows, schema={"measure": pl.String, "first": pl.Float64, "second": pl.Float64,
                                                    "difference": pl.Float64}), hide_index=True)
