"""Deciding each column's semantic type from its measurements, with the reason in words.

The rules run in a fixed order and the first that applies wins, so every decision can be
explained in one sentence ("integer with 73 distinct values over 32,561 rows -> continuous").
The thresholds are module constants so that the reasons and the docs can quote them.
"""

from __future__ import annotations

from engine.profiling import names
from engine.profiling.stats import ColumnFacts
from engine.schema import SemanticType

# Integers (or whole-number floats) with at most this many distinct values are discrete.
DISCRETE_MAX_DISTINCT = 25
# Key-named columns with more distinct values than this are identifiers (foreign keys);
# with fewer they are categorical codes (``district_id`` with 77 districts).
KEY_CODES_MAX_DISTINCT = 100
# Strings with at least this share of distinct values cannot be learned as categories.
NEAR_UNIQUE_RATIO = 0.95
# ... but only from this many non-null values on (a 77-row table of unique names is categorical).
NEAR_UNIQUE_MIN_VALUES = 100
# Free text: mostly distinct strings made of several words, or long and with spaces (a single
# long token, such as an e-mail address, a URL or a hash, is not text).
TEXT_MIN_DISTINCT_RATIO = 0.5
TEXT_MIN_MEAN_LENGTH = 30.0
TEXT_MIN_MEAN_SPACES = 3.0
TEXT_LONG_MIN_MEAN_SPACES = 1.0
# Unique single-token strings are codes (identifiers) when nearly all values look like one.
CODE_MIN_SHARE = 0.99
# Unique consecutive integers are a row number or a key, from this many values on.
SEQUENCE_MIN_VALUES = 20


def classify(f: ColumnFacts) -> tuple[SemanticType, str]:
    """Return the semantic type of a measured column and the one-sentence reason for it."""
    nonnull = f.nonnull
    if nonnull == 0:
        return SemanticType.EMPTY, f"all {f.n_rows:,} values are null"
    prefix = _parse_prefix(f)
    if f.n_distinct == 1:
        return SemanticType.CONSTANT, f"{prefix}a single distinct value over {nonnull:,} non-null rows"
    if f.kind == "boolean":
        return SemanticType.BOOLEAN, f"boolean dtype with {f.n_distinct} distinct values"
    if f.kind == "temporal":
        if f.parsed_from:
            return SemanticType.DATETIME, f"{prefix.rstrip(', ')} -> datetime"
        return SemanticType.DATETIME, f"{f.dtype} dtype -> datetime"
    if f.n_distinct == 2:
        return SemanticType.BOOLEAN, f"{prefix}2 distinct values -> boolean"
    if f.kind == "integer":
        return _integer(f, prefix)
    if f.kind == "float":
        return _float(f, prefix)
    return _string(f)


def _parse_prefix(f: ColumnFacts) -> str:
    if not f.parsed_from:
        return f"{f.note}: " if f.note else ""
    if f.parsed_from == "number-string":
        return "strings that parse as numbers, "
    kind, _, fmt = f.parsed_from.partition(":")
    what = "dates" if kind == "date-string" else "timestamps"
    return f"strings that parse as {what} (format {fmt}), "


def _integer(f: ColumnFacts, prefix: str) -> tuple[SemanticType, str]:
    strong, weak = names.is_strong_key_name(f.name), names.is_weak_key_name(f.name)
    if f.is_unique and (strong or weak):
        return SemanticType.IDENTIFIER, f"{prefix}unique integers in a key-named column -> identifier"
    if (
        f.is_unique
        and f.nonnull >= SEQUENCE_MIN_VALUES
        and f.minimum is not None
        and f.maximum is not None
        and f.maximum - f.minimum + 1 == f.n_distinct
    ):
        return SemanticType.IDENTIFIER, f"{prefix}unique consecutive integers (a row number or key) -> identifier"
    if strong and f.n_distinct > KEY_CODES_MAX_DISTINCT:
        return (
            SemanticType.IDENTIFIER,
            f"{prefix}key-named integers with {f.n_distinct:,} distinct values (a foreign key) -> identifier",
        )
    if strong:
        return (
            SemanticType.CATEGORICAL,
            f"{prefix}key-named integer codes with {f.n_distinct} distinct values -> categorical",
        )
    if f.n_distinct <= DISCRETE_MAX_DISTINCT:
        return SemanticType.DISCRETE, f"{prefix}integer with {f.n_distinct} distinct values -> discrete"
    return (
        SemanticType.CONTINUOUS,
        f"{prefix}integer with {f.n_distinct:,} distinct values over {f.nonnull:,} rows -> continuous",
    )


def _float(f: ColumnFacts, prefix: str) -> tuple[SemanticType, str]:
    if f.whole and f.n_distinct <= DISCRETE_MAX_DISTINCT:
        return SemanticType.DISCRETE, f"{prefix}whole-number floats with {f.n_distinct} distinct values -> discrete"
    return (
        SemanticType.CONTINUOUS,
        f"{prefix}floats with {f.n_distinct:,} distinct values over {f.nonnull:,} rows -> continuous",
    )


def _string(f: ColumnFacts) -> tuple[SemanticType, str]:
    nonnull = f.nonnull
    ratio = f.n_distinct / nonnull
    strong, weak = names.is_strong_key_name(f.name), names.is_weak_key_name(f.name)
    mean_len = f.mean_len or 0.0
    mean_spaces = f.mean_spaces or 0.0
    if f.is_unique and (strong or weak):
        return SemanticType.IDENTIFIER, "unique strings in a key-named column -> identifier"
    long_with_spaces = mean_len >= TEXT_MIN_MEAN_LENGTH and mean_spaces >= TEXT_LONG_MIN_MEAN_SPACES
    if ratio >= TEXT_MIN_DISTINCT_RATIO and (long_with_spaces or mean_spaces >= TEXT_MIN_MEAN_SPACES):
        return (
            SemanticType.TEXT,
            f"{ratio:.0%} distinct strings of {mean_len:.0f} characters and {mean_spaces + 1:.1f} words on average -> free text",
        )
    if f.is_unique and nonnull >= NEAR_UNIQUE_MIN_VALUES and (f.code_share or 0.0) >= CODE_MIN_SHARE:
        return SemanticType.IDENTIFIER, f"unique single-token strings (codes) over {nonnull:,} rows -> identifier"
    if ratio >= NEAR_UNIQUE_RATIO and nonnull >= NEAR_UNIQUE_MIN_VALUES:
        return (
            SemanticType.IDENTIFIER,
            f"{ratio:.1%} of {nonnull:,} strings are distinct, too many to learn as categories -> identifier",
        )
    if strong and f.n_distinct > KEY_CODES_MAX_DISTINCT:
        return (
            SemanticType.IDENTIFIER,
            f"key-named strings with {f.n_distinct:,} distinct values (a foreign key) -> identifier",
        )
    return SemanticType.CATEGORICAL, f"{f.n_distinct:,} distinct labels over {nonnull:,} rows -> categorical"
