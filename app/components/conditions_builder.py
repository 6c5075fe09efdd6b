"""The conditions builder of the Generate page: column, operator, value rows, and the expression they make.

A user adds conditions one row at a time; the page shows the expression they add up to
(``age > 65 and sex == 'Female'``) and hands the engine either that expression or, when a
column's name is not a plain identifier (``hours-per-week``), the dict form
(``{"hours-per-week": 40}``), which only knows "equals" and "is one of". The engine checks
columns and values against the model's schema (``engine.models.conditions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.components.literal_text import markdown_literal
from engine.errors import ConfigError

OPERATORS: dict[str, str] = {
    "equals": "==",
    "is not": "!=",
    "greater than": ">",
    "at least": ">=",
    "less than": "<",
    "at most": "<=",
    "is one of": "in",
    "is missing": "== None",
}
NUMERIC_ONLY = {"greater than", "at least", "less than", "at most"}
NUMERIC_TYPES = {"continuous", "discrete"}


@dataclass(frozen=True)
class Condition:
    """One row of the builder."""

    column: str
    operator: str  # a key of OPERATORS
    value: Any = None  # a number, a string, a list (is one of) or None (is missing)

    def text(self) -> str:
        if self.operator == "is missing":
            return f"{self.column} == None"
        return f"{self.column} {OPERATORS[self.operator]} {self.value!r}"


def expression(conditions: list[Condition]) -> str:
    """The expression the rows make, joined with ``and`` (what the page shows)."""
    return " and ".join(c.text() for c in conditions)


def request_form(conditions: list[Condition]) -> str | dict[str, Any] | None:
    """What to send to the generation service: the expression, the dict form, or None for no condition."""
    if not conditions:
        return None
    if all(c.column.isidentifier() for c in conditions):
        return expression(conditions)
    if all(c.operator in ("equals", "is one of", "is missing") for c in conditions):
        out: dict[str, Any] = {}
        for c in conditions:
            if c.column in out:
                raise ConfigError(f"column {c.column!r} has two conditions; keep one, or use 'is one of'")
            out[c.column] = None if c.operator == "is missing" else c.value
        return out
    awkward = next(c.column for c in conditions if not c.column.isidentifier())
    raise ConfigError(
        f"column {awkward!r} has a name the condition language cannot spell in a comparison; "
        "with such a column only 'equals', 'is one of' and 'is missing' can be used"
    )


@dataclass(frozen=True)
class ColumnChoice:
    """A column the builder offers: its semantic type and, for categories, the known values."""

    name: str
    semantic_type: str
    values: list[str]


def columns_from_profile(profile: Any) -> list[ColumnChoice]:
    """The builder's columns from a dataset version's profile (``engine.profiling.Profile``)."""
    out = []
    for name, column in profile.columns.items():
        kind = str(column.semantic_type)
        if kind in ("identifier", "empty", "text"):
            continue
        out.append(ColumnChoice(name=name, semantic_type=kind, values=[str(v) for v, _, _ in column.top_categories]))
    return out


def conditions_builder(columns: list[ColumnChoice], *, key: str) -> list[Condition]:
    """Draw the builder (add and remove rows); returns the current conditions."""
    state_key = f"{key}_conditions"
    conditions: list[Condition] = st.session_state.setdefault(state_key, [])
    if not columns:
        st.caption("This model's table has no column a condition can use.")
        return conditions
    by_name = {c.name: c for c in columns}
    cells = st.columns([3, 2, 3, 1], vertical_alignment="bottom")
    column_name = cells[0].selectbox("Column", list(by_name), key=f"{key}_column")
    choice = by_name[column_name]
    numeric = choice.semantic_type in NUMERIC_TYPES
    operators = [op for op in OPERATORS if numeric or op not in NUMERIC_ONLY]
    operator = cells[1].selectbox("Operator", operators, key=f"{key}_operator")
    value: Any = None
    if operator == "is missing":
        cells[2].caption("no value needed")
    elif operator == "is one of":
        value = cells[2].multiselect("Values", choice.values, key=f"{key}_values_{column_name}",
                                     accept_new_options=True)
    elif numeric:
        value = cells[2].number_input("Value", value=0.0, key=f"{key}_number_{column_name}")
        value = int(value) if float(value).is_integer() else float(value)
    elif choice.values:
        value = cells[2].selectbox("Value", choice.values, key=f"{key}_value_{column_name}", accept_new_options=True)
    else:
        value = cells[2].text_input("Value", key=f"{key}_text_{column_name}")
    if cells[3].button("Add", key=f"{key}_add", icon=":material/add:"):
        if operator == "is one of" and not value:
            st.warning("Pick at least one value for 'is one of'.")
        elif value is None and operator != "is missing":
            st.warning("Choose a value first.")
        else:
            st.session_state[state_key] = conditions = [*conditions, Condition(column_name, operator, value)]
    for index, condition in enumerate(conditions):
        row = st.columns([4, 1], vertical_alignment="center")
        row[0].markdown(markdown_literal(condition.text()))
        if row[1].button("Remove", key=f"{key}_remove_{index}", icon=":material/close:"):
            st.session_state[state_key] = [c for i, c in enumerate(conditions) if i != index]
            st.rerun()
    return list(st.session_state[state_key])


def clear_conditions(*, key: str) -> None:
    st.session_state.pop(f"{key}_conditions", None)


__all__ = ["OPERATORS", "ColumnChoice", "Condition", "clear_conditions", "columns_from_profile", "generate_request",
           "conditions_builder", "expression", "request_form"]


def generate_request(allowed: bool, conditions: list[Condition]) -> tuple[str | dict[str, Any] | None] | None:
    """The Generate button of a whole-dataset form: ``(request_form(conditions),)`` once pressed, else None.

    ``allowed``: whether the session's role may generate (no button otherwise). A condition the
    language cannot spell is shown as an error and gives None, as an unpressed button does.
    """
    if not (allowed and st.button("Generate", type="primary", icon=":material/auto_awesome:", key="generate_start")):
        return None
    try:
        return (request_form(conditions),)
    except Exception as err:  # a condition the language cannot spell: say which
        st.error(markdown_literal(str(err)), icon=":material/error:")
        return None
