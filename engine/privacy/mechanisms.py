"""The noise primitives every accounted statistic goes through (numpy; no torch).

- ``secure_rng()``: a numpy generator seeded with 256 bits from the operating system's
  cryptographic source (``os.urandom``) on every call. DP noise never comes from a user seed:
  a known seed would let anyone subtract the noise.
- ``gaussian_histogram``: counts plus N(0, sigma^2) per cell. A row falls in exactly one cell
  of a histogram, so under add/remove-one-row the L2 sensitivity of one histogram is 1 and of
  m histograms over the same rows sqrt(m): together a Gaussian mechanism of noise multiplier
  ``sigma / sqrt(m)``, i.e. ``m / (2 sigma^2)``-zCDP.
- ``selection_threshold``: the noisy-count threshold of a private category list (a
  "stability" histogram): a category held by the added row alone has count 1 and passes only
  with probability ``P(1 + N(0, sigma^2) >= tau) <= delta``.
- ``exponential_choice``: the exponential mechanism by the Gumbel-max trick;
  ``epsilon``-DP, hence ``epsilon^2 / 8``-zCDP (bounded range, Cesar & Rogers 2021).
"""

from __future__ import annotations

import os

import numpy as np


def secure_rng() -> np.random.Generator:
    """A fresh generator seeded from ``os.urandom`` (never reproducible, never user-seeded)."""
    return np.random.Generator(np.random.PCG64(int.from_bytes(os.urandom(32), "little")))


def gaussian_histogram(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``counts`` (float64) plus independent N(0, sigma^2) noise on every cell."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts + rng.normal(0.0, sigma, size=counts.shape)


def selection_threshold(sigma: float, delta: float) -> float:
    """Noisy count a privately selected category must reach: ``1 + sigma * z_{1-delta}``."""
    from scipy.stats import norm

    return 1.0 + sigma * float(norm.isf(delta))


def cleaning_threshold(sigma: float, cells: int, *, miss: float = 0.01) -> float:
    """Noisy count below which a cell is treated as empty (post-processing).

    Chosen so that, over ``cells`` empty cells, a spurious one survives with probability
    about ``miss``: noise alone must not invent a far-away value range.
    """
    from scipy.stats import norm

    return sigma * float(norm.isf(miss / max(1, cells)))


def exponential_choice(scores: np.ndarray, *, epsilon: float, sensitivity: float, rng: np.random.Generator) -> int:
    """Index drawn with probability proportional to ``exp(epsilon * score / (2 * sensitivity))``."""
    scores = np.asarray(scores, dtype=np.float64)
    logits = 0.5 * epsilon / sensitivity * (scores - scores.max())
    return int(np.argmax(logits + rng.gumbel(size=scores.shape)))


__all__ = ["cleaning_threshold", "exponential_choice", "gaussian_histogram", "secure_rng", "selection_threshold"]
