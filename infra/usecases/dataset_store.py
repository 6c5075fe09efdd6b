"""Datasets in the workspace: store a table as a new dataset version, list, edit and delete them.

A table comes from an uploaded file, a database table or an ``s3://`` object. It is read once
(with the configured limits), profiled, written to the object store as Parquet under
``datasets/<dataset id>/<hash prefix>.parquet`` and recorded as version N+1 of the dataset
with its content hash (SHA-256 of the stored Parquet), its profile and where it came from.
Storing content that any version of the dataset already holds (same SHA-256, same profile
edits) adds nothing and names that version (``identical_version``).

A version may instead hold several related tables (a *schema version*, stored by
``schema_store``): one zip of ``<table>.parquet`` files (``tables_zip_bytes``) under
``datasets/<dataset id>/<hash prefix>.zip``, with ``"tables"`` and ``"keys"`` in its source
(``VersionSummary.is_schema``) and each table's profile in its profile. Both kinds are recorded
through ``store_version_bytes``.

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
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    n_tables: int | None = None  # a schema version's number of tables; None for a single table


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
    def is_schema(self) -> bool:
        """Whether the version holds several related tables (a zip of Parquet files), not one table."""
        return "tables" in self.source

    @property
    def is_sequence(self) -> bool:
        """Whether the version is a table of histories (its entity, time and context columns chosen)."""
        return isinstance(self.source.get("sequence"), dict)

    @property
    def table_names(self) -> list[str]:
        """The tables of a schema version, by name; empty for a single table."""
        return sorted(self.source.get("tables") or {}) if self.is_schema else []

    @property
    def label(self) -> str:
        """``adult v2 (32,561 rows)`` or ``berka v1 (7 tables, 1,079,680 rows)``: how selectors name a version."""
        if self.is_schema:
            count = len(self.table_names)
            rows = f", {self.n_rows:,} rows" if self.n_rows is not None else ""
            return f"{self.dataset_name} v{self.version} ({count} table{'s' * (count != 1)}{rows})"
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
        if kind == "upload-tables":
            files = self.source.get("filenames") or []
            return f"upload of {', '.join(files) if files else 'several files'}"
        if kind == "database-tables":
            read = self.source.get("qualified_tables") or self.table_names
            return f"tables {', '.join(read)} of {self.source.get('database', 'a database')}"
        if kind == "edited-keys":
            return f"v{self.source.get('from_version', '?')} with edited relations"
        if kind == "sequence-roles":
            roles = self.source.get("sequence") or {}
            return (f"v{self.source.get('from_version', '?')} as histories of {roles.get('entity', '?')} "
                    f"over {roles.get('order_by', '?')}")
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
    """A version with its profile (the engine's ``Profile``) and its first rows.

    A schema version (``summary.is_schema``) has no single profile (``profile`` is None and
    ``preview`` empty): ``table_profiles`` and ``previews`` hold each table's, and
    ``relations`` the stored relations between them (see ``schema_store``).
    """

    summary: VersionSummary
    profile: Any  # engine.profiling.Profile; None for a schema version
    profile_dict: dict[str, Any]
    preview: pl.DataFrame
    table_profiles: dict[str, Any] = field(default_factory=dict)  # table -> engine.profiling.Profile
    previews: dict[str, pl.DataFrame] = field(default_factory=dict)
    relations: list[dict[str, Any]] = field(default_factory=list)


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


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry holds: fixed, so equal tables give equal bytes
_ZIP_MODE = (stat.S_IFREG | 0o644) << 16  # a regular file (engine.read_tables refuses links and special files)


def tables_zip_bytes(tables: Mapping[str, pl.DataFrame]) -> bytes:
    """Several tables as one zip of ``<table>.parquet`` files, the stored form of a schema version.

    Deterministic, so that the same tables give the same bytes and SHA-256: members in sorted
    name order, each one ``parquet_bytes`` (already compressed, so stored as is) with a fixed
    timestamp and mode. ``tables_from_object`` (``engine.read_tables``) reads it back unchanged.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(tables):
            member = zipfile.ZipInfo(f"{name}.parquet", date_time=_ZIP_TIME)
            member.external_attr = _ZIP_MODE
            archive.writestr(member, parquet_bytes(tables[name]))
    return buffer.getvalue()


def tables_from_object(data: bytes) -> dict[str, pl.DataFrame]:
    """The tables of a stored schema version (the bytes of its zip), by name.

    What workers call on a schema version's object. The object was written by
    ``tables_zip_bytes`` after the upload limits were applied, so no size limit is set again.
    """
    return engine.read_tables(bytes(data), max_decompressed_bytes=None)


def identical_version(
    versions: list[DatasetVersion], *, content_hash: str, edits: dict[str, Any] | None,
    keys: dict[str, Any] | None = None, keys_from: str | None = None, sequence: dict[str, Any] | None = None,
) -> DatasetVersion | None:
    """The newest of ``versions`` that already holds this content: the same SHA-256, edits and keys.

    Any version counts, not only the latest: uploading v1's file again after v2 gives v1 back,
    never a v3 equal to v1. A version with profile edits holds the same table under other
    types, so it is identical only for the same edits; a schema version (``keys`` in its
    source) holds the same tables under other relations, so it is identical only for the
    same keys from the same origin (inferred keys a user confirms become declared ones: a new
    version). Single tables have no ``keys``: None on both sides. A table of histories holds the
    same rows under other roles (``sequence``: entity, time, context), identical only for the same roles.
    """
    for version in versions:
        source = version.source or {}
        if (version.content_hash == content_hash and source.get("edits") == edits and source.get("keys") == keys
                and source.get("keys_from") == keys_from and source.get("sequence") == sequence):
            return version
    return None


def store_version_bytes(
    tenant: str,
    *,
    data: bytes,
    suffix: str,
    content_type: str,
    dataset_name: str,
    source: dict[str, Any],
    profile: dict[str, Any],
    n_rows: int,
    n_columns: int,
    actor: Actor,
    dataset_id: str | None = None,
) -> StoredVersion:
    """Record ``data`` (the stored form of a version) as the next version of a dataset.

    The one path every kind of version takes (a table's Parquet, a schema's zip): the role
    check (``data.upload``) and the dataset's creation in the same transaction as the new
    version, identical content (``identical_version``) giving the existing version back, the
    object under ``datasets/<dataset id>/<hash prefix>.<suffix>``, removed again when the
    database step fails (unless an earlier version already held it). ``dataset_id`` picks the
    dataset by id instead of by ``dataset_name``.
    """
    content_hash = hashlib.sha256(data).hexdigest()
    n_tables = len(source["tables"]) if "tables" in source else None
    store = open_tenant_store(tenant)
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        if dataset_id is not None:
            dataset = catalog.get_dataset(session, dataset_id)
        else:
            name = catalog._require_name(dataset_name, "dataset")  # noqa: SLF001 - the catalog's own rule
            dataset = session.scalars(
                select(Dataset).where(Dataset.tenant_id == tenant, Dataset.name == name)).first()
            if dataset is None:
                dataset = catalog.create_dataset(session, name=name, actor=actor.label)
        same = identical_version(catalog.list_dataset_versions(session, dataset.id), content_hash=content_hash,
                                 edits=source.get("edits"), keys=source.get("keys"), keys_from=source.get("keys_from"),
                                 sequence=source.get("sequence"))
        if same is not None:
            return StoredVersion(dataset.id, dataset.name, same.id, same.version, content_hash,
                                 same.n_rows or n_rows, same.n_columns or n_columns, created=False, n_tables=n_tables)
        key = f"datasets/{dataset.id}/{content_hash[:32]}.{suffix}"
        existed = store.exists(key)
        if not existed:
            store.put_bytes(key, data, content_type=content_type)
        try:
            version = catalog.add_dataset_version(
                session, dataset_id=dataset.id, content_hash=content_hash, source=source, profile=profile,
                actor=actor.label, object_key=key, n_rows=n_rows, n_columns=n_columns, n_bytes=len(data),
            )
        except BaseException:
            if not existed:
                store.delete(key)
            raise
        stored = StoredVersion(dataset.id, dataset.name, version.id, version.version, content_hash,
                               n_rows, n_columns, created=True, n_tables=n_tables)
    logger.info("stored %s v%d for tenant %s (%d rows, %d bytes)", stored.dataset_name, stored.version, tenant,
                n_rows, len(data))
    return stored


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
    return store_version_bytes(
        tenant, data=parquet_bytes(frame), suffix="parquet", content_type="application/vnd.apache.parquet",
        dataset_name=dataset_name, source=source, profile=profile, n_rows=frame.height, n_columns=frame.width,
        actor=actor,
    )


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
    if summary.is_schema:
        return _schema_detail(tenant, summary=summary, profile_dict=profile_dict, object_key=version.object_key,
                              preview_rows=preview_rows)
    preview = pl.DataFrame()
    if preview_rows and version.object_key:
        preview = read_version(tenant, object_key=version.object_key).head(preview_rows)
    return VersionDetail(summary=summary, profile=profile_from_dict(profile_dict), profile_dict=profile_dict,
                         preview=preview)


def _schema_detail(tenant: str, *, summary: VersionSummary, profile_dict: dict[str, Any], object_key: str | None,
                   preview_rows: int) -> VersionDetail:
    """A schema version: each table's profile and first rows, and the relations between the tables."""
    stored = profile_dict.get("tables") or {}
    profiles = {name: profile_from_dict(stored[name]) for name in summary.table_names if name in stored}
    previews: dict[str, pl.DataFrame] = {}
    if preview_rows and object_key:
        tables = tables_from_object(open_tenant_store(tenant).get_bytes(object_key))
        previews = {name: frame.head(preview_rows) for name, frame in tables.items()}
    return VersionDetail(summary=summary, profile=None, profile_dict=profile_dict, preview=pl.DataFrame(),
                         table_profiles=profiles, previews=previews,
                         relations=[dict(r) for r in profile_dict.get("relations") or []])


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
        is_schema = "tables" in (version.source or {})
    if is_schema:
        raise InputError(f"version {number} of {dataset.name!r} holds several related tables: column edits apply to "
                         "one table; edit its relations instead (schema_store.save_keys)")
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
    "store_version_bytes",
    "tables_from_object",
    "tables_zip_bytes",
    "training_column_types",
]
