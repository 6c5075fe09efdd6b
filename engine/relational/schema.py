"""A schema's key graph: which column is each table's primary key, and which columns point where.

A :class:`Schema` is built either from the keys a caller declares, in the shape
``profile_tables`` takes (``{"primary_keys": {...}, "foreign_keys": ["child.fk -> parent.pk"]}``,
parsed by :class:`engine.profiling.keys.DeclaredKeys`), or from a :class:`TablesProfile`'s keys:
its foreign keys at or above ``FK_REPORT_THRESHOLD`` and its best primary-key candidates, each
marked as inferred so that a model can say which relations it guessed.

A foreign key always points at its parent's primary key: when the parent's key is not declared
the referenced column becomes it, and a foreign key to any other column is refused, because
generated keys are regenerated from the parent's key alone. Keys are single columns.

The schema holds names only; :mod:`engine.relational.checks` holds them against the frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import polars as pl

from engine.errors import ConfigError
from engine.profiling.keys import FK_REPORT_THRESHOLD, DeclaredKeys
from engine.profiling.results import TablesProfile


@dataclass(frozen=True)
class ForeignKey:
    """``child.column`` holds values of ``parent.parent_column`` (the parent's primary key)."""

    child: str
    column: str
    parent: str
    parent_column: str
    inferred: bool = False
    confidence: float = 1.0  # 1.0 when declared; the profile's confidence when inferred

    def __str__(self) -> str:
        return f"{self.child}.{self.column} -> {self.parent}.{self.parent_column}"


@dataclass(frozen=True)
class Schema:
    """Tables (in the caller's order), each one's primary key or None, and the foreign keys.

    ``inferred_primary_keys`` names the tables whose key came from a profile rather than the
    caller; each :class:`ForeignKey` says whether it was inferred.
    """

    tables: tuple[str, ...]
    primary_keys: Mapping[str, str | None]
    foreign_keys: tuple[ForeignKey, ...] = ()
    inferred_primary_keys: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "primary_keys", MappingProxyType(dict(self.primary_keys)))
        missing = [t for t in self.tables if t not in self.primary_keys]
        if missing:
            raise ConfigError(f"schema: no primary-key entry (a column or None) for tables {missing}")
        unknown = sorted(
            {t for fk in self.foreign_keys for t in (fk.child, fk.parent)} - set(self.tables)
        )
        if unknown:
            raise ConfigError(f"schema: foreign keys name tables {unknown} that are not among {list(self.tables)}")

    # ---------------------------------------------------------------------- building

    @classmethod
    def from_keys(cls, keys: Any, tables: Mapping[str, pl.DataFrame]) -> Schema:
        """The schema the caller declares; tables it does not mention have no key.

        ``keys`` is a :class:`DeclaredKeys` or the mapping ``profile_tables`` takes; every
        table and column it names must exist in ``tables`` (ConfigError otherwise).
        """
        declared = DeclaredKeys.coerce(keys, tables)
        fks = tuple(ForeignKey(c, cc, p, pc) for c, cc, p, pc in declared.foreign_keys)
        primary = _primary_keys(list(tables), declared.primary_keys, fks, inferred_from=frozenset())
        return cls(tables=tuple(tables), primary_keys=primary, foreign_keys=fks)

    @classmethod
    def from_profile(cls, profile: TablesProfile, *, declared: Any = None) -> Schema:
        """The keys a profile found: foreign keys at or above ``FK_REPORT_THRESHOLD``.

        A table's primary key is the column its foreign keys reference, else its best
        candidate that is not one of its own foreign-key columns, else None. Foreign keys the
        profile reports as declared keep ``inferred=False``; primary keys named in
        ``declared`` (the keys the profile was given, if any) likewise.
        """
        tables = list(profile.tables)
        given = DeclaredKeys.coerce(declared, {t: _columns_only(profile, t) for t in tables})
        chosen: dict[tuple[str, str], ForeignKey] = {}
        for cand in profile.foreign_keys:
            if not cand.declared and cand.confidence < FK_REPORT_THRESHOLD:
                continue
            where = (cand.child_table, cand.child_column)
            fk = ForeignKey(
                cand.child_table,
                cand.child_column,
                cand.parent_table,
                cand.parent_column,
                inferred=not cand.declared,
                confidence=1.0 if cand.declared else float(cand.confidence),
            )
            if where in chosen:
                raise ConfigError(
                    f"{cand.child_table}.{cand.child_column} could reference {chosen[where].parent}."
                    f"{chosen[where].parent_column} or {cand.parent_table}.{cand.parent_column} with the same "
                    "confidence; declare which one with keys={'foreign_keys': ['child.column -> parent.column']}"
                )
            chosen[where] = fk
        fks = tuple(chosen.values())
        fk_columns = {(fk.child, fk.column) for fk in fks}
        primary: dict[str, str | None] = dict(given.primary_keys)
        for table in tables:
            if table in primary:
                continue
            candidates = [c for c in profile.primary_keys.get(table, []) if (table, c) not in fk_columns]
            referenced = {fk.parent_column for fk in fks if fk.parent == table}
            if not referenced and candidates:
                primary[table] = candidates[0]
        inferred = frozenset(t for t in tables if t not in given.primary_keys)
        resolved = _primary_keys(tables, primary, fks, inferred_from=inferred)
        return cls(
            tables=tuple(tables),
            primary_keys=resolved,
            foreign_keys=fks,
            inferred_primary_keys=frozenset(t for t in inferred if resolved[t] is not None),
        )

    # ---------------------------------------------------------------------- queries

    def parents_of(self, table: str) -> tuple[ForeignKey, ...]:
        """The foreign keys of ``table`` (its links to its parents), in declared order."""
        return tuple(fk for fk in self.foreign_keys if fk.child == table)

    def children_of(self, table: str) -> tuple[ForeignKey, ...]:
        """The foreign keys that point at ``table``."""
        return tuple(fk for fk in self.foreign_keys if fk.parent == table)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The key graph's ``(child, parent)`` pairs, one per foreign key (``engine.relational.graph``)."""
        return [(fk.child, fk.parent) for fk in self.foreign_keys]

    @property
    def lone_tables(self) -> tuple[str, ...]:
        """Tables with no primary key that no relation reaches: generated on their own, flat."""
        linked = {t for fk in self.foreign_keys for t in (fk.child, fk.parent)}
        return tuple(t for t in self.tables if self.primary_keys[t] is None and t not in linked)

    @property
    def inferred_foreign_keys(self) -> tuple[ForeignKey, ...]:
        """The foreign keys that came from a profile rather than the caller."""
        return tuple(fk for fk in self.foreign_keys if fk.inferred)

    def to_keys(self) -> dict[str, Any]:
        """The schema in the ``keys=`` shape ``profile_tables`` and ``from_keys`` take."""
        return {
            "primary_keys": {t: c for t, c in self.primary_keys.items() if c is not None},
            "foreign_keys": [str(fk) for fk in self.foreign_keys],
        }


def _columns_only(profile: TablesProfile, table: str) -> pl.DataFrame:
    """An empty frame with a profiled table's columns: enough for DeclaredKeys to check names."""
    return pl.DataFrame(schema={name: pl.Null for name in profile.tables[table].columns})


def _primary_keys(
    tables: list[str], declared: Mapping[str, str | None], fks: tuple[ForeignKey, ...], *, inferred_from: frozenset[str]
) -> dict[str, str | None]:
    """Each table's key: the declared one, else the column its foreign keys reference, else None.

    Refuses a foreign key to a column other than its parent's primary key, and two foreign
    keys of one column.
    """
    primary: dict[str, str | None] = {t: declared.get(t) for t in tables}
    seen: dict[tuple[str, str], ForeignKey] = {}
    for fk in fks:
        where = (fk.child, fk.column)
        if where in seen:
            raise ConfigError(
                f"{fk.child}.{fk.column} is declared twice as a foreign key ({seen[where]} and {fk}); "
                "a column references one parent"
            )
        seen[where] = fk
        current = primary.get(fk.parent)
        if current is None:
            primary[fk.parent] = fk.parent_column
        elif current != fk.parent_column:
            source = "inferred" if fk.parent in inferred_from else "declared"
            raise ConfigError(
                f"foreign key {fk} references {fk.parent}.{fk.parent_column}, but the {source} primary key of "
                f"{fk.parent!r} is {current!r}; a foreign key must reference its parent's primary key"
            )
    return primary
