"""A job on screen: its progress bar, what it is doing, the time left, its error, a cancel button.

``job_card`` draws one ``JobView`` (a running training with its loss curves so far).
``follow_job`` draws a job and, while it is queued or running, redraws it every ``REFRESH_S``
seconds in an ``st.fragment`` (only that part of the page reruns); when the job ends it reruns
the whole page once, so the page can show what the job produced.
"""

from __future__ import annotations

import re
from datetime import timedelta

import streamlit as st

from app.components.acting import acting, attempt
from app.components.literal_text import markdown_literal
from app.components.run_facts import EPOCHLESS, has_epochs, stopped_early_text
from app.failures import ui_words
from app.components.training_charts import loss_figure
from infra.usecases import job_board
from infra.usecases.job_board import JobView

REFRESH_S = 2.0
"""Seconds between redraws of a live job (the worker writes progress every few seconds)."""

STATE_WORDS = {
    "queued": ("Waiting for a worker", ":material/hourglass_empty:"),
    "running": ("Running", ":material/sync:"),
    "succeeded": ("Finished", ":material/check_circle:"),
    "failed": ("Failed", ":material/error:"),
    "cancelled": ("Cancelled", ":material/cancel:"),
}


def duration_text(seconds: float | None) -> str:
    """``"1 h 04 min"``, ``"3 min 20 s"``, ``"12 s"``."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


_EPOCH_MESSAGE = re.compile(r"epoch (\d+)/(\d+)")  # the training process's progress message


def progress_text(job: JobView) -> str:
    """The words beside a job's progress bar: ``"40% · epoch 2/5"``, ``"stopped early at epoch 4 of 5"``.

    A training that early stopping ended says so instead of "100% · epoch 4/5"; a model whose
    "epochs" are rounds of estimation (MST) counts rounds, not epochs.
    """
    result = job.result or {}
    if job.kind == "train" and job.state == "succeeded" and result.get("stopped_early") \
            and isinstance(result.get("epochs_run"), int):
        return stopped_early_text(result["epochs_run"], result.get("epochs_planned"))
    percent = int(round(job.progress * 100))
    detail = job.message or ("waiting for a worker" if job.state == "queued" else "")
    kind = (job.payload or {}).get("model_kind") or result.get("model_type")
    if job.kind == "train" and detail and not has_epochs(kind):
        detail = _EPOCH_MESSAGE.sub(lambda m: f"{EPOCHLESS[kind]} {m[1]} of {m[2]}", detail)
    return f"{percent}%" + (f" · {detail}" if detail else "")


def job_card(job: JobView, *, key: str, cancellable: bool = True) -> None:
    """One job: title, state, progress bar with its message and the time left, error, cancel."""
    words, icon = STATE_WORDS.get(job.state, (job.state, ":material/help:"))
    with st.container(border=True):
        top = st.columns([5, 1])
        top[0].markdown(f"{icon} **{markdown_literal(job.title)}** · {words}")
        if cancellable and job.active and not job.cancel_requested and acting().allows("member"):
            if top[1].button("Cancel", key=f"cancel_{key}", icon=":material/stop_circle:"):
                cancelled = attempt("cancelling the job", job_board.cancel_job, acting().tenant, job_id=job.id,
                                    actor=acting().actor)
                if cancelled is not None:
                    st.rerun()
        st.progress(min(max(job.progress, 0.0), 1.0), text=markdown_literal(progress_text(job)))
        facts = [f"started {job.started_at:%H:%M:%S} UTC" if job.started_at else f"queued {job.created_at:%H:%M:%S} UTC"]
        if job.elapsed_s is not None:
            facts.append(f"{'took' if not job.active else 'running for'} {duration_text(job.elapsed_s)}")
        if job.active and job.eta_s is not None:
            facts.append(f"about {duration_text(job.eta_s)} left")
        if job.cancel_requested and job.active:
            facts.append("cancelling…")
        if job.attempts > 1:
            facts.append(f"attempt {job.attempts} of {job.max_attempts}")
        st.caption(" · ".join(facts))
        if job.state == "failed":
            st.error(markdown_literal(ui_words(job.error or "The job failed without saying why.")),
                     icon=":material/error:")
        if job.active:
            live_loss_chart(job, key=key)


def live_loss_chart(job: JobView, *, key: str) -> None:
    """A running training's loss curves so far, from the epochs the worker has written to the job row."""
    figure = loss_figure(job.live_losses, title="Losses so far")
    if figure is not None:
        st.plotly_chart(figure, key=f"live_loss_{key}", config={"displaylogo": False})


def follow_job(job_id: str, *, key: str) -> JobView | None:
    """Draw job ``job_id`` and keep it current while it runs; returns the job as last read."""
    job = attempt("reading the job", job_board.get_job, acting().tenant, job_id=job_id, actor=acting().actor)
    if job is None:
        return None
    if not job.active:
        job_card(job, key=key)
        return job
    _live_job(job_id, key)
    return job


@st.fragment(run_every=timedelta(seconds=REFRESH_S))
def _live_job(job_id: str, key: str) -> None:
    job = attempt("reading the job", job_board.get_job, acting().tenant, job_id=job_id, actor=acting().actor)
    if job is None:
        return
    job_card(job, key=key)
    if not job.active:
        st.rerun(scope="app")  # the page shows what the job produced


__all__ = ["REFRESH_S", "STATE_WORDS", "duration_text", "follow_job", "job_card", "live_loss_chart", "progress_text"]
