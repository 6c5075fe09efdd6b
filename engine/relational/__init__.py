"""Related tables: the key graph, its checks against the frames, and the generation plan.

- :mod:`engine.relational.schema`: a frozen :class:`Schema` from declared keys or a profile's
  inferred ones;
- :mod:`engine.relational.checks`: cycles, self-references, null or duplicated keys, key
  types and orphans, each refused with a message naming the tables and columns;
- :mod:`engine.relational.plan`: generation order, roots, each child's context parent and
  the children-per-parent counts of every relation;
- :mod:`engine.relational.graph`: order and cycles on table names.
"""

from __future__ import annotations

from engine.relational.checks import ORPHAN_OPTIONS, CheckedTables, check_graph, check_tables
from engine.relational.plan import ChildPlan, GenerationPlan, Relation, build_plan, children_per_parent
from engine.relational.schema import ForeignKey, Schema

__all__ = [
    "ORPHAN_OPTIONS",
    "CheckedTables",
    "ChildPlan",
    "ForeignKey",
    "GenerationPlan",
    "Relation",
    "Schema",
    "build_plan",
    "check_graph",
    "check_tables",
    "children_per_parent",
]
