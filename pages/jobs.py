"""Jobs: every running job live (progress, time left, cancel), and the finished ones with their outcome.

The running jobs redraw every few seconds in an ``st.fragment``; when one ends the whole page
reruns once and the job moves to the finished list, where a training shows its loss curves,
a failure its error in words, and every job its log (the audited events).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, start_here
from app.components.job_status import REFRESH_S, job_card, progress_text
from app.components.literal_text import markdown_literal
from app.components.pickers import pick, remember
from app.components.training_charts import loss_figure
from infra.usecases import job_board, model_registry

FINISHED_SHOWN = 20
KINDS = {"all": None, "training": "train", "generation": "generate", "assessment": "assess"}

st.title("Jobs")
who = acting()

kind_label = st.segmented_control("Show", list(KINDS), default="all", key="jobs_kind") or "all"
kind = KINDS[kind_label]


@st.fragment(run_every=timedelta(seconds=REFRESH_S))
def running_jobs(kind: str | None) -> None:
    jobs = attempt("listing the jobs", job_board.list_jobs, who.tenant, actor=who.actor, kind=kind, limit=100) or []
    active = [j for j in jobs if j.active]
    known = st.session_state.setdefault("jobs_active_ids", [])
    if any(job_id not in {j.id for j in active} for job_id in known):
        st.session_state["jobs_active_ids"] = [j.id for j in active]
        st.rerun(scope="app")  # a job finished: redraw the finished list too
    st.session_state["jobs_active_ids"] = [j.id for j in active]
    st.subheader(f"Running and queued ({len(active)})", anchor=False)
    if not active:
        st.caption("No job is running.")
    for job in active:
        job_card(job, key=f"active_{job.id}")


def outcome(job: job_board.JobView) -> None:
    """What a finished job produced, and links to where it is used next."""
    if job.state != "succeeded":
        return
    result = job.result
    if job.kind == "train" and result.get("model_version_id"):
        version = attempt("reading the model", model_registry.get_version, who.tenant,
                          model_version_id=result["model_version_id"], actor=who.actor)
        if version is not None:
            figure = loss_figure(version.history, title=f"Losses of {version.label}")
            if figure is not None:
                st.plotly_chart(figure, key=f"loss_{job.id}", config={"displaylogo": False})
            elif version.epsilon is not None:
                st.caption(f"Trained with differential privacy: epsilon {version.epsilon:.3g} spent.")
            if st.button("Generate data from this model", key=f"use_{job.id}", icon=":material/auto_awesome:"):
                remember("model_version", version.id)
                st.switch_page(_page("generate"))
    elif job.kind == "generate" and result.get("generated_dataset_id"):
        st.caption(f"{result.get('n_rows', 0):,} rows in {result.get('seconds', '?')} s.")
        if st.button("Assess its quality", key=f"use_{job.id}", icon=":material/fact_check:"):
            remember("generated", result["generated_dataset_id"])
            st.switch_page(_page("quality"))
    elif job.kind == "assess" and result.get("quality_report_id"):
        verdict = ("blocked on a gate." if not result.get("passed") else
                   "passed, with warnings or gates too small to tell (inconclusive)." if result.get("status") == "warn"
                   else "passed its gates.")
        st.caption("The report " + verdict)
        if st.button("Open the report", key=f"use_{job.id}", icon=":material/description:"):
            remember("report", result["quality_report_id"])
            st.switch_page(_page("quality"))


def _page(url_path: str):  # noqa: ANN202
    from app.pages_registry import page

    return page(url_path)


jobs = attempt("listing the jobs", job_board.list_jobs, who.tenant, actor=who.actor, kind=kind, limit=100)
if jobs is not None and not jobs:
    start_here("start a training on the Train page; its progress, loss curves and time left show here.",
               go_to="train", label="Go to Train")
    st.stop()

running_jobs(kind)

finished = [j for j in jobs or [] if not j.active][:FINISHED_SHOWN]
if finished:
    st.subheader("Details", anchor=False)
    chosen = pick("Finished job", finished, kind="job", key="jobs_detail", ident=lambda j: j.id,
                  describe=lambda j: f"{j.title} · {j.state} · {j.created_at:%Y-%m-%d %H:%M}")
    if chosen is not None:
        outcome(chosen)
        events = attempt("reading the job's log", job_board.job_events, who.tenant, job_id=chosen.id, actor=who.actor)
        if events:
            st.markdown("**Log**")
            st.dataframe(pl.DataFrame({
                "time (UTC)": [f"{e.at:%Y-%m-%d %H:%M:%S}" for e in events],
                "event": [e.action for e in events],
                "by": [e.actor for e in events],
                "details": [", ".join(f"{k}={v}" for k, v in e.details.items()) for e in events],
            }), hide_index=True)
        if chosen.message:
            st.caption(f"Last progress: {markdown_literal(progress_text(chosen))}")

st.subheader(f"Finished ({len(finished)} most recent)", anchor=False)
if not finished:
    st.caption("No job has finished yet.")
for job in finished:
    job_card(job, key=f"done_{job.id}", cancellable=False)
