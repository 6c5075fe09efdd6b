"""Differential privacy for related tables: the root entity, with all its rows, is the unit.

``engine.train_tables(..., privacy=engine.Privacy(epsilon, delta))`` releases a schema model
that is (epsilon, delta)-DP with respect to adding or removing one *root entity*: a row of a
root table with every row below it (DESIGN: "the unit of privacy is the root entity with all
its rows"). This module holds the rules; ``engine.relational.train`` applies them.

- **Scope: a forest.** Every table has at most one parent relation, so every row belongs to
  exactly one root entity. A table with two parent relations (berka's ``disp`` under
  ``account`` and ``client``) could tie two entities' rows together: refused
  (``check_forest``). The keys must be declared (inferring them reads the rows), and
  ``orphans="keep"`` is refused (an orphan row belongs to no entity).
- **Truncation** (``truncate``): per child table at most ``max_children`` rows per parent row
  (default ``DEFAULT_MAX_CHILDREN``, or per table), the extra ones dropped at random (seeded),
  and their own descendants with them. An entity then holds at most
  ``m_t = prod(max_children)`` rows of table ``t`` along the path from its root (``m = 1`` for
  a root table): a bound known before the rows are read. How many rows were dropped is told to
  the caller (``RelationalModel.truncation_``) but not saved with the model (a count of real
  rows is not private).
- **Each table's run** trains the table's model with the rows grouped by root entity
  (``engine.privacy.groups.RowGroups``, bound ``m_t``): its preprocessing histograms count a
  row ``1 / n_e`` (an entity adds at most 1), its DP-SGD samples entities and clips each row
  to ``C / n_e`` (an entity adds at most ``C``). A root table's rows are its entities; the
  learned children counts (``#child.fk``) are columns of the parent's row, so of its entity.
  A child's context columns (its parent's learned columns) are declared public to its run
  from the parent's private transformer (``context_declarations``: post-processing, free).
  Child tables are ARGN (DP-SGD); a root table under "auto" is MST (marginals; its rows are
  its entities, so it needs no groups), which keeps the children counts' distribution far
  better than DP-SGD at a table's share of the budget.
- **Budget** (``split_budget``): equal shares, ``epsilon / T`` and ``delta / T`` for each of
  the ``T`` tables (basic composition: the runs together are (epsilon, delta)-DP for one
  entity). The report (``schema_report``) gives what each table spent and the total: the
  smaller of the basic sum and the RDP composition of all the runs' accountant histories (both
  are upper bounds; RDP is usually tighter).
- **Public**: the schema, the declared keys, ``max_children``, the number of root entities and
  each table's row count (as the row count is for one table), the user's declared bounds and
  categories (``Privacy.bounds`` / ``categories`` keyed ``"table.column"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.privacy.config import Privacy
from engine.privacy.groups import RowGroups
from engine.relational.schema import Schema
from engine.seeds import derive_seed

DEFAULT_MAX_CHILDREN = 100
UNIT = "root entity (a root row with all its descendant rows)"
BUDGET_RULE = "equal shares: epsilon / tables and delta / tables per table, composed by basic composition"
_ROW = "\x00row"
_RANK = "\x00rank"
_ENTITY = "\x00entity"


@dataclass(frozen=True)
class EntityTables:
    """The frames after truncation, each table's entity groups and bounds, and what truncation dropped."""

    frames: dict[str, pl.DataFrame]
    groups: dict[str, RowGroups | None]  # None: a root table (each row is its own entity)
    max_rows: dict[str, int]  # m_t: rows of the table one entity may hold
    max_children: dict[str, int]  # per child table
    truncated: dict[str, int] = field(default_factory=dict)  # table -> rows beyond max_children dropped
    cascaded: dict[str, int] = field(default_factory=dict)  # table -> rows dropped with a truncated ancestor


def check_forest(schema: Schema) -> None:
    """``ConfigError`` naming every table with more than one parent relation (see the module doc)."""
    for table in schema.tables:
        parents = schema.parents_of(table)
        if len(parents) > 1:
            raise ConfigError(
                f"table {table!r} has {len(parents)} parent relations ({', '.join(str(fk) for fk in parents)}): under "
                "differential privacy the unit is a root entity with all its rows, and a row with two parents can belong to "
                "two root entities, so no entity's rows are bounded. DP schemas must be a forest (every table at most one "
                f"parent): drop one of these foreign keys from keys=, or train without privacy"
            )


def check_options(*, keys: Any, orphans: str) -> None:
    """What DP needs of the other options: declared keys, no orphans kept."""
    if keys is None:
        raise ConfigError(
            "under differential privacy declare keys= (primary and foreign keys): inferring them reads the rows, "
            "which would be an unaccounted release"
        )
    if orphans == "keep":
        raise ConfigError(
            'orphans="keep" is refused under differential privacy: an orphan row belongs to no root entity (the unit of '
            'privacy); use "refuse" or "drop"'
        )


def resolve_max_children(max_children: Any, schema: Schema) -> dict[str, int]:
    """Each child table's cap: an int for all, or ``{child table: int}`` (others get the default)."""
    children = [t for t in schema.tables if schema.parents_of(t)]
    if max_children is None:
        return {t: DEFAULT_MAX_CHILDREN for t in children}
    if isinstance(max_children, Mapping):
        unknown = sorted(set(max_children) - set(children))
        if unknown:
            raise ConfigError(f"max_children names {unknown}, which are not child tables; the child tables are {sorted(children)}")
        caps = {t: max_children.get(t, DEFAULT_MAX_CHILDREN) for t in children}
    else:
        caps = {t: max_children for t in children}
    for table, cap in caps.items():
        if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
            raise ConfigError(f"max_children for {table!r} must be a positive integer (rows per parent row); got {cap!r}")
    return {t: int(c) for t, c in caps.items()}


def truncate(schema: Schema, order: Sequence[str], frames: Mapping[str, pl.DataFrame], *, caps: Mapping[str, int],
             seed: int) -> EntityTables:
    """Keep at most ``caps[t]`` rows of each child table ``t`` per parent row (a seeded random
    choice), drop the rows whose parent was dropped, and group every table's rows by root entity."""
    out = dict(frames)
    truncated: dict[str, int] = {}
    cascaded: dict[str, int] = {}
    for table in order:
        parents = schema.parents_of(table)
        if not parents:
            continue
        fk = parents[0]
        frame = out[table]
        parent_keys = out[fk.parent].get_column(fk.parent_column)
        kept = frame.filter(pl.col(fk.column).cast(parent_keys.dtype).is_in(parent_keys.implode()))
        cascaded[table] = frame.height - kept.height
        rng = np.random.default_rng(derive_seed(seed, "max-children", table))
        ranked = kept.with_row_index(_ROW).with_columns(pl.Series(_RANK, rng.permutation(kept.height)))
        ranked = ranked.with_columns(pl.col(_RANK).rank("ordinal").over(fk.column).alias(_RANK))
        capped = ranked.filter(pl.col(_RANK) <= caps[table]).sort(_ROW).drop(_ROW, _RANK)
        truncated[table] = kept.height - capped.height
        out[table] = capped
    groups, bounds = entity_groups(schema, order, out, caps=caps)
    return EntityTables(frames=out, groups=groups, max_rows=bounds, max_children=dict(caps), truncated=truncated, cascaded=cascaded)


def entity_groups(schema: Schema, order: Sequence[str], frames: Mapping[str, pl.DataFrame], *,
                  caps: Mapping[str, int]) -> tuple[dict[str, RowGroups | None], dict[str, int]]:
    """Each table's rows grouped by root entity (None for a root table), and the bound ``m_t``."""
    entity: dict[str, np.ndarray] = {}
    groups: dict[str, RowGroups | None] = {}
    bounds: dict[str, int] = {}
    for table in order:
        parents = schema.parents_of(table)
        frame = frames[table]
        if not parents:
            entity[table] = np.arange(frame.height, dtype=np.int64)
            groups[table], bounds[table] = None, 1
            continue
        fk = parents[0]
        parent = frames[fk.parent]
        key = parent.get_column(fk.parent_column)
        lookup = pl.DataFrame([key.alias(_ROW), pl.Series(_ENTITY, entity[fk.parent])])
        rows = frame.select(pl.col(fk.column).cast(key.dtype).alias(_ROW))
        ids = rows.join(lookup, on=_ROW, how="left", maintain_order="left").get_column(_ENTITY)
        if ids.null_count():
            raise ConfigError(f"table {table!r}: {ids.null_count()} rows have no parent row in {fk.parent!r} after the checks")
        entity[table] = ids.to_numpy().astype(np.int64)
        bounds[table] = bounds[fk.parent] * caps[table]
        groups[table] = RowGroups(entity[table], bounds[table])
    return groups, bounds


def split_budget(privacy: Privacy, tables: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``BUDGET_RULE``: each table's (epsilon, delta)."""
    n = max(1, len(tables))
    return {t: (privacy.epsilon / n, privacy.delta / n) for t in tables}


def table_privacy(privacy: Privacy, table: str, columns: Sequence[str], *, budget: tuple[float, float],
                  bounds: Mapping[str, tuple[Any, Any]] | None = None,
                  categories: Mapping[str, list[Any]] | None = None) -> Privacy:
    """The table's ``Privacy``: its share of the budget, the user's declarations for its columns
    (``"table.column"`` keys), and ``bounds`` / ``categories`` declared by the schema (context columns)."""
    present = set(columns)
    own_bounds = {c: v for c, v in _declared(privacy.bounds, table).items() if c in present}
    own_categories = {c: v for c, v in _declared(privacy.categories, table).items() if c in present}
    own_bounds |= {c: v for c, v in (bounds or {}).items() if c not in own_categories}
    own_categories |= {c: v for c, v in (categories or {}).items() if c not in own_bounds}
    epsilon, delta = budget
    return replace(privacy, epsilon=epsilon, delta=delta, bounds=own_bounds, categories=own_categories)


def check_declarations(privacy: Privacy, frames: Mapping[str, pl.DataFrame]) -> None:
    """``ConfigError`` for a declared bound or category list not keyed ``"table.column"`` of the schema."""
    for what, declared in (("bounds", privacy.bounds), ("categories", privacy.categories)):
        for key in declared:
            table, _, column = key.partition(".")
            if table not in frames or column not in frames[table].columns:
                raise ConfigError(
                    f"privacy {what} names {key!r}; for related tables name a column as 'table.column', one of the "
                    f"tables {sorted(frames)}"
                )


def _declared(declared: Mapping[str, Any], table: str) -> dict[str, Any]:
    prefix = f"{table}."
    return {key[len(prefix):]: value for key, value in declared.items() if key.startswith(prefix)}


def context_declarations(parent_model: Any, context_columns: Mapping[str, str]) -> tuple[dict[str, tuple[float, float]], dict[str, list[Any]]]:
    """Bounds and category lists of a child's context columns (``learned name -> parent's column``),
    read from the parent's private transformer: post-processing of the parent's run, so the
    child's run spends nothing on them."""
    from engine.transform.columns.categorical import CategoricalEncoder
    from engine.transform.columns.datetime import DatetimeEncoder
    from engine.transform.columns.numeric import NumericEncoder

    encoders = {enc.name: enc for enc in parent_model.transformer_.encoders_}
    bounds: dict[str, tuple[float, float]] = {}
    categories: dict[str, list[Any]] = {}
    for name, source in context_columns.items():
        enc = encoders.get(source)
        if isinstance(enc, CategoricalEncoder):
            levels = enc.levels.to_list()
            if all(v is None or isinstance(v, (str, int, float, bool)) for v in levels) and len(set(map(repr, levels))) == len(levels):
                categories[name] = levels
        elif isinstance(enc, (NumericEncoder, DatetimeEncoder)):
            origin = enc.origin if isinstance(enc, DatetimeEncoder) else 0
            lo, hi = float(enc.core.lo + origin), float(enc.core.hi + origin)
            if np.isfinite(lo) and np.isfinite(hi):
                bounds[name] = (lo, hi if hi > lo else lo + 1.0)
    return bounds, categories


def schema_report(privacy: Privacy, reports: Mapping[str, Mapping[str, Any]], *, budgets: Mapping[str, tuple[float, float]],
                  entities: Mapping[str, int], caps: Mapping[str, int], max_rows: Mapping[str, int]) -> dict[str, Any]:
    """What each table's run spent and the schema's total (see the module doc); JSON-safe."""
    from engine.privacy.run import accountant_epsilon

    tables: dict[str, Any] = {}
    history: list[tuple[float, float, int]] = []
    accountant_delta = 0.0
    for table, report in reports.items():
        epsilon_t, delta_t = budgets[table]
        tables[table] = {
            "epsilon": float(report["epsilon"]),
            "delta": float(report["delta"]),
            "epsilon_target": epsilon_t,
            "delta_target": delta_t,
            "accountant": report["accountant"],
            "mechanism": report["mechanism"],
            "max_children": caps.get(table),
            "max_rows_per_entity": max_rows[table],
            "entities": entities[table],
        }
        history += [(float(s), float(q), int(t)) for s, q, t in report["history"]]
        accountant_delta += float(report["accountant_delta"])
    basic = sum(t["epsilon"] for t in tables.values())
    rdp = accountant_epsilon(history, delta=accountant_delta, accountant="rdp") if history else 0.0
    total_delta = sum(t["delta"] for t in tables.values())
    return {
        "unit": UNIT,
        "epsilon": min(basic, rdp),
        "delta": total_delta,
        "epsilon_target": privacy.epsilon,
        "delta_target": privacy.delta,
        "epsilon_basic_composition": basic,
        "epsilon_rdp_composition": rdp,
        "composition": "rdp" if rdp < basic else "basic",
        "budget_rule": BUDGET_RULE,
        "tables": tables,
        "config": privacy.to_dict(),
    }


__all__ = [
    "BUDGET_RULE",
    "DEFAULT_MAX_CHILDREN",
    "UNIT",
    "EntityTables",
    "check_declarations",
    "check_forest",
    "check_options",
    "context_declarations",
    "entity_groups",
    "resolve_max_children",
    "schema_report",
    "split_budget",
    "table_privacy",
    "truncate",
]
