"""The holdout of a schema's training run: whole root subtrees the model never saw.

A schema (several related tables) is split by root, never by row (``engine.split_tables``):
a share of each root table's rows is set aside with all their descendants, and a row whose
parents fall on different sides is on neither. The share follows the single-table rule
(``HoldoutRule.share_for``) applied to the root rows, since they are the units that are
drawn. The split is a pure function of the tables, the keys, the share and the seed, so
lineage keeps only a ``TablesHoldoutRecord`` (in the model version's ``metrics["holdout"]``,
with ``kind == "tables"``); ``rebuild_tables`` draws the same two parts again from the
immutable dataset version, and refuses a version whose row counts differ from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from engine.errors import InputError
from infra.records.holdouts import RECORD_KEY, HoldoutRule

KIND = "tables"


@dataclass(frozen=True)
class TablesHoldoutRecord:
    """What a schema training run set aside: per table, the rows on each side and the rows on neither.

    ``share`` is None when the root tables are too small to spare a holdout (``reason`` says why).
    """

    seed: int
    root_rows: int
    table_rows: dict[str, int]
    training_rows: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    share: float | None = None
    reason: str | None = None
    kind: str = KIND

    @property
    def has_holdout(self) -> bool:
        return self.share is not None and sum(self.rows.values()) > 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TablesHoldoutRecord:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_tables_record(data: Any) -> bool:
    """Whether a stored holdout record (a dict) is a schema's."""
    return isinstance(data, Mapping) and data.get("kind") == KIND


def tables_record_of(metrics: Mapping[str, Any] | None) -> TablesHoldoutRecord | None:
    """The schema holdout record in a model version's metrics; None when it holds none (or a table's)."""
    data = (metrics or {}).get(RECORD_KEY)
    return TablesHoldoutRecord.from_dict(data) if is_tables_record(data) else None


def _root_rows(tables: Mapping[str, pl.DataFrame], keys: Any) -> int:
    from engine.relational.schema import Schema

    schema = keys if isinstance(keys, Schema) else Schema.from_keys(keys, tables)
    return sum(tables[t].height for t in schema.tables if not schema.parents_of(t))


def set_aside_tables(
    tables: Mapping[str, pl.DataFrame], *, keys: Any, rule: HoldoutRule, seed: int
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame] | None, TablesHoldoutRecord]:
    """(training tables, holdout tables or None, record): the split a schema training job trains on.

    The training part is exactly ``engine.split_tables(tables, keys=keys, holdout=share, seed=seed)``'s
    first schema, so a notebook user reproduces a platform model from the same version.
    """
    from engine.relational.split import split_tables

    root_rows = _root_rows(tables, keys)
    counts = {name: frame.height for name, frame in tables.items()}
    share = rule.share_for(root_rows)
    if share is None:
        record = TablesHoldoutRecord(seed=seed, root_rows=root_rows, table_rows=counts, training_rows=dict(counts),
                                     reason=rule.no_holdout_reason(root_rows))
        return dict(tables), None, record
    parts = split_tables(tables, keys=keys, holdout=share, seed=seed)
    record = TablesHoldoutRecord(
        seed=seed, root_rows=root_rows, table_rows=counts, share=share,
        training_rows={name: frame.height for name, frame in parts.training.items()},
        rows={name: frame.height for name, frame in parts.holdout.items()}, dropped=dict(parts.dropped),
    )
    return parts.training, parts.holdout, record


def rebuild_tables(
    tables: Mapping[str, pl.DataFrame], *, keys: Any, record: TablesHoldoutRecord
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame] | None]:
    """(training tables, holdout tables or None) of the dataset version ``tables``, as the run drew them."""
    from engine.relational.split import split_tables

    counts = {name: frame.height for name, frame in tables.items()}
    if counts != dict(record.table_rows):
        raise InputError(f"the dataset version's tables hold {counts} rows, but the holdout was drawn from "
                         f"{dict(record.table_rows)}: it is not the version the model was trained on")
    if record.share is None:
        return dict(tables), None
    parts = split_tables(tables, keys=keys, holdout=record.share, seed=record.seed)
    drawn = {name: frame.height for name, frame in parts.holdout.items()}
    if drawn != dict(record.rows):
        raise InputError(f"the holdout drawn again ({drawn} rows) differs from the recorded one ({dict(record.rows)})")
    return parts.training, parts.holdout


__all__ = ["KIND", "TablesHoldoutRecord", "is_tables_record", "rebuild_tables", "set_aside_tables",
           "tables_record_of"]
