"""PII detection runs on every column whatever its semantic type, and on unhinted integer columns.

Frames are real adult rows plus one generated column each. Card numbers are the networks'
published test numbers or built with a plain-Python Luhn reference written here, independent
of the profiler's vectorised check. Column names carry no PII hint unless a test says so.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import engine
from engine.schema import SemanticType
from tests.engine.test_profile_pii import _luhn_check_digit

N = 2_000
VISA_TEST, MASTERCARD_TEST = "4111111111111111", "5555555555554444"  # published Luhn-valid test numbers


@pytest.fixture(scope="module")
def adult(datasets) -> pl.DataFrame:
    return pl.read_csv(datasets / "adult.csv").head(N)


def _findings(prof) -> dict[str, tuple[str, str]]:
    return {f.column: (f.kind, f.treatment) for f in prof.pii}


def test_two_card_numbers_typed_boolean_are_reported_with_their_treatment(adult):
    cards = [VISA_TEST if i % 3 else MASTERCARD_TEST for i in range(N)]
    prof = engine.profile(adult.with_columns(pl.Series("payment", cards)))
    column = prof.columns["payment"]
    assert column.semantic_type == SemanticType.BOOLEAN  # two distinct values
    assert _findings(prof)["payment"] == ("credit_card", "fake")
    assert (column.pii_kind, column.pii_treatment) == ("credit_card", "fake")
    assert column.to_dict()["pii_kind"] == "credit_card"
    assert column.to_dict()["pii_treatment"] == "fake"
    roles = prof.recommendation.settings["columns"]
    assert "payment" in roles["fake"] and "payment" not in roles["learn"]


def test_a_constant_column_of_one_card_number_is_reported(adult):
    prof = engine.profile(adult.with_columns(pl.lit(VISA_TEST).alias("payment")))
    assert prof.columns["payment"].semantic_type == SemanticType.CONSTANT
    assert _findings(prof)["payment"] == ("credit_card", "fake")
    assert "payment" in prof.recommendation.settings["columns"]["fake"]


def test_columns_without_pii_carry_no_pii_fields(adult):
    prof = engine.profile(adult)
    assert all(c.pii_kind is None and c.pii_treatment is None for c in prof.columns.values())


def _integer_cards(rng: np.random.Generator, n: int, *, valid: bool = True) -> list[int]:
    out = []
    for _ in range(n):
        body = str(rng.choice([4, 5])) + "".join(str(d) for d in rng.integers(0, 10, 14))
        check = int(_luhn_check_digit(body))
        out.append(int(body + str(check if valid else (check + 1) % 10)))
    return out


def test_integer_card_numbers_are_found_without_a_name_hint(adult):
    rng = np.random.default_rng(11)
    frame = adult.with_columns(
        pl.Series("instrument", _integer_cards(rng, N), dtype=pl.Int64),
        pl.Series("reference", _integer_cards(rng, N, valid=False), dtype=pl.Int64),
    )
    found = _findings(engine.profile(frame))
    assert found.get("instrument") == ("credit_card", "fake")
    assert "reference" not in found


def _nanp(rng: np.random.Generator, n: int) -> list[int]:
    area, exchange, line = rng.integers(200, 1000, n), rng.integers(200, 1000, n), rng.integers(0, 10_000, n)
    national = area * 10**7 + exchange * 10**4 + line
    return [int(x) + (10**10 if i % 2 else 0) for i, x in enumerate(national)]  # every other one E.164 (1 + 10 digits)


def test_integer_phone_numbers_are_found_without_a_name_hint(adult):
    rng = np.random.default_rng(12)
    prof = engine.profile(adult.with_columns(pl.Series("reach", _nanp(rng, N), dtype=pl.Int64)))
    assert _findings(prof).get("reach") == ("phone", "fake")


def test_ten_digit_ids_are_not_phone_numbers(adult):
    rng = np.random.default_rng(13)
    frame = adult.with_columns(
        pl.Series("block_id", np.arange(3_333_000_000, 3_333_000_000 + N), dtype=pl.Int64),  # consecutive
        pl.Series("random_id", rng.integers(10**9, 10**10, N), dtype=pl.Int64),  # uniform over 10 digits
        pl.Series("epoch_s", rng.integers(1_500_000_000, 1_700_000_000, N), dtype=pl.Int64),  # Unix seconds
    )
    assert _findings(engine.profile(frame)) == {}


def _integer_ssns(rng: np.random.Generator, n: int) -> list[int]:
    area = rng.integers(1, 900, n)
    area = np.where(area == 666, 665, area)
    group, serial = rng.integers(1, 100, n), rng.integers(1, 10_000, n)
    return [int(x) for x in area * 10**6 + group * 10**4 + serial]


def test_integer_ssns_are_found_without_a_name_hint(adult):
    rng = np.random.default_rng(14)
    prof = engine.profile(adult.with_columns(pl.Series("tax_ref", _integer_ssns(rng, N), dtype=pl.Int64)))
    assert _findings(prof).get("tax_ref") == ("us_ssn", "drop")
    assert "tax_ref" in prof.recommendation.settings["columns"]["drop"]


def test_integer_ssns_under_an_ssn_name_keep_areas_below_100(adult):
    rng = np.random.default_rng(15)
    area, group, serial = rng.integers(1, 100, 50), rng.integers(1, 100, 50), rng.integers(1, 10_000, 50)
    low = [int(x) for x in area * 10**6 + group * 10**4 + serial]  # areas 001-099: 7-8 digits as integers
    frame = adult.head(50).with_columns(pl.Series("ssn", low, dtype=pl.Int64))
    assert _findings(engine.profile(frame)).get("ssn") == ("us_ssn", "drop")


def test_nine_digit_ids_are_not_ssns(adult):
    rng = np.random.default_rng(16)
    frame = adult.with_columns(
        pl.Series("block_id", np.arange(100_000_001, 100_000_001 + N), dtype=pl.Int64),  # consecutive: group 00
        pl.Series("random_id", rng.integers(10**8, 9 * 10**8, N), dtype=pl.Int64),  # no 9xx areas, 1% group 00
        pl.Series("narrow_id", rng.integers(210_000_000, 260_000_000, N), dtype=pl.Int64),  # areas 210-259
        pl.Series("host", (10 ** rng.uniform(3.4, 8.44, N)).astype(np.int64), dtype=pl.Int64),  # 4 to 9 digits
    )
    assert _findings(engine.profile(frame)) == {}


def test_a_small_column_of_ssn_shaped_integers_needs_a_name_hint(adult):
    rng = np.random.default_rng(17)
    frame = adult.head(200).with_columns(pl.Series("tax_ref", _integer_ssns(rng, 200), dtype=pl.Int64))
    assert _findings(engine.profile(frame)) == {}


@pytest.mark.parametrize(
    "path",
    [
        "adult.csv",
        "california_housing.csv.gz",
        "mushroom.csv",
        "nyc_airbnb_2019.csv.gz",
        "multitable/berka/order.csv.gz",  # 8-digit bank account numbers and integer IDs
        "multitable/berka/client.csv.gz",  # 6-digit birth numbers
    ],
)
def test_real_tables_raise_no_pii_finding(datasets, path):
    prof = engine.profile(pl.read_csv(datasets / path))
    assert prof.pii == []
    assert all(c.pii_kind is None for c in prof.columns.values())
