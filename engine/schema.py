"""The vocabulary of column kinds shared by profiling, encoding and models.

The profile decides a column's ``SemanticType`` (with a reason); the transformer and the models
read that decision instead of guessing again from dtypes.
"""

from __future__ import annotations

from enum import Enum


class SemanticType(str, Enum):
    """What a column means, which decides how it is encoded and generated."""

    CONTINUOUS = "continuous"  # numbers on a scale with many distinct values
    DISCRETE = "discrete"  # integers with few distinct values (counts, ratings)
    CATEGORICAL = "categorical"  # a label from a finite set
    BOOLEAN = "boolean"  # two values that mean yes/no
    DATETIME = "datetime"  # dates or timestamps (also parsed from strings)
    IDENTIFIER = "identifier"  # a key: unique (or nearly) per row, regenerated, never learned
    TEXT = "text"  # free text: long, mostly unique strings
    CONSTANT = "constant"  # one value (nulls aside)
    EMPTY = "empty"  # nulls only

    def __str__(self) -> str:  # so f-strings and JSON show "continuous", not the member name
        return self.value
