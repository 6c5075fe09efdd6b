"""Models: list, train (a job), versions, withdraw; synchronous samples and NDJSON streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import polars as pl
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api import views
from app.api.deps import GENERATE, READ, TRAIN
from app.api.limits import count_rows
from app.api.principal import Principal
from app.api.problems import ApiProblem
from infra.db.errors import NotFoundError
from infra.records.rate_limits import RateLimitExceededError
from infra.usecases import job_board, model_registry
from infra.usecases.job_requests import TrainingRequest, request_training
from infra.usecases.model_serving import serving_version

router = APIRouter(tags=["models"])

NDJSON = "application/x-ndjson"
MAX_STREAM_BATCH = 10_000


class Privacy(BaseModel):
    epsilon: float = Field(gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class TrainBody(BaseModel):
    dataset_version_id: str = Field(min_length=1)
    model: str = "auto"
    name: str | None = None
    epochs: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0)
    privacy: Privacy | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class WithdrawBody(BaseModel):
    reason: str | None = None


class SamplesBody(BaseModel):
    n: int = Field(ge=1)
    version: str | None = None
    conditions: str | dict[str, Any] | None = None
    seed: int | None = Field(default=None, ge=0)


def _model(principal: Principal, model_id: str) -> model_registry.ModelView:
    for view in model_registry.list_models(principal.tenant, actor=principal.actor):
        if view.id == model_id:
            return view
    raise NotFoundError(f"model {model_id!r} not found")


@router.get("/models")
def list_models(principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"items": [views.model(m) for m in model_registry.list_models(principal.tenant, actor=principal.actor)]}


@router.post("/models", status_code=202)
def train_model(body: TrainBody, principal: Principal = Depends(TRAIN)) -> dict[str, Any]:
    request = TrainingRequest(
        dataset_version_id=body.dataset_version_id, model=body.model, epochs=body.epochs, seed=body.seed,
        model_name=body.name, epsilon=body.privacy.epsilon if body.privacy else None,
        delta=body.privacy.delta if body.privacy else 1e-5, advanced=dict(body.params),
    )
    job = request_training(principal.tenant, request=request, actor=principal.actor)
    view = job_board.get_job(principal.tenant, job_id=job.id, actor=principal.actor)
    return {"job": views.job(view), "model_id": view.payload.get("model_id")}


@router.get("/models/{model_id}")
def get_model(model_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return views.model(_model(principal, model_id))


@router.get("/models/{model_id}/versions")
def list_model_versions(model_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"items": [views.model_version(v) for v in _model(principal, model_id).versions]}


@router.post("/models/{model_id}/versions/{version_id}/withdraw")
def withdraw_version(model_id: str, version_id: str, body: WithdrawBody | None = None,
                     principal: Principal = Depends(TRAIN)) -> dict[str, Any]:
    if version_id not in {v.id for v in _model(principal, model_id).versions}:
        raise NotFoundError(f"model {model_id!r} has no version {version_id!r}")
    view = model_registry.set_status(principal.tenant, model_version_id=version_id, status="withdrawn",
                                     actor=principal.actor)
    return views.model_version(view)


def _rows_response(frame: pl.DataFrame, *, accept: str, version_id: str) -> Response:
    if "text/csv" in accept:
        return Response(frame.write_csv(), media_type="text/csv")
    if NDJSON in accept:
        return Response(frame.write_ndjson(), media_type=NDJSON)
    # Polars writes the rows (NaN as null, dates as ISO text), so the JSON is valid whatever the model made.
    body = f'{{"rows":{frame.write_json()},"version":{json.dumps(version_id)}}}'
    return Response(body, media_type="application/json")


@router.post("/models/{model_id}/samples", responses={200: {"content": {"text/csv": {}, NDJSON: {}}}})
def sample_rows(model_id: str, body: SamplesBody, request: Request, principal: Principal = Depends(GENERATE)) -> Response:
    version = serving_version(principal.tenant, model_id=model_id, actor=principal.actor, version_id=body.version,
                              n_rows=body.n)
    count_rows(principal.tenant, body.n)
    model = request.app.state.warm.model(principal.tenant, version)
    frame = model.sample(body.n, seed=body.seed, conditions=body.conditions)
    return _rows_response(frame, accept=request.headers.get("accept", ""), version_id=version.id)


def _parse_conditions(conditions: str | None) -> str | dict[str, Any] | None:
    if not conditions:
        return None
    if conditions.lstrip().startswith("{"):
        try:
            return json.loads(conditions)
        except json.JSONDecodeError as err:
            raise ApiProblem(400, f"conditions is not valid JSON: {err}") from None
    return conditions


@router.get("/models/{model_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {NDJSON: {}}}})
async def stream_rows(
    model_id: str,
    request: Request,
    batch_size: int = Query(1, ge=1, le=MAX_STREAM_BATCH),
    seed: int | None = Query(None, ge=0),
    conditions: str | None = None,
    version: str | None = None,
    principal: Principal = Depends(GENERATE),
) -> StreamingResponse:
    parsed = _parse_conditions(conditions)
    serving = await run_in_threadpool(serving_version, principal.tenant, model_id=model_id, actor=principal.actor,
                                      version_id=version)
    warm = request.app.state.warm
    model = await run_in_threadpool(warm.model, principal.tenant, serving)
    frames = model.stream(batch_size=batch_size, seed=seed, conditions=parsed)
    first = await run_in_threadpool(next, frames)  # a bad condition fails here, as a problem document
    slots = request.app.state.streams
    slots.ensure_free()  # a full server answers 429 before the stream starts

    async def lines() -> AsyncIterator[bytes]:
        # The slot is taken when the body starts, so a stream that never starts holds none.
        slots.acquire(strict=False)
        frame = first
        try:
            while True:
                try:
                    await run_in_threadpool(count_rows, principal.tenant, frame.height)
                except RateLimitExceededError:
                    return  # the quota ends the stream
                yield frame.write_ndjson().encode()
                if await request.is_disconnected():
                    return
                frame = await run_in_threadpool(next, frames)
        finally:
            slots.release()

    return StreamingResponse(lines(), media_type=NDJSON, headers={"X-Doppel-Model-Version": serving.id})
