"""inverse(transform(x)) gives back every column of every real dataset, for both encodings.

The exactness contract (see ``engine.transform``'s docstring) is checked here with the two
protections disabled, ``rare_category_k=1`` and ``cap_quantiles=None``, because merging rare
levels and capping extremes change values on purpose; both are tested separately in
test_transform.py. Large files are cut to their first 20,000 rows, and the mixtures are fitted
on 2,000 values, to keep the file fast; neither changes what is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.schema import SemanticType
from engine.transform import DataTransformer

ROWS = 20_000
FILES = [
    "adult.csv",
    "california_housing.csv.gz",
    "nyc_airbnb_2019.csv.gz",
    "mushroom.csv",
    "multitable/baseball/players.csv.gz",
    "multitable/baseball/batting.csv.gz",
    "multitable/baseball/fielding.csv.gz",
    "multitable/berka/district.csv.gz",
    "multitable/berka/account.csv.gz",
    "multitable/berka/client.csv.gz",
    "multitable/berka/disp.csv.gz",
    "multitable/berka/card.csv.gz",
    "multitable/berka/loan.csv.gz",
    "multitable/berka/order.csv.gz",
    "timeseries/nasdaq100_2019.csv.gz",
    "timeseries/beijing_air_quality_4stations.csv.gz",
]
EXACT_KINDS = {
    SemanticType.CATEGORICAL,
    SemanticType.DISCRETE,
    SemanticType.BOOLEAN,
    SemanticType.CONSTANT,
    SemanticType.EMPTY,
    SemanticType.TEXT,
}
# Per the datasets README: adult writes missing values as " ?" (after its leading space),
# mushroom and the berka district table as "?", Beijing as "NA". Date strings become Date.
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
NULL_MARKERS = {"adult.csv": [" ?"], "mushroom.csv": ["?"], "district.csv.gz": ["?"], "beijing": ["NA"]}


def read_dataset(root: Path, name: str, *, rows: int | None = ROWS, columns: list[str] | None = None) -> pl.DataFrame:
    """Read one dataset file with polars the way its README says, first ``rows`` rows."""
    markers = next((v for k, v in NULL_MARKERS.items() if k in name), None)
    df = pl.read_csv(root / name, infer_schema_length=None, n_rows=rows, null_values=markers, columns=columns)
    if name == "adult.csv":
        df = df.with_columns(pl.col(pl.String).str.strip_chars_start())
    # YYYY-MM-DD columns become Date (polars' own try_parse_dates is far slower on these files)
    strings = [c for c, t in df.schema.items() if t == pl.String]
    dates = [c for c in strings if df.get_column(c).drop_nulls().str.contains(ISO_DATE).all()]
    return df.with_columns(pl.col(dates).str.to_date("%Y-%m-%d")) if dates else df


def numeric_view(s: pl.Series) -> np.ndarray:
    """Numbers, days or time-unit ticks of a numeric or temporal column, NaN for null."""
    return s.to_physical().cast(pl.Float64).to_numpy()


@dataclass
class RoundTrip:
    """One file, its fitted transformer and both encodings there and back (computed once)."""

    df: pl.DataFrame
    transformer: DataTransformer
    matrix: np.ndarray
    restored: pl.DataFrame
    codes: np.ndarray
    restored_tokens: pl.DataFrame


@pytest.fixture(scope="module", params=FILES)
def fitted(request, datasets) -> RoundTrip:
    df = read_dataset(datasets, request.param)
    transformer = DataTransformer(rare_category_k=1, cap_quantiles=None, gmm_sample_rows=2_000).fit(df)
    matrix = transformer.transform(df)
    codes = transformer.transform_tokens(df)
    return RoundTrip(
        df, transformer, matrix, transformer.inverse_transform(matrix), codes, transformer.inverse_tokens(codes, seed=7)
    )


def _check_column(name: str, original: pl.Series, restored: pl.Series, transformer: DataTransformer, encoding: str):
    kind = transformer.kinds_[name]
    assert restored.dtype == original.dtype, f"{name}: dtype {restored.dtype} != {original.dtype}"
    assert len(restored) == len(original)
    if kind is SemanticType.IDENTIFIER:
        assert restored.null_count() == 0 and restored.n_unique() == len(restored), f"{name}: keys not unique"
        return
    assert restored.is_null().equals(original.is_null()), f"{name}: null pattern changed"
    if kind in EXACT_KINDS:
        assert restored.equals(original), f"{name}: values changed"
        return
    a, b = numeric_view(original), numeric_view(restored)
    present = ~np.isnan(a)
    error = float(np.max(np.abs(a[present] - b[present]))) if present.any() else 0.0
    bound = transformer.max_error(name, encoding=encoding)
    assert error <= bound, f"{name}: error {error} above the stated precision {bound}"


def test_float_encoding_restores_every_column_with_its_dtype(fitted):
    df, transformer, restored = fitted.df, fitted.transformer, fitted.restored
    assert restored.columns == df.columns
    for name in df.columns:
        _check_column(name, df.get_column(name), restored.get_column(name), transformer, "float")


def test_token_encoding_restores_every_column_with_its_dtype(fitted):
    df, transformer, restored = fitted.df, fitted.transformer, fitted.restored_tokens
    assert restored.columns == df.columns
    for name in df.columns:
        _check_column(name, df.get_column(name), restored.get_column(name), transformer, "tokens")


def test_stated_precision_is_a_small_fraction_of_each_range(fitted):
    # The contract in numbers: float encoding within 2.4e-7 of the range, tokens within
    # 4 / (n_bins * n_fine_bins) of it, each plus at most half a unit of rounding.
    df, transformer = fitted.df, fitted.transformer
    for name in df.columns:
        if transformer.kinds_[name] not in (SemanticType.CONTINUOUS, SemanticType.DATETIME):
            continue
        values = numeric_view(df.get_column(name))
        span = float(np.nanmax(values) - np.nanmin(values))
        assert transformer.max_error(name, encoding="float") <= 2.4e-7 * span + 0.5
        assert transformer.max_error(name, encoding="tokens") <= 4 * span / (100 * 100) * (1 + 1e-12) + 0.5


def test_numbers_that_fit_the_float32_precision_come_back_exactly(fitted):
    # When 2.4e-7 of the range is below half a unit of the column's precision, rounding undoes
    # the float32 error: integers with a range under two million, dates, most decimals.
    df, transformer, restored = fitted.df, fitted.transformer, fitted.restored
    for name in df.columns:
        if transformer.kinds_[name] not in (SemanticType.CONTINUOUS, SemanticType.DATETIME):
            continue
        if transformer.max_error(name, encoding="float") < 0.5 and (
            df.schema[name].is_integer() or isinstance(df.schema[name], (pl.Date, pl.Datetime))
        ):
            assert restored.get_column(name).equals(df.get_column(name)), name


def test_token_codes_stay_inside_each_vocabulary(fitted):
    df, transformer, codes = fitted.df, fitted.transformer, fitted.codes
    assert codes.dtype == np.int64 and codes.shape == (df.height, len(transformer.token_info_))
    for j, token in enumerate(transformer.token_info_):
        assert codes[:, j].min() >= 0 and codes[:, j].max() < token.vocab_size, token
        if token.kind != "fine":
            nulls = df.get_column(token.column).is_null().to_numpy()
            assert np.array_equal(codes[:, j] == token.null_code, nulls), token


def test_float_matrix_matches_its_span_layout(fitted):
    df, transformer, matrix = fitted.df, fitted.transformer, fitted.matrix
    assert matrix.dtype == np.float32 and matrix.shape == (df.height, transformer.output_dim_)
    assert sum(span.size for span in transformer.output_info_) == transformer.output_dim_
    for span, start in zip(transformer.output_info_, transformer.span_starts_):
        block = matrix[:, start : start + span.size]
        if span.activation == "softmax":
            assert np.array_equal(block.sum(axis=1), np.ones(df.height, np.float32)), span
            assert set(np.unique(block)) <= {0.0, 1.0}, span
        else:
            assert np.abs(block).max() <= 1.0, span
