"""Conditions on generated rows: a small, safe expression language or a dict, as polars filters.

Two spellings:

- an expression string, e.g. ``"age > 65 and sex == 'Female'"``, ``"18 <= age < 30"``,
  ``"workclass in ['Private', 'State-gov'] or not (income == '>50K')"``,
  ``"occupation == None"`` (missing). Allowed: column names, string / number / boolean /
  None constants, lists or tuples of constants, comparisons ``== != < <= > >= in not in``
  (chains too), ``and``, ``or``, ``not`` and parentheses. Nothing is evaluated: the text is
  parsed with ``ast`` and every node is checked against that list, so a condition cannot
  call functions, read attributes or run code. A column whose name is not a Python
  identifier (``hours-per-week``, ``first name``, ``""``) is written in backticks:
  ``"`hours-per-week` > 40"``. Nesting is limited to ``MAX_DEPTH`` levels
  (``ConditionTooComplexError``), so a hostile condition cannot exhaust the stack.
- a dict ``{column: value}``: every entry must hold; a list, tuple or set value means
  "one of"; ``None`` means missing.

Columns are checked against the model's schema and constants against each column's type
(a date column accepts ISO strings such as ``'2019-06-01'``); a mistake is a ``ConfigError``
naming it. An equality on a column whose training values are known but do not include the
value is reported at once as infeasible (``InfeasibleConditionError``). The top-level ``and``
terms are kept apart (``ConditionSet.conjuncts``) so that categorical equalities can go to a
model's native conditioning and a failing condition can be named.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from engine.errors import ConfigError, LimitExceededError

_MAX_TEXT = 10_000
# Deepest nesting of a condition's syntax tree (``not not ... x`` or ``((...))``): far above
# any real condition, far below what would exhaust Python's stack while it is checked.
MAX_DEPTH = 200
_COMPARE_OPS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class InfeasibleConditionError(ConfigError):
    """Generation cannot meet the conditions: the message names the condition and its acceptance rate."""

    def __init__(self, message: str, *, condition: str, acceptance_rate: float) -> None:
        super().__init__(message)
        self.condition = condition
        self.acceptance_rate = acceptance_rate


class ConditionTooComplexError(ConfigError, LimitExceededError):
    """A condition nests deeper than ``MAX_DEPTH`` levels; the message names the limit."""


@dataclass(frozen=True)
class Condition:
    """One top-level ``and`` term: its text, its polars expression and, for ``column == value``, the pair."""

    text: str
    expr: pl.Expr
    equality: tuple[str, Any] | None = None


@dataclass(frozen=True)
class ConditionSet:
    """All conditions of one request: every conjunct must hold."""

    text: str
    conjuncts: tuple[Condition, ...]

    @property
    def expr(self) -> pl.Expr:
        """The whole filter: the conjunction of every term (nulls count as false)."""
        out = self.conjuncts[0].expr
        for cond in self.conjuncts[1:]:
            out = out & cond.expr
        return out.fill_null(False)

    def equalities(self) -> dict[str, Any]:
        """``{column: value}`` for the terms that are plain equalities to a non-null constant."""
        out: dict[str, Any] = {}
        for cond in self.conjuncts:
            if cond.equality is not None and cond.equality[1] is not None and cond.equality[0] not in out:
                out[cond.equality[0]] = cond.equality[1]
        return out


def parse_conditions(
    conditions: str | Mapping[str, Any] | None,
    *,
    schema: Mapping[str, pl.DataType],
    domains: Mapping[str, list[Any]] | None = None,
) -> ConditionSet | None:
    """Parse ``conditions`` for a table of ``schema``; None when there are none.

    ``domains`` maps coded columns to their training values, for the early infeasibility
    check of equalities.
    """
    if conditions is None:
        return None
    if isinstance(conditions, str):
        parsed = _parse_text(conditions, schema)
    elif isinstance(conditions, Mapping):
        parsed = _parse_dict(conditions, schema)
    else:
        raise ConfigError(f"conditions must be an expression string or a dict {{column: value}}; got {type(conditions).__name__}")
    if parsed is not None and domains:
        _check_domains(parsed, domains)
    return parsed


# -- dict form -----------------------------------------------------------------------------
def _parse_dict(conditions: Mapping[str, Any], schema: Mapping[str, pl.DataType]) -> ConditionSet | None:
    if not conditions:
        return None
    conjuncts = []
    for column, value in conditions.items():
        if not isinstance(column, str):
            raise ConfigError(f"condition keys must be column names; got {column!r}")
        dtype = _column_dtype(column, schema)
        if isinstance(value, (list, tuple, set, frozenset)):
            values = [_constant(column, dtype, v) for v in value]
            if not values:
                raise ConfigError(f"condition on {column!r}: the list of allowed values is empty")
            text = f"{column} in {values!r}"
            conjuncts.append(Condition(text, _membership(column, values)))
        else:
            const = _constant(column, dtype, value)
            text = f"{column} == {const!r}"
            conjuncts.append(Condition(text, _compare(pl.col(column), "==", const), (column, const)))
    return ConditionSet(text=" and ".join(c.text for c in conjuncts), conjuncts=tuple(conjuncts))


# -- expression form -----------------------------------------------------------------------
def _parse_text(text: str, schema: Mapping[str, pl.DataType]) -> ConditionSet | None:
    if not text.strip():
        return None
    if len(text) > _MAX_TEXT:
        raise ConfigError(f"the condition is {len(text):,} characters long; at most {_MAX_TEXT:,} are allowed")
    source, quoted = _unquote_columns(text.strip(), text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ConfigError(
            f"condition {text!r} is not valid syntax at column {err.offset}: {err.msg}. {_QUOTING_HINT}"
        ) from None
    except (RecursionError, MemoryError):  # the parser's own stack, before any check of ours
        raise _too_deep(text) from None
    _check_depth(tree, text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in quoted:
            node.id = quoted[node.id]
    body = tree.body
    terms = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    conjuncts = []
    for term in terms:
        if isinstance(term, ast.Compare) and len(term.ops) > 1:  # 18 <= age < 30: one term per link
            for i, op in enumerate(term.ops):
                link = ast.Compare(left=term.left if i == 0 else term.comparators[i - 1], ops=[op], comparators=[term.comparators[i]])
                conjuncts.append(_term(link, text, source, quoted, schema))
        else:
            conjuncts.append(_term(term, text, source, quoted, schema))
    return ConditionSet(text=text.strip(), conjuncts=tuple(conjuncts))


_QUOTING_HINT = (
    "A column name that is not a plain identifier (letters, digits, _) goes in backticks, e.g. "
    "`hours-per-week` > 40, or use the dict form {column: value}"
)


def _unquote_columns(text: str, original: str) -> tuple[str, dict[str, str]]:
    """``text`` with each backtick-quoted column name replaced by a placeholder identifier.

    A small scanner: string literals (single, double, triple quoted, with escapes) are copied
    as they are, so a backtick inside a string is just a character. Returns the text for
    ``ast.parse`` and {placeholder: column name}.
    """
    prefix = "_doppel_column_"
    while prefix in text:
        prefix += "_"
    out: list[str] = []
    quoted: dict[str, str] = {}
    i, n, quote = 0, len(text), ""
    while i < n:
        if quote:
            if text.startswith(quote, i):
                out.append(quote)
                i += len(quote)
                quote = ""
            elif text[i] == "\\":
                out.append(text[i : i + 2])
                i += 2
            else:
                out.append(text[i])
                i += 1
        elif text[i] in "'\"":
            quote = text[i] * 3 if text.startswith(text[i] * 3, i) else text[i]
            out.append(quote)
            i += len(quote)
        elif text[i] == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ConfigError(f"condition {original!r}: the backtick at column {i + 1} is not closed")
            placeholder = f"{prefix}{len(quoted)}"
            quoted[placeholder] = text[i + 1 : end]
            out.append(placeholder)
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out), quoted


def _too_deep(text: str) -> ConditionTooComplexError:
    return ConditionTooComplexError(
        f"condition {text[:60]!r}{'...' if len(text) > 60 else ''} nests deeper than {MAX_DEPTH} levels "
        f"(not / parentheses / operators), the most allowed; simplify it, e.g. drop doubled `not`s"
    )


def _check_depth(tree: ast.AST, text: str) -> None:
    """Refuse trees nesting more than ``MAX_DEPTH`` expressions; iterative, so the check cannot overflow."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(text)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + isinstance(child, ast.expr)))


def _term(
    node: ast.expr, text: str, source: str, quoted: Mapping[str, str], schema: Mapping[str, pl.DataType]
) -> Condition:
    expr = _to_expr(node, text, schema)
    segment = ast.get_source_segment(source, node) or ast.unparse(node)
    for placeholder, name in quoted.items():
        segment = segment.replace(placeholder, f"`{name}`")
    return Condition(segment, expr, _equality(node, schema))


def _equality(node: ast.expr, schema: Mapping[str, pl.DataType]) -> tuple[str, Any] | None:
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return None
    left, right = node.left, node.comparators[0]
    if isinstance(right, ast.Name) and not isinstance(left, ast.Name):
        left, right = right, left
    if isinstance(left, ast.Name) and not isinstance(right, ast.Name):
        return left.id, _constant(left.id, schema[left.id], _literal(right, ""))
    return None


def _to_expr(node: ast.expr, text: str, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    if isinstance(node, ast.BoolOp):
        parts = [_to_expr(v, text, schema) for v in node.values]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node.op, ast.And) else (out | part)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_to_expr(node.operand, text, schema).fill_null(False)
    if isinstance(node, ast.Compare):
        out = None
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            part = _comparison(left, op, right, text, schema)
            out = part if out is None else out & part
            left = right
        assert out is not None
        return out
    if isinstance(node, ast.Name):
        raise ConfigError(f"condition {text!r}: a bare column ({node.id!r}) is not a condition; compare it, e.g. {node.id} == ...")
    raise ConfigError(
        f"condition {text!r}: {_describe(node)} is not allowed; use comparisons joined by and / or / not"
        f"{_name_hint(node, schema)}"
    )


def _name_hint(node: ast.AST, schema: Mapping[str, pl.DataType]) -> str:
    """Advice when ``node`` looks like a column name that Python read as arithmetic (``hours-per-week``)."""
    if not isinstance(node, ast.BinOp):
        return ""
    try:
        spelled = ast.unparse(node).replace(" ", "")
    except Exception:  # pragma: no cover - unparse handles every expression node
        return ""
    if spelled in schema:
        return (
            f". {spelled!r} is a column: write it in backticks, `{spelled}`, so that it is not read as "
            f"arithmetic, or use the dict form {{{spelled!r}: value}}"
        )
    if all(isinstance(n, (ast.BinOp, ast.Name, ast.Sub, ast.Div, ast.Mult, ast.Add, ast.Load)) for n in ast.walk(node)):
        return f". {_QUOTING_HINT}"
    return ""


def _comparison(left: ast.expr, op: ast.cmpop, right: ast.expr, text: str, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    name = _COMPARE_OPS.get(type(op))
    if name is None:
        raise ConfigError(f"condition {text!r}: the operator {type(op).__name__} is not allowed (allowed: {', '.join(_COMPARE_OPS.values())})")
    if name in ("in", "not in"):
        if not isinstance(left, ast.Name):
            raise ConfigError(f"condition {text!r}: the left side of {name!r} must be a column")
        dtype = _column_dtype(left.id, schema)
        if not isinstance(right, (ast.List, ast.Tuple, ast.Set)):
            raise ConfigError(f"condition {text!r}: {name!r} needs a list of values, e.g. {left.id} in ['a', 'b']")
        values = [_constant(left.id, dtype, _literal(v, text)) for v in right.elts]
        member = _membership(left.id, values)
        return member if name == "in" else ~member
    if isinstance(left, ast.Name) and isinstance(right, ast.Name):
        _column_dtype(left.id, schema), _column_dtype(right.id, schema)
        return _compare(pl.col(left.id), name, pl.col(right.id))
    if isinstance(right, ast.Name):  # 65 < age  ->  age > 65
        left, right, name = right, left, _FLIP[name]
    if not isinstance(left, ast.Name):
        culprit = left if not isinstance(left, ast.Constant) else right
        raise ConfigError(
            f"condition {text!r}: {_describe(culprit)} is not allowed; each comparison needs a column on one side "
            f"and a constant (or another column) on the other{_name_hint(culprit, schema)}"
        )
    dtype = _column_dtype(left.id, schema)
    value = _constant(left.id, dtype, _literal(right, text))
    if value is None and name not in ("==", "!="):
        raise ConfigError(f"condition {text!r}: None (missing) can only be compared with == or !=")
    if name not in ("==", "!=") and not _ordered(dtype):
        raise ConfigError(f"condition {text!r}: column {left.id!r} ({dtype}) has no order; use == != in or not in")
    return _compare(pl.col(left.id), name, value)


def _compare(col: pl.Expr, op: str, value: Any) -> pl.Expr:
    if value is None:
        return col.is_null() if op == "==" else col.is_not_null()
    other = value if isinstance(value, pl.Expr) else pl.lit(value)
    return {
        "==": col == other,
        "!=": col != other,
        "<": col < other,
        "<=": col <= other,
        ">": col > other,
        ">=": col >= other,
    }[op]


def _membership(column: str, values: list[Any]) -> pl.Expr:
    present = [v for v in values if v is not None]
    out = pl.col(column).is_in(present) if present else pl.lit(False)
    if len(present) < len(values):
        out = out | pl.col(column).is_null()
    return out


def _literal(node: ast.expr, text: str) -> Any:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    raise ConfigError(f"condition {text!r}: {_describe(node)} is not allowed where a constant is expected")


def _describe(node: ast.AST) -> str:
    try:
        return f"{type(node).__name__} `{ast.unparse(node)}`"
    except Exception:  # pragma: no cover - unparse handles every expression node
        return type(node).__name__


# -- types ---------------------------------------------------------------------------------
def _column_dtype(column: str, schema: Mapping[str, pl.DataType]) -> pl.DataType:
    if column not in schema:
        raise ConfigError(f"condition names unknown column {column!r}; the model's columns are {list(schema)}")
    return schema[column]


def _ordered(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype.is_temporal() or isinstance(dtype, (pl.String, pl.Decimal))


def _constant(column: str, dtype: pl.DataType, value: Any) -> Any:
    """``value`` checked (and, for temporal columns, converted) against the column's dtype."""
    if value is None:
        return None
    if isinstance(dtype, pl.Boolean):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"column {column!r} holds booleans; {value!r} is not True or False")
    if dtype.is_numeric() or isinstance(dtype, pl.Decimal):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise ConfigError(f"column {column!r} holds numbers ({dtype}); {value!r} is not a number")
    if isinstance(dtype, (pl.String, pl.Categorical, pl.Enum)):
        if isinstance(value, str):
            return value
        raise ConfigError(f"column {column!r} holds strings; {value!r} is not a string (quote it)")
    if isinstance(dtype, pl.Date):
        return _temporal(column, value, date_only=True)
    if isinstance(dtype, pl.Datetime):
        return _temporal(column, value, date_only=False)
    return value


def _temporal(column: str, value: Any, *, date_only: bool) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"column {column!r} holds dates; {value!r} is not an ISO date such as '2019-06-01'") from None
        return parsed.date() if date_only and len(value) <= 10 else parsed
    raise ConfigError(f"column {column!r} holds dates; give an ISO date string such as '2019-06-01', not {value!r}")


def _check_domains(parsed: ConditionSet, domains: Mapping[str, list[Any]]) -> None:
    for cond in parsed.conjuncts:
        if cond.equality is None:
            continue
        column, value = cond.equality
        domain = domains.get(column)
        if domain is not None and value not in domain:
            shown = [v for v in domain][:20]
            raise InfeasibleConditionError(
                f"condition `{cond.text}` cannot be met: {value!r} is not a value of {column!r} the model learned "
                f"(acceptance rate 0%); its values are {shown}{' ...' if len(domain) > 20 else ''}",
                condition=cond.text,
                acceptance_rate=0.0,
            )


__all__ = ["MAX_DEPTH", "Condition", "ConditionSet", "ConditionTooComplexError", "InfeasibleConditionError", "parse_conditions"]
