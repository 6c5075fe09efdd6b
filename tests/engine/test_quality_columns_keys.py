"""Which unique integer columns the quality report compares: keys are skipped, saying why."""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.quality.columns import prepare
from tests.conftest import DATASETS

BERKA = DATASETS / "multitable" / "berka"


def specs(frame: pl.DataFrame) -> dict[str, tuple[str, str]]:
    prep = prepare(frame, frame, None, column_types={}, max_int_levels=10)
    return {s.name: (s.kind, s.reason) for s in prep.specs}


def test_a_sparse_unique_integer_key_is_skipped_as_a_regenerated_key():
    loans = pl.read_csv(f"{BERKA}/loan.csv.gz", try_parse_dates=True)  # loan_id spans 3.4x its count

    kind, reason = specs(loans)["loan_id"]

    assert kind == "skip"
    assert "key-named" in reason and "regenerate" in reason and "not compared" in reason


def test_dense_unique_integers_are_skipped_as_a_row_key_whatever_their_name():
    frame = pl.read_csv(f"{BERKA}/loan.csv.gz", try_parse_dates=True).with_row_index("row").cast({"row": pl.Int64})

    kind, reason = specs(frame)["row"]

    assert kind == "skip" and "row key" in reason


def test_sparse_unique_integers_without_a_key_name_are_compared_as_numbers():
    loans = pl.read_csv(f"{BERKA}/loan.csv.gz", try_parse_dates=True)
    frame = loans.with_columns(pl.Series("weight", np.arange(loans.height) * 7 + 11))

    assert specs(frame)["weight"][0] == "numeric"
