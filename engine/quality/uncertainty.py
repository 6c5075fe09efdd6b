"""Error bars of the gates' statistics, and the verdict a gate can give at the sample size it has.

Every gated number is measured on samples, so it carries sampling error. A gate reads a
confidence interval ``[lower, upper]`` of its number (level ``confidence``, default 95 %):

- it **blocks** (or warns, per its severity) only when the number is credibly on the wrong
  side of the threshold: ``lower`` fails the comparison;
- it **passes** only when the number is credibly on the right side: ``upper`` passes it;
- otherwise it is **inconclusive**: the samples are too small to tell, which is said with
  the sample sizes and how many rows would be needed. Inconclusive never blocks.

The two ends are not symmetric, because the two mistakes are not. The gated numbers are
maxima over thresholds, columns, pairs or attacks, and a maximum of noisy estimates is biased
upwards. So:

- ``upper`` (can the gate pass?) needs the noise at the *one* worst true threshold only: the
  true value is ``max_t d(t) = d(t*)``, and the estimate is at least ``d_hat(t*) = d(t*) + e``
  with ``e`` one sample mean of bounded terms. ``d(t*) <= d_hat + z_{confidence} * sd(e)``,
  no correction for the number of thresholds or columns (a false pass would need *every*
  truly failing item to look fine, which is no likelier than one of them doing so).
- ``lower`` (may the gate block?) must allow for the largest of many noises: the estimate is
  at most the truth plus the supremum of the noise over thresholds, whose tail for a
  difference of two empirical distributions is the Kolmogorov-Smirnov one,
  ``P(sup_t e(t) > x) <= exp(-2 n_eff x^2)`` (one side; twice that for ``|e|``), with
  ``n_eff = n1 n0 / (n1 + n0)``; over ``k`` columns, pairs or attacks, a Bonferroni share
  ``(1 - confidence) / k`` each.

``sd(e) <= 1 / (2 sqrt(n_eff))`` for a difference of two proportions (TPR - FPR, two CDFs at
one point, two distributions on one set of categories). The rules per statistic are in the
functions below; ``tests/engine/test_quality_uncertainty.py`` checks them on real unseen rows.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from engine.errors import ConfigError


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in [0.5, 1), else ConfigError naming what is allowed."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
        raise ConfigError(f"confidence must be a number in [0.5, 1) such as 0.95, got {confidence!r}")
    return float(confidence)


def effective_rows(n1: int, n0: int) -> float:
    """``n1 n0 / (n1 + n0)``: the sample size that sets the noise of a difference of two proportions."""
    return n1 * n0 / (n1 + n0) if n1 > 0 and n0 > 0 else 0.0


def point_margin(n_eff: float, confidence: float) -> float:
    """One-sided margin of a difference of two proportions at one fixed threshold: ``z / (2 sqrt(n_eff))``."""
    return float(ndtri(confidence)) / (2.0 * math.sqrt(n_eff)) if n_eff > 0 else math.inf


def sup_margin(n_eff: float, confidence: float, tests: int = 1, *, two_sided: bool = False) -> float:
    """Margin of the supremum over thresholds of that difference, Bonferroni over ``tests`` maxima.

    From the Kolmogorov-Smirnov tail ``exp(-2 n_eff x^2)`` per side.
    """
    if n_eff <= 0:
        return math.inf
    alpha = (1.0 - confidence) / max(tests, 1)
    return math.sqrt(math.log((2.0 if two_sided else 1.0) / alpha) / (2.0 * n_eff))


# -- membership inference ----------------------------------------------------------------------


def advantage_bounds(advantage: float, members: int, nonmembers: int, confidence: float, attacks: int) -> tuple[float, float]:
    """(lower, upper) of one attack's true advantage ``max_t TPR(t) - FPR(t)`` (in [0, 1]).

    The advantage is a one-sided two-sample KS statistic between the members' and the
    non-members' scores. ``lower`` allows for the largest noise over thresholds and over the
    ``attacks`` that are run (the gate takes the worst); ``upper`` for the noise at one threshold.
    """
    n_eff = effective_rows(members, nonmembers)
    lower = advantage - sup_margin(n_eff, confidence, attacks)
    upper = advantage + point_margin(n_eff, confidence)
    return max(0.0, lower), min(1.0, upper)


def advantage_rows_needed(threshold: float, confidence: float, attacks: int) -> int:
    """Members (= non-members) per side at which an attack with no signal passes the gate.

    With no signal, the worst of ``attacks`` advantages stays below the KS quantile
    ``sqrt(ln(attacks / alpha) / (2 n_eff))`` with probability ``confidence``; it passes when
    that plus the upper margin ``z / (2 sqrt(n_eff))`` is below ``threshold``. With ``n``
    rows per side ``n_eff = n / 2``, so ``n = 2 * ((sqrt(ln(attacks / alpha) / 2) + z / 2) / threshold)^2``.
    """
    if threshold <= 0:
        return 0  # no sample size makes an advantage credibly below 0
    alpha = 1.0 - confidence
    scale = math.sqrt(math.log(max(attacks, 1) / alpha) / 2.0) + float(ndtri(confidence)) / 2.0
    return int(math.ceil(2.0 * (scale / threshold) ** 2))


# -- per-column distances ----------------------------------------------------------------------


def distance_bounds(
    distance: float, n_real: int, n_synthetic: int, confidence: float, columns: int, *, shares: np.ndarray | None = None
) -> tuple[float, float]:
    """(lower, upper) of a column's true KS (``shares`` None) or TV distance (``shares``: pooled category shares).

    KS is a supremum over thresholds of two CDFs: ``lower`` takes the two-sided KS margin.
    TV is a supremum over sets of categories: its noise ``TV(p_hat - p)`` has mean at most
    ``0.5 * sum_i sqrt(p_i (1 - p_i) / n_eff)`` (Jensen) and exceeds it by ``x`` with
    probability at most ``exp(-2 n_eff x^2)`` (bounded differences: one row moves it by 1/n).
    Both Bonferroni over ``columns``; ``upper`` is the one-threshold (one-set) margin.
    """
    n_eff = effective_rows(n_real, n_synthetic)
    if shares is None:
        margin = sup_margin(n_eff, confidence, columns, two_sided=True)
    else:
        p = np.asarray(shares, dtype=np.float64)
        mean_noise = 0.5 * float(np.sqrt(p * (1.0 - p)).sum()) / math.sqrt(n_eff) if n_eff > 0 else math.inf
        margin = mean_noise + sup_margin(n_eff, confidence, columns)
    upper = distance + point_margin(n_eff, confidence)
    return max(0.0, distance - margin), min(1.0, upper)


# -- association differences -------------------------------------------------------------------


def association_se(real: float, synthetic: float, n_real: int, n_synthetic: int) -> float:
    """Standard error of ``real - synthetic`` for two correlation-like measures on independent samples.

    The delta method of Fisher's z: ``var(r) ~ (1 - r^2)^2 / (n - 3)``. It is exact in the limit for
    Pearson's r and approximate for Spearman's rho and the correlation ratio, whose spread near 0
    is of the same order ``1 / sqrt(n)``. Cramér's V takes ``cramers_v_se`` instead.
    """
    def var(r: float, n: int) -> float:
        r = min(1.0, abs(r))
        return (1.0 - r * r) ** 2 / max(n - 3, 1)

    return math.sqrt(var(real, n_real) + var(synthetic, n_synthetic))


def cramers_v_se(table: np.ndarray, rng: np.random.Generator, *, resamples: int = 40) -> float:
    """Standard error of Cramér's V of a table of counts, from multinomial resamples of the table.

    The delta method does not hold for V: with a rare category, one or two rows in one cell
    can make V jump from 0.1 to 0.6 (mushroom's cap-shape x veil-color on 1,000 rows), and
    only resampling sees that. ``resamples`` shrinks for large tables (at most ~200,000 cells
    drawn per table).
    """
    from engine.quality.associations import cramers_v_many

    counts = np.asarray(table, dtype=np.int64)
    n = int(counts.sum())
    if n < 2:
        return 0.0
    draws = max(10, min(resamples, 200_000 // max(counts.size, 1)))
    resampled = rng.multinomial(n, counts.ravel() / n, size=draws).reshape((draws, *counts.shape))
    return float(cramers_v_many(resampled).std(ddof=1))


RARE_LEVEL_ROWS = 5  # a category with fewer rows in a table is too rare to show an association (DESIGN's k)


def without_rare_levels(table: np.ndarray, min_rows: int = RARE_LEVEL_ROWS) -> np.ndarray:
    """The table of counts without the categories (rows, columns) that have fewer than ``min_rows`` rows.

    Cramér's V of a few hundred rows can rest on one or two rows of two rare categories that
    happen to meet (V 0.85 from two rows, 0 without them), and no resampling of those rows
    shows it: resamples keep them. Comparing V with and without the rare categories does.
    """
    counts = np.asarray(table)
    return counts[counts.sum(axis=1) >= min_rows][:, counts.sum(axis=0) >= min_rows]


def difference_bounds(difference: float, se: float, confidence: float, comparisons: int, *,
                      alternative: float | None = None) -> tuple[float, float]:
    """(lower, upper) of a true |real - synthetic| from its estimate and standard error.

    ``lower`` is Bonferroni over the ``comparisons`` the gate takes the largest of.
    ``alternative``: the same difference measured another defensible way (Cramér's V without
    the rare categories); the interval then spans both estimates, so that neither a block nor a
    pass rests on a handful of rare rows.
    """
    alpha = 1.0 - confidence
    z_low = float(ndtri(1.0 - alpha / max(comparisons, 1)))
    z_up = float(ndtri(confidence))
    low, high = (difference, difference) if alternative is None else sorted((difference, alternative))
    return max(0.0, low - z_low * se), high + z_up * se


def rows_to_resolve(value: float, threshold: float, confidence: float, *, scale: float = 1.0) -> int | None:
    """Rows per table (real and synthetic equal) at which ``value`` would be told from ``threshold``.

    The one-threshold margin ``z * scale / sqrt(n_eff)`` (``n_eff = n / 2``) must fit in the gap
    ``|threshold - value|``; ``scale`` is the noise's standard deviation times ``sqrt(n_eff)``
    (1/2 for a difference of proportions). None when the value sits on the threshold.
    """
    gap = abs(threshold - value)
    if gap <= 0:
        return None
    return int(math.ceil(2.0 * (float(ndtri(confidence)) * scale / gap) ** 2))


# -- exact copies --------------------------------------------------------------------------------


def allowed_copies(k_holdout: float, n_synthetic: int, n_holdout: float, alpha: float) -> int:
    """Largest synthetic copy count consistent with the holdout's rate (exact conditional test).

    With ``k_h`` holdout hits, ``k`` synthetic copies are too many when
    ``P(Binomial(k + k_h, n_syn / (n_syn + n_holdout)) >= k) <= alpha``. ``k_holdout`` and
    ``n_holdout`` may be fractional (a holdout of another size at the same rate): the binomial
    tail is the regularised incomplete beta ``I_p(k, k_h + 1)``.
    """
    from scipy.special import betainc

    share = n_synthetic / (n_synthetic + n_holdout)
    start, width = 1, 1024
    while start <= n_synthetic:  # the p-value falls with k: look in growing windows, not at every k at once
        k = np.arange(start, min(start + width, n_synthetic + 1), dtype=np.float64)
        p_value = betainc(k, k_holdout + 1.0, share)  # P(at least k of the k + k_h hits are synthetic)
        rejected = np.flatnonzero(p_value <= alpha)
        if len(rejected):
            return int(k[rejected[0]]) - 1
        start, width = start + width, width * 4
    return n_synthetic


def allowed_at_known_rate(rate: float, n_synthetic: int, alpha: float) -> int:
    """Largest copy count that ``Binomial(n_syn, rate)`` reaches with probability above ``alpha``.

    What the holdout would allow if its rate were known exactly (an unlimited holdout).
    """
    from scipy.stats import binom

    if rate <= 0:
        return 0
    return int(binom.isf(alpha, n_synthetic, rate))


def holdout_rows_to_resolve(copies: int, rate: float, n_synthetic: int, n_holdout: int, alpha: float) -> int | None:
    """Holdout rows at the same rare-row rate at which ``copies`` would exceed what the holdout allows.

    None when no holdout size would (the copies are within what the exact rate allows).
    """
    if copies <= allowed_at_known_rate(rate, n_synthetic, alpha):
        return None
    size = max(n_holdout, 1)
    for _ in range(64):
        if allowed_copies(rate * size, n_synthetic, float(size), alpha) < copies:
            break
        size *= 2
    else:
        return None
    lo, hi = size // 2, size
    while hi - lo > max(1, lo // 100):  # within 1 %
        mid = (lo + hi) // 2
        if allowed_copies(rate * mid, n_synthetic, float(mid), alpha) < copies:
            hi = mid
        else:
            lo = mid
    return hi
