"""Personal data in integer columns whose name gives no hint: card numbers, phone numbers, SSNs.

An integer has lost what makes the string form recognisable (the ``+``, spaces and brackets of
a phone number, the dashes of an SSN, leading zeros), and integer ID columns are common, so each
rule asks for evidence that a generic ID column does not give:

- **card numbers**: 13-19 digits with a leading 2-6 (the major industry identifiers of the
  payment networks: 2 and 5 Mastercard, 3 Amex/JCB/Diners, 4 Visa, 6 Discover/UnionPay/Maestro)
  and a valid Luhn check digit on at least ``CARD_MIN_SHARE`` of the values. Random digits pass
  Luhn one time in ten, so IDs reach that share only if they carry a Luhn check digit too.
- **phone numbers**: North American numbers, national (10 digits, area and exchange codes
  starting 2-9) or E.164 without the ``+`` (the same with country code 1 in front), on at least
  ``PHONE_MIN_SHARE`` of the values; at least ``MIN_DISTINCT_SHARE`` of them distinct (a number
  belongs to a person or a household, so it repeats little; a code shared by many rows is not a
  phone number); and sparse, on average at least ``PHONE_MIN_GAP`` apart (a block of consecutive
  IDs is dense). Random 10-digit IDs fit the shape about 71% of the time, so a column of them
  fails the 99% share. Other countries' numbers stored as integers have lost the ``+`` and the
  trunk ``0``: by value alone they cannot be told from IDs, so they need a name hint.
- **SSNs**: every value, zero-padded to 9 digits, follows the SSA's issuing rules (area not
  000, 666 or 900-999, group not 00, serial not 0000), and the areas span at least
  ``SSN_MIN_AREA_SPAN`` of 001-899, as the numbers of a population do. A 9-digit count or ID
  column fails: one that starts low pads to area 000, one in a narrow block spans few areas,
  and one drawn uniformly breaks a rule on about 1% of its values (group 00, area 666 or 9xx).

Phone numbers and SSNs also need ``MIN_DISTINCT`` distinct values: with fewer, random IDs can
fit by chance (500 uniform 9-digit IDs below 900,000,000 all follow the SSN rules with
probability about 0.4%), so a smaller column needs its name to say what it holds.
"""

from __future__ import annotations

import polars as pl

from engine.profiling.checksums import luhn_valid

CARD_MIN_SHARE = 0.9
PHONE_MIN_SHARE = 0.99
SSN_MIN_SHARE = 1.0
MIN_SHARE = {"credit_card": CARD_MIN_SHARE, "phone": PHONE_MIN_SHARE, "us_ssn": SSN_MIN_SHARE}
"""Share of the checked values that must match, per kind, for an integer column without a hint."""

MIN_DISTINCT = 500
MIN_DISTINCT_SHARE = 0.5
PHONE_MIN_GAP = 100
SSN_MIN_AREA_SPAN = 400

# Value ranges that can hold each kind: the cheap screen run on every integer column first.
CARD_MIN_VALUE = 10**12
OTHER_MIN_VALUE = 1_000_000  # the smallest valid SSN, 001-01-0001, is 1,010,001
OTHER_MAX_VALUE = 2 * 10**10  # above every 11-digit North American number (1 + 10 digits)

_NANP = r"^[2-9]\d{2}[2-9]\d{6}$"


def possible(col: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Boolean expressions over an integer column: could each value be a card number / a phone or SSN?"""
    card = col >= CARD_MIN_VALUE
    other = (col >= OTHER_MIN_VALUE) & (col < OTHER_MAX_VALUE)
    return card, other


def count(kind: str, digits: pl.Series) -> int | None:
    """How many of the digit strings (a non-negative integer column cast to strings) are ``kind``.

    None when the column as a whole fails the kind's column-level evidence (too few distinct
    values, too dense, too narrow) or the kind is not looked for in unhinted integers.
    """
    if kind == "credit_card":
        candidates = digits.filter(digits.str.contains(r"^[2-6]\d{12,18}$"))
        return int(luhn_valid(candidates).sum()) if candidates.len() else 0
    if kind not in ("phone", "us_ssn"):
        return None
    n_distinct = digits.n_unique()
    if n_distinct < MIN_DISTINCT or n_distinct < MIN_DISTINCT_SHARE * digits.len():
        return None
    return _phones(digits) if kind == "phone" else _ssns(digits)


def _phones(digits: pl.Series) -> int | None:
    national = digits.str.replace(r"^1(\d{10})$", "$1")
    shaped = national.str.contains(_NANP)
    numbers = national.filter(shaped).cast(pl.Int64).unique()
    if numbers.len() < 2:
        return None
    gap = (numbers.max() - numbers.min()) / (numbers.len() - 1)  # type: ignore[operator]
    return int(shaped.sum()) if gap >= PHONE_MIN_GAP else None


def _ssns(digits: pl.Series) -> int | None:
    padded = digits.str.pad_start(9, "0")
    valid = digits.str.contains(r"^\d{1,9}$") & ssn_rules(padded)
    areas = padded.filter(valid).str.slice(0, 3).cast(pl.Int32)
    if areas.len() == 0 or areas.max() - areas.min() < SSN_MIN_AREA_SPAN:  # type: ignore[operator]
        return None
    return int(valid.sum())


def ssn_rules(nine_digits: pl.Series) -> pl.Series:
    """Per value: do the 9 digits follow the SSA's rules (no area 000/666/9xx, group 00, serial 0000)?"""
    area, group, serial = nine_digits.str.slice(0, 3), nine_digits.str.slice(3, 2), nine_digits.str.slice(5, 4)
    return ~area.is_in(["000", "666"]) & ~area.str.starts_with("9") & (group != "00") & (serial != "0000")
