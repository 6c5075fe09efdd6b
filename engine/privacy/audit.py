"""Empirical lower bounds on epsilon: does the DP-SGD step do what the accountant claims?

The audit plays the membership game on the step itself. In each of many independent trials a
*canary* row, whose gradient is far larger than the clipping norm and points along a fixed
direction ``e1``, is put in the batch with probability 1/2 (the randomised inclusion of
Steinke, Nasr & Jagielski 2023); the other rows' gradients are orthogonal to ``e1``. One
full-batch DP step runs (``make_dp_optimizer``: the same clipping and noise as training), and
the auditor's score is the noisy summed gradient's component along ``e1``.

If the step is (epsilon, delta)-DP, every test "score >= t" has false-positive rate FPR and
false-negative rate FNR with ``FPR * e^eps + FNR >= 1 - delta`` (and symmetrically), so

    eps >= log((1 - delta - FNR) / FPR).

The threshold is chosen on one half of the trials and the rates are bounded on the other
half with one-sided Clopper-Pearson intervals (confidence ``1 - alpha``, split between the
two rates), so the bound holds with probability at least ``1 - alpha``. A correct step stays
below its claimed epsilon; a step without noise separates perfectly and exceeds it; an
accountant that claims far too little (wrong noise multiplier or sampling rate) is exceeded
too. The bound is loose: with a few thousand trials per side it cannot show a small error
(a step with half its claimed noise stays below the claim; see the audit's tests).

``canary_scores`` runs every trial in one optimizer step: trial ``t`` owns row ``t`` of a
``(trials, dim)`` parameter and its rows' gradients are zero elsewhere, so per-row clipping
and the independent Gaussian noise per coordinate act on each trial separately.

``one_run_epsilon_lower_bound`` is the bound of the *one-run* audit (Steinke, Nasr &
Jagielski 2023, "Privacy auditing with one (1) training run", its main theorem): ``m`` canaries
each join one real training run with probability 1/2, the auditor guesses "in" or "out" for
``r`` of them (abstaining on the rest) and ``v`` guesses are right. Under (epsilon, delta)-DP
the count of right guesses is nearly dominated by Binomial(r, e^eps / (1 + e^eps)):

    P[V >= v] <= f(v) + 2 m delta max_{1 <= i <= v} (f(v - i) - f(v)) / i,
    f(u) = P[Binomial(r, e^eps / (1 + e^eps)) >= u],

so every epsilon whose right-hand side stays below ``alpha`` is rejected at confidence
``1 - alpha``; the bound is the largest such epsilon. ``tests/bench/bench_dp_audit.py`` runs
it on a real DP training run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def clopper_pearson_upper(successes: int, trials: int, alpha: float) -> float:
    """One-sided upper confidence bound (level ``1 - alpha``) on a binomial proportion."""
    from scipy.stats import beta

    if trials <= 0 or successes >= trials:
        return 1.0
    return float(beta.ppf(1.0 - alpha, successes + 1, trials - successes))


def _bound(fp: int, n_out: int, fn: int, n_in: int, *, delta: float, alpha: float) -> float:
    fpr = clopper_pearson_upper(fp, n_out, alpha / 2)
    fnr = clopper_pearson_upper(fn, n_in, alpha / 2)
    best = 0.0
    for a, b in ((fpr, fnr), (fnr, fpr)):
        if a > 0 and 1.0 - delta - b > a:
            best = max(best, math.log((1.0 - delta - b) / a))
    return best


def _rates(scores: np.ndarray, included: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    guess = scores >= threshold
    return int((guess & ~included).sum()), int((~included).sum()), int((~guess & included).sum()), int(included.sum())


def epsilon_lower_bound(scores: np.ndarray, included: np.ndarray, *, delta: float, alpha: float = 0.05) -> float:
    """A ``1 - alpha`` confidence lower bound on epsilon from canary scores (see the module docstring)."""
    scores, included = np.asarray(scores, dtype=np.float64), np.asarray(included, dtype=bool)
    half = len(scores) // 2
    pick_s, pick_i, eval_s, eval_i = scores[:half], included[:half], scores[half:], included[half:]
    candidates = np.unique(np.quantile(pick_s, np.linspace(0.0, 1.0, 201)))
    candidates = np.append(candidates, np.nextafter(pick_s.max(), np.inf))
    best_t, best = candidates[0], -1.0
    for t in candidates:
        value = _bound(*_rates(pick_s, pick_i, t), delta=delta, alpha=alpha)
        if value > best:
            best_t, best = t, value
    return _bound(*_rates(eval_s, eval_i, best_t), delta=delta, alpha=alpha)


def canary_scores(
    make_optimizer: Callable[[list, int], object],
    *,
    trials: int,
    dim: int = 4,
    other_rows: int = 1,
    canary_norm: float = 1e3,
    chunk: int = 512,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(score, canary included) for ``trials`` independent full-batch DP steps.

    ``make_optimizer(params, expected_batch_size)`` returns the DP optimizer under audit
    (e.g. ``make_dp_optimizer`` with the noise and clipping of a run). Inclusion and the other
    rows' gradients come from ``seed``; the DP noise from the optimizer's own generator.
    """
    import torch

    rng = np.random.default_rng(seed)
    scores, inclusion = [], []
    for start in range(0, trials, chunk):
        t = min(chunk, trials - start)
        included = rng.random(t) < 0.5
        param = torch.nn.Parameter(torch.zeros(t, dim))
        optimizer = make_optimizer([param], other_rows + 1)
        rows = []
        for r in range(other_rows):  # the ordinary rows: small gradients orthogonal to e1
            g = torch.zeros(t, t, dim)
            g[torch.arange(t), torch.arange(t), 1:] = torch.from_numpy(rng.normal(0.0, 0.3, (t, dim - 1))).float()
            rows.append(g)
        owners = np.flatnonzero(included)
        canary = torch.zeros(len(owners), t, dim)
        canary[torch.arange(len(owners)), torch.from_numpy(owners), 0] = canary_norm
        param.grad_sample = torch.cat([*rows, canary], dim=0)
        optimizer.step()
        expected = getattr(optimizer, "expected_batch_size", 1) or 1
        scores.append(param.grad[:, 0].detach().numpy() * expected)
        inclusion.append(included)
        optimizer.zero_grad()
    return np.concatenate(scores), np.concatenate(inclusion)


def one_run_p_value(m: int, r: int, v: int, *, epsilon: float, delta: float) -> float:
    """The chance of ``v`` or more right guesses out of ``r`` (``m`` canaries) if the run is (epsilon, delta)-DP.

    The right-hand side of the main theorem of Steinke, Nasr & Jagielski (2023), capped at 1 (see
    the module docstring): the binomial tail at the randomised-response accuracy
    ``e^eps / (1 + e^eps)``, plus ``2 m delta`` times the largest average of the binomial's
    probabilities over the ``i`` counts just below ``v``.
    """
    from scipy.special import expit
    from scipy.stats import binom

    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m; got m={m}, r={r}, v={v}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1]; got {epsilon}, {delta}")
    q = float(expit(epsilon))
    tail = float(binom.sf(v - 1, r, q))  # f(v) = P[W >= v]
    if v == 0 or delta == 0:
        return min(1.0, tail)
    # f(v - i) - f(v) = P[v - i <= W <= v - 1]: cumulative sums of the pmf from v - 1 downwards
    below = np.cumsum(binom.pmf(np.arange(v - 1, -1, -1), r, q))
    slope = float(np.max(below / np.arange(1, v + 1)))
    return min(1.0, tail + 2.0 * m * delta * slope)


def one_run_epsilon_lower_bound(m: int, r: int, v: int, *, delta: float, alpha: float = 0.05, tol: float = 1e-6) -> float:
    """The one-run audit's ``1 - alpha`` lower bound on epsilon from ``v`` right guesses out of ``r`` (``m`` canaries).

    The largest epsilon whose ``one_run_p_value`` is still below ``alpha`` (found by bisection;
    the p-value grows with epsilon), 0 when even epsilon 0 explains the count. All guesses
    right gives the most ``r`` guesses can show; half of them right gives 0.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")

    def rejected(epsilon: float) -> bool:
        return one_run_p_value(m, r, v, epsilon=epsilon, delta=delta) < alpha

    if not rejected(0.0):
        return 0.0
    low, high = 0.0, 1.0
    while rejected(high):  # ends: as epsilon grows the tail tends to P[Binomial(r, 1) >= v] = 1
        low, high = high, 2.0 * high
    while high - low > tol:
        middle = 0.5 * (low + high)
        low, high = (middle, high) if rejected(middle) else (low, middle)
    return low


__all__ = [
    "canary_scores",
    "clopper_pearson_upper",
    "epsilon_lower_bound",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
]
