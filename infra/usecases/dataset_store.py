"""Datasets in the workspace: store a table as a new dataset version, list, edit and delete them.

A table comes from an uploaded file, a database table or an ``s3://`` object. It is read once
(with the configured limits), profiled, written to the object store as Parquet under
``datasets/<dataset id>/<hash prefix>.parquet`` and recorded as version N+1 of the dataset
with its content hash (SHA-256 of the stored Parquet), its profile and where it came from.
Storing content that any version of the dataset already holds (same SHA-256, same profile
edits) adds nothing and names that version (``identical_version``).

Profile edits (``stored_profiles.ColumnEdits``) make a new version too, since versions are
immutable: the table without the removed columns, the profile with the corrected types, and
the edits in ``source`` so that training uses them (``training_column_types``).

Every function takes the tenant and the acting user and checks the user's role there
(``data.upload``, ``data.delete``, ``data.view``) in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import polars as pl
from sqlalchemy import delete, func, select

import engine
from engine.errors import InputError
from infra.db import tenant_session
from infra.db.errors import ConflictError
from infra.db.models import Dataset, DatasetVersion, Model, PrivacyBudget, PrivacyLedgerEntry
from infra.records import catalog
from infra.records.audit import record_event
from infra.records.authz import Actor, require_permission
from infra.settings import Settings, get_settings
from infra.storage import open_tenant_store
from infra.usecases import s3_sources
from infra.usecases.datasets import clean_filename
from infra.usecases.stored_profiles import ColumnEdits, edited_profile, profile_from_dict

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
_NAME_CHARACTERS = re.compile(r"[^\w .()-]+")


@dataclass(frozen=True)
class StoredVersion:
    """The outcome of storing a table: the dataset, its version, and whether it is new."""

    dataset_id: str
    dataset_name: str
    version_id: str
    version: int
    content_hash: str
    n_rows: int
    n_columns: int
    created: bool  # False: a version of the dataset (this one) already held the same content


@dataclass(frozen=True)
class VersionSummary:
    """One version as the pages list it."""

    id: str
    dataset_id: str
    dataset_name: str
    version: int
    content_hash: str
    n_rows: int | None
    n_columns: int | None
    n_bytes: int
    source: dict[str, Any]
    created_at: datetime
    created_by: str | None

    @property
    def label(self) -> str:
        """``adult v2 (32,561 rows)``: how selectors name a version."""
        rows = f" ({self.n_rows:,} rows)" if self.n_rows is not None else ""
        return f"{self.dataset_name} v{self.version}{rows}"

    @property
    def origin(self) -> str:
        """Where the version came from, in words."""
        kind = self.source.get("kind")
        if kind == "upload":
            return f"upload of {self.source.get('filename', 'a file')}"
        if kind == "database":
            return f"table {self.source.get('table', '?')} of {self.source.get('database', 'a database')}"
        if kind == "s3":
            return f"object {self.source.get('path', '?')}"
        if kind == "edited":
            return f"v{self.source.get('from_version', '?')} with profile edits"
        return str(kind or "unknown")

    @property
    def edits(self) -> ColumnEdits:
        return ColumnEdits.from_dict(self.source.get("edits"))


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset with its versions (newest first) and what depends on it."""

    id: str
    name: str
    sensitive: bool
    created_at: datetime
    versions: list[VersionSummary]
    n_models: int

    @property
    def latest(self) -> VersionSummary | None:
        return self.versions[0] if self.versions else None


@dataclass(frozen=True)
class VersionDetail:
    """A version with its profile (the engine's ``Profile``) and its first rows."""

    summary: VersionSummary
    profile: Any  # engine.profiling.Profile
    profile_dict: dict[str, Any]
    preview: pl.DataFrame


def _summary(version: DatasetVersion, dataset_name: str) -> VersionSummary:
    return VersionSummary(
        id=version.id, dataset_id=version.dataset_id, dataset_name=dataset_name, version=version.version,
        content_hash=version.content_hash, n_rows=version.n_rows, n_columns=version.n_columns,
        n_bytes=version.n_bytes, source=dict(version.source or {}), created_at=version.created_at,
        created_by=version.created_by,
    )


def dataset_name_for(filename: str) -> str:
    """A dataset name from a file or table name: ``adult.csv.gz`` -> ``adult``."""
    stem = PurePosixPath(clean_filename(filename)).name
    for suffix in (".gz", ".zst", ".csv", ".tsv", ".parquet", ".json", ".ndjson", ".jsonl"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    name = _NAME_CHARACTERS.sub("_", stem).strip(" ._") or "dataset"
    return name[:200]


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """The table as Parquet bytes (zstd), the stored form of every dataset version."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def identical_version(
    versions: list[DatasetVersion], *, content_hash: str, edits: dict[str, Any] | None
) -> DatasetVersion | None:
    """The newest of ``versions`` that already holds this table: the same SHA-256 and the same edits.

    Any version counts, not only the latest: uploading v1's file again after v2 gives v1 back,
    never a v3 equal to v1. A version with profile edits holds the same table under other
    types, so it is identical only for the same edits.
    """
    for version in versions:
        if version.content_hash == content_hash and (version.source or {}).get("edits") == edits:
            return version
    return None


def store_table(
    tenant: str,
    *,
    frame: pl.DataFrame,
    dataset_name: str,
    source: dict[str, Any],
    actor: Actor,
    profile: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> StoredVersion:
    """Store ``frame`` as the next version of the dataset ``dataset_name`` (created if new).

    ``profile`` is the table's ``Profile.to_dict()``; computed here when not given.
    """
    settings = settings or get_settings()
    if frame.height == 0 or frame.width == 0:
        raise InputError("the table has no rows or no columns; there is nothing to store")
    if profile is None:
        profile = engine.profile(frame, sample_rows=settings.profile_sample_rows).to_dict()
    data = parquet_bytes(frame)
    content_hash = hashlib.sha256(data).hexdigest()
    store = open_tenant_store(tenant)
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        name = catalog._require_name(dataset_name, "dataset")  # noqa: SLF001 - the catalog's own rule
        dataset = session.scalars(select(Dataset).where(Dataset.tenant_id == tenant, Dataset.name == name)).first()
        if dataset is None:
            dataset = catalog.create_dataset(session, name=name, actor=actor.label)
        else:
            same = identical_version(catalog.list_dataset_versions(session, dataset.id), content_hash=content_hash,
                                     edits=source.get("edits"))
            if same is not None:
                return StoredVersion(dataset.id, dataset.name, same.id, same.version, content_hash,
                                     same.n_rows or frame.height, same.n_columns or frame.width, created=False)
        key = f"datasets/{dataset.id}/{content_hash[:32]}.parquet"
        existed = store.exists(key)
        if not existed:
            store.put_bytes(key, data, content_type="application/vnd.apache.parquet")
        try:
            version = catalog.add_dataset_version(
                session, dataset_id=dataset.id, content_hash=content_hash, source=source, profile=profile,
                actor=actor.label, object_key=key, n_rows=frame.height, n_columns=frame.width, n_bytes=len(data),
            )
        except BaseException:
            if not existed:
                store.delete(key)
            raise
        stored = StoredVersion(dataset.id, dataset.name, version.id, version.version, content_hash,
                               frame.height, frame.width, created=True)
    logger.info("stored %s v%d for tenant %s (%d rows, %d bytes)", stored.dataset_name, stored.version, tenant,
                frame.height, len(data))
    return stored


def store_upload(
    tenant: str,
    *,
    data: bytes,
    filename: str,
    dataset_name: str,
    actor: Actor,
    profile: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> StoredVersion:
    """Read an uploaded file (the formats of ``engine.read``) and store it as a dataset version."""
    settings = settings or get_settings()
    name = clean_filename(filename)
    frame = engine.read(
        bytes(data), name=name, max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )
    source = {"kind": "upload", "filename": name, "n_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return store_table(tenant, frame=frame, dataset_name=dataset_name, source=source, actor=actor, profile=profile,
                       settings=settings)


def store_s3_object(
    tenant: str, *, path: str, dataset_name: str, actor: Actor, settings: Settings | None = None
) -> StoredVersion:
    """Read an ``s3://bucket/key`` object (CSV, Parquet, JSON, …) and store it as a dataset version.

    The object is read with the workspace's own S3 credentials, never the server's:
    ``s3_sources.import_access`` refuses a workspace without credentials, a bucket off its
    allow-list and (like a missing object) the platform's own objects, before anything is read.
    """
    settings = settings or get_settings()
    access = s3_sources.import_access(tenant, path=path, actor=actor, settings=settings)
    frame = engine.read(
        access.path.uri, max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows,
        max_decompressed_bytes=settings.max_decompressed_bytes, s3_credentials=access.credentials,
    )
    return store_table(tenant, frame=frame, dataset_name=dataset_name, source={"kind": "s3", "path": access.path.uri},
                       actor=actor, settings=settings)


def list_datasets(tenant: str, *, actor: Actor) -> list[DatasetSummary]:
    """The tenant's datasets by name, each with its versions (newest first) and model count."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        datasets = catalog.list_datasets(session)
        versions = session.scalars(
            select(DatasetVersion).where(DatasetVersion.tenant_id == tenant).order_by(DatasetVersion.version.desc())
        ).all()
        models = dict(session.execute(
            select(Model.dataset_id, func.count()).where(Model.tenant_id == tenant).group_by(Model.dataset_id)
        ).all())
        by_dataset: dict[str, list[VersionSummary]] = {}
        names = {d.id: d.name for d in datasets}
        for version in versions:
            by_dataset.setdefault(version.dataset_id, []).append(_summary(version, names.get(version.dataset_id, "?")))
        return [
            DatasetSummary(id=d.id, name=d.name, sensitive=d.sensitive, created_at=d.created_at,
                           versions=by_dataset.get(d.id, []), n_models=int(models.get(d.id, 0)))
            for d in datasets
        ]


def get_version(tenant: str, *, version_id: str, actor: Actor, preview_rows: int = PREVIEW_ROWS) -> VersionDetail:
    """One version with its profile and its first ``preview_rows`` rows (0: no rows read)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        version = catalog.get_dataset_version(session, version_id)
        dataset = catalog.get_dataset(session, version.dataset_id)
        summary = _summary(version, dataset.name)
        profile_dict = dict(version.profile or {})
    preview = pl.DataFrame()
    if preview_rows and version.object_key:
        preview = read_version(tenant, object_key=version.object_key).head(preview_rows)
    return VersionDetail(summary=summary, profile=profile_from_dict(profile_dict), profile_dict=profile_dict,
                         preview=preview)


def read_version(tenant: str, *, object_key: str) -> pl.DataFrame:
    """The stored table of a version (Parquet) as a polars frame."""
    return pl.read_parquet(io.BytesIO(open_tenant_store(tenant).get_bytes(object_key)))


def save_edits(tenant: str, *, version_id: str, edits: ColumnEdits, actor: Actor) -> StoredVersion:
    """Store the version with ``edits`` applied as the dataset's next version."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        version = catalog.get_dataset_version(session, version_id)
        dataset = catalog.get_dataset(session, version.dataset_id)
        object_key, profile, number = version.object_key, dict(version.profile or {}), version.version
        base_edits = ColumnEdits.from_dict((version.source or {}).get("edits"))
    if edits.is_empty:
        raise InputError("nothing was changed: correct a type, or mark a column as key, personal data or to drop")
    if not object_key:
        raise InputError(f"version {number} of {dataset.name!r} has no stored data to edit")
    frame = read_version(tenant, object_key=object_key)
    edits.check(frame.columns)
    merged = ColumnEdits(
        types={**base_edits.types, **edits.types},
        keys=tuple(dict.fromkeys((*base_edits.keys, *edits.keys))),
        pii=tuple(dict.fromkeys((*base_edits.pii, *edits.pii))),
        drop=tuple(dict.fromkeys((*base_edits.drop, *edits.drop))),
    )
    kept = frame.drop([c for c in edits.removed if c in frame.columns])
    source = {"kind": "edited", "from_version": number, "from_version_id": version_id, "edits": merged.to_dict()}
    return store_table(tenant, frame=kept, dataset_name=dataset.name, source=source, actor=actor,
                       profile=edited_profile(profile, edits))


def training_column_types(source: dict[str, Any] | None) -> dict[str, str]:
    """The column types a user set for a version (its profile edits), for ``column_types`` in training."""
    return ColumnEdits.from_dict((source or {}).get("edits")).column_types()


def delete_dataset(tenant: str, *, dataset_id: str, confirm_name: str, actor: Actor) -> int:
    """Delete a dataset, every version and their stored tables; returns the versions deleted.

    ``confirm_name`` must be the dataset's name (the page asks the user to type it). Refused
    (``ConflictError``) when models were trained on it (their lineage keeps it) or it has a
    privacy budget or ledger (the ledger is the audit log of its privacy spend).
    """
    store = open_tenant_store(tenant)
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.delete")
        dataset = catalog.get_dataset(session, dataset_id)
        if (confirm_name or "").strip() != dataset.name:
            raise InputError(f"type the dataset's name, {dataset.name}, to confirm that it should be deleted")
        n_models = session.scalar(select(func.count()).select_from(Model).where(
            Model.tenant_id == tenant, Model.dataset_id == dataset.id)) or 0
        if n_models:
            raise ConflictError(
                f"{dataset.name!r} cannot be deleted: {n_models} model(s) were trained on it and their lineage "
                "(models, generated data, reports) refers to it"
            )
        has_privacy = session.scalar(select(func.count()).select_from(PrivacyBudget).where(
            PrivacyBudget.tenant_id == tenant, PrivacyBudget.dataset_id == dataset.id)) or session.scalar(
            select(func.count()).select_from(PrivacyLedgerEntry).where(
                PrivacyLedgerEntry.tenant_id == tenant, PrivacyLedgerEntry.dataset_id == dataset.id))
        if has_privacy:
            raise ConflictError(
                f"{dataset.name!r} cannot be deleted: it has a privacy budget, and its privacy ledger is kept as "
                "the audit log of what was spent on it"
            )
        versions = catalog.list_dataset_versions(session, dataset.id)
        keys = [v.object_key for v in versions if v.object_key]
        session.execute(delete(DatasetVersion).where(DatasetVersion.tenant_id == tenant,
                                                     DatasetVersion.dataset_id == dataset.id))
        session.execute(delete(Dataset).where(Dataset.tenant_id == tenant, Dataset.id == dataset.id))
        record_event(session, actor=actor.label, action="dataset.deleted", object_type="dataset",
                     object_id=dataset.id, details={"name": dataset.name, "versions": len(versions)})
    for key in dict.fromkeys(keys):
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 - the rows are gone; a leftover object is only wasted space
            logger.warning("could not delete object %s of deleted dataset %s", key, dataset_id, exc_info=True)
    return len(versions)


__all__ = [
    "DatasetSummary",
    "StoredVersion",
    "VersionDetail",
    "VersionSummary",
    "dataset_name_for",
    "delete_dataset",
    "get_version",
    "list_datasets",
    "parquet_bytes",
    "read_version",
    "save_edits",
    "store_s3_object",
    "store_table",
    "store_upload",
    "training_column_types",
]
