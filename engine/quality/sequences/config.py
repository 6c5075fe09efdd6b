"""Settings of ``engine.assess_sequences``: the metrics' sizes, the per-step report's config, the gates.

A plain mapping (what a tenant stores as JSON) or a ``SequenceQualityConfig``; every key is
checked and an unknown key or a value of the wrong kind raises ``ConfigError`` naming it and
what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from engine.errors import ConfigError
from engine.quality.config import GateConfig, QualityConfig, parse_gates
from engine.quality.config_mapping import read_config
from engine.quality.uncertainty import check_confidence

PARTS = ("fidelity", "temporal", "discriminative", "predictive", "privacy")


def default_sequence_gates() -> dict[str, GateConfig]:
    """The sequence gates (DESIGN.md "Quality gates" carried over to histories).

    ``sequence_length`` is the column-distance gate on the lengths (KS < 0.15, block);
    ``autocorrelation`` and ``cross_correlation`` warn from a mean difference of 0.1;
    ``coherence`` warns below 0.85; ``discriminative`` warns from a score (accuracy above chance) of 0.2;
    ``predictive`` is the utility gate as an error ratio (synthetic-trained error at most 1.25x
    the real-trained one, 1 / 0.8; warn); ``entity_dcr_share`` warns from 0.55 (0.5 is a
    fresh sample's) and ``entity_membership`` / ``entity_exact_copies`` block as the table gates do.
    """
    return {
        "sequence_length": GateConfig(0.15, "block"),
        "autocorrelation": GateConfig(0.10, "warn"),
        "cross_correlation": GateConfig(0.10, "warn"),
        "coherence": GateConfig(0.85, "warn"),
        "discriminative": GateConfig(0.20, "warn"),
        "predictive": GateConfig(1.25, "warn"),
        "entity_dcr_share": GateConfig(0.55, "warn"),
        "entity_membership": GateConfig(0.10, "block"),
        "entity_exact_copies": GateConfig(0.0, "block"),
    }


def _steps_default() -> QualityConfig:
    # the per-step and per-entity reports judge distributions only: utility and privacy of single
    # rows say little about histories (their rows are not independent); the entity-level figures replace them
    return QualityConfig(pillars=("fidelity",))


@dataclass(frozen=True)
class SequenceQualityConfig:
    """Everything ``engine.assess_sequences`` can be told.

    ``lags``: autocorrelation lags 1..k; ``window``: steps per window of the discriminator and
    of the predictor's history; ``max_windows``: windows drawn per table (spread evenly over
    entities); ``folds``: cross-validation folds of the discriminator; ``max_iter``: boosting
    rounds of its HistGradientBoosting models; ``resample_points``: points of the fixed-length
    resampled history in an entity's privacy vector; ``top_categories``: categories kept per
    categorical column in the transition matrices (the rest pooled); ``max_cross_columns``:
    numeric columns in the cross-correlations; ``parts``: which figures run (``PARTS``);
    ``steps``: the ``engine.assess`` config of the per-step and per-entity reports (default:
    fidelity only); ``privacy``: ``PrivacyConfig`` fields of the entity-level attacks;
    ``gates``: threshold / severity / enabled per sequence gate.
    """

    lags: int = 10
    window: int = 10
    max_windows: int = 2_000
    folds: int = 5
    max_iter: int = 100
    resample_points: int = 16
    top_categories: int = 20
    max_cross_columns: int = 20
    confidence: float = 0.95
    threads: int = 1
    parts: tuple[str, ...] = PARTS
    steps: QualityConfig = field(default_factory=_steps_default)
    privacy: Mapping[str, Any] = field(default_factory=dict)
    gates: Mapping[str, GateConfig] = field(default_factory=default_sequence_gates)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | SequenceQualityConfig | None) -> SequenceQualityConfig:
        """Read ``{"lags": 10, "window": 10, ..., "steps": {...}, "privacy": {...}, "gates": {...}}``."""
        return read_config(cls, data, what="sequence quality config", parse=cls._parsed)

    @classmethod
    def _parsed(cls, data: Mapping[str, Any]) -> SequenceQualityConfig:
        out = cls()
        for key in ("lags", "window", "max_windows", "folds", "max_iter", "resample_points", "top_categories",
                    "max_cross_columns", "threads"):
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"config[{key!r}] must be a positive integer, got {value!r}")
                out = replace(out, **{key: value})
        if out.folds < 2:
            raise ConfigError(f"config['folds'] must be at least 2 (cross-validation), got {out.folds}")
        if "confidence" in data:
            out = replace(out, confidence=check_confidence(data["confidence"]))
        if "parts" in data:
            parts = data["parts"]
            if isinstance(parts, str) or not all(isinstance(p, str) for p in parts) or set(parts) - set(PARTS):
                raise ConfigError(f"config['parts'] must be a list drawn from {list(PARTS)}, got {parts!r}")
            out = replace(out, parts=tuple(p for p in PARTS if p in parts))
        if "steps" in data:
            steps = data["steps"]
            if isinstance(steps, Mapping) and "pillars" not in steps:
                steps = {**steps, "pillars": ["fidelity"]}
            out = replace(out, steps=QualityConfig.from_mapping(steps))
        if "privacy" in data:
            privacy = data["privacy"]
            if not isinstance(privacy, Mapping):
                raise ConfigError("config['privacy'] must be a mapping of PrivacyConfig fields")
            fixed = sorted(set(privacy) & {"confidence", "mia_threshold"})
            if fixed:
                raise ConfigError(f"config['privacy'] may not set {fixed}: they follow config['confidence'] and "
                                  "config['gates']['entity_membership']['threshold']")
            out = replace(out, privacy=dict(privacy))
        if "gates" in data:
            out = replace(out, gates=parse_gates(data["gates"], defaults=default_sequence_gates(), what="sequence gate"))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, written into every report."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if f.name not in ("parts", "steps", "privacy", "gates")}
        out["parts"] = list(self.parts)
        out["steps"] = self.steps.to_dict()
        out["privacy"] = dict(self.privacy)
        out["gates"] = {k: {"threshold": g.threshold, "severity": g.severity, "enabled": g.enabled}
                        for k, g in self.gates.items()}
        return out
