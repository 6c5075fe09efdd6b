"""The generation plan: which table comes when, and which parent each child is generated under.

Order: topological, parents before children, ties in the caller's table order. Roots: the
tables with no parent (lone tables included); the flat models make them.

Context parent. A child is generated as a sequence of rows per row of one parent, its
*context*, with the parent row (and its ancestors) as the condition; its other parents are
assigned afterwards by a matching step. The context is chosen so that the sequence model
learns the most and the matching step the least:

1. a parent that is an ancestor of another parent of the same child is never the context
   (``order -> account -> district`` and ``order -> district``: the account already carries
   its district, so conditioning on the account reaches both);
2. among the rest, the parent with the most children per parent row (over all its rows, zero
   included) is the context: that is where row counts vary most and a learned cardinality
   pays; parents with about one child each (berka ``disp -> client``: exactly one) are nearly a
   one-to-one matching, which the matching step keeps best;
3. ties go to the foreign key declared first.

``context={"disp": "client"}`` overrides the choice per child (a parent table name, or the
child's foreign-key column when two keys point at the same parent).

Each relation also records its children-per-parent counts (vectorised with polars) and
whether it is 1:0..1 (every parent key appears at most once in the child, as berka
``loan -> account``), which generation must keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import polars as pl

from engine.errors import ConfigError
from engine.relational.graph import topological_order
from engine.relational.schema import ForeignKey, Schema

_COUNT = "children"


@dataclass(frozen=True)
class Relation:
    """Children per parent row along one foreign key, measured on the frames."""

    foreign_key: ForeignKey
    parent_rows: int
    child_rows: int  # child rows whose key has a parent row
    parents_with_children: int
    max_children: int
    mean_children: float  # per parent row, zero-child parents included

    @property
    def at_most_one(self) -> bool:
        """1:0..1: every parent key appears at most once in the child."""
        return self.max_children <= 1


@dataclass(frozen=True)
class ChildPlan:
    """How one child table is generated: under its context parent, with its other parents matched."""

    table: str
    context: ForeignKey
    others: tuple[ForeignKey, ...]


@dataclass(frozen=True)
class GenerationPlan:
    """Tables in generation order, the roots, each child's plan and each relation's counts."""

    order: tuple[str, ...]
    roots: tuple[str, ...]
    children: Mapping[str, ChildPlan]
    relations: Mapping[str, Relation]  # keyed by str(foreign_key)

    def relation(self, fk: ForeignKey) -> Relation:
        """The measured relation of ``fk``."""
        return self.relations[str(fk)]

    @property
    def one_to_at_most_one(self) -> tuple[ForeignKey, ...]:
        """The 1:0..1 relations, which generation keeps at most one child per parent."""
        return tuple(r.foreign_key for r in self.relations.values() if r.at_most_one)


def children_per_parent(parent: pl.DataFrame, parent_column: str, child: pl.DataFrame, child_column: str) -> pl.Series:
    """How many child rows each parent row has (0 included), in the parent's row order."""
    key = parent.get_column(parent_column)
    counts = (
        child.select(pl.col(child_column).cast(key.dtype).alias(parent_column))
        .group_by(parent_column)
        .len(name=_COUNT)
    )
    joined = key.to_frame().join(counts, on=parent_column, how="left", maintain_order="left")
    return joined.get_column(_COUNT).fill_null(0).cast(pl.Int64).rename(_COUNT)


def measure_relation(fk: ForeignKey, tables: Mapping[str, pl.DataFrame]) -> Relation:
    """The children-per-parent counts of one foreign key."""
    counts = children_per_parent(tables[fk.parent], fk.parent_column, tables[fk.child], fk.column)
    n = counts.len()
    return Relation(
        foreign_key=fk,
        parent_rows=n,
        child_rows=int(counts.sum()),
        parents_with_children=int((counts > 0).sum()),
        max_children=int(counts.max() or 0),
        mean_children=float(counts.mean() or 0.0) if n else 0.0,
    )


def build_plan(
    schema: Schema, tables: Mapping[str, pl.DataFrame], *, context: Mapping[str, str] | None = None
) -> GenerationPlan:
    """The generation plan of a checked schema (see :func:`engine.relational.checks.check_tables`)."""
    context = dict(context or {})
    unknown = sorted(set(context) - {fk.child for fk in schema.foreign_keys})
    if unknown:
        children = sorted({fk.child for fk in schema.foreign_keys})
        raise ConfigError(f"context= names {unknown}, which are not child tables; the child tables are {children}")
    order = topological_order(schema.tables, schema.edges)
    relations = {str(fk): measure_relation(fk, tables) for fk in schema.foreign_keys}
    ancestors = _ancestors(schema, order)
    plans: dict[str, ChildPlan] = {}
    for table in order:
        fks = schema.parents_of(table)
        if not fks:
            continue
        chosen = _pick(table, fks, context[table]) if table in context else _choose(fks, relations, ancestors)
        plans[table] = ChildPlan(table=table, context=chosen, others=tuple(fk for fk in fks if fk is not chosen))
    return GenerationPlan(
        order=tuple(order),
        roots=tuple(t for t in order if not schema.parents_of(t)),
        children=MappingProxyType(plans),
        relations=MappingProxyType(relations),
    )


def _ancestors(schema: Schema, order: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table in order:  # parents come first, so theirs are known
        found[table] = set()
        for fk in schema.parents_of(table):
            found[table] |= {fk.parent} | found[fk.parent]
    return found


def _choose(fks: tuple[ForeignKey, ...], relations: Mapping[str, Relation], ancestors: Mapping[str, set[str]]) -> ForeignKey:
    parents = {fk.parent for fk in fks}
    direct = [fk for fk in fks if not any(fk.parent in ancestors[p] for p in parents if p != fk.parent)]
    candidates = direct or list(fks)
    best = max(relations[str(fk)].mean_children for fk in candidates)
    return next(fk for fk in candidates if relations[str(fk)].mean_children == best)


def _pick(table: str, fks: tuple[ForeignKey, ...], wanted: str) -> ForeignKey:
    by_parent = [fk for fk in fks if fk.parent == wanted]
    if len(by_parent) == 1:
        return by_parent[0]
    by_column = [fk for fk in fks if fk.column == wanted]
    if len(by_column) == 1:
        return by_column[0]
    options = sorted({fk.parent for fk in fks if len([f for f in fks if f.parent == fk.parent]) == 1} | {fk.column for fk in fks})
    if len(by_parent) > 1:
        raise ConfigError(
            f"context={{{table!r}: {wanted!r}}}: {table!r} has {len(by_parent)} foreign keys to {wanted!r}; "
            f"name the column instead, one of {options}"
        )
    raise ConfigError(f"context={{{table!r}: {wanted!r}}}: not a parent of {table!r}; use one of {options}")
