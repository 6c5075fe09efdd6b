"""Datasets: list, upload a file, import from a database or S3, versions, profile."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, Field

from app.api import views
from app.api.deps import READ, TRAIN
from app.api.principal import Principal
from infra.db.errors import NotFoundError
from infra.usecases import dataset_store

router = APIRouter(tags=["datasets"])


class DatabaseSource(BaseModel):
    kind: Literal["database"]
    url: str = Field(description="SQLAlchemy URL of the source database (its host must be allowed).")
    table: str


class S3Source(BaseModel):
    kind: Literal["s3"]
    path: str = Field(description="s3://bucket/key, read with the workspace's own S3 credentials.")


class ImportRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    source: DatabaseSource | S3Source = Field(discriminator="kind")


def _stored(stored: dataset_store.StoredVersion) -> dict[str, Any]:
    return {"dataset": {"id": stored.dataset_id, "name": stored.dataset_name},
            "version": {"id": stored.version_id, "version": stored.version, "n_rows": stored.n_rows,
                        "n_columns": stored.n_columns, "created": stored.created}}


def _dataset(principal: Principal, dataset_id: str) -> dataset_store.DatasetSummary:
    for summary in dataset_store.list_datasets(principal.tenant, actor=principal.actor):
        if summary.id == dataset_id:
            return summary
    raise NotFoundError(f"dataset {dataset_id!r} not found")


@router.get("/datasets")
def list_datasets(principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"items": [views.dataset(d) for d in dataset_store.list_datasets(principal.tenant, actor=principal.actor)]}


@router.post("/datasets", status_code=201)
def upload_dataset(file: UploadFile = File(...), name: str | None = Form(None),
                   principal: Principal = Depends(TRAIN)) -> dict[str, Any]:
    filename = file.filename or "upload.csv"
    stored = dataset_store.store_upload(
        principal.tenant, data=file.file.read(), filename=filename,
        dataset_name=name or dataset_store.dataset_name_for(filename), actor=principal.actor,
    )
    return _stored(stored)


@router.post("/datasets/import", status_code=201)
def import_dataset(body: ImportRequest, principal: Principal = Depends(TRAIN)) -> dict[str, Any]:
    if isinstance(body.source, S3Source):
        stored = dataset_store.store_s3_object(principal.tenant, path=body.source.path, dataset_name=body.name,
                                               actor=principal.actor)
    else:
        from infra.usecases.database_sources import import_table, list_tables

        tables = [t for t in list_tables(body.source.url) if body.source.table in (t.name, t.qualified)]
        if not tables:
            raise NotFoundError(f"the source database has no table {body.source.table!r}")
        stored = import_table(principal.tenant, url=body.source.url, table=tables[0], dataset_name=body.name,
                              actor=principal.actor)
    return _stored(stored)


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return views.dataset(_dataset(principal, dataset_id))


@router.get("/datasets/{dataset_id}/versions")
def list_versions(dataset_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    return {"items": [views.version(v) for v in _dataset(principal, dataset_id).versions]}


@router.get("/datasets/{dataset_id}/versions/{version_id}/profile")
def version_profile(dataset_id: str, version_id: str, principal: Principal = Depends(READ)) -> dict[str, Any]:
    detail = dataset_store.get_version(principal.tenant, version_id=version_id, actor=principal.actor, preview_rows=0)
    if detail.summary.dataset_id != dataset_id:
        raise NotFoundError(f"dataset {dataset_id!r} has no version {version_id!r}")
    return detail.profile_dict
