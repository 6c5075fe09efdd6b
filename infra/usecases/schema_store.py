"""Datasets that hold several related tables: store a schema as a dataset version, read it back, edit its keys.

A *schema version* is a ``DatasetVersion`` whose object is one zip of ``<table>.parquet``
files (``dataset_store.tables_zip_bytes``, deterministic: the same tables give the same
SHA-256) and whose source says which tables it holds and which keys training must use:

- ``source["tables"]``: ``{name: {"rows": int, "columns": int}}`` (its presence marks a schema
  version); ``source["keys"]``: ``{"primary_keys": {...}, "foreign_keys": ["child.fk ->
  parent.pk", ...]}``; ``source["keys_from"]`` says whether they were declared (by the
  database or the user) or inferred; ``source["keys_inferred"]`` names the inferred ones;
  ``source["kind"]``: ``upload-tables``, ``database-tables`` or ``edited-keys``.
- ``profile``: ``{"kind": "tables", "tables": {name: Profile.to_dict()}, "relations": [...],
  "primary_key_candidates": {...}, "notes": [...]}``. A relation is ``{"child",
  "child_column", "parent", "parent_column", "confidence", "declared", "inferred", "used"}``:
  ``declared`` when the keys were given (database, user), ``inferred`` when the profile found
  it by itself (``confidence`` is then the profile's), ``used`` when it is among the keys.
  Relations the profile suggests but the keys leave out are kept, unused, so the Profile page
  can offer them again.

Before anything is written the tables and keys are held against each other by the engine
(``Schema`` and ``check_tables``): a cycle, a self-reference, a key with nulls or duplicates,
orphan rows (how many), keys of different types, a table referenced by a column that is not
unique... each refused with the engine's message. The version is then recorded through
``dataset_store.store_version_bytes``: the same role check and transaction as a single table,
identical content and keys give the existing version back, and the object is removed again if
the database step fails.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

import engine
from engine.data.tables import table_name as file_table_name
from engine.errors import ConfigError, InputError, LimitExceededError
from engine.profiling.keys import FK_REPORT_THRESHOLD
from engine.profiling.results import TablesProfile
from engine.relational.checks import ORPHAN_OPTIONS, check_tables
from engine.relational.schema import Schema
from infra.db import tenant_session
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.settings import Settings, get_settings
from infra.storage import open_tenant_store
from infra.usecases.dataset_store import StoredVersion, store_version_bytes, tables_from_object, tables_zip_bytes
from infra.usecases.datasets import clean_filename

SCHEMA_KINDS = ("upload-tables", "database-tables", "edited-keys")
"""The ``source["kind"]`` of a schema version."""

KEYS_DECLARED = "declared"
KEYS_INFERRED = "inferred"
KEYS_DECLARED_PRIMARY = "declared primary keys, inferred relations"

_TABLE_NAME = re.compile(r"[^\W_][\w-]{0,127}")
_NOT_NAME_CHARACTERS = re.compile(r"[^\w-]+")


# ---------------------------------------------------------------------------------------------- store


def store_tables(
    tenant: str,
    *,
    name: str,
    tables: Mapping[str, pl.DataFrame],
    keys: Mapping[str, Any] | None = None,
    source: dict[str, Any],
    actor: Actor,
    dataset_id: str | None = None,
    settings: Settings | None = None,
    orphans: str = "refuse",
    infer_missing_relations: bool = False,
) -> StoredVersion:
    """Store related ``tables`` as the next version of the dataset ``name`` (or ``dataset_id``).

    ``keys`` in the shape ``profile_tables`` takes; None: the relations the profile infers at
    or above the reporting threshold and each table's best key candidate, recorded as
    inferred. ``infer_missing_relations``: when ``keys`` declares no foreign key, keep its
    primary keys and infer the relations (a database that declares keys but no constraints).
    ``orphans``: ``"refuse"`` (default) names each relation with child rows that have no
    parent and how many; ``"drop"`` drops them (and their own children) before storing;
    ``"keep"`` keeps them. ``source`` says where the tables came from (its ``kind``); the
    tables, keys and orphan counts are added to it.

    Raises InputError / ConfigError with the engine's message before anything is written.
    """
    settings = settings or get_settings()
    if orphans not in ORPHAN_OPTIONS:
        raise ConfigError(f"orphans={orphans!r} is not an option; use one of {', '.join(map(repr, ORPHAN_OPTIONS))}")
    frames = _checked_frames(tables)
    profiled = engine.profile_tables(frames, sample_rows=settings.profile_sample_rows)
    schema, keys_from = _schema_for(frames, keys, profiled, infer_missing_relations=infer_missing_relations)
    checked = check_tables(schema, frames, orphans=orphans)  # type: ignore[arg-type] - checked above
    if any(checked.dropped.values()):
        frames = checked.frames
        profiled = TablesProfile(  # each table's statistics without the dropped rows; the inferred relations stay
            tables=engine.profile_tables(frames, sample_rows=settings.profile_sample_rows).tables,
            primary_keys=profiled.primary_keys, foreign_keys=profiled.foreign_keys)
    recorded = dict(source)
    recorded["tables"] = {t: {"rows": frames[t].height, "columns": frames[t].width} for t in sorted(frames)}
    recorded["keys"] = schema.to_keys()
    recorded["keys_from"] = keys_from
    recorded["keys_inferred"] = {
        "primary_keys": sorted(schema.inferred_primary_keys),
        "foreign_keys": [str(fk) for fk in schema.inferred_foreign_keys],
    }
    if orphans != "refuse":
        recorded["orphans"] = {"option": orphans, "found": dict(checked.orphans), "dropped": dict(checked.dropped)}
    profile = {
        "kind": "tables",
        "tables": {t: profiled.tables[t].to_dict() for t in sorted(frames)},
        "relations": relations_of(schema, profiled),
        "primary_key_candidates": {t: list(profiled.primary_keys.get(t, [])) for t in sorted(frames)},
        "notes": list(checked.notes),
    }
    return store_version_bytes(
        tenant, data=tables_zip_bytes(frames), suffix="zip", content_type="application/zip", dataset_name=name,
        source=recorded, profile=profile, n_rows=sum(f.height for f in frames.values()),
        n_columns=sum(f.width for f in frames.values()), actor=actor, dataset_id=dataset_id,
    )


def store_upload_tables(
    tenant: str,
    *,
    files: Sequence[tuple[str, bytes]] | bytes,
    name: str,
    actor: Actor,
    keys: Mapping[str, Any] | None = None,
    orphans: str = "refuse",
    settings: Settings | None = None,
) -> StoredVersion:
    """Several uploaded files (one table each, named by the file) or one zip of them, stored as one schema version.

    ``files`` is a list of ``(filename, bytes)`` or a zip archive's bytes; a ``.zip`` in the
    list must come alone. The upload limits of the settings apply: ``max_upload_bytes`` to all
    the bytes together, ``max_rows`` to each table, ``max_decompressed_bytes`` to each read.
    """
    settings = settings or get_settings()
    if isinstance(files, (bytes, bytearray, memoryview)):
        files = [("tables.zip", bytes(files))]
    files = [(clean_filename(filename), bytes(data)) for filename, data in files]
    if not files:
        raise InputError("no files were uploaded; upload one file per table, or one .zip holding them")
    total = sum(len(data) for _, data in files)
    if total > settings.max_upload_bytes:
        raise LimitExceededError(f"the upload holds {total:,} bytes, over the limit of {settings.max_upload_bytes:,} "
                                 "bytes (DOPPEL_MAX_UPLOAD_BYTES)")
    zips = [filename for filename, _ in files if filename.lower().endswith(".zip")]
    if zips and len(files) > 1:
        raise InputError(f"{zips[0]!r} is a zip archive: upload it alone, or upload the tables as separate files "
                         "without it")
    if zips:
        read = engine.read_tables(files[0][1], max_bytes=settings.max_upload_bytes,
                                  max_decompressed_bytes=settings.max_decompressed_bytes)
        tables = _renamed({table: (f"{files[0][0]}:{table}", frame) for table, frame in read.items()})
    else:
        tables = _renamed({_file_table(filename): (filename, engine.read(
            data, name=filename, max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows,
            max_decompressed_bytes=settings.max_decompressed_bytes)) for filename, data in _unique_files(files)})
    for table, frame in tables.items():
        if frame.height > settings.max_rows:
            raise LimitExceededError(f"table {table!r} has {frame.height:,} rows, over the limit of "
                                     f"{settings.max_rows:,} rows per table (DOPPEL_MAX_ROWS)")
    source = {
        "kind": "upload-tables",
        "filenames": [filename for filename, _ in files],
        "n_bytes": total,
        "sha256": {filename: hashlib.sha256(data).hexdigest() for filename, data in files},
    }
    return store_tables(tenant, name=name, tables=tables, keys=keys, source=source, actor=actor, orphans=orphans,
                        settings=settings)


# ---------------------------------------------------------------------------------------------- read and edit


def read_schema(tenant: str, *, version_id: str, actor: Actor) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The tables of a schema version and the keys training must use (``source["keys"]``)."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        version = catalog.get_dataset_version(session, version_id)
        dataset = catalog.get_dataset(session, version.dataset_id)
        source, object_key, number = dict(version.source or {}), version.object_key, version.version
    _require_schema(source, object_key, f"version {number} of {dataset.name!r}")
    tables = tables_from_object(open_tenant_store(tenant).get_bytes(str(object_key)))
    return tables, dict(source["keys"])


def save_keys(
    tenant: str, *, version_id: str, keys: Mapping[str, Any], actor: Actor, settings: Settings | None = None
) -> StoredVersion:
    """The schema version's tables with the user's confirmed or edited ``keys``, as the dataset's next version.

    Checked like ``store_tables`` (a cycle, orphans, mismatched types... refused with the
    engine's message, nothing written). Keys equal to those of a version that holds the same
    tables give that version back (``created=False``).
    """
    if not isinstance(keys, Mapping):
        raise ConfigError("keys: expected a mapping with 'primary_keys' and 'foreign_keys', "
                          f"got {type(keys).__name__}")
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        version = catalog.get_dataset_version(session, version_id)
        dataset = catalog.get_dataset(session, version.dataset_id)
        source, object_key, number = dict(version.source or {}), version.object_key, version.version
        dataset_id, dataset_name = dataset.id, dataset.name
    _require_schema(source, object_key, f"version {number} of {dataset_name!r}")
    tables = tables_from_object(open_tenant_store(tenant).get_bytes(str(object_key)))
    edited = {"kind": "edited-keys", "from_version": number, "from_version_id": version_id,
              "from_kind": source.get("kind")}
    return store_tables(tenant, name=dataset_name, tables=tables, keys=dict(keys), source=edited, actor=actor,
                        dataset_id=dataset_id, settings=settings)


def relations_of(schema: Schema, profiled: TablesProfile) -> list[dict[str, Any]]:
    """The relations a schema version records: the keys' foreign keys (used), then the profile's other suggestions.

    A relation is ``declared`` when the keys were given rather than inferred, ``inferred`` when
    the profile found it (``confidence`` is then the profile's; 1.0 for a declared relation the
    profile did not find).
    """
    found = {(c.child_table, c.child_column, c.parent_table, c.parent_column): float(c.confidence)
             for c in profiled.foreign_keys if not c.declared}
    out: list[dict[str, Any]] = []
    for fk in schema.foreign_keys:
        where = (fk.child, fk.column, fk.parent, fk.parent_column)
        out.append(_relation(where, confidence=found.get(where, float(fk.confidence)), declared=not fk.inferred,
                             inferred=where in found, used=True))
    used = {(r["child"], r["child_column"], r["parent"], r["parent_column"]) for r in out}
    for where, confidence in found.items():
        if where not in used:
            out.append(_relation(where, confidence=confidence, declared=False, inferred=True, used=False))
    return out


# ---------------------------------------------------------------------------------------------- helpers


def _relation(where: tuple[str, str, str, str], *, confidence: float, declared: bool, inferred: bool,
              used: bool) -> dict[str, Any]:
    child, child_column, parent, parent_column = where
    return {"child": child, "child_column": child_column, "parent": parent, "parent_column": parent_column,
            "confidence": round(confidence, 4), "declared": declared, "inferred": inferred, "used": used}


def _schema_for(frames: Mapping[str, pl.DataFrame], keys: Mapping[str, Any] | None, profiled: TablesProfile, *,
                infer_missing_relations: bool) -> tuple[Schema, str]:
    """The schema training will use and where its keys came from."""
    if keys is None:
        return Schema.from_profile(_unambiguous(profiled)), KEYS_INFERRED
    if not isinstance(keys, Mapping):
        raise ConfigError(f"keys: expected a mapping with 'primary_keys' and 'foreign_keys', got {type(keys).__name__}")
    if infer_missing_relations and not keys.get("foreign_keys") and len(frames) > 1:
        return Schema.from_profile(profiled, declared={"primary_keys": dict(keys.get("primary_keys") or {})}), \
            KEYS_DECLARED_PRIMARY
    return Schema.from_keys(dict(keys), frames), KEYS_DECLARED


def _unambiguous(profiled: TablesProfile) -> TablesProfile:
    """The profile with only the inferred relations a schema can use as they are.

    A child column that could reference two parents keeps the more confident one (neither
    when they tie); a parent referenced through two of its columns keeps the relations to the
    column with the most confident one (its primary key). The others stay in the profile's
    suggestions for the user to pick on the Profile page, instead of refusing the upload.
    """
    reported = [c for c in profiled.foreign_keys if c.confidence >= FK_REPORT_THRESHOLD]
    by_child: dict[tuple[str, str], list[Any]] = {}
    for cand in reported:
        by_child.setdefault((cand.child_table, cand.child_column), []).append(cand)
    chosen = []
    for candidates in by_child.values():
        ranked = sorted(candidates, key=lambda c: -c.confidence)
        if len(ranked) == 1 or ranked[0].confidence > ranked[1].confidence:
            chosen.append(ranked[0])
    best_column: dict[str, tuple[float, str]] = {}
    for cand in chosen:
        best = best_column.get(cand.parent_table)
        if best is None or cand.confidence > best[0]:
            best_column[cand.parent_table] = (cand.confidence, cand.parent_column)
    kept = [c for c in chosen if best_column[c.parent_table][1] == c.parent_column]
    return TablesProfile(tables=profiled.tables, primary_keys=profiled.primary_keys,
                         foreign_keys=[c for c in profiled.foreign_keys if c in kept])


def _checked_frames(tables: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tables by name, each a non-empty polars frame under a name a zip member and a key can carry."""
    if not isinstance(tables, Mapping) or not tables:
        raise InputError("no tables to store: expected one or more named tables")
    frames: dict[str, pl.DataFrame] = {}
    for name, frame in tables.items():
        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            raise InputError(f"table name {name!r} cannot be stored: use 1 to 128 letters, digits, '_' or '-', "
                             "starting with a letter or digit (a '.' would break 'table.column' in the keys)")
        if not isinstance(frame, pl.DataFrame):
            raise InputError(f"table {name!r} is a {type(frame).__name__}, expected a polars DataFrame")
        if frame.height == 0 or frame.width == 0:
            raise InputError(f"table {name!r} has no rows or no columns; there is nothing to store")
        frames[name] = frame
    return frames


def _file_table(filename: str) -> str:
    """The table an uploaded file holds, named by its stem (``batting.csv.gz`` -> ``batting``)."""
    stem = file_table_name(filename)
    if stem is None:
        raise InputError(f"{filename!r} is not a table file; upload CSV/TSV, Parquet, JSON or NDJSON files "
                         "(optionally .gz or .zst), one table per file, or one .zip holding them")
    return stem


def _unique_files(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The files, refusing two that hold the same table (``players.csv`` and ``players.parquet``)."""
    seen: dict[str, str] = {}
    for filename, _ in files:
        table = table_name_for(_file_table(filename))
        if table in seen:
            raise InputError(f"{seen[table]!r} and {filename!r} both hold table {table!r}; upload one file per table")
        seen[table] = filename
    return files


def table_name_for(stem: str) -> str:
    """A table name from a file's stem: characters other than letters, digits, '_' and '-' become '_'."""
    name = _NOT_NAME_CHARACTERS.sub("_", stem).strip("_-")[:128]
    return name or "table"


def _renamed(read: Mapping[str, tuple[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """``{stem: (where, frame)}`` -> ``{table name: frame}``, refusing two stems that become one name."""
    out: dict[str, pl.DataFrame] = {}
    origin: dict[str, str] = {}
    for stem, (where, frame) in read.items():
        table = table_name_for(stem)
        if table in out:
            raise InputError(f"{origin[table]!r} and {where!r} both become table {table!r}; rename one of them")
        out[table], origin[table] = frame, where
    return out


def _require_schema(source: Mapping[str, Any], object_key: str | None, what: str) -> None:
    if "tables" not in source:
        raise InputError(f"{what} holds one table, not several related tables; relations apply to schema versions")
    if not object_key:
        raise InputError(f"{what} has no stored tables")


__all__ = [
    "KEYS_DECLARED",
    "KEYS_DECLARED_PRIMARY",
    "KEYS_INFERRED",
    "SCHEMA_KINDS",
    "read_schema",
    "relations_of",
    "save_keys",
    "store_tables",
    "store_upload_tables",
    "table_name_for",
    "tables_from_object",
]
