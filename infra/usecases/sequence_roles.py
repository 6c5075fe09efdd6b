"""A table of histories: which column names the entity, which orders its steps, which hold its static context.

A single-table dataset version becomes a *sequence dataset* when its ``source["sequence"]``
holds ``{"entity", "order_by", "context"}``; it then trains with ``engine.train_sequences``
(one job, a holdout of whole histories or of their ends: ``infra.records.sequence_holdouts``).
``suggest_sequence_roles`` proposes the roles from the rows, by rules that hold on any table;
``save_sequence_roles`` checks the user's choice with the engine's own checks (a duplicated
(entity, time) pair, every entity with one row, mixed time zones, a context column that varies
within an entity: the engine's message, nothing written) and stores the same table with the
roles as the dataset's next version. An empty ``context`` leaves it to the engine (the columns
constant within every entity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from engine.errors import ConfigError, InputError
from infra.db import tenant_session
from infra.records import catalog
from infra.records.authz import Actor, require_permission
from infra.storage import open_tenant_store
from infra.usecases.dataset_store import StoredVersion, read_version, store_version_bytes

SOURCE_KEY = "sequence"
KIND = "sequence-roles"
"""The ``source["kind"]`` of a version made by giving a table its roles."""

_MAX_CANDIDATES = 12  # columns tried in each role, so a wide table is suggested for quickly


@dataclass(frozen=True)
class SequenceRoles:
    """The roles of a long table's columns: ``entity`` (whose history), ``order_by`` (when), ``context`` (static)."""

    entity: str
    order_by: str
    context: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "order_by": self.order_by, "context": list(self.context)}


def sequence_roles(source: Mapping[str, Any] | None) -> SequenceRoles | None:
    """The roles a version's ``source`` records; None for a plain table or a schema."""
    roles = (source or {}).get(SOURCE_KEY)
    if not isinstance(roles, Mapping):
        return None
    return SequenceRoles(str(roles["entity"]), str(roles["order_by"]), tuple(roles.get("context") or ()))


def suggest_sequence_roles(frame: pl.DataFrame) -> SequenceRoles | None:
    """The likeliest roles of ``frame``'s columns if it reads as histories; None for a flat table.

    The time: a date or datetime column (or text that parses as one), else a whole-number
    column that increases within each entity in the file's order from the same first value in
    every entity (a step counter; an ascending row id or a foreign key is not a time). The
    entity: the non-float column with the fewest distinct values (at least two, each with two
    rows on average) under which that time never repeats. The context: the other columns that
    are constant within every entity.
    """
    if frame.height < 4 or frame.width < 2:
        return None
    entities = [c for c, t in frame.schema.items() if not t.is_float() and t != pl.Boolean
                and 2 <= frame.get_column(c).n_unique() <= frame.height // 2]
    entities = sorted(entities, key=lambda c: frame.get_column(c).n_unique())[:_MAX_CANDIDATES]
    times = [c for c, t in frame.schema.items() if t.is_temporal() or (t == pl.String and _parses_as_time(frame[c]))]
    # a step counter starts again in every entity: a whole number unique over the table is a row id
    counters = [c for c, t in frame.schema.items()
                if t.is_integer() and frame.get_column(c).n_unique() < frame.height][:_MAX_CANDIDATES]
    for time_columns, must_increase in ((times[:_MAX_CANDIDATES], False), (counters, True)):
        for entity in entities:
            for time in time_columns:
                if time != entity and _orders(frame, entity, time, must_increase=must_increase):
                    return SequenceRoles(entity, time, tuple(_constant_within(frame, entity, exclude=(entity, time))))
    return None


def _parses_as_time(series: pl.Series) -> bool:
    from engine.sequences.checks import parse_time

    try:
        kind, _ = parse_time(series.drop_nulls().head(200))
    except InputError:
        return False
    return kind.kind in ("date", "datetime")


def _orders(frame: pl.DataFrame, entity: str, time: str, *, must_increase: bool) -> bool:
    if frame.get_column(time).null_count() or frame.select(entity, time).is_duplicated().any():
        return False
    if not must_increase:
        return True
    counted = frame.group_by(entity).agg((pl.col(time).diff().drop_nulls() > 0).all().alias("up"),
                                         pl.col(time).min().alias("start"))
    return bool(counted.get_column("up").all()) and counted.get_column("start").n_unique() == 1


def _constant_within(frame: pl.DataFrame, entity: str, *, exclude: Sequence[str]) -> list[str]:
    others = [c for c in frame.columns if c not in exclude]
    if not others:
        return []
    distinct = frame.group_by(entity).agg([pl.col(c).n_unique().alias(c) for c in others])
    return [c for c in others if int(distinct.get_column(c).max()) <= 1]


def read_table(tenant: str, *, version_id: str, actor: Actor) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The single table a version holds and its ``source``; refuses a schema version."""
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.view")
        version = catalog.get_dataset_version(session, version_id)
        source, object_key = dict(version.source or {}), version.object_key
    if "tables" in source:
        raise InputError(f"dataset version {version_id} holds several related tables; histories are one long table "
                         "(an entity column, a time column, its steps)")
    if not object_key:
        raise InputError(f"dataset version {version_id} has no stored data")
    return read_version(tenant, object_key=str(object_key)), source


def suggested_roles(tenant: str, *, version_id: str, actor: Actor) -> SequenceRoles | None:
    """``suggest_sequence_roles`` for a stored single-table version (None for a schema version)."""
    frame, source = read_table(tenant, version_id=version_id, actor=actor)
    return suggest_sequence_roles(frame)


def check_sequence_roles(frame: pl.DataFrame, roles: SequenceRoles) -> None:
    """Refuse roles the engine would refuse for ``frame``, with its message."""
    from engine.sequences.checks import prepare_long

    prepare_long(frame, entity=roles.entity, order_by=roles.order_by, context=list(roles.context) or None,
                 max_length=None)


def save_sequence_roles(tenant: str, *, version_id: str, entity: str, order_by: str, context: Sequence[str] = (),
                        actor: Actor) -> StoredVersion:
    """The version's table with these roles, as the dataset's next version (the same object, a new source).

    Roles equal to those of a version that holds the same table give that version back
    (``created=False``). ``ConfigError``/``InputError`` with the engine's message when the
    roles do not fit the table; nothing is written then.
    """
    if isinstance(context, str):
        raise ConfigError(f"context must be a list of column names, got the text {context!r}")
    roles = SequenceRoles(entity, order_by, tuple(context))
    with tenant_session(tenant) as session:
        require_permission(session, actor, "data.upload")
        version = catalog.get_dataset_version(session, version_id)
        dataset = catalog.get_dataset(session, version.dataset_id)
        source, object_key = dict(version.source or {}), version.object_key
        number, dataset_id, dataset_name = version.version, dataset.id, dataset.name
        content_type_rows = (version.n_rows, version.n_columns, dict(version.profile or {}))
    frame, _ = read_table(tenant, version_id=version_id, actor=actor)
    check_sequence_roles(frame, roles)
    data = open_tenant_store(tenant).get_bytes(str(object_key))
    base = {k: v for k, v in source.items() if k not in (SOURCE_KEY, "from_version", "from_version_id", "from_kind")}
    new_source = {**base, "kind": KIND, "from_version": number, "from_version_id": version_id,
                  "from_kind": source.get("from_kind") if source.get("kind") == KIND else source.get("kind"),
                  SOURCE_KEY: roles.to_dict()}
    n_rows, n_columns, profile = content_type_rows
    suffix = str(object_key).rsplit(".", 1)[-1] if "." in str(object_key) else "parquet"
    return store_version_bytes(tenant, data=data, suffix=suffix, content_type="application/vnd.apache.parquet",
                               dataset_name=dataset_name, source=new_source, profile=profile,
                               n_rows=n_rows or frame.height, n_columns=n_columns or frame.width, actor=actor,
                               dataset_id=dataset_id)


__all__ = ["KIND", "SOURCE_KEY", "SequenceRoles", "check_sequence_roles", "read_table", "save_sequence_roles",
           "sequence_roles", "suggest_sequence_roles", "suggested_roles"]
