"""API keys of the caller (``infra.usecases.api_keys``): list, create (secret shown once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from app.api import views
from app.api.deps import READ
from app.api.principal import SCOPES, Principal
from app.api.problems import ApiProblem

router = APIRouter(tags=["keys"])


def _keys() -> Any:
    try:
        from infra.usecases import api_keys
    except ImportError:
        raise ApiProblem(501, "API keys are not available on this server") from None
    return api_keys


class KeyBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["read"], description=f"Any of {', '.join(SCOPES)}.")


@router.get("/keys")
def list_keys(principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"items": [views.plain(k) for k in _keys().list_api_keys(principal.tenant, actor=principal.actor)]}


@router.post("/keys", status_code=201)
def create_key(body: KeyBody, principal: Principal = Depends(READ)) -> dict[str, Any]:
    info, token = _keys().create_api_key(principal.tenant, actor=principal.actor, name=body.name, scopes=body.scopes)
    return {**views.plain(info), "secret": token}


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, principal: Principal = Depends(READ)) -> Response:
    _keys().revoke_api_key(principal.tenant, actor=principal.actor, key_id=key_id)
    return Response(status_code=204)
