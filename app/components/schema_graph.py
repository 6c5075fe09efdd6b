"""A schema version's tables and relations: the graph (Graphviz DOT), the relations table and the user's edits.

The pure parts — ``schema_dot``, ``relation_rows``, ``relations_frame``, ``edited_keys`` — build
strings, frames and the ``keys=`` mapping from what a schema version stores (its source's
``tables`` and ``keys``, its profile's ``relations``), so tests reach them without a browser.
``relations_editor`` draws the widgets with stable keys: a checkbox per relation (kept or
not), four pickers and a button to add or change one.

In the graph a table is a box with its row count and primary key; an edge runs from the child
table to its parent, labelled ``child column → parent column``. A declared relation (by the
database or the user) is a solid line; an inferred one is dashed and says its confidence; a
relation the profile suggests but the keys leave out is dotted and grey.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from app.components.literal_text import markdown_literal

DECLARED_COLOR = "#1f4e79"
INFERRED_COLOR = "#c0504d"
SUGGESTED_COLOR = "#9e9e9e"


@dataclass(frozen=True)
class RelationRow:
    """One relation of a schema version, as stored in its profile's ``relations``."""

    child: str
    child_column: str
    parent: str
    parent_column: str
    confidence: float = 1.0
    declared: bool = False
    inferred: bool = False
    used: bool = True

    @property
    def label(self) -> str:
        """``loan.account_id -> account.account_id``: the relation in the ``keys=`` shape."""
        return f"{self.child}.{self.child_column} -> {self.parent}.{self.parent_column}"

    @property
    def origin(self) -> str:
        """Where the relation came from, in words: declared, inferred (confidence), or both."""
        if self.declared and self.inferred:
            return f"declared; also inferred ({self.confidence:.0%})"
        if self.declared:
            return "declared"
        return f"inferred ({self.confidence:.0%})"


def relation_rows(relations: Sequence[Mapping[str, Any]]) -> list[RelationRow]:
    """The stored relations (a schema version's ``profile["relations"]``) as rows."""
    return [
        RelationRow(child=str(r["child"]), child_column=str(r["child_column"]), parent=str(r["parent"]),
                    parent_column=str(r["parent_column"]), confidence=float(r.get("confidence", 1.0)),
                    declared=bool(r.get("declared")), inferred=bool(r.get("inferred")), used=bool(r.get("used", True)))
        for r in relations
    ]


def relations_frame(rows: Sequence[RelationRow]) -> pl.DataFrame:
    """The relations table the Profile page shows: one row per relation, used ones first."""
    ordered = sorted(rows, key=lambda r: not r.used)
    return pl.DataFrame(
        {
            "child table": [r.child for r in ordered],
            "child column": [r.child_column for r in ordered],
            "parent table": [r.parent for r in ordered],
            "parent column": [r.parent_column for r in ordered],
            "from": [r.origin for r in ordered],
            "confidence": [r.confidence for r in ordered],
            "used in training": [r.used for r in ordered],
        },
        schema_overrides={"confidence": pl.Float64, "used in training": pl.Boolean},
    )


def edited_keys(
    *, primary_keys: Mapping[str, str], rows: Sequence[RelationRow], kept: Sequence[str], added: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``keys=`` mapping after the user's edits.

    ``kept``: the labels of the relations the user keeps (``RelationRow.label``); ``added``:
    relations the user added, as labels; one for a child column that already has a relation
    replaces it (that is how a relation is changed). A relation's parent column becomes its
    parent's primary key; other tables keep theirs. The engine checks the result when it is
    saved.
    """
    by_child: dict[str, str] = {}
    for label in [r.label for r in rows if r.label in set(kept)] + list(added):
        child, _, _ = _split(label)
        by_child[child] = label
    primary = dict(primary_keys)
    for label in by_child.values():
        _, parent, parent_column = _split(label)
        primary[parent] = parent_column
    return {"primary_keys": primary, "foreign_keys": list(by_child.values())}


def relation_label(*, child: str, child_column: str, parent: str, parent_column: str) -> str:
    """``child.column -> parent.column``, the form ``keys["foreign_keys"]`` holds."""
    return f"{child}.{child_column} -> {parent}.{parent_column}"


def _split(label: str) -> tuple[str, str, str]:
    """``"loan.account_id -> account.id"`` -> ``("loan.account_id", "account", "id")``."""
    left, _, right = label.partition("->")
    parent, _, parent_column = right.strip().partition(".")
    return left.strip(), parent, parent_column


def schema_dot(
    *, tables: Mapping[str, Mapping[str, Any]], primary_keys: Mapping[str, str], relations: Sequence[RelationRow]
) -> str:
    """The schema as a Graphviz DOT digraph: tables as boxes, relations as edges child -> parent.

    ``tables``: a schema version's ``source["tables"]`` (``{name: {"rows": int, ...}}``).
    """
    lines = [
        "digraph schema {",
        '  graph [rankdir=LR, bgcolor="transparent", nodesep=0.4, ranksep=0.8];',
        '  node [shape=box, style="rounded,filled", fillcolor="#f4f6fa", color="#5b6b82", fontname="Helvetica", '
        "fontsize=11];",
        '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.7];',
    ]
    for name in sorted(tables):
        rows = tables[name].get("rows")
        parts = [name, f"{int(rows):,} rows" if rows is not None else "", f"key: {primary_keys[name]}"
                 if primary_keys.get(name) else "no key"]
        lines.append(f"  {_quote(name)} [label={_quote(chr(10).join(p for p in parts if p))}];")
    for row in relations:
        if row.child not in tables or row.parent not in tables:
            continue
        text = f"{row.child_column} → {row.parent_column}"
        if not row.used:
            style, color, text = "dotted", SUGGESTED_COLOR, f"{text}\nsuggested {row.confidence:.2f}"
        elif row.declared:
            style, color = "solid", DECLARED_COLOR
            text += "\ndeclared" if not row.inferred else f"\ndeclared ({row.confidence:.2f})"
        else:
            style, color, text = "dashed", INFERRED_COLOR, f"{text}\ninferred {row.confidence:.2f}"
        lines.append(f"  {_quote(row.child)} -> {_quote(row.parent)} [label={_quote(text)}, style={style}, "
                     f'color="{color}", fontcolor="{color}"];')
    lines.append("}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """A DOT string literal: backslashes and quotes escaped, new lines as DOT's ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_schema_graph(*, tables: Mapping[str, Mapping[str, Any]], primary_keys: Mapping[str, str],
                        relations: Sequence[RelationRow]) -> None:
    """The graph, with a caption saying how to read it."""
    st.graphviz_chart(schema_dot(tables=tables, primary_keys=primary_keys, relations=relations))
    st.caption("Arrows run from a child table to its parent, labelled child column → parent column. Solid: declared "
               "(by the database or by you); dashed: inferred from the data, with its confidence; dotted grey: "
               "suggested by the profile but not used.")


def relations_editor(
    *, rows: Sequence[RelationRow], columns: Mapping[str, Sequence[str]], key: str
) -> tuple[list[str], list[str]]:
    """Checkboxes to keep or remove each relation, and pickers to add or change one.

    Returns ``(kept labels, added labels)`` for ``edited_keys``. Widget keys start with
    ``key``: ``{key}_keep_{i}`` per relation (in ``rows``' order), ``{key}_child_table``,
    ``{key}_child_column``, ``{key}_parent_table``, ``{key}_parent_column`` and the button
    ``{key}_add``. Added relations are kept in ``st.session_state[f"{key}_added"]``.
    """
    kept = []
    for index, row in enumerate(rows):
        if st.checkbox(f"{markdown_literal(row.label)} · {row.origin}", value=row.used, key=f"{key}_keep_{index}"):
            kept.append(row.label)
    added: list[str] = st.session_state.setdefault(f"{key}_added", [])
    names = sorted(columns)
    st.markdown("**Add or change a relation.** A new relation for a child column that already has one replaces it.")
    cells = st.columns(4)
    child = cells[0].selectbox("Child table", names, key=f"{key}_child_table")
    child_column = cells[1].selectbox("Child column", list(columns.get(child, [])), key=f"{key}_child_column")
    parents = [n for n in names if n != child] or names
    parent = cells[2].selectbox("Parent table", parents, key=f"{key}_parent_table")
    parent_column = cells[3].selectbox("Parent column", list(columns.get(parent, [])), key=f"{key}_parent_column")
    if st.button("Add relation", key=f"{key}_add", icon=":material/add_link:") and child_column and parent_column:
        label = relation_label(child=child, child_column=child_column, parent=parent, parent_column=parent_column)
        if label not in added:
            added.append(label)
    if added:
        st.markdown("**Added:** " + ", ".join(markdown_literal(a) for a in added))
        if st.button("Clear the added relations", key=f"{key}_clear", icon=":material/link_off:"):
            added.clear()
            st.rerun()
    return kept, list(added)


__all__ = [
    "RelationRow",
    "edited_keys",
    "relation_label",
    "relation_rows",
    "relations_frame",
    "relations_editor",
    "render_schema_graph",
    "schema_dot",
]
