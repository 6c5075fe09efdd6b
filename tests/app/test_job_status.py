"""The words beside a job's progress bar (``app.components.job_status.progress_text``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.components.job_status import progress_text
from infra.usecases.job_board import JobView


def _training(state: str, *, progress: float, message: str | None, result: dict[str, Any] | None = None,
              payload: dict[str, Any] | None = None) -> JobView:
    now = datetime.now(UTC)
    return JobView(id="j1", kind="train", state=state, title="Training auto on adult v1", progress=progress,
                   message=message, created_at=now, started_at=now, finished_at=now, error=None, attempts=1,
                   max_attempts=3, cancel_requested=False, payload=payload or {}, result=result or {})


def test_a_run_stopped_early_says_at_which_epoch_of_how_many():
    job = _training("succeeded", progress=1.0, message="epoch 4/5",
                    result={"model_type": "argn", "epochs_run": 4, "epochs_planned": 5, "stopped_early": True})
    assert progress_text(job) == "stopped early at epoch 4 of 5"


def test_a_run_that_ran_all_its_epochs_shows_its_progress():
    job = _training("succeeded", progress=1.0, message="epoch 5/5",
                    result={"model_type": "argn", "epochs_run": 5, "epochs_planned": 5, "stopped_early": False})
    assert progress_text(job) == "100% · epoch 5/5"


def test_mst_counts_estimation_rounds_not_epochs():
    job = _training("running", progress=0.4, message="epoch 12/30", payload={"model": "auto", "model_kind": "mst"})
    assert progress_text(job) == "40% · estimation round 12 of 30"
