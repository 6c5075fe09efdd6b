"""How well an attack score separates members from non-members: AUC, advantage, TPR at low FPR.

Every attack gives each record a score, higher meaning "more likely a training member".
Thresholds run over the distinct score values (tied records are always on the same side),
which gives the ROC curve; from it:

- AUC, the chance that a random member outscores a random non-member (ties count half);
- advantage, max over thresholds of TPR - FPR (0 when no threshold beats guessing; the sign
  of an attack is fixed in advance, so an attack that works backwards scores 0, not |.|);
- TPR at 1% FPR, the share of members caught while accusing at most 1% of non-members.

The advantage's confidence interval is ``uncertainty.advantage_bounds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROC_GRID = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 21))


@dataclass(frozen=True)
class _Ordered:
    """Records sorted by descending score, with the last position of each tie group."""

    is_member: np.ndarray  # bool, in score order
    ends: np.ndarray  # positions closing a group of equal scores


def _ordered(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> _Ordered:
    scores = np.concatenate([member_scores, nonmember_scores]).astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("attack scores must be finite")
    labels = np.concatenate([np.ones(len(member_scores), bool), np.zeros(len(nonmember_scores), bool)])
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    return _Ordered(labels[order], ends)


def roc_curve(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, starting at (0, 0) and ending at (1, 1)."""
    o = _ordered(member_scores, nonmember_scores)
    tp = np.cumsum(o.is_member)[o.ends]
    fp = np.cumsum(~o.is_member)[o.ends]
    tpr = np.concatenate([[0.0], tp / max(len(member_scores), 1)])
    fpr = np.concatenate([[0.0], fp / max(len(nonmember_scores), 1)])
    return fpr, tpr


def auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney with midranks: ties count one half)."""
    n1, n0 = len(member_scores), len(nonmember_scores)
    scores = np.concatenate([member_scores, nonmember_scores]).astype(np.float64)
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    sizes = np.diff(np.append(starts, len(s)))
    midrank = starts + (sizes + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(midrank, sizes)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def advantage(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """max over thresholds of TPR - FPR, at least 0."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    return float(max(0.0, np.max(tpr - fpr)))


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr_limit: float = 0.01) -> float:
    """Highest TPR of a threshold whose FPR is at most ``fpr_limit``."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    return float(tpr[fpr <= fpr_limit + 1e-12].max())


def roc_on_grid(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve read at 21 fixed FPR values (0, 0.05, ..., 1): a plot, never per-record data."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    best = [float(tpr[fpr <= g + 1e-12].max()) for g in ROC_GRID]
    return {"fpr": list(ROC_GRID), "tpr": best}
