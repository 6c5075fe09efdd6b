"""Finding columns that are functions of other columns (education -> education-num in adult).

Column ``a`` determines ``b`` exactly when the pair (a, b) has as many distinct values as ``a``
alone. Every eligible column is turned into dense integer codes once; then all pair counts are
one polars select over pair codes ``code_a * (max_b + 1) + code_b``, on a slice of the sample.
Null counts as a value of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from engine.schema import SemanticType

# Only columns with 2..FD_MAX_DISTINCT distinct values take part (keys and free text never do).
FD_MAX_DISTINCT = 1_000
# Rows of the sample the check runs on.
FD_SAMPLE_ROWS = 50_000
# A determinant needs this many rows per distinct value on average; with fewer, 'each value
# has a single partner' happens by accident in small groups.
FD_MIN_ROWS_PER_VALUE = 20
# At most this many columns take part (the lowest-cardinality ones), which bounds the pairs.
FD_MAX_COLUMNS = 80
# Dependencies found on the sample are confirmed on the full data, at most this many of them
# (a rule that holds on 50,000 rows may fail on a handful of others).
FD_MAX_CONFIRMED = 20

_SKIP = (SemanticType.IDENTIFIER, SemanticType.TEXT, SemanticType.CONSTANT, SemanticType.EMPTY)


@dataclass(frozen=True)
class Dependency:
    """``dependent`` is a function of ``determinant``; ``mutual`` when each determines the other."""

    determinant: str
    dependent: str
    mutual: bool


def find(
    sample: pl.DataFrame,
    full: pl.DataFrame,
    semantic: dict[str, SemanticType],
    n_distinct: dict[str, int],
) -> list[Dependency]:
    """Exact functional dependencies between eligible column pairs, one entry per pair.

    Pairs are screened on (a slice of) the random ``sample``, then confirmed on ``full``.
    """
    rows = min(sample.height, FD_SAMPLE_ROWS)
    eligible = [
        name
        for name in sample.columns
        if semantic[name] not in _SKIP and 2 <= n_distinct[name] <= FD_MAX_DISTINCT
    ]
    eligible = sorted(eligible, key=lambda c: n_distinct[c])[:FD_MAX_COLUMNS]
    if len(eligible) < 2 or rows == 0:
        return []
    part = sample.head(rows)
    codes = part.select([pl.col(c).rank("dense").fill_null(0).cast(pl.UInt64) for c in eligible])
    single = codes.select([pl.col(c).n_unique() for c in eligible]).row(0, named=True)
    top = codes.select([pl.col(c).max() for c in eligible]).row(0, named=True)
    exprs: list[pl.Expr] = []
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(eligible):
        for b in eligible[i + 1 :]:
            exprs.append((pl.col(a) * (int(top[b]) + 1) + pl.col(b)).n_unique().alias(f"{len(pairs)}"))
            pairs.append((a, b))
    joint = codes.select(exprs).row(0)
    found: list[Dependency] = []
    for (a, b), together in zip(pairs, joint, strict=True):
        a_decides = together == single[a] and single[a] * FD_MIN_ROWS_PER_VALUE <= rows
        b_decides = together == single[b] and single[b] * FD_MIN_ROWS_PER_VALUE <= rows
        if a_decides and b_decides:
            found.append(Dependency(a, b, mutual=True))
        elif a_decides:
            found.append(Dependency(a, b, mutual=False))
        elif b_decides:
            found.append(Dependency(b, a, mutual=False))
    return _confirm(found[:FD_MAX_CONFIRMED], full) if full.height > rows else found[:FD_MAX_CONFIRMED]


def _confirm(found: list[Dependency], full: pl.DataFrame) -> list[Dependency]:
    """Keep the dependencies that hold on every row; a one-to-one pair may drop to one-way."""
    if not found:
        return []
    names = sorted({d.determinant for d in found} | {d.dependent for d in found})
    exprs = [pl.col(c).n_unique().alias(f"1|{c}") for c in names]
    exprs += [pl.struct(d.determinant, d.dependent).n_unique().alias(f"2|{i}") for i, d in enumerate(found)]
    counts = full.select(exprs).row(0, named=True)
    confirmed: list[Dependency] = []
    for i, d in enumerate(found):
        together = counts[f"2|{i}"]
        forward = together == counts[f"1|{d.determinant}"]
        backward = together == counts[f"1|{d.dependent}"]
        if forward:
            confirmed.append(Dependency(d.determinant, d.dependent, mutual=d.mutual and backward))
        elif d.mutual and backward:
            confirmed.append(Dependency(d.dependent, d.determinant, mutual=False))
    return confirmed
