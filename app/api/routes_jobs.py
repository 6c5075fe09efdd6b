"""Jobs: list, status (with long-polling), Server-Sent Events of progress, log, cancel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api import views
from app.api.deps import READ, TRAIN
from app.api.principal import Principal
from infra.settings import get_settings
from infra.usecases import job_board

router = APIRouter(tags=["jobs"])
POLL_S = 0.25
FINISHED = ("succeeded", "failed", "cancelled")


@router.get("/jobs")
def list_jobs(kind: str | None = None, status: str | None = None, principal: Principal = Depends(READ)) -> dict[str, Any]:
    jobs = job_board.list_jobs(principal.tenant, actor=principal.actor, kind=kind)
    return {"items": [views.job(j) for j in jobs if status is None or j.state == status]}


@router.get("/jobs/{job_id}")
def get_job(job_id: str, wait: float = Query(0, ge=0, description="Seconds to wait for a change of status (long-poll)."),
            principal: Principal = Depends(READ)) -> dict[str, Any]:
    view = job_board.get_job(principal.tenant, job_id=job_id, actor=principal.actor)
    deadline = time.monotonic() + min(wait, get_settings().api_max_wait_s)
    first = (view.state, view.progress)
    while time.monotonic() < deadline and view.state not in FINISHED and (view.state, view.progress) == first:
        time.sleep(POLL_S)
        view = job_board.get_job(principal.tenant, job_id=job_id, actor=principal.actor)
    return views.job(view)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, request: Request, principal: Principal = Depends(READ)) -> StreamingResponse:
    view = await run_in_threadpool(job_board.get_job, principal.tenant, job_id=job_id, actor=principal.actor)

    async def events() -> AsyncIterator[str]:
        current, last = view, None
        while True:
            snapshot = views.job(current)
            key = (snapshot["status"], snapshot["progress"], snapshot["message"])
            if key != last:
                yield f"event: job\ndata: {json.dumps(jsonable_encoder(snapshot))}\n\n"
                last = key
            if current.state in FINISHED or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S * 2)
            current = await run_in_threadpool(job_board.get_job, principal.tenant, job_id=job_id, actor=principal.actor)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/log")
def job_log(job_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    events = job_board.job_events(principal.tenant, job_id=job_id, actor=principal.actor)
    return {"lines": [{"at": e.at, "actor": e.actor, "action": e.action, "details": e.details} for e in events]}


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, principal: Principal = Depends(TRAIN)) -> dict[str, Any]:
    return views.job(job_board.cancel_job(principal.tenant, job_id=job_id, actor=principal.actor))
