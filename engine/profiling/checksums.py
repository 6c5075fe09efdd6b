"""Check digits of card numbers (Luhn) and IBANs (ISO 13616 mod 97), vectorised with numpy.

PII detection counts the values that pass these checks: a random digit string passes Luhn one
time in ten and mod 97 about one time in a hundred, so a column where most values pass holds
card numbers or IBANs, not arbitrary digits.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def luhn_remainder(digits: np.ndarray) -> np.ndarray:
    """The Luhn sum mod 10 of each row of a digit matrix (ints 0-9, the check digit in the last column)."""
    d = digits.astype(np.int64)
    double = (np.arange(d.shape[1])[::-1] % 2) == 1  # every second digit from the right, check digit first
    doubled = d[:, double] * 2
    d[:, double] = np.where(doubled > 9, doubled - 9, doubled)
    return d.sum(axis=1) % 10


def luhn_valid(digits: pl.Series) -> np.ndarray:
    """Boolean array: does each digit string (13-19 digits) pass the Luhn check?"""
    width = 19
    padded = digits.str.pad_start(width, "0")
    matrix = np.frombuffer("".join(padded.to_list()).encode("ascii"), dtype=np.uint8).reshape(-1, width)
    return luhn_remainder(matrix.astype(np.int64) - 48) == 0


def mod97_remainder(codes: np.ndarray) -> np.ndarray:
    """ISO 13616's mod 97 of each row of a matrix of ASCII codes read as one number (digits as
    themselves, upper-case letters as 10-35, anything else skipped)."""
    remainder = np.zeros(codes.shape[0], dtype=np.int64)
    for j in range(codes.shape[1]):  # over character positions, vectorised over all values
        c = codes[:, j].astype(np.int64)
        is_digit = (c >= 48) & (c <= 57)
        is_letter = (c >= 65) & (c <= 90)
        remainder = np.where(is_digit, (remainder * 10 + c - 48) % 97, remainder)
        remainder = np.where(is_letter, (remainder * 100 + c - 55) % 97, remainder)
    return remainder


def iban_valid(ibans: pl.Series) -> np.ndarray:
    """Boolean array: does each compact upper-case IBAN pass the ISO 13616 mod-97 check?"""
    width = 34
    rearranged = (ibans.str.slice(4) + ibans.str.slice(0, 4)).str.pad_start(width, " ")
    matrix = np.frombuffer("".join(rearranged.to_list()).encode("ascii"), dtype=np.uint8).reshape(-1, width)
    return mod97_remainder(matrix) == 1
