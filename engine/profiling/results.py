"""The records a profile is made of: frozen dataclasses, each with a JSON-ready ``to_dict``.

They are plain values so that pages, workers and the metadata DB can store and show them
without importing the profiler; ``Profile.to_dict()`` goes through ``json.dumps`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.schema import SemanticType


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds and why it was given its semantic type.

    ``stats`` holds min, max, mean, std and the quantiles p01..p99 for numeric columns; for
    datetime columns every entry is an ISO string except ``std``, which is in seconds.
    ``top_categories`` are ``(value, count, share)`` with share of the non-null values.
    ``histogram`` is ``{"edges": [...], "counts": [...]}`` (len(edges) == len(counts) + 1),
    computed on the sample, ready for a plotly bar chart.
    ``pii_kind`` and ``pii_treatment`` repeat the column's ``PIIFinding`` (``Profile.pii``), if
    any, whatever the semantic type: a column of two card numbers is typed boolean and is still
    treated as card numbers (faked, never learned as a boolean).
    """

    name: str
    dtype: str
    semantic_type: SemanticType
    reason: str
    null_share: float
    n_distinct: int
    stats: dict[str, Any] | None = None
    top_categories: list[tuple[str, int, float]] = field(default_factory=list)
    histogram: dict[str, list[Any]] | None = None
    datetime_range: tuple[str, str] | None = None
    datetime_granularity: str | None = None
    # Additions beyond the contract.
    null_count: int = 0
    is_unique: bool = False  # every non-null value distinct and no nulls, on the full data
    top_categories_from_sample: bool = False  # counts are those of the sample, not the full data
    parsed_from: str | None = None  # "date-string:%Y-%m-%d" / "number-string" when values were parsed
    pii_kind: str | None = None  # PIIFinding.kind when the column holds personal data
    pii_treatment: str | None = None  # PIIFinding.treatment: drop, fake, keep

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "semantic_type": self.semantic_type.value,
            "reason": self.reason,
            "null_share": self.null_share,
            "null_count": self.null_count,
            "n_distinct": self.n_distinct,
            "is_unique": self.is_unique,
            "stats": dict(self.stats) if self.stats is not None else None,
            "top_categories": [[v, c, s] for v, c, s in self.top_categories],
            "top_categories_from_sample": self.top_categories_from_sample,
            "histogram": {k: list(v) for k, v in self.histogram.items()} if self.histogram else None,
            "datetime_range": list(self.datetime_range) if self.datetime_range else None,
            "datetime_granularity": self.datetime_granularity,
            "parsed_from": self.parsed_from,
            "pii_kind": self.pii_kind,
            "pii_treatment": self.pii_treatment,
        }


@dataclass(frozen=True)
class PIIFinding:
    """A column whose values look like personal data, with what to do about it."""

    column: str
    kind: str  # email, phone, credit_card, iban, us_ssn, ip_address, postcode, person_name
    share: float  # share of the non-null (checked) values that match
    treatment: str  # drop, fake, keep
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "share": self.share, "treatment": self.treatment, "reason": self.reason}


@dataclass(frozen=True)
class ProfileWarning:
    """Something about the data that a user should know before training on it."""

    code: str  # too_few_rows, high_cardinality, skewed, identifying, derived_column, constant, empty
    column: str | None
    message: str
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "column": self.column, "columns": list(self.columns), "message": self.message}


@dataclass(frozen=True)
class ModelRecommendation:
    """The model and settings the profile suggests, with the reason in plain language."""

    model: str  # argn, ctgan, tvae
    settings: dict[str, Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "settings": dict(self.settings), "reason": self.reason}


@dataclass(frozen=True)
class Profile:
    """The profile of one table (see ``engine.profiling.profile``)."""

    n_rows: int
    n_columns: int
    sampled_rows: int
    columns: dict[str, ColumnProfile]
    pii: list[PIIFinding]
    key_candidates: list[str]
    warnings: list[ProfileWarning]
    recommendation: ModelRecommendation
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "sampled_rows": self.sampled_rows,
            "seed": self.seed,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "pii": [p.to_dict() for p in self.pii],
            "key_candidates": list(self.key_candidates),
            "warnings": [w.to_dict() for w in self.warnings],
            "recommendation": self.recommendation.to_dict(),
        }


@dataclass(frozen=True)
class ForeignKeyCandidate:
    """A column of one table whose values point at a key of another table."""

    child_table: str
    child_column: str
    parent_table: str
    parent_column: str
    confidence: float  # 0..1; reported when >= keys.FK_REPORT_THRESHOLD or declared
    reason: str
    inclusion: float = 0.0  # share of the child's distinct non-null values found in the parent key
    declared: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "child_table": self.child_table,
            "child_column": self.child_column,
            "parent_table": self.parent_table,
            "parent_column": self.parent_column,
            "confidence": self.confidence,
            "inclusion": self.inclusion,
            "declared": self.declared,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class TablesProfile:
    """The profiles of a set of related tables plus the keys that link them."""

    tables: dict[str, Profile]
    primary_keys: dict[str, list[str]]  # table -> candidate key columns, best first
    foreign_keys: list[ForeignKeyCandidate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": {name: p.to_dict() for name, p in self.tables.items()},
            "primary_keys": {name: list(cols) for name, cols in self.primary_keys.items()},
            "foreign_keys": [fk.to_dict() for fk in self.foreign_keys],
        }
