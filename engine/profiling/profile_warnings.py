"""Plain-language warnings about a profiled table, each with a code the app can filter on.

Codes: ``too_few_rows``, ``empty``, ``constant``, ``high_cardinality``, ``skewed``,
``identifying``, ``derived_column``, ``overflow``. The thresholds are module constants quoted in the messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engine.profiling.dependencies import Dependency
from engine.profiling.results import ColumnProfile, PIIFinding, ProfileWarning
from engine.schema import SemanticType

# Fewer rows than this and a generative model has little to learn from.
MIN_ROWS = 1_000
# Categorical columns with more categories than this are hard to learn and leak rare values.
HIGH_CARDINALITY = 100
# Continuous columns whose sample skewness exceeds this (in absolute value) are heavily skewed.
SKEW_THRESHOLD = 2.0
# A column holding personal data with at least this share of distinct values points at one person.
IDENTIFYING_DISTINCT_RATIO = 0.9


def collect(
    *,
    n_rows: int,
    columns: Mapping[str, ColumnProfile],
    skew: Mapping[str, float | None],
    pii: Sequence[PIIFinding],
    dependencies: Sequence[Dependency],
    overflowed: Mapping[str, Sequence[str]] | None = None,
) -> list[ProfileWarning]:
    """All warnings for one table, table-level first, then per column in column order."""
    out: list[ProfileWarning] = []
    if n_rows < MIN_ROWS:
        out.append(
            ProfileWarning(
                code="too_few_rows",
                column=None,
                message=(
                    f"Only {n_rows:,} rows: a generative model needs about {MIN_ROWS:,} rows or more to learn "
                    "the distributions; expect weaker fidelity or collect more data."
                ),
            )
        )
    pii_by_column = {f.column: f for f in pii}
    for name, col in columns.items():
        out.extend(_column_warnings(name, col, n_rows, skew.get(name), pii_by_column.get(name)))
        lost = (overflowed or {}).get(name)
        if lost:
            out.append(
                ProfileWarning(
                    "overflow",
                    name,
                    f"Column {name!r} holds values near the float64 limit (about 1.8e308): its "
                    f"{', '.join(lost)} overflow and are left out of the statistics. Rescale the column "
                    "(e.g. divide by a power of ten) if they matter.",
                    (name,),
                )
            )
    for dep in dependencies:
        out.append(_dependency_warning(dep, columns))
    return out


def _column_warnings(
    name: str, col: ColumnProfile, n_rows: int, skew: float | None, finding: PIIFinding | None
) -> list[ProfileWarning]:
    out: list[ProfileWarning] = []
    st = col.semantic_type
    if st == SemanticType.EMPTY:
        out.append(
            ProfileWarning("empty", name, f"Column {name!r} holds only nulls; it carries no information and will be left out.", (name,))
        )
    elif st == SemanticType.CONSTANT:
        out.append(
            ProfileWarning(
                "constant", name, f"Column {name!r} has a single value; it is copied as-is, not learned.", (name,)
            )
        )
    elif st == SemanticType.CATEGORICAL and col.n_distinct > HIGH_CARDINALITY:
        out.append(
            ProfileWarning(
                "high_cardinality",
                name,
                f"Column {name!r} has {col.n_distinct:,} categories (more than {HIGH_CARDINALITY}); rare ones are "
                "hard to learn and are merged by the rare-category protection.",
                (name,),
            )
        )
    if st == SemanticType.CONTINUOUS and skew is not None and abs(skew) > SKEW_THRESHOLD:
        out.append(
            ProfileWarning(
                "skewed",
                name,
                f"Column {name!r} is heavily skewed (skewness {skew:.1f}, beyond {SKEW_THRESHOLD:g}); extreme values "
                "beyond the k-th most extreme on each side are clipped, and its tail will be approximate.",
                (name,),
            )
        )
    distinct_ratio = col.n_distinct / max(1, n_rows - col.null_count)
    if finding is not None and distinct_ratio >= IDENTIFYING_DISTINCT_RATIO:
        out.append(
            ProfileWarning(
                "identifying",
                name,
                f"Column {name!r} is nearly unique per row ({distinct_ratio:.0%} distinct) and holds "
                f"{finding.kind.replace('_', ' ')} values: it identifies people (suggested treatment: "
                f"{finding.treatment}).",
                (name,),
            )
        )
    return out


def _dependency_warning(dep: Dependency, columns: Mapping[str, ColumnProfile]) -> ProfileWarning:
    a, b = dep.determinant, dep.dependent
    if dep.mutual:
        message = (
            f"Columns {a!r} and {b!r} map one-to-one ({columns[a].n_distinct} values each): one is derived from the "
            "other; keep both only if the model must reproduce the mapping exactly."
        )
    else:
        message = (
            f"Column {b!r} is a function of {a!r}: each value of {a!r} comes with a single value of {b!r} "
            "(a hierarchy or a derived column)."
        )
    return ProfileWarning("derived_column", b, message, (a, b))
