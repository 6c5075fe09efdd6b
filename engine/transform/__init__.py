"""Reversible encoding of tables for the generative models (CTGAN, TVAE, ARGN).

One fitted ``DataTransformer`` gives two encodings of the same table:

1. ``transform(df) -> float32 matrix`` laid out by ``output_info_``, a list of
   ``Span(column, kind, size, activation)``: continuous columns as a mode-normalised scalar
   (tanh) plus a one-hot of the Gaussian mode (softmax); datetimes the same for their linear
   part plus (sin, cos) pairs for weekday, day of year and time of day; categoricals as a
   one-hot (softmax) up to ``max_onehot`` levels, as base-k digit one-hots above (width grows
   with log(levels)); a [present, missing] one-hot for every numeric or datetime column that
   had nulls (a categorical's null is one of its levels). ``condition_spans_`` lists the
   category one-hots CTGAN may condition on. ``inverse_transform`` takes that matrix or a
   model's raw output (argmax per softmax span, tanh values clipped).
2. ``transform_tokens(df) -> int64 matrix`` laid out by ``token_info_``, a list of
   ``TokenColumn(column, kind, vocab_size, null_code)``: a categorical is its level code;
   a numeric or datetime column is a coarse quantile-bin code (exact atoms for frequent
   values; the last code means missing) and a fine sub-bin code. ``inverse_tokens`` draws
   each value uniformly inside its fine bin, seeded.

Every encoder is built in one way, from its column's statistics
(``engine.transform.statistics``): ``fit(df)`` measures exact ones from the rows
(``measure(df)`` returns them); ``fit(df, statistics=...)`` builds from statistics handed in,
such as the private ones ``engine.privacy`` measures with accounted mechanisms, and reads no
row of ``df``.

Identifiers are never learned: they own no span or token (except an ordered key's hidden rank,
``engine.transform.key_order``) and are regenerated on inverse as new unique keys in the same
format. Columns of ``fake_columns`` (personal data: e-mail addresses, card numbers, names, ...)
own nothing either and come back as new fakes of their kind (``engine.transform.fakes``), never
a training value. Constant and empty columns come back as they were. Before fitting, the privacy protections of ``engine.transform.protect``
apply: levels on fewer than ``rare_category_k`` rows are merged (into ``OTHER_LABEL`` for
strings), numbers and datetimes are clipped by the ``extremes`` rule (by default at the k-th
most extreme value on each side, so every released extreme is held by at least k rows); both
are recorded in ``protections_`` (counts and clip values only, never the rare labels nor the
values beyond the clip values).

Round-trip contract (tested on every file of the project's datasets)
--------------------------------------------------------------------
``inverse(transform(x))`` and ``inverse_tokens(transform_tokens(x))`` return every column
with its original polars dtype, in the original order, with:

- nulls exactly where they were (NaN counts as null for float columns and comes back as
  null);
- categorical, boolean, discrete and constant values exactly, except rare levels (merged by
  design; disable with ``rare_category_k=1``) and values beyond the clip values (clipped by
  design; disable with ``extremes=None``);
- numbers and datetimes within ``max_error(column, encoding=...)``, which is at most:
  - float encoding: ``4 * sigma * 2**-24`` (sigma: the widest kept mode, never wider than the
    column's range), i.e. below ``2.4e-7 * (max - min)``, the cost of storing the normalised
    scalar in float32 (plus float64 rounding, 2.2e-16 of the values' magnitude); plus half a unit of the column's precision when rounding to it (0.5
    for integers and dates, ``0.5 * 10**-d`` for floats with ``d`` decimals, none for floats
    with more than 6 decimals). So whenever ``2.4e-7 * range`` is below half a unit, values
    come back exactly: dates, and integers with a range under two million, always do;
  - token encoding: the widest fine sub-bin, at most ``4 * range / (n_bins * n_fine_bins)``
    (1/2500 of the range by default), plus the same rounding; values frequent enough to be
    atoms, and every value of a column with at most ``n_bins`` distinct values, come back
    exactly;
- identifiers as new unique keys of the same dtype and format, not the originals.
"""

from engine.transform.protect import OTHER_LABEL
from engine.transform.spans import ConditionSpan, Span, TokenColumn
from engine.transform.transformer import DataTransformer

__all__ = ["OTHER_LABEL", "ConditionSpan", "DataTransformer", "Span", "TokenColumn"]
