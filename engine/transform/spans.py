"""The layout of the two encodings: float spans for CTGAN/TVAE, token sub-columns for ARGN.

A model never looks inside the encoders; it reads these small records instead. ``Span`` says
which slice of the float matrix belongs to which column and which output activation (and so
which loss) that slice needs. ``TokenColumn`` says how large the vocabulary of one integer
sub-column is and which code, if any, stands for a missing value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Activation = Literal["tanh", "softmax"]

# What a span holds. "softmax" kinds are one-hot blocks (exactly one 1 per row); "tanh" kinds
# are scalars in [-1, 1].
SPAN_KINDS: dict[str, Activation] = {
    "value": "tanh",  # mode-normalised scalar of a continuous column (or a datetime's linear part)
    "mode": "softmax",  # which Gaussian mode the scalar is relative to
    "null": "softmax",  # [present, missing] indicator of a numeric or datetime column
    "category": "softmax",  # one-hot of a categorical / discrete / boolean column (null is a level)
    "digit": "softmax",  # one base-k digit of a high-cardinality category code
    "day_of_week": "tanh",  # sin, cos
    "day_of_year": "tanh",  # sin, cos
    "time_of_day": "tanh",  # sin, cos
}

TOKEN_KINDS = ("category", "coarse", "fine")


@dataclass(frozen=True)
class Span:
    """One contiguous slice of ``DataTransformer.transform`` output.

    ``column`` is the source column, ``kind`` one of ``SPAN_KINDS``, ``size`` the number of
    float columns and ``activation`` the output activation a model applies to the slice:
    ``"tanh"`` for normalised scalars, ``"softmax"`` for one-hot blocks (trained with
    cross-entropy against the argmax of the encoded block).
    """

    column: str
    kind: str
    size: int
    activation: Activation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Span:
        return cls(column=d["column"], kind=d["kind"], size=int(d["size"]), activation=d["activation"])


@dataclass(frozen=True)
class ConditionSpan:
    """A one-hot span CTGAN may condition on: a low-cardinality column's full category block.

    ``index`` is the span's position in ``output_info_``; ``start`` its first column in the
    float matrix, so the block is ``matrix[:, start:start + size]``.
    """

    column: str
    index: int
    start: int
    size: int


@dataclass(frozen=True)
class TokenColumn:
    """One integer sub-column of ``DataTransformer.transform_tokens`` output.

    ``kind`` is ``"category"`` (a categorical's level code), ``"coarse"`` (a numeric or
    datetime column's quantile bin) or ``"fine"`` (the sub-bin within that coarse bin).
    Codes lie in ``range(vocab_size)``. ``null_code`` is the code that means "missing"
    (``None`` when the column had no nulls, or for a ``fine`` sub-column).
    """

    column: str
    kind: str
    vocab_size: int
    null_code: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_spans(spans: list[Span]) -> tuple[int, list[int], list[int], list[int]]:
    """A layout's width, its scalar ("tanh") columns, and its one-hot blocks' starts and sizes."""
    position, scalars, starts, sizes = 0, [], [], []
    for span in spans:
        if span.activation == "tanh":
            scalars.extend(range(position, position + span.size))
        else:
            starts.append(position)
            sizes.append(span.size)
        position += span.size
    return position, scalars, starts, sizes

