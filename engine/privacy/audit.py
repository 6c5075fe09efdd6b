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


__all__ = ["canary_scores", "clopper_pearson_upper", "epsilon_lower_bound"]
