"""Quality: assess generated data, read its report, compare two reports, download or share one.

The report shows what the HTML report shows (the same stored document and figures): the
verdict and gates at a glance, the recommendations, then fidelity, utility and privacy.
A share link opens one report read-only, without login, until it expires.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, start_here
from app.components.job_status import follow_job
from app.components.literal_text import markdown_literal
from app.components.pickers import pick, remember
from app.components.report_view import render_report
from app.components.share_panel import share_panel
from infra.services import dataset_store, job_requests, model_registry, outputs

LAST_JOB_KEY = "quality_last_job_id"
AUTO_TARGET = "(let Doppel choose)"
NO_HOLDOUT = "(none: compare with the training rows only)"

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
        targets = [AUTO_TARGET]
        model_version = attempt("reading the model", model_registry.get_version, who.tenant,
                                model_version_id=item.model_version_id, actor=who.actor)
        if model_version is not None:
            source = attempt("reading the columns", dataset_store.get_version, who.tenant,
                             version_id=model_version.dataset_version_id, actor=who.actor, preview_rows=0)
            if source is not None:
                targets += list(source.profile.columns)
        target = st.selectbox("Target column for the utility test", targets, key="quality_target",
                              help="A model learns this column from the others, once on real and once on synthetic "
                              "rows; both are tested on real rows.")
        holdouts: dict[str, str] = {NO_HOLDOUT: NO_HOLDOUT}
        if model_version is not None:
            for dataset in attempt("listing the datasets", dataset_store.list_datasets, who.tenant,
                                   actor=who.actor) or []:
                if dataset.id == model_version.dataset_id:
                    holdouts.update({v.id: f"{v.label} · {v.origin}" for v in dataset.versions
                                     if v.id != model_version.dataset_version_id})
        holdout = st.selectbox("Holdout rows", list(holdouts), format_func=holdouts.get, key="quality_holdout",
                               help="Real rows the model never saw (another version of the same dataset, e.g. a "
                               "test split): they set the utility ceiling and power the membership-inference attacks.")
        if st.button("Assess quality", type="primary", icon=":material/fact_check:", key="quality_assess"):
            job = attempt("starting the assessment", job_requests.request_assessment, who.tenant,
                          generated_dataset_id=item.id, actor=who.actor,
                          target=None if target == AUTO_TARGET else target,
                          holdout_dataset_version_id=None if holdout == NO_HOLDOUT else holdout)
            if job is not None:
                st.session_state[LAST_JOB_KEY] = job.id
                remember("job", job.id)
        last_job = st.session_state.get(LAST_JOB_KEY)
        if last_job:
            job = follow_job(last_job, key="quality_job")
            report_id = job.result.get("quality_report_id") if job is not None and job.state == "succeeded" else None
            if report_id and st.session_state.get("quality_shown_report") != report_id:
                st.session_state["quality_shown_report"] = report_id
                remember("report", report_id)
                st.rerun()

if not reports:
    st.info("No report yet: assess generated data above to get one.", icon=":material/fact_check:")
    st.stop()

st.subheader("Report", anchor=False)
report = pick("Quality report", reports, kind="report", key="quality_report", ident=lambda r: r.id,
              describe=lambda r: r.label)
document = attempt("reading the report", outputs.report_document, who.tenant, report_id=report.id, actor=who.actor)
if document is None:
    st.stop()

tabs = st.tabs(["Report", "Download", "Share", "Compare"])
with tabs[0]:
    render_report(document, key="quality")
with tabs[1]:
    st.caption("The HTML report opens offline in any browser and shows the same figures; the JSON holds every "
               "number, for scripts.")
    def _html(document: dict = document) -> bytes:  # noqa: B006 - bound now, built on click
        return outputs.report_html(document).encode("utf-8")

    cells = st.columns(2)
    cells[0].download_button("Download HTML", data=_html, file_name=f"quality-report-{report.id[:8]}.html",
                             mime="text/html", icon=":material/download:", key="quality_html", on_click="ignore")
    import json

    cells[1].download_button("Download JSON", data=json.dumps(document, indent=2),
                             file_name=f"quality-report-{report.id[:8]}.json", mime="application/json",
                             icon=":material/data_object:", key="quality_json", on_click="ignore")
with tabs[2]:
    share_panel(report.id)
with tabs[3]:
    if len(reports) < 2:
        st.caption("Assess a second generated dataset to compare two reports.")
    else:
        others = [r for r in reports if r.id != report.id]
        other = st.selectbox("Compare with", range(len(others)), format_func=lambda i: others[i].label,
                             key="quality_compare")
        other_document = attempt("reading the other report", outputs.report_document, who.tenant,
                                 report_id=others[other].id, actor=who.actor)
        if other_document is not None:
            st.caption(f"First: {markdown_literal(report.label)} · second: {markdown_literal(others[other].label)}")
            rows = outputs.compare_reports(document, other_document)
            st.dataframe(pl.DataFrame(rows, schema={"measure": pl.String, "first": pl.Float64, "second": pl.Float64,
                                                    "difference": pl.Float64}), hide_index=True)
