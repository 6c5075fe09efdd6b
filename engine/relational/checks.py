"""Hold a :class:`Schema` against its frames before anything trains on them.

Every problem is a clear error naming the tables and columns, raised before any frame is
changed (the caller's frames are never modified; the checked frames are new ones):

- the key graph: a self-reference, or a cycle named along its foreign keys ("a -> b -> a");
- each key column: nulls (how many), a primary key with duplicates (how many rows repeat a
  value already seen), a foreign key whose type differs from its parent key's;
- orphans: child rows whose key has no parent row. ``orphans="refuse"`` (the default) names
  every relation that has them with its count; ``"drop"`` drops those rows, parents first so
  that a dropped row's own children are dropped in turn; ``"keep"`` keeps them (they are
  counted in :attr:`CheckedTables.orphans`).

A table with no key that no relation reaches is allowed: it is a lone root, generated flat on
its own, and :attr:`CheckedTables.notes` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from engine.errors import ConfigError, InputError
from engine.relational.graph import find_cycle, topological_order
from engine.relational.schema import ForeignKey, Schema

Orphans = Literal["refuse", "drop", "keep"]
ORPHAN_OPTIONS: tuple[str, ...] = ("refuse", "drop", "keep")
_EXAMPLES = 3  # offending values quoted in a message


@dataclass(frozen=True)
class CheckedTables:
    """The frames after the checks (orphans dropped when asked), and what the checks found."""

    frames: dict[str, pl.DataFrame]
    orphans: dict[str, int] = field(default_factory=dict)  # str(fk) -> orphan rows found in the input
    dropped: dict[str, int] = field(default_factory=dict)  # table -> rows dropped as orphans (cascaded)
    notes: tuple[str, ...] = ()


def check_graph(schema: Schema) -> None:
    """Refuse self-references and cycles, naming them (ConfigError)."""
    for fk in schema.foreign_keys:
        if fk.child == fk.parent:
            raise ConfigError(
                f"table {fk.child!r} references itself ({fk}); self-references are not supported: "
                "move the relation into a separate link table or drop it from the keys"
            )
    cycle = find_cycle(schema.tables, schema.edges)
    if cycle is not None:
        raise ConfigError(
            f"the foreign keys form a cycle: {' -> '.join(cycle)} (each table points at the next); "
            "a schema must be a graph without cycles: drop one of these foreign keys from the keys"
        )


def check_tables(schema: Schema, tables: Mapping[str, pl.DataFrame], *, orphans: Orphans = "refuse") -> CheckedTables:
    """Check ``tables`` against ``schema`` and return new frames; raise before changing anything.

    Raises ConfigError for an unknown ``orphans`` option, a schema table missing from ``tables``
    or a frame that is not in the schema, a self-reference or a cycle; InputError for a key with nulls, a duplicated primary key, mismatched key
    types, and (with ``orphans="refuse"``) orphan rows.
    """
    if orphans not in ORPHAN_OPTIONS:
        raise ConfigError(f"orphans={orphans!r} is not an option; use one of {', '.join(map(repr, ORPHAN_OPTIONS))}")
    missing = [t for t in schema.tables if t not in tables]
    if missing:
        raise ConfigError(f"the schema names tables {missing} that are not among the frames {sorted(tables)}")
    extra = [t for t in tables if t not in schema.tables]
    if extra:
        raise ConfigError(f"frames {extra} are not tables of the schema {list(schema.tables)}; add them to it or leave them out")
    for name in schema.tables:
        if not isinstance(tables[name], pl.DataFrame):
            raise InputError(f"table {name!r} is a {type(tables[name]).__name__}, expected a polars DataFrame")
    check_graph(schema)
    for table, column in schema.primary_keys.items():
        if column is not None:
            _check_primary_key(table, column, tables[table])
    for fk in schema.foreign_keys:
        _check_foreign_key_column(fk, tables)

    order = topological_order(schema.tables, schema.edges)
    frames = {name: tables[name] for name in schema.tables}
    found: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for table in order:
        keep = None
        for fk in schema.parents_of(table):
            has_parent = pl.col(fk.column).is_in(frames[fk.parent].get_column(fk.parent_column).implode())
            count = frames[table].height - int(frames[table].select(has_parent.sum()).item())
            if count and orphans != "drop":
                found[str(fk)] = count
            elif count:
                keep = has_parent if keep is None else keep & has_parent
        if keep is not None:
            before = frames[table].height
            frames[table] = frames[table].filter(keep)
            dropped[table] = before - frames[table].height
    if found and orphans == "refuse":
        raise InputError(_orphans_message(found, schema, tables))
    if orphans == "drop":
        found = _orphans_in_input(schema, tables)
    notes = tuple(
        f"table {t!r} has no key and no relation reaches it: it is a lone root, generated on its own as a flat table"
        for t in schema.lone_tables
    )
    return CheckedTables(frames=frames, orphans=found, dropped=dropped, notes=notes)


def _check_primary_key(table: str, column: str, frame: pl.DataFrame) -> None:
    values = frame.get_column(column)
    nulls = values.null_count()
    if nulls:
        raise InputError(
            f"primary key {table}.{column} has {nulls:,} null value{'s' * (nulls != 1)} of {frame.height:,} rows; "
            "every row needs a key: fill them or declare another key column"
        )
    duplicates = frame.height - values.n_unique()
    if duplicates:
        repeated = values.filter(values.is_duplicated()).unique(maintain_order=True).head(_EXAMPLES).to_list()
        raise InputError(
            f"primary key {table}.{column} is not unique: {duplicates:,} row{'s' * (duplicates != 1)} repeat a value "
            f"already used (e.g. {', '.join(map(repr, repeated))}); a primary key names one row: declare a unique "
            f"column or none for {table!r}"
        )


def _check_foreign_key_column(fk: ForeignKey, tables: Mapping[str, pl.DataFrame]) -> None:
    child_type = tables[fk.child].schema[fk.column]
    parent_type = tables[fk.parent].schema[fk.parent_column]
    if not _same_kind(child_type, parent_type):
        raise InputError(
            f"foreign key {fk}: {fk.child}.{fk.column} is {child_type} but {fk.parent}.{fk.parent_column} is "
            f"{parent_type}; a key and its reference must have the same type (read them with the same dtypes=)"
        )
    nulls = tables[fk.child].get_column(fk.column).null_count()
    if nulls:
        raise InputError(
            f"foreign key {fk}: {fk.child}.{fk.column} has {nulls:,} null value{'s' * (nulls != 1)} of "
            f"{tables[fk.child].height:,} rows; every child row needs a parent: fill them, or drop those rows"
        )


def _same_kind(a: pl.DataType, b: pl.DataType) -> bool:
    """Integers of any width are one kind (their values compare equal); other types must match."""
    if a.is_integer() and b.is_integer():
        return True
    return a == b


def _orphans_in_input(schema: Schema, tables: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    found = {}
    for fk in schema.foreign_keys:
        parent_keys = tables[fk.parent].get_column(fk.parent_column).implode()
        count = int(tables[fk.child].select((~pl.col(fk.column).is_in(parent_keys)).sum()).item())
        if count:
            found[str(fk)] = count
    return found


def _orphans_message(found: Mapping[str, int], schema: Schema, tables: Mapping[str, pl.DataFrame]) -> str:
    parts = []
    by_name = {str(fk): fk for fk in schema.foreign_keys}
    for name, count in found.items():
        fk = by_name[name]
        values = tables[fk.child].get_column(fk.column)
        absent = values.filter(~values.is_in(tables[fk.parent].get_column(fk.parent_column).implode()))
        examples = ", ".join(map(repr, absent.unique(maintain_order=True).head(_EXAMPLES).to_list()))
        parts.append(
            f"{count:,} row{'s' * (count != 1)} of {fk.child!r} {'have' if count != 1 else 'has'} a "
            f"{fk.child}.{fk.column} value that no row of {fk.parent}.{fk.parent_column} holds (e.g. {examples})"
        )
    return (
        "orphan rows: " + "; ".join(parts) + ". Pass orphans='drop' to drop them (and their own children) or "
        "orphans='keep' to keep them as they are"
    )
