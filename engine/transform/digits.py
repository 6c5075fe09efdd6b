"""The compact float encoding of a high-cardinality category: base-k digits of its code.

Above ``max_onehot`` levels a one-hot block is too wide (300k levels would mean 300k floats
per row). Levels are coded 0..n-1 by falling frequency, and the code is written in base
``k`` (``code_base``, 8 by default): ``ceil(log_k n)`` digits, each a small one-hot block,
most significant first. The most significant block is only as wide as the largest leading
digit needs, so width = (top digit + 1) + k * (digits - 1); with k = 8: 221 levels -> 4 + 8 + 8
= 20 floats, 10,144 levels -> 3 + 4 * 8 = 35, 300,000 levels -> 2 + 6 * 8 = 50.

Frequency order puts the common levels on small codes, so their high digits are mostly 0.
Decoding takes the argmax of each block, most significant first, but only among the digits
that keep the code below n (a model can emit any digit combination), so every output decodes
to a real level.
"""

from __future__ import annotations

import numpy as np


def digit_sizes(n_levels: int, base: int) -> list[int]:
    """Block widths, most significant first, for codes 0..n_levels-1 in ``base``."""
    n_digits = 1
    while base**n_digits < n_levels:
        n_digits += 1
    top = (n_levels - 1) // base ** (n_digits - 1) + 1
    return [top] + [base] * (n_digits - 1)


def split(codes: np.ndarray, n_digits: int, base: int) -> list[np.ndarray]:
    """Digits of ``codes``, most significant first."""
    return [(codes // base ** (n_digits - 1 - i)) % base for i in range(n_digits)]


def join(blocks: list[np.ndarray], n_levels: int, base: int) -> np.ndarray:
    """Codes from per-digit score blocks (raw model output or one-hot), kept below n_levels."""
    n_rows = blocks[0].shape[0]
    max_digits = split(np.array([n_levels - 1]), len(blocks), base)
    codes = np.zeros(n_rows, dtype=np.int64)
    tight = np.ones(n_rows, dtype=bool)  # the prefix so far equals the prefix of n_levels - 1
    for block, max_digit in zip(blocks, max_digits):
        scores = np.array(block, dtype=np.float64, copy=True)
        allowed = np.arange(scores.shape[1]) <= max_digit[0]
        scores[np.ix_(tight, ~allowed)] = -np.inf
        digit = np.argmax(scores, axis=1)
        tight &= digit == max_digit[0]
        codes = codes * base + digit
    return codes
