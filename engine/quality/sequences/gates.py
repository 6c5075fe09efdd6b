"""The sequence gates: each figure of ``assess_sequences`` held against its threshold.

They read error bars as ``engine.quality.gates`` does: ``pass`` when the end of the interval
nearer failing passes, the gate's severity when the end nearer passing fails, ``inconclusive``
(a warning's weight, never a block) in between, with the sample sizes; ``skipped`` where the
figure was not measured (and why). The membership and exact-copy gates are the table gates of
``engine.quality.gates`` applied to the entity-level privacy result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from statistics import NormalDist
from typing import Any

from engine.quality.config import GateConfig, QualityConfig
from engine.quality.gates import GateResult, evaluate_gates


def _holds(value: float, comparison: str, threshold: float) -> bool:
    return value < threshold if comparison == "<" else value > threshold if comparison == ">" else value <= threshold


def bounded_gate(name: str, pillar: str, metric: str, cfg: GateConfig, value: float | None, *, comparison: str,
                 why_missing: str, lower: float | None = None, upper: float | None = None,
                 confidence: float | None = None, samples: Mapping[str, int] | None = None,
                 reference: float | None = None, describe: str = "") -> GateResult:
    """One gate with an optional error bar [lower, upper]; see the module docstring."""
    common: dict[str, Any] = dict(name=name, pillar=pillar, metric=metric, threshold=cfg.threshold,
                                  comparison=comparison, severity=cfg.severity, reference=reference,
                                  samples=dict(samples or {}))
    if not cfg.enabled:
        return GateResult(value=value, status="skipped", message="gate disabled in the config", **common)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateResult(value=None, status="skipped", message=why_missing, **common)
    ref = f" (holdout itself: {reference:.3g})" if reference is not None else ""
    bounded = lower is not None and upper is not None
    if bounded:
        near_fail, near_pass = (lower, upper) if comparison == ">" else (upper, lower)
        common.update(lower=float(lower), upper=float(upper), confidence=confidence)
        interval = f" [{confidence:.0%} interval {lower:.3g} to {upper:.3g}]"
    else:
        near_fail = near_pass = value
        interval = ""
    if _holds(near_fail, comparison, cfg.threshold):
        status, head = "pass", f"Passes: {value:.3g}{interval} {comparison} {cfg.threshold:g}{ref}."
    elif not _holds(near_pass, comparison, cfg.threshold):
        outcome = "blocks release" if cfg.severity == "block" else "a warning"
        status, head = cfg.severity, f"Fails, {outcome}: {value:.3g}{interval} is not {comparison} {cfg.threshold:g}{ref}."
    else:
        sizes = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in (samples or {}).items())
        status = "inconclusive"
        head = (f"Inconclusive: too few histories to tell ({sizes}): {value:.3g}{interval} may or may not be "
                f"{comparison} {cfg.threshold:g}{ref}. A warning, not a block.")
    return GateResult(value=float(value), status=status, message=f"{head} {describe}".strip(), **common)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def sequence_gates(scores: Mapping[str, Any], figures: Mapping[str, Any], gates: Mapping[str, GateConfig], *,
                   confidence: float, entities: Mapping[str, int], missing: Mapping[str, str]) -> list[GateResult]:
    """Every sequence gate from the flat ``scores`` and the detailed ``figures`` of ``assess_sequences``."""
    z = _z(confidence)
    samples = {f"{role}_entities": n for role, n in entities.items() if role != "holdout"}
    out = []

    lengths = figures.get("lengths") or {}
    distance = lengths.get("ks_distance")
    lower = upper = None
    if distance is not None:
        from engine.quality.uncertainty import distance_bounds

        lower, upper = distance_bounds(distance, entities["real"], entities["synthetic"], confidence, 1)
    out.append(bounded_gate("sequence_length", "fidelity", "KS distance of the real and synthetic history lengths",
                            gates["sequence_length"], distance, comparison="<", lower=lower, upper=upper,
                            confidence=confidence, samples=samples, why_missing=missing.get("temporal", "not measured"),
                            reference=None if lengths.get("holdout_ks_similarity") is None
                            else 1.0 - lengths["holdout_ks_similarity"]))

    for name, key, metric in (
        ("autocorrelation", "autocorrelation", "mean |real - synthetic| autocorrelation over numeric columns and lags"),
        ("cross_correlation", "cross_correlation", "mean |real - synthetic| same-step and lag-1 cross-correlation"),
    ):
        part = figures.get(key) or {}
        value, se = part.get("error"), part.get("error_se")
        low = up = None
        if value is not None:
            # one history on a side has no spread to tell the noise from: the widest interval, inconclusive
            finite = se is not None and math.isfinite(se)
            low, up = (max(0.0, value - z * se), min(2.0, value + z * se)) if finite else (0.0, 2.0)
        why = missing.get("temporal") or ("fewer than two numeric step columns" if key == "cross_correlation"
                                          else "no numeric step column")
        out.append(bounded_gate(name, "fidelity", metric, gates[name], value, comparison="<", lower=low, upper=up,
                                confidence=confidence, samples=samples, why_missing=why,
                                reference=part.get("holdout_error")))

    coherence = figures.get("coherence") or {}
    out.append(bounded_gate("coherence", "fidelity", "coherence: mean similarity of distinct categories per history, "
                            "next-step transitions and step-to-step changes", gates["coherence"], coherence.get("score"),
                            comparison=">", samples=samples, reference=coherence.get("holdout_score"),
                            why_missing=missing.get("temporal", "no step column to judge coherence on")))

    disc = figures.get("discriminative") or {}
    score = disc.get("score")
    low = up = None
    if score is not None:
        from engine.quality.sequences.windows import discriminative_bounds

        low, up = discriminative_bounds(score, sum(disc.get("groups", [1])), confidence)
    out.append(bounded_gate("discriminative", "fidelity", "discriminative score max(0, accuracy - 0.5) of a classifier "
                            "telling real from synthetic windows", gates["discriminative"], score, comparison="<",
                            lower=low, upper=up, confidence=confidence,
                            samples={"windows_per_side": int(disc.get("windows_per_side", 0)),
                                     "groups": int(sum(disc.get("groups", [0])))},
                            reference=scores.get("discriminative_ceiling"),
                            why_missing=missing.get("discriminative") or disc.get("note") or "not measured"))

    pred = figures.get("predictive") or {}
    out.append(bounded_gate("predictive", "utility", "next-step error of a model trained on synthetic histories over "
                            "that of one trained on real histories (1 = as useful)", gates["predictive"],
                            pred.get("predictive_score"), comparison="<=",
                            samples={"test_windows": int(pred.get("test_windows", 0))},
                            why_missing=missing.get("predictive") or pred.get("note") or "not measured"))

    out.extend(_privacy_gates(figures.get("privacy"), gates, confidence, missing.get("privacy", "not measured")))
    return out


def _privacy_gates(privacy: Mapping[str, Any] | None, gates: Mapping[str, GateConfig], confidence: float,
                   why_missing: str) -> list[GateResult]:
    dcr_cfg = gates["entity_dcr_share"]
    dcr_metric = "share of synthetic histories closer to a training history than to a holdout one (0.5 ideal)"
    if privacy is None:
        return [
            bounded_gate("entity_dcr_share", "privacy", dcr_metric, dcr_cfg, None, comparison="<", why_missing=why_missing),
            bounded_gate("entity_membership", "privacy", "membership-inference advantage on whole histories",
                         gates["entity_membership"], None, comparison="<", why_missing=why_missing),
            bounded_gate("entity_exact_copies", "privacy", "synthetic copies of rare training histories",
                         gates["entity_exact_copies"], None, comparison="<=", why_missing=why_missing),
        ]
    metrics, sizes = privacy.get("metrics", {}), privacy.get("sizes", {})
    share = metrics.get("dcr_share")
    queries = max(int(sizes.get("dcr_synthetic_queries", 1)), 1)
    half = _z(confidence) * 0.5 / math.sqrt(queries)
    out = [bounded_gate("entity_dcr_share", "privacy", dcr_metric, dcr_cfg, share, comparison="<",
                        lower=None if share is None else max(0.0, share - half),
                        upper=None if share is None else min(1.0, share + half), confidence=confidence,
                        samples={"synthetic_histories": queries,
                                 "reference_histories": int(sizes.get("dcr_reference_rows", 0))},
                        why_missing="no holdout: the DCR share needs holdout histories")]
    table_gates = {**QualityConfig().gates, "membership_inference": gates["entity_membership"],
                   "exact_copies": gates["entity_exact_copies"]}
    evaluated = {g.name: g for g in evaluate_gates(fidelity=None, utility=None, privacy=dict(privacy),
                                                   gates=table_gates, skipped_reasons={})}
    out.append(replace(evaluated["membership_inference"], name="entity_membership",
                       metric="membership-inference advantage max(TPR - FPR) on whole histories, worst attack"))
    out.append(replace(evaluated["exact_copies"], name="entity_exact_copies",
                       metric="synthetic copies of rare training histories beyond the holdout's rate"))
    return out
