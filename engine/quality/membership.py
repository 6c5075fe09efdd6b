"""Membership-inference attacks: can the synthetic data tell who was in the training set?

Each attack sees the synthetic rows and a *reference* sample of real rows that were never
trained on (part of the holdout, kept apart from the non-members it is tested on), and
scores a record; a higher score says "member". It is tested on members (training rows) and
non-members (other holdout rows) in equal numbers:

- ``distance``: minus the distance to the closest synthetic row. A generator that copies
  or nearly copies training rows puts members next to a synthetic row.
- ``dcr_diff``: distance to the closest reference row minus distance to the closest
  synthetic row. Corrects for records that lie in dense regions (close to everything).
- ``density_ratio`` (DOMIAS-style): log p_synthetic(x) - log p_reference(x), both Gaussian
  KDEs in the leading principal components. Catches generators that overfit to regions
  around training rows without copying them.

Per attack: AUC, advantage (max TPR - FPR) with its confidence interval (the advantage is a
one-sided two-sample Kolmogorov-Smirnov statistic; see ``uncertainty.advantage_bounds``), TPR
at 1% FPR and a 21-point ROC curve (see ``_mia_roc``). Nothing per record leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.quality import _mia_roc as roc
from engine.quality._mia_kde import GaussianKDE, PrincipalProjection
from engine.quality.distance import nearest_neighbors
from engine.quality.uncertainty import advantage_bounds

MIN_KDE_ROWS = 20

ATTACKS: dict[str, str] = {
    "distance": "closeness to the nearest synthetic row",
    "dcr_diff": "closeness to synthetic rows relative to unseen real rows",
    "density_ratio": "synthetic density relative to real density (DOMIAS-style KDE)",
}


@dataclass(frozen=True)
class AttackResult:
    """Aggregate success of one attack; never per-record scores."""

    name: str
    auc: float
    advantage: float
    advantage_lower: float
    advantage_upper: float
    tpr_at_1pct_fpr: float
    roc: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": ATTACKS[self.name],
            "auc": self.auc,
            "advantage": self.advantage,
            "advantage_lower": self.advantage_lower,
            "advantage_upper": self.advantage_upper,
            "tpr_at_1pct_fpr": self.tpr_at_1pct_fpr,
            "roc": self.roc,
        }


def attack_scores(
    members: np.ndarray,
    nonmembers: np.ndarray,
    synthetic: np.ndarray,
    reference: np.ndarray,
    *,
    kde_dims: int,
    kde_rows: int,
    rng: np.random.Generator,
    block_rows: int = 2048,
    on_step: Callable[[float], None] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Scores of every attack as ``{name: (member_scores, nonmember_scores)}``.

    All inputs are rows of the same distance encoding. ``reference`` must share no row with
    ``nonmembers`` (else those would look close to "real" data and the attack would be
    flattered); ``on_step`` receives the fraction of the work done.

    The density-ratio attack is left out when the synthetic or reference sample has fewer
    than ``MIN_KDE_ROWS`` rows (a kernel density of a handful of points says nothing).
    """
    step = on_step or (lambda fraction: None)
    queries = np.concatenate([members, nonmembers])
    n1 = len(members)

    to_syn, _ = nearest_neighbors(queries, synthetic, k=1, block_rows=block_rows)
    step(0.45)
    to_ref, _ = nearest_neighbors(queries, reference, k=1, block_rows=block_rows)
    step(0.6)
    distance = -to_syn[:, 0]
    dcr_diff = to_ref[:, 0] - to_syn[:, 0]

    out = {"distance": (distance[:n1], distance[n1:]), "dcr_diff": (dcr_diff[:n1], dcr_diff[n1:])}
    n_kde = min(len(synthetic), len(reference), kde_rows)
    if n_kde < MIN_KDE_ROWS:
        step(1.0)
        return out
    syn_sample = synthetic[rng.choice(len(synthetic), n_kde, replace=False)]
    ref_sample = reference[rng.choice(len(reference), n_kde, replace=False)]
    projection = PrincipalProjection(n_components=kde_dims).fit(ref_sample)
    q = projection.transform(queries)
    log_syn = GaussianKDE(block_rows=block_rows).fit(projection.transform(syn_sample)).score_samples(q)
    step(0.8)
    log_ref = GaussianKDE(block_rows=block_rows).fit(projection.transform(ref_sample)).score_samples(q)
    step(1.0)
    density_ratio = log_syn - log_ref
    # a record far outside both samples can underflow both densities; call that no evidence
    density_ratio = np.where(np.isfinite(density_ratio), density_ratio, 0.0)

    out["density_ratio"] = (density_ratio[:n1], density_ratio[n1:])
    return out


def evaluate_attack(
    name: str,
    member_scores: np.ndarray,
    nonmember_scores: np.ndarray,
    *,
    confidence: float,
    attacks: int,
) -> AttackResult:
    """AUC, advantage with its ``confidence`` interval (one of ``attacks`` attacks), TPR at 1% FPR."""
    adv = roc.advantage(member_scores, nonmember_scores)
    lower, upper = advantage_bounds(adv, len(member_scores), len(nonmember_scores), confidence, attacks)
    return AttackResult(
        name=name,
        auc=roc.auc(member_scores, nonmember_scores),
        advantage=adv,
        advantage_lower=lower,
        advantage_upper=upper,
        tpr_at_1pct_fpr=roc.tpr_at_fpr(member_scores, nonmember_scores, 0.01),
        roc=roc.roc_on_grid(member_scores, nonmember_scores),
    )
