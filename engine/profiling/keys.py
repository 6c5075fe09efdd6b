"""Primary-key candidates per table and foreign keys between tables.

A foreign key ``child.c -> parent.p`` needs two kinds of evidence:

* **value inclusion**: the share of the child's distinct non-null values found among the
  parent's, computed on the distinct values with polars ``is_in``; ``p`` must be unique and
  non-null (a key) and the share at least ``MIN_INCLUSION``;
* **name similarity** (``name_score``): 1.0 when the child's name points at the parent table
  whose key is named for it (``players_id`` -> ``players.id``, ``client_id`` ->
  ``client.client_id``), 0.8 when it ends with the table's name (``home_team_id`` ->
  ``team.id``), 0.5 when the two columns merely share a name, else 0.

``confidence = inclusion x support x (NAME_FLOOR + (1 - NAME_FLOOR) x name_score)``, where
``support = 1 - 1 / (1 + distinct child values)`` discounts inclusion of a handful of values.
Values alone give at most ``NAME_FLOOR`` (0.35), below ``FK_REPORT_THRESHOLD`` (0.5): a pair is
reported only when values and names agree, which keeps small integer columns that happen to
fall inside an id range (berka ``district.A9`` in ``account.account_id``) from being reported.
A column named for its own table's key (``client.client_id``, ``players.id``) is that table's
key and is never proposed as a child; a child column keeps only its best-supported parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.errors import ConfigError
from engine.profiling import names
from engine.profiling.results import ColumnProfile, ForeignKeyCandidate
from engine.schema import SemanticType

# Foreign-key candidates with at least this confidence are reported (declared keys always are).
FK_REPORT_THRESHOLD = 0.5
# A child column needs at least this share of its distinct values in the parent key.
MIN_INCLUSION = 0.9
# Weight that value inclusion keeps when the names say nothing (0 name score).
NAME_FLOOR = 0.35

_KEY_KINDS = ("integer", "string")


@dataclass(frozen=True)
class DeclaredKeys:
    """Keys the caller knows: primary key per table and (child, column, parent, column) links."""

    primary_keys: dict[str, str] = field(default_factory=dict)
    foreign_keys: tuple[tuple[str, str, str, str], ...] = ()

    @classmethod
    def coerce(cls, declared: Any, tables: Mapping[str, pl.DataFrame]) -> DeclaredKeys:
        """Accept None, a DeclaredKeys, or a mapping ``{"primary_keys": {...}, "foreign_keys": [...]}``.

        A foreign key is a 4-tuple, a mapping with child_table/child_column/parent_table/
        parent_column, or a string ``"batting.players_id -> players.id"``.
        """
        if declared is None:
            return cls()
        if isinstance(declared, DeclaredKeys):
            keys = declared
        elif isinstance(declared, Mapping):
            unknown = set(declared) - {"primary_keys", "foreign_keys"}
            if unknown:
                raise ConfigError(
                    f"declared_keys: unknown entries {sorted(unknown)}; allowed: 'primary_keys', 'foreign_keys'"
                )
            pks = dict(declared.get("primary_keys") or {})
            fks = tuple(_parse_fk(item) for item in declared.get("foreign_keys") or ())
            keys = cls(primary_keys=pks, foreign_keys=fks)
        else:
            raise ConfigError(
                "declared_keys: expected a mapping with 'primary_keys' and/or 'foreign_keys', "
                f"got {type(declared).__name__}"
            )
        for table, column in keys.primary_keys.items():
            _check_column(tables, table, column, "declared primary key")
        for child, c_col, parent, p_col in keys.foreign_keys:
            _check_column(tables, child, c_col, "declared foreign key")
            _check_column(tables, parent, p_col, "declared foreign key")
        return keys


def _parse_fk(item: Any) -> tuple[str, str, str, str]:
    if isinstance(item, str):
        left, arrow, right = item.partition("->")
        if arrow and left.count(".") >= 1 and right.count(".") >= 1:
            ct, _, cc = left.strip().partition(".")
            pt, _, pc = right.strip().partition(".")
            return ct, cc, pt, pc
    elif isinstance(item, Mapping):
        try:
            return (item["child_table"], item["child_column"], item["parent_table"], item["parent_column"])
        except KeyError as err:
            raise ConfigError(f"declared foreign key {dict(item)!r} lacks {err.args[0]!r}") from err
    elif isinstance(item, tuple | list) and len(item) == 4:
        return tuple(str(x) for x in item)  # type: ignore[return-value]
    raise ConfigError(
        f"declared foreign key {item!r}: expected 'child.column -> parent.column', a 4-tuple "
        "(child_table, child_column, parent_table, parent_column) or a mapping with those keys"
    )


def _check_column(tables: Mapping[str, pl.DataFrame], table: str, column: str, what: str) -> None:
    if table not in tables:
        raise ConfigError(f"{what}: no table {table!r}; tables are {sorted(tables)}")
    if column not in tables[table].columns:
        raise ConfigError(f"{what}: table {table!r} has no column {column!r}; columns are {tables[table].columns}")


def key_candidates(columns: Mapping[str, ColumnProfile], kinds: Mapping[str, str], *, table: str | None = None) -> list[str]:
    """Primary-key candidates: identifier columns with unique, non-null values, best first.

    Ranked: named for the table's own key (``id``, ``<table>_id``), then other key-like names,
    then the rest, each group in column order.
    """
    found = [
        name
        for name, col in columns.items()
        if col.is_unique and col.semantic_type == SemanticType.IDENTIFIER and kinds.get(name) in _KEY_KINDS
    ]

    def rank(name: str) -> int:
        if table is not None and names.is_own_key_name(name, table):
            return 0
        if names.stem(name) == "" and names.is_strong_key_name(name):
            return 0
        if names.is_strong_key_name(name):
            return 1
        if names.is_weak_key_name(name):
            return 2
        return 3

    return sorted(found, key=rank)


def name_score(child_column: str, parent_table: str, parent_column: str) -> tuple[float, str]:
    """How strongly the child column's name points at ``parent_table.parent_column`` (0..1), and why."""
    c_stem, p_stem, t_stem = names.stem(child_column), names.stem(parent_column), names.table_stem(parent_table)
    parent_is_own = names.is_own_key_name(parent_column, parent_table)
    if parent_is_own and c_stem and c_stem == t_stem:
        return 1.0, f"the name {child_column!r} points at table {parent_table!r}"
    if parent_is_own and c_stem and t_stem and c_stem.endswith(t_stem):
        return 0.8, f"the name {child_column!r} ends with the name of table {parent_table!r}"
    if (c_stem and c_stem == p_stem) or names.tokens(child_column) == names.tokens(parent_column):
        return 0.5, f"{child_column!r} has the name of {parent_table}.{parent_column}, which is not named for its table"
    return 0.0, "the names do not match"


def infer_foreign_keys(
    frames: Mapping[str, pl.DataFrame],
    columns: Mapping[str, Mapping[str, ColumnProfile]],
    kinds: Mapping[str, Mapping[str, str]],
    *,
    declared: DeclaredKeys,
) -> list[ForeignKeyCandidate]:
    """Foreign keys between the tables, declared ones first, then inferred ones by confidence."""
    distinct: dict[tuple[str, str], pl.Series] = {}

    def values(table: str, column: str) -> pl.Series:
        key = (table, column)
        if key not in distinct:
            series = frames[table].get_column(column).drop_nulls().unique()
            distinct[key] = series.cast(pl.Int64) if series.dtype.is_integer() else series
        return distinct[key]

    parents = [
        (table, name)
        for table, cols in columns.items()
        for name, col in cols.items()
        if col.is_unique and kinds[table][name] in _KEY_KINDS
    ]
    children = [
        (table, name)
        for table, cols in columns.items()
        for name, col in cols.items()
        if kinds[table][name] in _KEY_KINDS
        and col.semantic_type not in (SemanticType.EMPTY, SemanticType.TEXT)
        and not (col.is_unique and names.is_own_key_name(name, table))
    ]

    out: list[ForeignKeyCandidate] = []
    declared_children: set[tuple[str, str]] = set()
    for child, c_col, parent, p_col in declared.foreign_keys:
        inclusion = _inclusion(values(child, c_col), values(parent, p_col))
        declared_children.add((child, c_col))
        out.append(
            ForeignKeyCandidate(
                child_table=child,
                child_column=c_col,
                parent_table=parent,
                parent_column=p_col,
                confidence=1.0,
                reason=f"declared; {inclusion:.1%} of the distinct values of {child}.{c_col} are in {parent}.{p_col}",
                inclusion=inclusion,
                declared=True,
            )
        )

    inferred: list[ForeignKeyCandidate] = []
    for child, c_col in children:
        for parent, p_col in parents:
            if (child, c_col) == (parent, p_col) or (child, c_col) in declared_children:
                continue
            if kinds[child][c_col] != kinds[parent][p_col]:
                continue
            score, why = name_score(c_col, parent, p_col)
            child_values = values(child, c_col)
            n_child = child_values.len()
            if n_child == 0:
                continue
            support = 1.0 - 1.0 / (1.0 + n_child)
            best_possible = support * (NAME_FLOOR + (1.0 - NAME_FLOOR) * score)
            if best_possible < FK_REPORT_THRESHOLD:
                continue  # cannot reach the threshold whatever the values say
            inclusion = _inclusion(child_values, values(parent, p_col))
            if inclusion < MIN_INCLUSION:
                continue
            confidence = inclusion * best_possible
            if confidence < FK_REPORT_THRESHOLD:
                continue
            inferred.append(
                ForeignKeyCandidate(
                    child_table=child,
                    child_column=c_col,
                    parent_table=parent,
                    parent_column=p_col,
                    confidence=round(confidence, 4),
                    reason=(
                        f"{inclusion:.1%} of the {n_child:,} distinct values of {child}.{c_col} are in "
                        f"{parent}.{p_col} (unique); {why}"
                    ),
                    inclusion=inclusion,
                )
            )
    # A column references one table: keep only its best-supported parent(s).
    best: dict[tuple[str, str], float] = {}
    for fk in inferred:
        key = (fk.child_table, fk.child_column)
        best[key] = max(best.get(key, 0.0), fk.confidence)
    inferred = [fk for fk in inferred if fk.confidence == best[(fk.child_table, fk.child_column)]]
    inferred.sort(key=lambda fk: (-fk.confidence, fk.child_table, fk.child_column, fk.parent_table, fk.parent_column))
    return out + inferred


def _inclusion(child_values: pl.Series, parent_values: pl.Series) -> float:
    if child_values.len() == 0:
        return 0.0
    if child_values.dtype != parent_values.dtype:
        try:
            child_values = child_values.cast(parent_values.dtype)
        except pl.exceptions.PolarsError:
            return 0.0
    return float(child_values.is_in(parent_values.implode()).mean())


def rank_primary_keys(candidates: Iterable[str], declared: str | None) -> list[str]:
    """The candidate list with a declared primary key (if any) first."""
    ranked = [c for c in candidates if c != declared]
    return [declared, *ranked] if declared else ranked
